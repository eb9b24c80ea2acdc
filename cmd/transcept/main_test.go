package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/progress"
)

const srt = `1
00:00:01,000 --> 00:00:09,000
Today we study entropy and the second law of thermodynamics in isolated systems.

2
00:01:10,000 --> 00:01:20,000
The second law says that the entropy of an isolated system never decreases over time.

3
00:02:00,000 --> 00:02:30,000
The Carnot efficiency bounds every heat engine and depends only on the reservoir temperatures.
`

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("TRANSCEPT_STORE_DIR", t.TempDir())
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, body string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSummarizeMarkdownFromFileAndStdin(t *testing.T) {
	f := writeFile(t, "lecture.srt", srt)
	for _, args := range [][]string{{"summarize", f}, {"summarize", "-"}} {
		code, out, errs := runCLI(t, srt, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		for _, l := range lines {
			if !strings.HasPrefix(l, "- [0") {
				t.Errorf("%v: line %q is not a '- [mm:ss]' bullet", args, l)
			}
		}
	}
}

func TestSummarizeJSONAndFlags(t *testing.T) {
	f := writeFile(t, "lecture.srt", srt)
	code, out, errs := runCLI(t, "", "summarize", f, "--format", "json", "--max-words", "15")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var sum struct {
		Bullets []struct{ Text string } `json:"bullets"`
		Engine  string                  `json:"engine"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Engine != "extractive" || len(sum.Bullets) == 0 {
		t.Errorf("json output %q: %v", out, err)
	}
}

func TestAsk(t *testing.T) {
	f := writeFile(t, "lecture.srt", srt)
	code, out, _ := runCLI(t, "", "ask", f, "What does the Carnot efficiency depend on?")
	if code != 0 || !strings.Contains(out, "reservoir temperatures") || !strings.Contains(out, "[02:00]") {
		t.Errorf("exit %d, answer %q", code, out)
	}
	code, out, _ = runCLI(t, "", "ask", f, "Who painted the Mona Lisa?")
	if code != 0 || !strings.Contains(out, "This lecture does not cover that.") {
		t.Errorf("exit %d, off-topic answer %q", code, out)
	}
}

func TestExitCodesAndMessages(t *testing.T) {
	empty := writeFile(t, "empty.txt", "")
	garbage := writeFile(t, "garbage.bin", "\x00\x01\x02binary\x00\x00\x00")
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, exitUsage, "Usage"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"summarize"}, exitUsage, "FILE"},
		{[]string{"summarize", "/no/such/file.srt"}, exitNotFound, "no such file"},
		{[]string{"summarize", empty}, exitInvalid, "empty"},
		{[]string{"summarize", garbage}, exitInvalid, "binary"},
		{[]string{"summarize", empty, "--ratio", "3"}, exitUsage, "--ratio"},
		{[]string{"summarize", empty, "--format", "pdf"}, exitUsage, "--format"},
		{[]string{"ask", empty}, exitUsage, "QUESTION"},
		{[]string{"eval", "nonsense", "--data", "/"}, exitUsage, "unknown evaluation"},
		{[]string{"transcribe"}, exitUsage, "recording FILE"},
		{[]string{"transcribe", "/no/such.mp3"}, exitNotFound, "no such file"},
		{[]string{"transcribe", empty}, exitInvalid, "empty"},
		{[]string{"transcribe", garbage, "--format", "docx"}, exitUsage, "--format"},
		{[]string{"transcribe", garbage, "--batch", "-1"}, exitUsage, "--batch"},
		{[]string{"transcribe", garbage}, exitFailure, "TRANSCEPT_WHISPER_MODEL"},
	}
	for _, c := range cases {
		code, _, errs := runCLI(t, "", c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", c.args, code, c.code, errs, c.msg)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	p := progress.New(&b, 0, audioProgress)
	p.Start = time.Now().Add(-10 * time.Second)
	p.Update(900, 3600)
	p.End()
	if out := b.String(); !strings.Contains(out, "[######..................]  25%  15:00 / 1:00:00  elapsed 10s  left ~30s") {
		t.Errorf("bar %q", out)
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"summarize", "ask", "serve", "eval", "config", "transcribe", "function", "broker", "lambda"} {
		code, _, errs := runCLI(t, "", cmd, "--help")
		if code != exitOK || !strings.Contains(errs, "Usage: transcept "+cmd) {
			t.Errorf("%s --help: exit %d, %q", cmd, code, errs)
		}
	}
	code, out, _ := runCLI(t, "", "config")
	if code != 0 || !strings.Contains(out, "TRANSCEPT_SUMMARY_RATIO") {
		t.Errorf("config: %d %q", code, out)
	}
}
