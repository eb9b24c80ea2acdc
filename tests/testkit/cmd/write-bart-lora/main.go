// Command write-bart-lora writes a random-weight BART folder whose attention
// projections take LoRA inputs, its .onnx_adapter file and (optionally) the
// merged-weights twin (see testmodels.WriteBARTLoRA).
//
//	go run ./tests/testkit/cmd/write-bart-lora -o DIR -adapter FILE [-merged DIR] [-rank 4] [-alpha 0] [-targets q_proj,v_proj] [-seed 1] [-lora-seed 7] [-split]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/transcept/transcept/tests/testkit/testmodels"
)

func main() {
	out := flag.String("o", "", "output folder (the model with LoRA inputs)")
	adapter := flag.String("adapter", "", "output .onnx_adapter file")
	merged := flag.String("merged", "", "output folder of the merged-weights twin (optional)")
	rank := flag.Int("rank", 4, "LoRA rank r")
	alpha := flag.Float64("alpha", 0, "lora_alpha (scale alpha/r; 0 means 2r)")
	targets := flag.String("targets", strings.Join(testmodels.DefaultLoRATargets, ","), "adapted projections (q_proj,k_proj,v_proj,out_proj,fc1,fc2)")
	seed := flag.Uint64("seed", 1, "seed of the base weights")
	loraSeed := flag.Uint64("lora-seed", 7, "seed of the LoRA matrices")
	split := flag.Bool("split", false, "also write decoder_model.onnx and decoder_with_past_model.onnx")
	flag.Parse()
	if *out == "" || *adapter == "" {
		flag.Usage()
		os.Exit(2)
	}
	c := testmodels.Tiny()
	c.EOSBias, c.Seed, c.SplitDecoder = 0, *seed, *split
	l := testmodels.LoRA{Rank: *rank, Alpha: *alpha, Targets: strings.Split(*targets, ","), Seed: *loraSeed}
	if err := testmodels.WriteBARTLoRA(*out, *adapter, *merged, c, l); err != nil {
		fmt.Fprintln(os.Stderr, "write-bart-lora:", err)
		os.Exit(1)
	}
}
