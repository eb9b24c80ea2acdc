// Command bertgen writes a random-weight BERT-architecture feature-extraction
// folder (see package bertgen):
//
//	go run ./tests/testkit/cmd/bertgen -out /tmp/tiny-bert
//	go run ./tests/testkit/cmd/bertgen -shape minilm-l6 -out /tmp/minilm
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/transcept/transcept/tests/testkit/bertgen"
)

func main() {
	out := flag.String("out", "", "folder to write (created if needed)")
	shape := flag.String("shape", "tiny", "tiny or minilm-l6")
	seed := flag.Uint64("seed", 1, "random seed")
	tok := flag.String("tokenizer", "", "folder with tokenizer.json and tokenizer_config.json (default: the committed bert-uncased test files)")
	maxLen := flag.Int("max-length", 0, "model_max_length (0: the shape's)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "bertgen: -out is required")
		os.Exit(2)
	}
	var c bertgen.Config
	switch *shape {
	case "tiny":
		c = bertgen.Tiny()
	case "minilm-l6":
		c = bertgen.MiniLML6()
	default:
		fmt.Fprintf(os.Stderr, "bertgen: unknown shape %q (want tiny or minilm-l6)\n", *shape)
		os.Exit(2)
	}
	c.Seed, c.Tokenizer = *seed, *tok
	if *maxLen > 0 {
		c.MaxLength = *maxLen
	}
	if err := bertgen.Write(*out, c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
