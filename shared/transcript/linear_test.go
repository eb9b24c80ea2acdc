package transcript

import (
	"strings"
	"testing"
	"time"
)

// TestLinearTime feeds inputs that a careless scan would take quadratic time
// on (a search from every '<' to the end of a line, say); each must parse, or
// fail, in well under a second per 300,000 repetitions.
func TestLinearTime(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping timing test in -short mode")
	}
	n := 300000
	inputs := map[string]string{
		"lt":       strings.Repeat("<", n) + ">",
		"ltx":      strings.Repeat("<x", n) + ">",
		"brace":    strings.Repeat(`{\`, n),
		"colon":    strings.Repeat("a", n),
		"arrows":   strings.Repeat("-->\n", n),
		"arrowsp":  "1\n00:00:01,000 --> 00:00:02,000\n" + strings.Repeat("x -->\n", n),
		"nums":     strings.Repeat("1\n", n),
		"numarrow": "1\n00:00:01,000 --> 00:00:02,000\nx\n\n" + strings.Repeat("1\n\n", n),
		"stamps":   strings.Repeat("[0:00] x\n", n),
		"turns":    strings.Repeat("Alice: x\n", n),
		"lines":    "Alice: x\nBob: y\n" + strings.Repeat("x\n", n),
		"vttnote":  "WEBVTT\n\n" + strings.Repeat("NOTE\n", n),
		"vttid":    "WEBVTT\n\n00:00.000 --> 00:01.000\nx\n\n" + strings.Repeat("id\n\n", n),
		"json":     "[" + strings.Repeat("[", n),
		"bracket":  strings.Repeat("[", n),
		"cuelt":    "1\n00:00:01,000 --> 00:00:02,000\n" + strings.Repeat("<", n) + ">",
		"cueltx":   "1\n00:00:01,000 --> 00:00:02,000\n" + strings.Repeat("<x", n) + ">",
		"cuebrace": "1\n00:00:01,000 --> 00:00:02,000\n" + strings.Repeat(`{\`, n),
		"vttlt":    "WEBVTT\n\n00:00.000 --> 00:01.000\n" + strings.Repeat("<", n) + ">",
		"vttamp":   "WEBVTT\n\n00:00.000 --> 00:01.000\n" + strings.Repeat("&", n) + ">",
		"vttcolon": "WEBVTT\n\n00:00.000 --> 00:01.000\n" + strings.Repeat("a", n) + ":",
		"vttlines": "WEBVTT\n\n00:00.000 --> 00:01.000\n" + strings.Repeat("A: b\n", n),
	}
	for name, in := range inputs {
		for _, f := range []Format{Auto, Text, Turns, SRT, VTT, JSON} {
			t0 := time.Now()
			Parse([]byte(in), f)
			if d := time.Since(t0); d > 3*time.Second {
				t.Errorf("%s as %s: took %v", name, f, d)
			}
		}
	}
}
