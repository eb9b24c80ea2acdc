package pipeline

import (
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

// FuzzRawName: whatever file name an upload brings (multipart filename,
// ?name=, a JSON "name"), the raw object's name is a valid store name with
// nothing of a path in it.
func FuzzRawName(f *testing.F) {
	for _, s := range []struct{ name, data string }{
		{"Lecture 3 (part 2).mp4", "RIFF"},
		{"notes.txt", "{vocalsound} Okay ."},
		{"../../etc/passwd", "root:x:0:0"},
		{`C:\Users\me\Lecture 1.srt`, "1\n00:00:01,000 --> 00:00:02,000\nHi\n"},
		{".hidden", "text"},
		{"-rf .txt", "text"},
		{"   ", `{"segments":[]}`},
		{"naïve café.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\nx\n"},
		{"a/b/", "x"},
		{"x\x00y.txt", "x"},
		{strings.Repeat("very long name ", 20) + ".txt", "x"},
		{"", "[{\"text\":\"a\"}]"},
	} {
		f.Add(s.name, []byte(s.data))
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		got := rawName(name, data)
		if err := lecture.ValidateName(got); err != nil {
			t.Fatalf("rawName(%q) = %q: %v", name, got, err)
		}
		if strings.ContainsAny(got, `/\`) || strings.HasPrefix(got, ".") || strings.HasPrefix(got, "-") {
			t.Fatalf("rawName(%q) = %q: path syntax or a leading '.' or '-'", name, got)
		}
		if err := lecture.ValidateKey(lecture.Key("20261127-005212-3f9a1c2e", got)); err != nil {
			t.Fatalf("rawName(%q) = %q makes a bad key: %v", name, got, err)
		}
		if again := rawName(name, data); again != got {
			t.Fatalf("rawName(%q) not deterministic: %q then %q", name, got, again)
		}
		// A name that is already safe is kept as it is.
		if !strings.ContainsAny(name, `/\`) && len(name) <= 100 && !strings.HasPrefix(name, "-") && lecture.ValidateName(name) == nil && got != name {
			t.Fatalf("rawName(%q) = %q, want the name unchanged", name, got)
		}
	})
}
