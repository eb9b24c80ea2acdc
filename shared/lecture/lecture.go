package lecture

import (
	"fmt"
	"time"
)

// Status is where a lecture stands in the pipeline.
type Status string

const (
	StatusUploaded Status = "uploaded"
	// StatusAwaitingUpload: an upload URL was signed, the object has not
	// arrived yet (catalogue rows only).
	StatusAwaitingUpload Status = "awaiting_upload"
	StatusProcessing     Status = "processing"
	StatusReady          Status = "ready"
	StatusFailed         Status = "failed"
)

// Lecture is one uploaded recording or transcript and what the pipeline made of it.
type Lecture struct {
	ID          string            `json:"id"`
	Title       string            `json:"title,omitempty"`
	Owner       string            `json:"owner,omitempty"` // the uploader's user id ("" in single-user mode)
	Status      Status            `json:"status"`
	ContentHash string            `json:"content_hash,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	Stages      map[string]Stage  `json:"stages,omitempty"`
	Artifacts   map[string]string `json:"artifacts,omitempty"` // stage -> object key
	Error       *Error            `json:"error,omitempty"`
}

// Stage records the progress of one pipeline stage for a lecture.
type Stage struct {
	Status   Status  `json:"status"`
	Progress float64 `json:"progress"` // 0..1
	Message  string  `json:"message,omitempty"`
	Seconds  float64 `json:"seconds,omitempty"`
}

// Segment is a stretch of speech with its time span in seconds from the start.
// Start and End are negative when the source carried no timestamps.
type Segment struct {
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Speaker string  `json:"speaker,omitempty"`
	Text    string  `json:"text"`
}

// HasTime reports whether the segment carries a timestamp.
func (s Segment) HasTime() bool { return s.Start >= 0 }

// Transcript is the timestamped text of a lecture.
type Transcript struct {
	LectureID   string    `json:"lecture_id,omitempty"`
	ContentHash string    `json:"content_hash,omitempty"` // of the raw input it came from
	Language    string    `json:"language,omitempty"`
	Segments    []Segment `json:"segments"`
}

// HasTimestamps reports whether any segment carries a timestamp.
func (t *Transcript) HasTimestamps() bool {
	for _, s := range t.Segments {
		if s.HasTime() {
			return true
		}
	}
	return false
}

// Text joins the segments' text with single spaces.
func (t *Transcript) Text() string {
	n := 0
	for _, s := range t.Segments {
		n += len(s.Text) + 1
	}
	b := make([]byte, 0, n)
	for i, s := range t.Segments {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, s.Text...)
	}
	return string(b)
}

// Span is a time range in seconds; a negative Start means "no timestamp".
type Span struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// Valid reports whether the span carries a timestamp.
func (s Span) Valid() bool { return s.Start >= 0 }

// Label renders the span's start as [mm:ss] (or [h:mm:ss]), empty when absent.
func (s Span) Label() string {
	if !s.Valid() {
		return ""
	}
	return "[" + Clock(s.Start) + "]"
}

// Clock formats seconds as mm:ss, or h:mm:ss from one hour on.
func Clock(sec float64) string {
	if sec < 0 {
		sec = 0
	}
	t := int(sec)
	h, m, s := t/3600, (t/60)%60, t%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", m, s)
}

// Sentence is one sentence of a transcript with its time span and speaker.
type Sentence struct {
	Index   int    `json:"index"`
	Text    string `json:"text"`
	Speaker string `json:"speaker,omitempty"`
	Span    Span   `json:"span"`
	Segment int    `json:"segment"` // index of the transcript segment it came from
}

// Chunk is a window of consecutive sentences, at most a model's context long.
type Chunk struct {
	Index     int    `json:"index"`
	Text      string `json:"text"`
	Span      Span   `json:"span"`
	Tokens    int    `json:"tokens"`
	FirstSent int    `json:"first_sentence"`
	LastSent  int    `json:"last_sentence"` // inclusive
}

// Bullet is one point of a summary and the time span it came from.
type Bullet struct {
	Text string `json:"text"`
	Span Span   `json:"span"`
}

// Summary is a bullet summary of a lecture.
type Summary struct {
	Engine      string   `json:"engine"`
	Model       string   `json:"model,omitempty"`
	Bullets     []Bullet `json:"bullets"`
	InputWords  int      `json:"input_words"`
	OutputWords int      `json:"output_words"`
}

// Citation points an answer at the passage of the lecture it rests on.
type Citation struct {
	Chunk int     `json:"chunk"`
	Span  Span    `json:"span"`
	Quote string  `json:"quote"`
	Score float64 `json:"score"` // CitationScore: three decimals
}

// CitationScore rounds a passage's score for a citation: three decimals.
func CitationScore(x float64) float64 { return float64(int(x*1000+0.5)) / 1000 }

// Answer is a reply to a question about a lecture.
type Answer struct {
	Question  string     `json:"question"`
	Text      string     `json:"answer"`
	Covered   bool       `json:"covered"` // false: the lecture does not cover the question
	Citations []Citation `json:"citations"`
	Engine    string     `json:"engine"`
}
