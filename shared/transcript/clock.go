package transcript

import (
	"strconv"
	"strings"
)

// parseClock parses [H:]MM:SS with an optional fraction after '.' or ','
// ("1:02:03", "00:01:02,500", "12:34.5"). With hours, minutes are one or two
// digits below 60; without, minutes may run past 59 ("75:30"). Seconds are
// two digits below 60 (so a ratio like "2:1" is not a time). The result is at most maxSeconds.
func parseClock(s string) (float64, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return 0, false
	}
	last := parts[len(parts)-1]
	frac := ""
	if i := strings.IndexAny(last, ",."); i >= 0 {
		last, frac = last[:i], last[i+1:]
		if !digits(frac, 1, 9) {
			return 0, false
		}
	}
	if !digits(last, 2, 2) {
		return 0, false
	}
	var h, m int64
	var ok bool
	if len(parts) == 3 {
		if h, ok = number(parts[0], 1, 5); !ok {
			return 0, false
		}
		if m, ok = number(parts[1], 1, 2); !ok || m >= 60 {
			return 0, false
		}
	} else if m, ok = number(parts[0], 1, 4); !ok {
		return 0, false
	}
	sec, _ := strconv.ParseInt(last, 10, 64)
	if sec >= 60 {
		return 0, false
	}
	// Count in units of the fraction's last digit and divide once, so that
	// "00:00:01,100" is exactly 1.1, as written.
	total := (h*3600 + m*60 + sec)
	scale := int64(1)
	for range len(frac) {
		scale *= 10
	}
	f, _ := strconv.ParseInt("0"+frac, 10, 64)
	v := float64(total*scale+f) / float64(scale)
	if v > maxSeconds {
		return 0, false
	}
	return v, true
}

func digits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func number(s string, min, max int) (int64, bool) {
	if !digits(s, min, max) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// leadingStamp splits a time label off the start of a text line:
// "[12:34] text", "(1:02:03) text", "12:34 text", or the label alone.
func leadingStamp(line string) (float64, string, bool) {
	if line == "" {
		return 0, "", false
	}
	if c := line[0]; c == '[' || c == '(' {
		closer := byte(']')
		if c == '(' {
			closer = ')'
		}
		j := strings.IndexByte(line, closer)
		if j < 0 || j > 20 {
			return 0, "", false
		}
		v, ok := parseClock(strings.TrimSpace(line[1:j]))
		if !ok {
			return 0, "", false
		}
		return v, strings.TrimSpace(line[j+1:]), true
	}
	if line[0] < '0' || line[0] > '9' {
		return 0, "", false
	}
	tok, rest := line, ""
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		tok, rest = line[:i], line[i+1:]
	}
	v, ok := parseClock(tok)
	if !ok {
		return 0, "", false
	}
	return v, strings.TrimSpace(rest), true
}

// formatCue formats seconds as HH:MM:SS<sep>mmm for SRT (',') and WebVTT ('.').
func formatCue(sec float64, sep byte) string {
	ms := int64(sec*1000 + 0.5)
	h, m, s, f := ms/3600000, ms/60000%60, ms/1000%60, ms%1000
	b := make([]byte, 0, 12)
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, m)
	b = append(b, ':')
	b = append2(b, s)
	b = append(b, sep)
	b = append(b, byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
	return string(b)
}

func append2(b []byte, n int64) []byte {
	if n < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, n, 10)
}
