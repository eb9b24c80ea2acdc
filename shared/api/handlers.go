package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/transcript"
)

// SummarizeRequest is the body of POST /summarize.
type SummarizeRequest struct {
	Text     string  `json:"text"`
	Format   string  `json:"format,omitempty"` // auto (default), text, srt, vtt, json, turns
	Ratio    float64 `json:"ratio,omitempty"`
	MaxWords int     `json:"max_words,omitempty"`
}

// SummarizeResponse keeps the original service's contract ({"summary",
// "bullets"}) and adds each bullet's time span and the engine.
type SummarizeResponse struct {
	Summary     string         `json:"summary"`
	Bullets     []string       `json:"bullets"`
	Spans       []lecture.Span `json:"spans"`
	Markdown    string         `json:"markdown"`
	Engine      string         `json:"engine"`
	Model       string         `json:"model,omitempty"`
	Cached      bool           `json:"cached"`
	InputWords  int            `json:"input_words"`
	OutputWords int            `json:"output_words"`
}

func (s *Server) summarize(w http.ResponseWriter, r *http.Request) error {
	mt, _, err := mediaType(r)
	if err != nil {
		return err
	}
	body, release, err := s.readPooledBody(w, r)
	defer release()
	if err != nil {
		return err
	}
	// Identical requests get identical answers: a repeated body is served
	// from the in-process cache, then the shared one, before any decoding:
	// the hot path of a popular lecture.
	if b, ok := s.hot.get(mt, body); ok {
		s.Metrics.CountCache("process", "hit")
		return writeCached(w, b)
	}
	key := s.Svc.CacheKey("summary:req", []byte(mt), body)
	if b, ok := s.Svc.CacheGet(r.Context(), key); ok {
		s.hot.put(mt, body, b)
		return writeCached(w, b)
	}
	var req SummarizeRequest
	if err := decodeTextOrJSON(mt, body, &req.Text, &req); err != nil {
		return err
	}
	if req.Ratio < 0 || req.Ratio > 1 {
		return lecture.Errorf(lecture.EINVALID, "\"ratio\" is %g: give the share of words to keep, between 0 and 1 (0.3 keeps 30%%)", req.Ratio)
	}
	if req.MaxWords < 0 {
		return lecture.Errorf(lecture.EINVALID, "\"max_words\" must be positive")
	}
	if strings.TrimSpace(req.Text) == "" {
		return lecture.Errorf(lecture.EINVALID, "\"text\" is empty: send the lecture transcript in it")
	}
	format, err := transcript.ParseFormat(req.Format)
	if err != nil {
		return err
	}
	ctx, cancel := s.budget(r, len(body))
	defer cancel()
	sum, cached, err := s.Svc.SummarizeText(ctx, req.Text, format, lecture.SummarizeOptions{Ratio: req.Ratio, MaxWords: req.MaxWords})
	if err != nil {
		return budgetError(ctx, err)
	}
	resp := SummarizeResponse{Summary: sum.Plain(), Markdown: sum.Markdown(), Engine: sum.Engine, Model: sum.Model, Cached: cached,
		InputWords: sum.InputWords, OutputWords: sum.OutputWords, Bullets: []string{}, Spans: []lecture.Span{}}
	for _, b := range sum.Bullets {
		resp.Bullets = append(resp.Bullets, b.Text)
		resp.Spans = append(resp.Spans, b.Span)
	}
	hit := resp
	hit.Cached = true
	if b, err := json.Marshal(hit); err == nil {
		b = append(b, '\n')
		s.Svc.CacheSet(r.Context(), key, b)
		s.hot.put(mt, body, b)
	}
	return writeJSON(w, http.StatusOK, resp)
}

// writeCached sends a cached /summarize response with its length (no
// chunked encoding).
func writeCached(w http.ResponseWriter, b []byte) error {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["X-Transcept-Cache"] = []string{"hit"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	_, err := w.Write(b)
	return err
}

// QARequest is the body of POST /qa: a stored lecture or inline text.
type QARequest struct {
	LectureID string `json:"lecture_id,omitempty"`
	Text      string `json:"text,omitempty"`
	Format    string `json:"format,omitempty"`
	Question  string `json:"question"`
}

func (s *Server) qa(w http.ResponseWriter, r *http.Request) error {
	var req QARequest
	b, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	if err := decodeJSON(b, &req); err != nil {
		return err
	}
	if req.LectureID != "" {
		row, err := s.lectureOwner(r.Context(), req.LectureID)
		if err != nil {
			return err
		}
		if !principal(r).CanRead(row) {
			return notFound(req.LectureID)
		}
	}
	return s.answer(w, r, req, len(b))
}

// answer runs a question (POST /qa, GET /lectures/{id}/qa) within the
// asker's per-minute quota, as JSON or streamed as server-sent events.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, req QARequest, size int) error {
	if uid := principal(r).UserID(); uid != "" && s.Quotas != nil {
		if err := s.Quotas.Ask(r.Context(), uid); err != nil {
			return err
		}
	}
	var err error
	var sse *sseWriter
	var onToken func(string)
	if v := r.URL.Query().Get("stream"); v == "1" || v == "true" {
		sse = &sseWriter{w: w}
		onToken = sse.token
	}
	var ans *lecture.Answer
	ctx, cancel := s.budget(r, size)
	defer cancel()
	switch {
	case req.LectureID != "" && req.Text != "":
		return lecture.Errorf(lecture.EINVALID, "give either \"lecture_id\" or \"text\", not both")
	case req.LectureID != "":
		ans, err = s.Svc.AskStream(ctx, req.LectureID, req.Question, onToken)
	case req.Text != "":
		var tr *lecture.Transcript
		if tr, err = transcriptFromText(req.Text, req.Format); err == nil {
			ans, err = s.Svc.AskTextStream(ctx, tr, req.Question, onToken)
		}
	default:
		return lecture.Errorf(lecture.EINVALID, "give \"lecture_id\" (from POST /lectures) or \"text\" (a transcript), and \"question\"")
	}
	err = budgetError(ctx, err)
	if sse == nil {
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, ans)
	}
	if err != nil {
		if !sse.started {
			return err // nothing sent yet: an ordinary JSON error
		}
		sse.event("error", map[string]string{"code": lecture.ErrorCode(err), "message": lecture.ErrorMessage(err)})
		return nil
	}
	if !sse.started { // the extractive answerer streams nothing: send its words
		for _, tok := range strings.SplitAfter(ans.Text, " ") {
			sse.token(tok)
		}
	}
	sse.event("answer", ans)
	return nil
}

// sseWriter sends server-sent events: "token" events with the answer's text
// as it is produced (token by token from a language model, word by word
// from the extractive engine), then one "answer" event with the whole
// answer and its citations (the final word: invented citations are removed
// there). Headers go out with the first event, so that an error before it
// is still an ordinary JSON error.
type sseWriter struct {
	w       http.ResponseWriter
	started bool
	failed  bool
}

func (s *sseWriter) token(t string) {
	if t != "" {
		s.event("token", map[string]string{"token": t})
	}
}

func (s *sseWriter) event(name string, v any) {
	if s.failed {
		return
	}
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "text/event-stream")
		s.w.Header().Set("Cache-Control", "no-cache")
		s.w.Header().Set("X-Accel-Buffering", "no")
		s.w.WriteHeader(http.StatusOK)
	}
	b, _ := json.Marshal(v)
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		s.failed = true // the client went away; the request context stops the work
		return
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

// LectureRequest is the JSON form of POST /lectures.
type LectureRequest struct {
	Title  string `json:"title,omitempty"`
	Name   string `json:"name,omitempty"` // file name, helps format detection
	Format string `json:"format,omitempty"`
	Text   string `json:"text"`
}

func (s *Server) createLecture(w http.ResponseWriter, r *http.Request) error {
	mt, params, err := mediaType(r)
	if err != nil {
		return err
	}
	var req LectureRequest
	q := r.URL.Query()
	switch {
	case mt == "multipart/form-data":
		media, err := s.readMultipart(w, r, params["boundary"], &req)
		if err != nil || media {
			return err // a recording was streamed into the pipeline already
		}
	case mt == "application/json":
		b, err := s.readBody(w, r)
		if err != nil {
			return err
		}
		if err := decodeJSON(b, &req); err != nil {
			return err
		}
	case strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/") || mt == "application/octet-stream":
		br := bufio.NewReader(http.MaxBytesReader(w, r.Body, s.Svc.MaxMediaBytes+1))
		head, _ := br.Peek(512)
		if !pipeline.IsMedia(q.Get("name"), head) {
			return lecture.Errorf(lecture.EUNSUPPORTED, "the body is not a recording ffmpeg reads (wav, mp3, m4a, ogg, flac, mp4, mkv, webm); send transcripts as text/plain or JSON")
		}
		err := s.createMediaLecture(w, r, q.Get("name"), q.Get("title"), br)
		return bodyErrorOr(err, s.Svc.MaxMediaBytes)
	case mt == "text/plain" || mt == "text/vtt" || mt == "application/x-subrip" || mt == "text/srt" || mt == "text/markdown" || mt == "":
		b, err := s.readBody(w, r)
		if err != nil {
			return err
		}
		req.Text, req.Title, req.Name = string(b), q.Get("title"), q.Get("name")
	default:
		return lecture.Errorf(lecture.EUNSUPPORTED, "Content-Type %s is not accepted: send JSON {\"text\": ...}, a multipart form with a \"file\" field, text/plain, or a recording (audio/*, video/*)", mt)
	}
	if strings.TrimSpace(req.Text) == "" {
		return lecture.Errorf(lecture.EINVALID, "the upload is empty: send a transcript (text, SRT, WebVTT, JSON or Speaker: lines) or a recording")
	}
	u := pipelineUpload(req)
	u.Owner = principal(r).UserID()
	l, ev, err := s.Svc.CreateLecture(r.Context(), u)
	if err != nil {
		return err
	}
	if err := s.publish(r, ev); err != nil {
		return err
	}
	return s.accepted(w, l)
}

// readMultipart reads the form's fields; a "file" that is a recording is
// streamed straight into the pipeline (media reports that), a transcript is
// read into req.
func (s *Server) readMultipart(w http.ResponseWriter, r *http.Request, boundary string, req *LectureRequest) (media bool, err error) {
	if boundary == "" {
		return false, lecture.Errorf(lecture.EINVALID, "multipart body without a boundary")
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, s.Svc.MaxMediaBytes+64<<10), boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, bodyError(err, s.MaxBody)
		}
		if p.FormName() == "file" {
			br := bufio.NewReader(p)
			head, _ := br.Peek(512)
			if pipeline.IsMedia(p.FileName(), head) {
				return true, bodyErrorOr(s.createMediaLecture(w, r, p.FileName(), req.Title, br), s.Svc.MaxMediaBytes)
			}
			req.Name = p.FileName()
			var buf bytes.Buffer
			n, err := io.Copy(&buf, io.LimitReader(br, s.MaxBody+1))
			if err != nil {
				return false, bodyError(err, s.MaxBody)
			}
			if n > s.MaxBody {
				return false, lecture.Errorf(lecture.ETOOLARGE, "the file is over the limit of %s for transcripts (TRANSCEPT_MAX_UPLOAD_BYTES)", pipeline.Bytes(s.MaxBody))
			}
			req.Text = buf.String()
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, 64<<10))
		if err != nil {
			return false, bodyError(err, s.MaxBody)
		}
		switch p.FormName() {
		case "title":
			req.Title = string(v)
		case "format":
			req.Format = string(v)
		}
	}
	if req.Text == "" {
		return false, lecture.Errorf(lecture.EINVALID, "multipart upload has no \"file\" field (or it is empty)")
	}
	return false, nil
}

// bodyErrorOr turns a body-size failure inside err into a clear 413.
func bodyErrorOr(err error, limit int64) error {
	if err != nil && strings.Contains(err.Error(), "request body too large") {
		return bodyError(err, limit)
	}
	return err
}

func (s *Server) getLecture(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lecture(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l)
}

func (s *Server) getSummary(w http.ResponseWriter, r *http.Request) error {
	sum, err := s.Svc.LectureSummary(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		return writeJSON(w, http.StatusOK, sum)
	case "md", "markdown":
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		_, err = io.WriteString(w, sum.Markdown())
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err = io.WriteString(w, sum.Text())
	default:
		return lecture.Errorf(lecture.EINVALID, "format %q: want json, md or text", f)
	}
	return err
}

func (s *Server) getTranscript(w http.ResponseWriter, r *http.Request) error {
	tr, err := s.Svc.LectureTranscript(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := r.URL.Query().Get("format")
	if f == "" {
		f = "json"
	}
	var buf bytes.Buffer
	if err := transcript.Render(&buf, tr, transcript.Format(f)); err != nil {
		return err
	}
	ct := map[string]string{"json": "application/json", "srt": "application/x-subrip", "vtt": "text/vtt", "md": "text/markdown"}[f]
	if ct == "" {
		ct = "text/plain"
	}
	w.Header().Set("Content-Type", ct+"; charset=utf-8")
	_, err = w.Write(buf.Bytes())
	return err
}

// decodeTextOrJSON accepts a JSON body into v, or a text/plain body as the text.
func decodeTextOrJSON(mt string, b []byte, textField *string, v any) error {
	switch mt {
	case "application/json", "":
		if mt == "" && !json.Valid(b) {
			*textField = string(b)
			return nil
		}
		return decodeJSON(b, v)
	case "text/plain":
		*textField = string(b)
		return nil
	}
	return lecture.Errorf(lecture.EUNSUPPORTED, "Content-Type %s is not accepted: send application/json {\"text\": ...} or text/plain", mt)
}

func requireJSON(r *http.Request) error {
	mt, _, err := mediaType(r)
	if err != nil {
		return err
	}
	if mt != "" && mt != "application/json" {
		return lecture.Errorf(lecture.EUNSUPPORTED, "Content-Type %s is not accepted: send application/json", mt)
	}
	return nil
}
