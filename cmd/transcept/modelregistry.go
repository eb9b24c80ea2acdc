package main

// The model registry's commands: transcept models push|list NAME|alias|history.

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	modelreg "github.com/transcept/transcept/shared/registry"
)

const registryHelp = `Usage: transcept models push DIR --name NAME [--source hub:OWNER/REPO@REVISION] [--by WHO]
       transcept models list NAME
       transcept models alias NAME@ALIAS VERSION [--why TEXT] [--report KEY] [--by WHO]
       transcept models history NAME

The model registry keeps immutable versions of model folders in the object
store (MinIO when MINIO_ENDPOINT is set, else TRANSCEPT_STORE_DIR), in the
models bucket: every file with its size and sha256 in a manifest, the source
(a hub repository and revision, or a local export with its lora_merge.json)
and who pushed it when. A version id is derived from the files, so pushing
the same folder twice gives the same version.

push      uploads DIR and prints the version id alone on stdout
list      NAME's versions, one per line: id, created, by, bytes, source, aliases
alias     points NAME@ALIAS (champion, challenger, ...) at VERSION (an id, or
          another alias of NAME), recorded in the append-only alias log with
          who, why and the eval report relied on (--report, a key that
          ` + "`transcept eval gate`" + ` printed)
history   NAME's alias log, oldest first: seq, time, alias, from, to, who, why, report

Model settings then name a version: TRANSCEPT_SUMMARY_MODEL=registry://NAME@champion.
`

// isRegistryCommand says whether models args are the registry's.
func isRegistryCommand(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "push", "alias", "history":
		return true
	case "list":
		for _, a := range args[1:] {
			if !strings.HasPrefix(a, "-") {
				return true
			}
		}
	}
	return false
}

func openRegistry(ctx context.Context) (*modelreg.Registry, error) {
	c, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	st, err := wire.Store(ctx, c)
	if err != nil {
		return nil, err
	}
	return modelreg.New(st), nil
}

func cmdRegistry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("models", registryHelp, stderr)
	name := fs.String("name", "", "push: the model's name")
	source := fs.String("source", "", "push: hub:OWNER/REPO@REVISION, or local (default: a local export)")
	by := fs.String("by", "", "push, alias: who does it (default $USER@hostname)")
	why := fs.String("why", "", "alias: why the alias moves")
	report := fs.String("report", "", "alias: the key of the eval report the move relies on")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	r, err := openRegistry(ctx)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "push":
		if len(pos) != 2 || *name == "" {
			return usageError{msg: "push takes one folder and --name NAME"}
		}
		meta := modelreg.Meta{CreatedBy: *by}
		if meta.Source, err = parseSource(*source); err != nil {
			return err
		}
		v, err := r.Push(ctx, pos[1], *name, meta)
		if err != nil {
			return err
		}
		m, err := r.Manifest(ctx, v)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "pushed %s: %d files, %d bytes\n", v, len(m.Files), m.Size)
		fmt.Fprintln(stdout, v.ID)
		return nil
	case "list":
		if len(pos) != 2 {
			return usageError{msg: "list takes one model name"}
		}
		return listVersions(ctx, r, pos[1], stdout)
	case "alias":
		if len(pos) != 3 {
			return usageError{msg: "alias takes NAME@ALIAS and VERSION"}
		}
		n, alias, err := modelreg.ParseRef(pos[1])
		if err != nil {
			return err
		}
		target := pos[2]
		if !strings.Contains(target, "@") {
			target = n + "@" + target
		}
		v, err := r.Resolve(ctx, target)
		if err != nil {
			return err
		}
		if v.Name != n {
			return usageError{msg: fmt.Sprintf("%s is a version of %s, not of %s", v, v.Name, n)}
		}
		e, err := r.Alias(ctx, n, alias, v.ID, *by, *why, *report)
		if err != nil {
			return err
		}
		from := e.From
		if from == "" {
			from = "(new)"
		}
		fmt.Fprintf(stdout, "%s@%s\t%s -> %s\t#%d\n", n, alias, from, e.To, e.Seq)
		return nil
	case "history":
		if len(pos) != 2 {
			return usageError{msg: "history takes one model name"}
		}
		h, err := r.History(ctx, pos[1])
		if err != nil {
			return err
		}
		if len(h) == 0 {
			fmt.Fprintf(stderr, "%s: no alias has been moved yet\n", pos[1])
		}
		for _, e := range h {
			from := e.From
			if from == "" {
				from = "-"
			}
			fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.Format(time.RFC3339), e.Alias, from, e.To, e.Who, dash(e.Why), dash(e.Report))
		}
		return nil
	}
	return usageError{msg: "unknown registry subcommand " + pos[0]}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseSource reads --source: hub:OWNER/REPO@REVISION or local.
func parseSource(s string) (modelreg.Source, error) {
	if s == "" || s == "local" {
		return modelreg.Source{}, nil
	}
	if rest, ok := strings.CutPrefix(s, "hub:"); ok {
		repo, rev, _ := strings.Cut(rest, "@")
		if strings.Count(repo, "/") == 1 && rev != "" {
			return modelreg.Source{Kind: "hub", Repo: repo, Revision: rev}, nil
		}
	}
	return modelreg.Source{}, usageError{msg: fmt.Sprintf("--source %q: want hub:OWNER/REPO@REVISION or local", s)}
}

func listVersions(ctx context.Context, r *modelreg.Registry, name string, stdout io.Writer) error {
	vs, err := r.Versions(ctx, name)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return lecture.Errorf(lecture.ENOTFOUND, "no model %s in the registry (push one with `transcept models push DIR --name %s`)", name, name)
	}
	aliases, err := r.Aliases(ctx, name)
	if err != nil {
		return err
	}
	byVersion := map[string][]string{}
	for a, id := range aliases {
		byVersion[id] = append(byVersion[id], a)
	}
	for _, m := range vs {
		src := m.Source.Kind
		if m.Source.Kind == "hub" {
			src = "hub:" + m.Source.Repo + "@" + m.Source.Revision
		} else if len(m.Source.LoRAMerge) > 0 {
			src += " (LoRA merged)"
		}
		as := byVersion[m.Version]
		sort.Strings(as)
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%d\t%s\t%s\n", m.Version, m.CreatedAt.Format(time.RFC3339), m.CreatedBy, m.Size, src, dash(strings.Join(as, ",")))
	}
	return nil
}

// listRegistry follows `models list`: the registry's models and aliases,
// when the store holds any.
func listRegistry(ctx context.Context, stdout, stderr io.Writer) {
	r, err := openRegistry(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "model registry not listed: %s\n", lecture.ErrorMessage(err))
		return
	}
	names, err := r.List(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "model registry not listed: %s\n", lecture.ErrorMessage(err))
		return
	}
	if len(names) == 0 {
		return
	}
	fmt.Fprintln(stdout, "\nIn the model registry (`transcept models list NAME` for versions):")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, n := range names {
		aliases, err := r.Aliases(ctx, n)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %s\n", n, lecture.ErrorMessage(err))
			continue
		}
		var parts []string
		for a, id := range aliases {
			parts = append(parts, a+"="+id)
		}
		sort.Strings(parts)
		fmt.Fprintf(tw, "  %s\t%s\n", n, dash(strings.Join(parts, " ")))
	}
	tw.Flush()
}
