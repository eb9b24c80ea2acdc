// Command write-qwen writes a random-weight Qwen2-architecture decoder-only
// model folder in the onnx-community layout (see testmodels.WriteQwen2).
//
//	go run ./tests/testkit/cmd/write-qwen -o DIR [-tied] [-seed N] [-external]
//	go run ./tests/testkit/cmd/write-qwen -size qwen2.5-0.5b -tokenizer TOKDIR -o DIR
//
// -size qwen2.5-0.5b is Qwen2.5-0.5B's shape (about 2 GB of fp32 weights in
// onnx/model.onnx_data); give it the real Qwen2.5 tokenizer folder. Write it
// outside the repository (e.g. ~/.cache/transcept-bench/).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/transcept/transcept/tests/testkit/testmodels"
)

func main() {
	out := flag.String("o", "", "output folder")
	size := flag.String("size", "tiny", "model shape: tiny or qwen2.5-0.5b")
	tok := flag.String("tokenizer", "", "folder with tokenizer.json and tokenizer_config.json to copy (default: the tiny Qwen-style tokenizer; required for qwen2.5-0.5b)")
	tied := flag.Bool("tied", false, "tie the lm_head to the embedding (tiny; qwen2.5-0.5b is always tied)")
	external := flag.Bool("external", false, "keep the weights in onnx/model.onnx_data (always on for qwen2.5-0.5b)")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	var c testmodels.QwenConfig
	switch *size {
	case "tiny":
		c = testmodels.TinyQwen()
		c.Tokenizer, c.Tied, c.ExternalData = *tok, *tied, *external
	case "qwen2.5-0.5b":
		if *tok == "" {
			fmt.Fprintln(os.Stderr, "write-qwen: -size qwen2.5-0.5b needs -tokenizer (the Qwen2.5 tokenizer.json folder)")
			os.Exit(2)
		}
		c = testmodels.Qwen25_05B(*tok)
	default:
		fmt.Fprintf(os.Stderr, "write-qwen: unknown -size %q (tiny, qwen2.5-0.5b)\n", *size)
		os.Exit(2)
	}
	c.Seed = *seed
	start := time.Now()
	if err := testmodels.WriteQwen2(*out, c); err != nil {
		fmt.Fprintln(os.Stderr, "write-qwen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "write-qwen: %s folder in %s (%.1f s)\n", *size, *out, time.Since(start).Seconds())
}
