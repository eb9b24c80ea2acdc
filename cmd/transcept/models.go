package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/models"
	"github.com/transcept/transcept/shared/config"
)

const modelsHelp = `Usage: transcept models list
       transcept models pull [NAME...] [options]

list shows the models Transcept knows: name, repository, revision, what it
is for, and whether its files' sha256 sums are pinned.

pull downloads model folders (the Optimum ONNX layout: config.json,
tokenizer.json, onnx/*.onnx) into TRANSCEPT_MODELS_DIR (default ./models),
with progress on stderr. An interrupted download resumes where it stopped;
every file is checked against its pinned size and sha256 before it is moved
into place. Without NAME it pulls the default set (marked * by list).
TRANSCEPT_MODELS_URL names a mirror with the hub's layout
(<url>/<owner>/<repo>/resolve/<revision>/<path>).

Examples:
  transcept models list
  transcept models pull distilbart-cnn-6-6
  TRANSCEPT_SUMMARIZER=bart TRANSCEPT_SUMMARY_MODEL=models/distilbart-cnn-6-6 transcept summarize lecture.srt
`

// modelList is the registry the command serves (tests replace it).
var modelList = models.List

func cmdModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("models", modelsHelp, stderr)
	all := fs.Bool("all", false, "pull every known model")
	dir := fs.String("dir", "", "destination (default TRANSCEPT_MODELS_DIR)")
	base := fs.String("url", "", "mirror base URL (default TRANSCEPT_MODELS_URL, else the hub)")
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
	p := &models.Puller{BaseURL: c.ModelsURL, Dir: c.ModelsDir, Log: stderr}
	if *dir != "" {
		p.Dir = *dir
	}
	if *base != "" {
		p.BaseURL = *base
	}
	switch pos[0] {
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
		return nil
	case "pull":
		names := pos[1:]
		var want []models.Model
		if *all {
			if len(names) > 0 {
				return usageError{msg: "give names or --all, not both"}
			}
			want = modelList
		} else if want, err = models.Lookup(modelList, names...); err != nil {
			return err
		}
		for _, m := range want {
			dir, err := p.Pull(ctx, m)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, dir)
		}
		return nil
	}
	return usageError{msg: fmt.Sprintf("unknown subcommand %q: want %s", pos[0], strings.Join([]string{"list", "pull"}, " or "))}
}
