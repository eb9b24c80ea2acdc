// Package catalog is the registry of the real model exports Transcept runs
// and their downloader: which Hugging Face repository, revision and files
// make each model folder (the Optimum ONNX layout the runtime reads), and a
// puller that fetches them with progress, resume, verification and atomic
// renames (`transcept models pull`, `make models`).
package catalog

import (
	"slices"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// HubURL is where the pinned repositories are downloaded from unless a
// mirror with the same layout ("<base>/<repo>/resolve/<revision>/<path>")
// is given (TRANSCEPT_MODELS_URL).
const HubURL = "https://huggingface.co"

// File is one file of a model folder. Size 0 and SHA256 "" mean not pinned
// yet: a download is then checked for what is pinned only, with a warning,
// and the puller prints the size and sha256 it got so they can be filled in.
type File struct {
	Path   string // inside the repository and the folder, "/"-separated
	Size   int64
	SHA256 string // lower-case hex
}

// Pinned reports whether the file's content is fully checked on download.
func (f File) Pinned() bool { return f.SHA256 != "" }

// Model is a pinned repository export.
type Model struct {
	Name     string // the folder name under TRANSCEPT_MODELS_DIR and the name `pull` takes
	Repo     string // owner/name on the hub
	Revision string // a commit; "main" where not pinned yet
	Task     string // what Transcept uses it for and the setting that points at it
	Default  bool   // pulled by `transcept models pull` without names
	Files    []File
}

// Pinned reports whether the revision and every file's hash are pinned.
func (m Model) Pinned() bool {
	if m.Revision == "" || m.Revision == "main" {
		return false
	}
	for _, f := range m.Files {
		if !f.Pinned() {
			return false
		}
	}
	return true
}

// seq2seqFiles are the Optimum encoder-decoder files (fp32).
func seq2seqFiles(extra ...string) []File {
	names := append([]string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"}, extra...)
	names = append(names, "onnx/encoder_model.onnx", "onnx/decoder_model_merged.onnx")
	out := make([]File, len(names))
	for i, n := range names {
		out[i] = File{Path: n}
	}
	return out
}

// List is every model Transcept knows how to fetch.
//
// Not pinned yet: these repositories and file paths are the real fp32 ONNX
// exports, but the revisions are "main" and the sizes and sha256 sums are
// still to be filled in from a machine that can reach the hub (run
// `transcept models pull NAME` there: it prints each file's size and sha256).
// Until then a pull verifies nothing beyond a complete transfer and says so.
var List = []Model{
	{Name: "distilbart-cnn-6-6", Repo: "Xenova/distilbart-cnn-6-6", Revision: "main", Default: true,
		Task:  "summaries (TRANSCEPT_SUMMARIZER=bart, TRANSCEPT_SUMMARY_MODEL)",
		Files: seq2seqFiles()},
	{Name: "bart-large-cnn", Repo: "Xenova/bart-large-cnn", Revision: "main",
		Task:  "summaries, larger (TRANSCEPT_SUMMARIZER=bart, TRANSCEPT_SUMMARY_MODEL)",
		Files: seq2seqFiles()},
	{Name: "whisper-base.en", Repo: "Xenova/whisper-base.en", Revision: "main",
		Task:  "transcription, English (TRANSCEPT_WHISPER_MODEL)",
		Files: seq2seqFiles("preprocessor_config.json")},
	{Name: "whisper-small", Repo: "Xenova/whisper-small", Revision: "main",
		Task:  "transcription, multilingual (TRANSCEPT_WHISPER_MODEL)",
		Files: seq2seqFiles("preprocessor_config.json")},
	{Name: "all-MiniLM-L6-v2", Repo: "Xenova/all-MiniLM-L6-v2", Revision: "main", Default: true,
		Task: "retrieval embeddings (TRANSCEPT_EMBED_MODEL)",
		Files: []File{{Path: "config.json"}, {Path: "tokenizer.json"}, {Path: "tokenizer_config.json"},
			{Path: "onnx/model.onnx"}}},
	{Name: "qwen2.5-0.5b-instruct", Repo: "onnx-community/Qwen2.5-0.5B-Instruct", Revision: "main",
		Task: "grounded answers, instruct LM (TRANSCEPT_QA_MODEL)",
		Files: []File{{Path: "config.json"}, {Path: "generation_config.json"}, {Path: "tokenizer.json"},
			{Path: "tokenizer_config.json"}, {Path: "onnx/model.onnx"}}},
}

// Lookup returns the named models of list, in the order given; no names
// means the Default ones. An unknown name is an EINVALID error listing the
// known ones.
func Lookup(list []Model, names ...string) ([]Model, error) {
	if len(names) == 0 {
		var out []Model
		for _, m := range list {
			if m.Default {
				out = append(out, m)
			}
		}
		return out, nil
	}
	var out []Model
	for _, n := range names {
		i := slices.IndexFunc(list, func(m Model) bool { return strings.EqualFold(m.Name, n) || strings.EqualFold(m.Repo, n) })
		if i < 0 {
			known := make([]string, len(list))
			for j, m := range list {
				known[j] = m.Name
			}
			return nil, lecture.Errorf(lecture.EINVALID, "unknown model %q: known are %s", n, strings.Join(known, ", "))
		}
		out = append(out, list[i])
	}
	return out, nil
}
