package lecture

import (
	"strings"
	"testing"
	"time"
)

func TestValidateKey(t *testing.T) {
	good := []string{
		"a/b",
		"20261127-005212-3f9a1c2e/raw.wav",
		"L1/transcript.json",
		"x_y.z/a..b",
		"A9/-name",
		"a/_",
		strings.Repeat("i", 64) + "/" + strings.Repeat("n", 128),
	}
	for _, k := range good {
		if err := ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", k, err)
		}
	}
	bad := map[string]string{
		"":                               "empty",
		"abc":                            "exactly one slash",
		"a/b/c":                          "exactly one slash",
		"../x":                           "must not start with '.'",
		"/etc/passwd":                    "exactly one slash",
		"a/../../b":                      "exactly one slash",
		"-a/b":                           "must not start with '-'",
		"./b":                            "must not start with '.'",
		"a/.b":                           "must not start with '.'",
		"a/":                             "name is empty",
		"/b":                             "lecture id is empty",
		"a\\b/c":                         "forbidden character '\\\\'",
		"a/b\x00":                        "forbidden character '\\x00'",
		"caf\u00e9/x":                    "forbidden character",
		"a/b\u2215c":                     "forbidden character",
		strings.Repeat("i", 65) + "/x":   "65 bytes long, at most 64",
		"a/" + strings.Repeat("n", 129):  "129 bytes long, at most 128",
		strings.Repeat("k", 10<<10):      "10240 bytes long",
		strings.Repeat("k", 60) + "/x?y": "forbidden character '?'",
		"a/x y ":                         "start or end with a space",
	}
	for k, want := range bad {
		err := ValidateKey(k)
		if ErrorCode(err) != EINVALID {
			t.Errorf("ValidateKey(%.30q) = %v, want EINVALID", k, err)
			continue
		}
		msg := ErrorMessage(err)
		if !strings.Contains(msg, want) {
			t.Errorf("ValidateKey(%.30q) message %q lacks %q", k, msg, want)
		}
		if len(msg) > 300 {
			t.Errorf("ValidateKey(%.30q) message is %d bytes long", k, len(msg))
		}
	}
}

func TestValidateLectureIDAndName(t *testing.T) {
	for _, id := range []string{"a", "A-1", "x.y_z", "0", strings.Repeat("z", 64)} {
		if err := ValidateLectureID(id); err != nil {
			t.Errorf("ValidateLectureID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", ".a", "-a", "a/b", "a b", "é", strings.Repeat("z", 65)} {
		if err := ValidateLectureID(id); ErrorCode(err) != EINVALID {
			t.Errorf("ValidateLectureID(%q) = %v, want EINVALID", id, err)
		}
	}
	if err := ValidateName("-starts-with-dash"); err != nil {
		t.Errorf("ValidateName(-starts-with-dash) = %v; names may start with '-'", err)
	}
	for _, n := range []string{"", ".", "..", ".meta", "a/b", strings.Repeat("n", 129)} {
		if err := ValidateName(n); ErrorCode(err) != EINVALID {
			t.Errorf("ValidateName(%q) = %v, want EINVALID", n, err)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, p := range []string{"", "a", "2026", "abc/", "abc/tr", "a.b-c/x.j"} {
		if err := ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"/", "/a", "..", "../", "a/b/", "a//", "a\\", "a/.", ".", "-", "é"} {
		if err := ValidatePrefix(p); ErrorCode(err) != EINVALID {
			t.Errorf("ValidatePrefix(%q) = %v, want EINVALID", p, err)
		}
	}
}

func TestValidateBucket(t *testing.T) {
	for _, b := range []string{BucketRaw, BucketPreprocessed, BucketModels} {
		if err := ValidateBucket(b); err != nil {
			t.Errorf("ValidateBucket(%q) = %v", b, err)
		}
	}
	for _, b := range []string{"", "raw", "../raw-inputs", "Models"} {
		if err := ValidateBucket(b); ErrorCode(err) != EINVALID {
			t.Errorf("ValidateBucket(%q) = %v, want EINVALID", b, err)
		}
	}
}

func TestKeyAndSplit(t *testing.T) {
	if k := Key("L1", "raw.wav"); k != "L1/raw.wav" {
		t.Errorf("Key = %q", k)
	}
	id, name, err := SplitKey("L1/raw.wav")
	if id != "L1" || name != "raw.wav" || err != nil {
		t.Errorf("SplitKey = %q, %q, %v", id, name, err)
	}
	if _, _, err := SplitKey("L1/../x"); ErrorCode(err) != EINVALID {
		t.Errorf("SplitKey(L1/../x) = %v, want EINVALID", err)
	}
}

func TestNewLectureID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewLectureID()
		if err := ValidateLectureID(id); err != nil {
			t.Fatalf("NewLectureID() = %q: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("NewLectureID() repeated %q", id)
		}
		seen[id] = true
	}
	t0 := time.Date(2026, 11, 27, 0, 52, 12, 0, time.UTC)
	a, b := newLectureID(t0), newLectureID(t0.Add(time.Second))
	if !strings.HasPrefix(a, "20261127-005212-") || len(a) != 24 {
		t.Errorf("newLectureID = %q, want 20261127-005212-xxxxxxxx", a)
	}
	if !(a < b) {
		t.Errorf("ids not time-sorted: %q >= %q", a, b)
	}
	if c := newLectureID(t0.In(time.FixedZone("X", 5*3600))); c[:15] != a[:15] {
		t.Errorf("id depends on the time zone: %q vs %q", c, a)
	}
}
