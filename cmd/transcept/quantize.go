package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/quantize"
)

const quantizeHelp = `Usage: transcept models quantize DIR --dtype q8|q4|fp16 [--block 32|64|128] [--symmetric] [--bits 4|8] [--keep-embeddings] [--quantize-embeddings] [--out DIR]
       transcept models quantize-quality DIR [--dtypes q8,q4,fp16] [--quantized DIR] [--steps 64] [--rows 4] [--input-len 32]

quantize writes quantised copies of an Optimum folder's float32 ONNX files
(onnx/encoder_model.onnx and the like) under the names the hub's ONNX repos
use: q8 as onnx/*_quantized.onnx (dynamic quantisation: DynamicQuantizeLinear
and MatMulInteger, uint8 weights with a scale per output column), q4 as
onnx/*_q4.onnx (com.microsoft MatMulNBits: 4-bit weights in blocks of
--block along K with a float32 scale per block; --symmetric drops the zero
points; --bits 8 makes 8-bit blocks). Every MatMul with a constant 2-D
float32 weight is rewritten, the tied lm_head (a MatMul over the transposed
embedding) included unless --keep-embeddings; Gemm stays float32, and so do
Gather embeddings unless --quantize-embeddings (uint8, a scale per row). Without --out the files go beside the float32 ones; with --out the
folder's other files (config.json, tokenizer, generation_config.json) are
copied too. The run is recorded in quantize.json (dtype, block, per-MatMul
error on a fixed input, sizes before and after).

--dtype fp16 writes onnx/*_fp16.onnx: float16 weights and compute, with
the graph's inputs and outputs kept float32 behind Casts (the runtime and
transformers.js feed them as for fp32), values past ±65504 clamped,
Softmax, LayerNormalization, reductions and squares kept in float32
islands; quantize.json records the counts. fp16 is for GPUs: ONNX
Runtime's CPU provider runs most fp16 ops in float32 between casts, slower
than the fp32 files.

Point the runtime at a dtype with TRANSCEPT_SUMMARY_DTYPE,
TRANSCEPT_WHISPER_DTYPE or TRANSCEPT_QA_DTYPE (fp32, q8, q4, fp16).

quantize-quality measures an encoder-decoder folder's dtypes against its
float32 files on a fixed random input: first-step logits (relative error,
cosine), greedy token agreement over --steps steps, ms per token, sizes; it
prints a Markdown table.
`

func cmdQuantize(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("models quantize", quantizeHelp, stderr)
	dtype := fs.String("dtype", "", "quantize: q8, q4 or fp16")
	block := fs.Int("block", 32, "quantize q4: block size along K (32, 64 or 128)")
	bits := fs.Int("bits", 4, "quantize q4: bits per weight (4 or 8)")
	sym := fs.Bool("symmetric", false, "quantize q4: symmetric blocks (no zero points)")
	keep := fs.Bool("keep-embeddings", false, "quantize: leave MatMuls over an embedding (the tied lm_head) float32")
	emb := fs.Bool("quantize-embeddings", false, "quantize: also store Gather embeddings as uint8 with a scale per row")
	acc := fs.Int("accuracy-level", 4, "quantize q4: MatMulNBits accuracy_level (0: float32 compute; 4: int8 compute, 2× faster decoder steps here at the same logits)")
	out := fs.String("out", "", "quantize: output folder (default: beside the float32 files)")
	dtypes := fs.String("dtypes", "q8,q4", "quantize-quality: the dtypes to measure")
	qdir := fs.String("quantized", "", "quantize-quality: the folder with the dtypes' files (default DIR)")
	steps := fs.Int("steps", 64, "quantize-quality: greedy steps")
	rows := fs.Int("rows", 4, "quantize-quality: input rows")
	inLen := fs.Int("input-len", 32, "quantize-quality: input tokens per row")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{msg: "give one model folder"}
	}
	if _, err := os.Stat(pos[1]); err != nil {
		return err
	}
	if pos[0] == "quantize-quality" {
		qs, err := quantize.Compare(pos[1], *qdir, strings.Split(*dtypes, ","), quantize.CompareOptions{Steps: *steps, Rows: *rows, InputLen: *inLen, Seed: 1})
		if err != nil {
			return err
		}
		quantize.WriteTable(stdout, qs)
		return nil
	}
	if *dtype == "" {
		return usageError{msg: "give --dtype q8, q4 or fp16"}
	}
	if *dtype == "fp16" {
		rec, err := quantize.FolderFP16(pos[1], *out)
		if err != nil {
			return err
		}
		for _, l := range rec.Summary() {
			fmt.Fprintln(stdout, l)
		}
		return nil
	}
	o := quantize.Options{DType: *dtype, Bits: *bits, Block: *block, Symmetric: *sym, KeepEmbeddings: *keep, QuantizeEmbeddings: *emb, AccuracyLevel: *acc}
	if err := o.Check(); err != nil {
		return usageError{msg: err.Error()}
	}
	rec, err := quantize.Folder(pos[1], *out, o)
	if err != nil {
		return err
	}
	for _, l := range rec.Summary() {
		fmt.Fprintln(stdout, l)
	}
	return nil
}
