package transcript

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// Render writes t in format: JSON (the indented domain struct), Text (a
// line per segment, "[mm:ss] Speaker: text", the time only when the segment
// has one and the speaker only when set), Turns ("Speaker: text" lines),
// Markdown (a "# Transcript" heading and a paragraph per segment, the time
// in brackets and the speaker in bold), SRT or VTT (numbered cues with
// millisecond times; every segment needs a timestamp). Text is written on
// one line: newlines inside it become spaces.
func Render(w io.Writer, t *lecture.Transcript, format Format) error {
	if t == nil {
		return lecture.Errorf(lecture.EINVALID, "render: no transcript")
	}
	for i, s := range t.Segments {
		if s.HasTime() && !(s.End >= s.Start && !math.IsInf(s.End, 0) && s.End <= maxSeconds) {
			return lecture.Errorf(lecture.EINVALID, "render: segment %d has bad times (start %g, end %g)", i+1, s.Start, s.End)
		}
	}
	if format == SRT || format == VTT {
		for i, s := range t.Segments {
			if !s.HasTime() {
				return lecture.Errorf(lecture.EINVALID,
					"render: segment %d has no timestamp, and %s needs one on every cue; render this transcript as text, markdown or json", i+1, format)
			}
		}
	}
	bw := bufio.NewWriter(w)
	switch format {
	case JSON, Auto, "":
		if err := renderJSON(bw, t); err != nil {
			return err
		}
	case Text, Turns:
		for _, s := range t.Segments {
			if format == Text && s.HasTime() {
				bw.WriteString("[" + lecture.Clock(s.Start) + "] ")
			}
			if s.Speaker != "" {
				bw.WriteString(oneLine(s.Speaker) + ": ")
			}
			bw.WriteString(oneLine(s.Text))
			bw.WriteByte('\n')
		}
	case Markdown:
		bw.WriteString("# Transcript\n")
		for _, s := range t.Segments {
			bw.WriteByte('\n')
			if s.HasTime() {
				bw.WriteString("[" + lecture.Clock(s.Start) + "] ")
			}
			if s.Speaker != "" {
				bw.WriteString("**" + mdEscape(oneLine(s.Speaker)) + ":** ")
			}
			bw.WriteString(mdEscape(oneLine(s.Text)))
			bw.WriteByte('\n')
		}
	case SRT:
		for i, s := range t.Segments {
			bw.WriteString(strconv.Itoa(i+1) + "\n")
			bw.WriteString(formatCue(s.Start, ',') + " --> " + formatCue(s.End, ',') + "\n")
			if s.Speaker != "" {
				bw.WriteString(oneLine(s.Speaker) + ": ")
			}
			bw.WriteString(oneLine(s.Text) + "\n\n")
		}
	case VTT:
		bw.WriteString("WEBVTT\n")
		for i, s := range t.Segments {
			bw.WriteString("\n" + strconv.Itoa(i+1) + "\n")
			bw.WriteString(formatCue(s.Start, '.') + " --> " + formatCue(s.End, '.') + "\n")
			if s.Speaker != "" {
				bw.WriteString("<v " + vttEscape(oneLine(s.Speaker)) + ">")
			}
			bw.WriteString(vttEscape(oneLine(s.Text)) + "\n")
		}
	default:
		return lecture.Errorf(lecture.EINVALID, "render: unknown format %q; use json, text, turns, markdown, srt or vtt", format)
	}
	return bw.Flush()
}

func renderJSON(w io.Writer, t *lecture.Transcript) error {
	c := *t
	c.Segments = make([]lecture.Segment, len(t.Segments))
	for i, s := range t.Segments {
		if !s.HasTime() { // any negative or NaN start means absent; write it as -1
			s.Start, s.End = -1, -1
		}
		c.Segments[i] = s
	}
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return lecture.Wrap(lecture.EINVALID, err, "render: cannot write the transcript as JSON")
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// oneLine collapses white space, newlines included, so that a segment stays
// on its line (and a cue's text cannot end the cue early).
func oneLine(s string) string { return clean(s) }

var vttEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func vttEscape(s string) string { return vttEscaper.Replace(s) }

var mdEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`,
	"<", `\<`, ">", `\>`, "#", `\#`, "|", `\|`, "~", `\~`)

func mdEscape(s string) string { return mdEscaper.Replace(s) }
