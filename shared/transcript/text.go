package transcript

import (
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// parseText reads plain text. When the first non-empty line starts with a
// time label ("[12:34] text", "(1:02:03) text", "12:34 text", or the label
// alone on its line), every labelled line starts a segment that runs to the
// next label, and other lines continue the segment before them; a
// "Speaker: " after the label sets the speaker. Otherwise each blank-line
// separated paragraph is a segment without timestamps. Subtitle timing
// lines and the cue numbers before them are dropped (see dropCueLines).
func parseText(s string) ([]lecture.Segment, error) {
	lines := dropCueLines(strings.Split(s, "\n"))
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			if _, _, ok := leadingStamp(l); ok {
				return parseStamped(lines)
			}
			break
		}
	}
	var segs []lecture.Segment
	var para []string
	flush := func() {
		if t := clean(strings.Join(para, " ")); t != "" {
			segs = append(segs, lecture.Segment{Start: -1, End: -1, Text: t})
		}
		para = para[:0]
	}
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		para = append(para, l)
	}
	flush()
	return segs, nil
}

func parseStamped(lines []string) ([]lecture.Segment, error) {
	type entry struct {
		start float64
		text  []string
	}
	var es []entry
	for n, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if v, rest, ok := leadingStamp(l); ok {
			if k := len(es); k > 0 && v < es[k-1].start {
				return nil, lecture.Errorf(lecture.EINVALID,
					"text: line %d: time %s comes before the previous one (%s); time labels must be in order",
					n+1, lecture.Clock(v), lecture.Clock(es[k-1].start))
			}
			es = append(es, entry{start: v, text: []string{rest}})
			continue
		}
		es[len(es)-1].text = append(es[len(es)-1].text, l)
	}
	segs := make([]lecture.Segment, 0, len(es))
	for k, e := range es {
		end := e.start
		if k+1 < len(es) {
			end = es[k+1].start
		}
		seg := lecture.Segment{Start: e.start, End: end, Text: clean(strings.Join(e.text, " "))}
		if name, rest, ok := splitLabel(seg.Text, true); ok && rest != "" {
			seg.Speaker, seg.Text = name, rest
		}
		if seg.Text != "" {
			segs = append(segs, seg)
		}
	}
	return segs, nil
}

// dropCueLines blanks, in place, the lines of subtitles that reach the text
// parsers (a broken or renamed SRT or WebVTT file): timing lines
// (timingLine), and lines that are only a cue number followed, after at
// most three blank lines, by a timing line. Blanking rather than removing
// keeps line numbers right for messages and each cue a paragraph of its own.
func dropCueLines(lines []string) []string {
	for k, l := range lines {
		if !strings.Contains(l, "-->") {
			continue
		}
		if !timingLine(strings.TrimSpace(l)) {
			continue
		}
		lines[k] = ""
		j := k - 1
		for j >= 0 && j >= k-4 && strings.TrimSpace(lines[j]) == "" {
			j--
		}
		if j >= 0 && j >= k-4 && digits(strings.TrimSpace(lines[j]), 1, 9) {
			lines[j] = ""
		}
	}
	return lines
}

// Turn is one speaker's turn in a conversation without timestamps, such as
// a QMSum meeting's {speaker, content} entries.
type Turn struct {
	Speaker string `json:"speaker"`
	Text    string `json:"content"`
}

// FromTurns makes a transcript without timestamps with a segment per turn,
// skipping turns without text.
func FromTurns(turns []Turn) *lecture.Transcript {
	t := &lecture.Transcript{Segments: make([]lecture.Segment, 0, len(turns))}
	for _, tu := range turns {
		if text := clean(tu.Text); text != "" {
			t.Segments = append(t.Segments, lecture.Segment{Start: -1, End: -1, Speaker: clean(tu.Speaker), Text: text})
		}
	}
	return t
}

// parseTurns reads "Speaker: text" lines. A line that does not start with a
// speaker label continues the turn before it; lines before the first label
// make a segment without a speaker. Subtitle timing lines and the cue
// numbers before them are dropped (see dropCueLines).
func parseTurns(s string) ([]lecture.Segment, error) {
	type turn struct {
		speaker string
		text    []string
	}
	var turns []turn
	for _, l := range dropCueLines(strings.Split(s, "\n")) {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if name, rest, ok := splitLabel(l, true); ok {
			turns = append(turns, turn{speaker: name, text: []string{rest}})
			continue
		}
		if len(turns) == 0 {
			turns = append(turns, turn{})
		}
		turns[len(turns)-1].text = append(turns[len(turns)-1].text, l)
	}
	ts := make([]Turn, len(turns))
	for k, t := range turns {
		ts[k] = Turn{Speaker: t.speaker, Text: strings.Join(t.text, " ")}
	}
	return FromTurns(ts).Segments, nil
}
