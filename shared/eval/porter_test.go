package eval

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestStemNLTKReference checks every word of testdata/porter_reference.tsv,
// produced by NLTK's PorterStemmer (see testdata/gen_reference.py).
func TestStemNLTKReference(t *testing.T) {
	f, err := os.Open("testdata/porter_reference.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, bad := 0, 0
	for sc.Scan() {
		word, want, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("malformed line %q", sc.Text())
		}
		n++
		if got := Stem(word); got != want {
			bad++
			if bad <= 30 {
				t.Errorf("Stem(%q) = %q, NLTK gives %q", word, got, want)
			}
		}
		// The in-place path used by the tokenizer must agree for lowercase input.
		if strings.ToLower(word) == word {
			if got := string(stemToken([]byte(word))); got != want {
				t.Errorf("stemToken(%q) = %q, NLTK gives %q", word, got, want)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 10000 {
		t.Fatalf("only %d reference words", n)
	}
	if bad > 0 {
		t.Fatalf("%d of %d stems differ from NLTK", bad, n)
	}
	t.Logf("%d words match NLTK", n)
}

func TestStemExamples(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"caresses", "caress"}, {"ponies", "poni"}, {"dies", "die"}, {"flies", "fli"},
		{"died", "die"}, {"spied", "spi"}, {"agreed", "agre"}, {"feed", "feed"},
		{"hopping", "hop"}, {"falling", "fall"}, {"filing", "file"}, {"happy", "happi"},
		{"enjoy", "enjoy"}, {"dying", "die"}, {"skies", "sky"}, {"news", "news"},
		{"generalization", "gener"}, {"relational", "relat"}, {"running", "run"},
		{"at", "at"}, {"is", "is"}, {"Dying", "dy"},
	} {
		if got := Stem(c.in); got != c.want {
			t.Errorf("Stem(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
