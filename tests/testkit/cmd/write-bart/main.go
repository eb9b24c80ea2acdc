// Command write-bart writes a random-weight BART model folder in Optimum's
// layout (see package testmodels).
//
//	go run ./tests/testkit/cmd/write-bart -o DIR [-size tiny|distilbart-6-6] [-tokenizer DIR] [-split]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/transcept/transcept/tests/testkit/testmodels"
)

func main() {
	out := flag.String("o", "", "output folder")
	size := flag.String("size", "tiny", "tiny or distilbart-6-6 (about 1.3 GB)")
	tok := flag.String("tokenizer", "", "folder with tokenizer.json to copy (default: the tiny tokenizer; distilbart-6-6 wants tests/reference/build/bart)")
	split := flag.Bool("split", false, "also write decoder_model.onnx and decoder_with_past_model.onnx")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	var c testmodels.Config
	switch *size {
	case "tiny":
		c = testmodels.Tiny()
	case "distilbart-6-6":
		c = testmodels.DistilBART66(*tok)
	default:
		fmt.Fprintf(os.Stderr, "write-bart: unknown size %q\n", *size)
		os.Exit(2)
	}
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *tok != "" {
		c.Tokenizer = *tok
	}
	c.SplitDecoder, c.Seed = *split, *seed
	if err := testmodels.WriteBART(*out, c); err != nil {
		fmt.Fprintln(os.Stderr, "write-bart:", err)
		os.Exit(1)
	}
}
