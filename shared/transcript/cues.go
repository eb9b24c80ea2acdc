package transcript

import (
	"fmt"
	"html"
	"sort"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// A dialect is what differs between SRT and WebVTT cue blocks.
type dialect struct {
	name   string // "srt" or "vtt", the prefix of error messages
	expect string // the timing line it expects, for error messages
	vtt    bool

	skipped int // blank lines before the first line handed to the parser
}

var (
	srtDialect = dialect{name: "srt", expect: "HH:MM:SS,mmm --> HH:MM:SS,mmm"}
	vttDialect = dialect{name: "vtt", expect: "[HH:]MM:SS.mmm --> [HH:]MM:SS.mmm", vtt: true}
)

func (d dialect) errorf(line int, format string, args ...any) error {
	return lecture.Errorf(lecture.EINVALID, "%s: line %d: %s", d.name, d.skipped+line, fmt.Sprintf(format, args...))
}

// offset returns d for lines that start skipped lines into the input.
func (d dialect) offset(skipped int) dialect {
	d.skipped = skipped
	return d
}

// parseSRT reads SRT cues (see parseCues).
func parseSRT(s string) ([]lecture.Segment, error) {
	return parseCues(strings.Split(s, "\n"), 0, srtDialect)
}

func isVTTHeader(line string) bool {
	rest, ok := strings.CutPrefix(line, "WEBVTT")
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t')
}

// parseVTT reads a WebVTT file: the WEBVTT header block, then cues (see
// parseCues). Without the header the cues are still read; only when none
// is usable is the missing header the error.
func parseVTT(s string) ([]lecture.Segment, error) {
	lines := strings.Split(s, "\n")
	skipped := 0
	for len(lines) > 1 && strings.TrimSpace(lines[0]) == "" {
		lines, skipped = lines[1:], skipped+1
	}
	d := vttDialect.offset(skipped)
	if !isVTTHeader(strings.TrimRight(lines[0], " \t")) {
		segs, err := parseCues(lines, 0, d)
		if len(segs) > 0 {
			return segs, nil
		}
		if err == nil || !timingLine(strings.TrimSpace(lines[0])) {
			err = d.errorf(1, "missing WEBVTT header (got %q); a WebVTT file must start with the line WEBVTT", clip(lines[0]))
		}
		return nil, err
	}
	// The header runs to the first blank line; a timing line there means
	// the blank line was forgotten.
	i := 1
	for i < len(lines) && strings.TrimSpace(lines[i]) != "" && !timingLine(strings.TrimSpace(lines[i])) {
		i++
	}
	return parseCues(lines, i, d)
}

// cue is one cue being collected.
type cue struct {
	start, end float64
	text       []string
}

// parseCues reads cue blocks from lines[i:]: an optional identifier (a cue
// number in SRT), a timing line, and text lines up to a blank line. It is
// lenient where files in the wild are sloppy: extra blank lines, missing
// numbers, a missing blank line before the next cue, a stray blank line
// inside a cue's text (the orphaned text joins the cue before it), and
// malformed cues (a bad or inverted timing line, a cue number without one,
// text before the first cue), which are skipped while the good cues are
// kept; only when no cue is usable is the first such problem the error.
// Timing lines (timingLine), however malformed, and the cue numbers before
// them never become text. The segments are sorted by start time, stably,
// since files put together by hand or by tools can have cues out of order.
func parseCues(lines []string, i int, d dialect) ([]lecture.Segment, error) {
	var cues []*cue
	var problem error
	note := func(err error) {
		if problem == nil {
			problem = err
		}
	}
	blank := func(k int) bool { return strings.TrimSpace(lines[k]) == "" }
	isTiming := func(k int) bool { return timingLine(strings.TrimSpace(lines[k])) }
	// textUntil collects lines from k up to a blank line or a timing line,
	// dropping a cue number just before a timing line.
	textUntil := func(k int, text []string) ([]string, int) {
		for ; k < len(lines) && !blank(k); k++ {
			if isTiming(k) {
				if n := len(text); n > 0 && digits(strings.TrimSpace(text[n-1]), 1, 9) {
					text = text[:n-1]
				}
				break
			}
			text = append(text, lines[k])
		}
		return text, k
	}
	for i < len(lines) {
		if blank(i) {
			i++
			continue
		}
		line := strings.TrimSpace(lines[i])
		if d.vtt && (blockKeyword(line, "NOTE") || blockKeyword(line, "STYLE") || blockKeyword(line, "REGION")) {
			for i < len(lines) && !blank(i) {
				i++
			}
			continue
		}
		timing := i
		if !timingLine(line) {
			number := digits(line, 1, 9)
			next := i + 1
			if number { // a cue number may stand apart from its timing line
				for next < len(lines) && next < i+4 && blank(next) {
					next++
				}
			}
			switch {
			case next < len(lines) && isTiming(next):
				timing = next // after a cue number or identifier
				if !d.vtt && !number && len(cues) > 0 {
					// SRT has no text identifiers: this is text that a stray
					// blank line cut off from the cue before.
					cues[len(cues)-1].text = append(cues[len(cues)-1].text, line)
				}
			case number:
				// A cue without its timing line: skip the block.
				note(d.errorf(i+2, "expected a timing line like %s after cue number %s", d.expect, line))
				_, i = textUntil(i+1, nil)
				continue
			case len(cues) > 0:
				// Text that a stray blank line cut off from the cue before.
				c := cues[len(cues)-1]
				c.text, i = textUntil(i, c.text)
				continue
			default:
				// Text before the first cue (a title, say): skip the block.
				note(d.errorf(i+1, "expected a cue number or a timing line like %s, got %q", d.expect, clip(line)))
				_, i = textUntil(i, nil)
				continue
			}
		}
		c, err := parseTiming(lines[timing], timing+1, d)
		if err != nil {
			// A malformed cue: skip its timing line and its text.
			note(err)
			_, i = textUntil(timing+1, nil)
			continue
		}
		c.text, i = textUntil(timing+1, nil)
		cues = append(cues, c)
	}
	segs := make([]lecture.Segment, 0, len(cues))
	for _, c := range cues {
		seg := lecture.Segment{Start: c.start, End: c.end}
		if d.vtt {
			seg.Speaker, seg.Text = vttText(c.text)
		} else {
			seg.Speaker, seg.Text = srtText(c.text)
		}
		if seg.Text != "" {
			segs = append(segs, seg)
		}
	}
	if len(segs) == 0 && problem != nil {
		return nil, problem
	}
	sort.SliceStable(segs, func(a, b int) bool { return segs[a].Start < segs[b].Start })
	return segs, nil
}

func blockKeyword(line, kw string) bool {
	rest, ok := strings.CutPrefix(line, kw)
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t')
}

// parseTiming parses "start --> end [settings]".
func parseTiming(line string, n int, d dialect) (*cue, error) {
	before, after, _ := strings.Cut(line, "-->")
	left := strings.TrimSpace(before)
	if lf := strings.Fields(left); len(lf) == 2 && digits(lf[0], 1, 9) {
		left = lf[1] // "12 00:01:02,000 --> ...": the cue number on the timing line
	}
	fields := strings.Fields(after)
	if left == "" || len(fields) == 0 {
		return nil, d.errorf(n, "bad timing line %q; expected %s", clip(strings.TrimSpace(line)), d.expect)
	}
	start, ok := parseClock(left)
	if !ok {
		return nil, d.errorf(n, "bad timestamp %q; expected %s", clip(left), d.expect)
	}
	end, ok := parseClock(fields[0])
	if !ok {
		return nil, d.errorf(n, "bad timestamp %q; expected %s", clip(fields[0]), d.expect)
	}
	if end < start {
		return nil, d.errorf(n, "cue ends at %s, before it starts at %s; swap or fix the times", fields[0], left)
	}
	return &cue{start: start, end: end}, nil
}

// srtText joins a cue's lines, strips formatting tags, and takes the speaker
// from a "Name: " at the start of the first line when no other line names one.
func srtText(lines []string) (speaker, text string) {
	for k := range lines {
		lines[k], _ = stripTags(lines[k], false)
	}
	return labelled(lines)
}

// vttText does what srtText does, and also takes the speaker from <v Name>
// voice tags (when they name one speaker) and decodes HTML entities.
func vttText(lines []string) (speaker, text string) {
	voices := map[string]bool{}
	for k := range lines {
		var v []string
		lines[k], v = stripTags(lines[k], true)
		lines[k] = strings.ReplaceAll(html.UnescapeString(lines[k]), "\u00a0", " ")
		for _, name := range v {
			if name = clean(strings.ReplaceAll(html.UnescapeString(name), "\u00a0", " ")); name != "" {
				voices[name] = true
			}
		}
	}
	if len(voices) == 1 {
		for name := range voices {
			speaker = name
		}
		return speaker, clean(strings.Join(lines, " "))
	}
	if len(voices) > 1 { // several voices in one cue: leave the speaker unset
		return "", clean(strings.Join(lines, " "))
	}
	return labelled(lines)
}

// labelled joins lines; conservatively, the first line's "Name: " becomes
// the speaker only when no other line starts with one (a two-speaker cue
// stays as it is).
func labelled(lines []string) (speaker, text string) {
	first := -1
	for k, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if first < 0 {
			first = k
			continue
		}
		if _, _, ok := splitLabel(l, false); ok {
			return "", clean(strings.Join(lines, " "))
		}
	}
	if first >= 0 {
		if name, rest, ok := splitLabel(strings.TrimSpace(lines[first]), false); ok && rest != "" {
			lines[first] = rest
			return name, clean(strings.Join(lines, " "))
		}
	}
	return "", clean(strings.Join(lines, " "))
}

// cueTags are the tags that SRT and WebVTT cue text use for formatting.
var cueTags = map[string]bool{"i": true, "b": true, "u": true, "s": true, "font": true, "c": true,
	"v": true, "lang": true, "ruby": true, "rt": true, "span": true, "br": true, "em": true, "strong": true}

// stripTags removes formatting tags (<i>, </b>, <font color="red">, <c.x>,
// <v Name>, and in WebVTT <00:01.000> timestamps) and {\an8}-style override
// codes, keeping any other '<'. It returns the voice names it met.
func stripTags(s string, vtt bool) (string, []string) {
	if !strings.ContainsAny(s, "<{") {
		return s, nil
	}
	var b strings.Builder
	var voices []string
	for i := 0; i < len(s); {
		c := s[i]
		if c == '{' && strings.HasPrefix(s[i:], `{\`) {
			if j := strings.IndexByte(window(s[i:]), '}'); j > 0 {
				i += j + 1
				continue
			}
		}
		if c != '<' {
			b.WriteByte(c)
			i++
			continue
		}
		j := strings.IndexByte(window(s[i:]), '>')
		if j < 0 {
			b.WriteByte(c)
			i++
			continue
		}
		inner := s[i+1 : i+j]
		if name, arg, ok := tagName(inner); ok {
			if name == "v" && arg != "" {
				voices = append(voices, arg)
			}
			if name == "br" {
				b.WriteByte(' ')
			}
			i += j + 1
			continue
		}
		if vtt && inner != "" {
			if _, ok := parseClock(inner); ok {
				i += j + 1
				continue
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), voices
}

// window bounds the search for a tag's end: tags are short, and searching
// to the end of the line from every '<' would be quadratic.
func window(s string) string {
	if len(s) > 256 {
		return s[:256]
	}
	return s
}

// tagName recognises "i", "/i", "font color=x", "c.yellow", "v.loud Esme",
// "br/" and returns the tag's name and, for an opening tag, the text after
// its name and classes.
func tagName(inner string) (name, arg string, ok bool) {
	closing := strings.HasPrefix(inner, "/")
	inner = strings.TrimPrefix(inner, "/")
	end := strings.IndexAny(inner, " \t./")
	name = inner
	if end >= 0 {
		name = inner[:end]
	}
	if !cueTags[strings.ToLower(name)] {
		return "", "", false
	}
	if closing {
		return strings.ToLower(name), "", end < 0
	}
	if end >= 0 {
		rest := inner[end:]
		if k := strings.IndexAny(rest, " \t"); k >= 0 {
			arg = strings.TrimSpace(rest[k:])
		}
	}
	return strings.ToLower(name), arg, true
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) <= 60 {
		return s
	}
	cut := 60
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
