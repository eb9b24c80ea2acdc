package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/catalog"
	"github.com/transcept/transcept/gpu-runtime/lora"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
)

const modelsHelp = `Usage: transcept models list
       transcept models pull [NAME...] [--dtype q8|q4|fp16] [options]
       transcept models merge-lora --adapter PEFT_DIR --model DIR --out DIR
       transcept models convert-lora --adapter PEFT_DIR --out FILE.onnx_adapter [--graph-scale S]
       transcept models quantize DIR --dtype q8|q4 [--block 32|64|128] [--symmetric] [--out DIR]   (see models quantize --help)
       transcept models push|list NAME|alias|history ...   (the model registry: see models push --help)

list shows the models Transcept knows: name, repository, revision, what it
is for, and whether its files' sha256 sums are pinned.

pull downloads model folders (the Optimum ONNX layout: config.json,
tokenizer.json, onnx/*.onnx) into TRANSCEPT_MODELS_DIR (default ./models),
with progress on stderr. An interrupted download resumes where it stopped;
every file is checked against its pinned size and sha256 before it is moved
into place. Without NAME it pulls the default set (marked * by list).
--dtype q8|q4|fp16 fetches the hub's onnx/*_quantized.onnx, *_q4.onnx or
*_fp16.onnx instead of the fp32 files (point the runtime at them with
TRANSCEPT_SUMMARY_DTYPE and the like).
TRANSCEPT_MODELS_URL names a mirror with the hub's layout
(<url>/<owner>/<repo>/resolve/<revision>/<path>).

merge-lora folds a PEFT LoRA adapter (adapter_config.json and
adapter_model.safetensors, as fine-tuning writes them) into the float32
weights of an Optimum export folder, writing a new folder to point
TRANSCEPT_SUMMARY_MODEL at: the usual route for plain exports, which have no
LoRA inputs. The merge is recorded in the new folder's lora_merge.json.

convert-lora turns a PEFT adapter into an ONNX Runtime adapter file for an
export that carries LoRA inputs (<module>.lora_A.weight, <module>.lora_B.weight);
TRANSCEPT_SUMMARY_ADAPTER then activates it per request without a merged
copy. --graph-scale is the lora_alpha/r the export multiplies by (default 1).

Examples:
  transcept models list
  transcept models pull distilbart-cnn-6-6
  TRANSCEPT_SUMMARIZER=bart TRANSCEPT_SUMMARY_MODEL=models/distilbart-cnn-6-6 transcept summarize lecture.srt
`

// modelList is the registry the command serves (tests replace it).
var modelList = catalog.List

func cmdModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if isRegistryCommand(args) {
		return cmdRegistry(ctx, args, stdout, stderr)
	}
	if len(args) > 0 && (args[0] == "quantize" || args[0] == "quantize-quality") {
		return cmdQuantize(args, stdout, stderr)
	}
	fs := newFlags("models", modelsHelp, stderr)
	all := fs.Bool("all", false, "pull every known model")
	dir := fs.String("dir", "", "destination (default TRANSCEPT_MODELS_DIR)")
	base := fs.String("url", "", "mirror base URL (default TRANSCEPT_MODELS_URL, else the hub)")
	adapter := fs.String("adapter", "", "merge-lora, convert-lora: the PEFT adapter folder")
	modelDir := fs.String("model", "", "merge-lora: the Optimum export folder to merge into")
	out := fs.String("out", "", "merge-lora: the new folder; convert-lora: the .onnx_adapter file")
	dtype := fs.String("dtype", "", "pull: the hub's quantised or half-precision files instead of fp32 (q8, q4, fp16)")
	graphScale := fs.Float64("graph-scale", 1, "convert-lora: the scale the export's LoRA branch multiplies by")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError{msg: "give a subcommand, list or pull; see --help"}
	}
	c, err := config.FromEnv()
	if err != nil {
		return err
	}
	p := &catalog.Puller{BaseURL: c.ModelsURL, Dir: c.ModelsDir, Log: stderr}
	if *dir != "" {
		p.Dir = *dir
	}
	if *base != "" {
		p.BaseURL = *base
	}
	switch pos[0] {
	case "merge-lora", "convert-lora":
		return loraCommand(pos, *adapter, *modelDir, *out, *graphScale, stdout)
	case "list":
		if len(pos) > 1 {
			return usageError{msg: "list takes no names"}
		}
		for _, m := range modelList {
			mark, pinned := " ", "sha256 not pinned"
			if m.Default {
				mark = "*"
			}
			if m.Pinned() {
				pinned = "pinned"
			}
			present := ""
			if st, err := os.Stat(p.Folder(m)); err == nil && st.IsDir() {
				present = "  (in " + p.Folder(m) + ")"
			}
			fmt.Fprintf(stdout, "%s %-22s %s@%s  %s; %s%s\n", mark, m.Name, m.Repo, m.Revision, m.Task, pinned, present)
		}
		fmt.Fprintln(stdout, "\n* pulled by `transcept models pull` without names")
		listRegistry(ctx, stdout, stderr)
		return nil
	case "pull":
		names := pos[1:]
		var want []catalog.Model
		if *all {
			if len(names) > 0 {
				return usageError{msg: "give names or --all, not both"}
			}
			want = modelList
		} else if want, err = catalog.Lookup(modelList, names...); err != nil {
			return err
		}
		for _, m := range want {
			if m, err = catalog.WithDType(m, *dtype); err != nil {
				return err
			}
			dir, err := p.Pull(ctx, m)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, dir)
		}
		return nil
	}
	return usageError{msg: fmt.Sprintf("unknown subcommand %q: want %s", pos[0], strings.Join([]string{"list", "pull", "merge-lora", "convert-lora", "quantize", "quantize-quality", "push", "alias", "history"}, ", "))}
}

// loraCommand runs merge-lora and convert-lora.
func loraCommand(pos []string, adapter, modelDir, out string, graphScale float64, stdout io.Writer) error {
	if len(pos) > 1 {
		return usageError{msg: pos[0] + " takes no names, only flags"}
	}
	switch {
	case pos[0] == "merge-lora" && (adapter == "" || modelDir == "" || out == ""):
		return usageError{msg: "merge-lora needs --adapter, --model and --out"}
	case adapter == "" || out == "":
		return usageError{msg: "convert-lora needs --adapter and --out"}
	}
	if !(graphScale > 0) {
		return usageError{msg: fmt.Sprintf("--graph-scale %v: want a positive number", graphScale)}
	}
	p, err := lora.ReadPEFT(adapter)
	if err != nil {
		return err
	}
	if pos[0] == "convert-lora" {
		if _, err := os.Stat(out); err == nil {
			return lecture.Errorf(lecture.ECONFLICT, "%s already exists; remove it or choose another --out", out)
		}
		if err := p.Adapter(graphScale).WriteFile(out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d modules\n", out, len(p.Modules))
		return nil
	}
	res, err := lora.MergePEFT(p, modelDir, out)
	if err != nil {
		return err
	}
	for _, f := range slices.Sorted(maps.Keys(res.Files)) {
		fmt.Fprintf(stdout, "%s: %d modules merged\n", filepath.Join(out, f), len(res.Files[f]))
	}
	for _, f := range res.Skipped {
		fmt.Fprintf(stdout, "%s: left out (its weights cannot take the adapter)\n", f)
	}
	fmt.Fprintf(stdout, "TRANSCEPT_SUMMARY_MODEL=%s\n", out)
	return nil
}
