// Command write-qwen writes a random-weight Qwen2-architecture decoder-only
// model folder in the onnx-community layout (see testmodels.WriteQwen2).
//
//	go run ./gpu-runtime/testmodels/cmd/write-qwen -o DIR [-tied] [-seed N]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/transcept/transcept/gpu-runtime/testmodels"
)

func main() {
	out := flag.String("o", "", "output folder")
	tok := flag.String("tokenizer", "", "folder with tokenizer.json and tokenizer_config.json to copy (default: the tiny Qwen-style tokenizer)")
	tied := flag.Bool("tied", false, "tie the lm_head to the embedding")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	c := testmodels.TinyQwen()
	c.Tokenizer, c.Tied, c.Seed = *tok, *tied, *seed
	if err := testmodels.WriteQwen2(*out, c); err != nil {
		fmt.Fprintln(os.Stderr, "write-qwen:", err)
		os.Exit(1)
	}
}
