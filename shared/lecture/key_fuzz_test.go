package lecture

import (
	"path"
	"strings"
	"testing"
)

// FuzzValidateKey: a key that validates is exactly "<id>/<name>" of a valid
// id and name, stays inside its bucket, and is a valid prefix, as is every
// prefix of it; ids and names that validate make keys that do.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{
		"20261127-005212-3f9a1c2e/Lecture 3 (part 2).mp4",
		"lec-1/My Lecture+1.txt",
		"lec-1/transcript.json",
		"../../etc/passwd",
		"lec-1/../x",
		"lec-1/.hidden",
		"/abs/path",
		`lec\1/x`,
		"lec-1/x\x00.txt",
		"lec-1/café.txt",
		"lec-1/ space.txt",
		"a/b/c",
		"-lec/x",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		id, name, splitErr := SplitKey(key)
		if (err == nil) != (splitErr == nil) {
			t.Fatalf("ValidateKey(%q) = %v but SplitKey = %v", key, err, splitErr)
		}
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("ValidateKey(%q): code %q", key, ErrorCode(err))
			}
		} else {
			if Key(id, name) != key || ValidateLectureID(id) != nil || ValidateName(name) != nil {
				t.Fatalf("SplitKey(%q) = %q, %q", key, id, name)
			}
			if len(key) > MaxKeyLen || strings.Count(key, "/") != 1 || strings.ContainsAny(key, "\\\x00") {
				t.Fatalf("ValidateKey accepted %q", key)
			}
			for i := 0; i < len(key); i++ {
				if key[i] < 0x20 || key[i] >= 0x7f {
					t.Fatalf("ValidateKey accepted byte %#x in %q", key[i], key)
				}
			}
			// Inside the bucket: cleaning the path changes nothing.
			if path.Clean("/"+key) != "/"+key || strings.HasPrefix(id, ".") || strings.HasPrefix(name, ".") {
				t.Fatalf("ValidateKey accepted %q, which leaves its folder", key)
			}
			for i := 0; i <= len(key); i++ {
				if err := ValidatePrefix(key[:i]); err != nil {
					t.Fatalf("prefix %q of valid key %q: %v", key[:i], key, err)
				}
			}
		}
		if err := ValidatePrefix(key); err != nil && ErrorCode(err) != EINVALID {
			t.Fatalf("ValidatePrefix(%q): code %q", key, ErrorCode(err))
		}
		// The other way: any split of key into a valid id and name joins
		// into a valid key.
		if a, b, ok := strings.Cut(key, "/"); ok && ValidateLectureID(a) == nil && ValidateName(b) == nil && ValidateKey(Key(a, b)) != nil {
			t.Fatalf("id %q and name %q are valid, key %q is not", a, b, Key(a, b))
		}
		if ValidateBucket(key) == nil && key != BucketRaw && key != BucketPreprocessed && key != BucketModels {
			t.Fatalf("ValidateBucket accepted %q", key)
		}
	})
}
