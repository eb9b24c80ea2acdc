// Package evalset keeps the evaluation set in the object store (bucket
// eval): `transcept eval seed` copies a pinned selection of shared/data
// (SummEval and QMSum validation items, the speech clips with their
// references) under set-<version>/ with a manifest listing every file's
// size and sha256, a small vocabulary and the set's input profile, and
// points set/current.json at it. The gate and the nightly evaluation read the
// current set back into a verified local folder laid out like shared/data,
// so the loaders of shared/eval read it unchanged. The package also holds
// what input drift is measured with: per-lecture input profiles
// (drift-<day>/<lecture>.json) and the population stability index against
// the eval set's profile.
package evalset

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/registry/gate"
	"github.com/transcept/transcept/shared/text"
)

// Bucket is where the eval set, nightly reports and input profiles live.
const Bucket = lecture.BucketEval

// Keys in the bucket.
const (
	currentKey = "set/current.json"
	// MaxVocabulary bounds the vocabulary: the most frequent words of the
	// set's texts (ties alphabetical).
	MaxVocabulary = 20000
)

// Tasks of the items (the gate's task names).
const (
	TaskSummarize  = "summarize"
	TaskQA         = "qa"
	TaskTranscribe = "transcribe"
)

// Selection is what seed copies: the first N items of each set, sorted as
// the loaders sort them (0: all). The default is the gate policy's subset.
type Selection struct {
	SummEvalItems int  `json:"summeval_items"`
	QMSumMeetings int  `json:"qmsum_meetings"` // Academic/val, summaries
	QAMeetings    int  `json:"qa_meetings"`    // ALL/val, questions
	SpeechClips   int  `json:"speech_clips"`   // audio/ (0: all)
	NoAudio       bool `json:"no_audio,omitempty"`
}

// Item is one file of the set.
type Item struct {
	Task   string `json:"task"`
	Path   string `json:"path"` // slash-separated, as under shared/data
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Profile is the set's input distribution: the words of each text
// document (SummEval article, QMSum meeting) and the out-of-vocabulary
// shares of held-out documents (the SummEval articles and QMSum meetings
// after the selection, as many as it holds, measured against the set's
// vocabulary as an unseen lecture is). Without held-out documents the
// shares are the set's own, leave-one-out (against the vocabulary of the
// other documents).
type Profile struct {
	Words   []int     `json:"words"`
	OOV     []float64 `json:"oov"`
	HeldOut int       `json:"held_out"` // documents behind OOV; 0: leave-one-out
}

// Manifest describes one version of the eval set.
type Manifest struct {
	Version    string    `json:"version"` // of the items' paths and hashes
	Selection  Selection `json:"selection"`
	Source     string    `json:"source"` // the folder it was seeded from
	CreatedBy  string    `json:"created_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	Items      []Item    `json:"items"`
	Vocabulary int       `json:"vocabulary"` // words in vocabulary.txt
	Profile    Profile   `json:"profile"`
}

// Count returns how many items of a task the set holds (QMSum files hold
// many questions; this counts files).
func (m *Manifest) Count(task string) int {
	n := 0
	for _, it := range m.Items {
		if it.Task == task && !strings.HasSuffix(it.Path, ".txt") {
			n++
		}
	}
	return n
}

// setKey is the key of a set's file: set-<version>/<path>, the path's
// slashes as commas (keys have one slash).
func setKey(version, name string) string {
	return "set-" + version + "/" + strings.ReplaceAll(name, "/", ",")
}

// source is a file to seed: where it is read from, its item, its content
// when it is a cut of a bigger file.
type source struct {
	item Item
	from string
	data []byte
}

// pick lists the files of a selection from dataDir.
func pick(dataDir string, sel Selection) ([]source, error) {
	var out []source
	add := func(task, rel string, data []byte) error {
		from := filepath.Join(dataDir, filepath.FromSlash(rel))
		if data == nil {
			b, err := os.ReadFile(from)
			if err != nil {
				return lecture.Wrap(lecture.ENOTFOUND, err, "evaluation data: %v", err)
			}
			data = b
		}
		sum := sha256.Sum256(data)
		out = append(out, source{item: Item{Task: task, Path: rel, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}, from: from, data: data})
		return nil
	}
	// SummEval: the first N lines of the JSONL file.
	b, err := os.ReadFile(filepath.Join(dataDir, "summeval", "summeval100.jsonl"))
	if err != nil {
		return nil, lecture.Wrap(lecture.ENOTFOUND, err, "evaluation data: %v", err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	var cut []byte
	n := 0
	for _, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		if sel.SummEvalItems > 0 && n == sel.SummEvalItems {
			break
		}
		cut = append(cut, l...)
		n++
	}
	if err := add(TaskSummarize, "summeval/summeval100.jsonl", cut); err != nil {
		return nil, err
	}
	meetings := func(task, dir string, limit int) error {
		paths, err := filepath.Glob(filepath.Join(dataDir, "qmsum", dir, "*.json"))
		if err != nil || len(paths) == 0 {
			return lecture.Errorf(lecture.ENOTFOUND, "evaluation data: no QMSum meetings in %s", filepath.Join(dataDir, "qmsum", dir))
		}
		sort.Strings(paths)
		if limit > 0 && limit < len(paths) {
			paths = paths[:limit]
		}
		for _, p := range paths {
			if err := add(task, "qmsum/"+dir+"/"+filepath.Base(p), nil); err != nil {
				return err
			}
		}
		return nil
	}
	if sel.QMSumMeetings >= 0 {
		if err := meetings(TaskSummarize, "Academic/val", sel.QMSumMeetings); err != nil {
			return nil, err
		}
	}
	if sel.QAMeetings >= 0 {
		if err := meetings(TaskQA, "ALL/val", sel.QAMeetings); err != nil {
			return nil, err
		}
	}
	if !sel.NoAudio {
		entries, err := os.ReadDir(filepath.Join(dataDir, "audio"))
		if err != nil {
			return nil, lecture.Wrap(lecture.ENOTFOUND, err, "evaluation data: %v", err)
		}
		clips := 0
		for _, e := range entries {
			ext := path.Ext(e.Name())
			if ext != ".flac" && ext != ".ogg" && ext != ".wav" {
				continue
			}
			ref := strings.TrimSuffix(e.Name(), ext) + ".txt"
			if _, err := os.Stat(filepath.Join(dataDir, "audio", ref)); err != nil {
				continue
			}
			if sel.SpeechClips > 0 && clips == sel.SpeechClips {
				break
			}
			clips++
			if err := add(TaskTranscribe, "audio/"+e.Name(), nil); err != nil {
				return nil, err
			}
			if err := add(TaskTranscribe, "audio/"+ref, nil); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].item.Path < out[j].item.Path })
	return out, nil
}

// versionOf is the set's version: a hash of its items' paths and hashes.
func versionOf(items []Item) string {
	h := sha256.New()
	for _, it := range items {
		fmt.Fprintf(h, "%s %s %s\n", it.Task, it.Path, it.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Seed copies the selection of dataDir into the store as a version of the
// eval set and makes it current. It is idempotent: a version already
// stored is not written again (created is false), only made current.
func Seed(ctx context.Context, st lecture.ObjectStore, dataDir string, sel Selection, who string, now time.Time) (m *Manifest, created bool, err error) {
	srcs, err := pick(dataDir, sel)
	if err != nil {
		return nil, false, err
	}
	items := make([]Item, len(srcs))
	for i, s := range srcs {
		items[i] = s.item
	}
	version := versionOf(items)
	if have, err := Load(ctx, st, version); err == nil {
		if cur, err := Current(ctx, st); err != nil || cur.Version != version {
			if err := setCurrent(ctx, st, version); err != nil {
				return nil, false, err
			}
		}
		return have, false, nil
	} else if lecture.ErrorCode(err) != lecture.ENOTFOUND {
		return nil, false, err
	}
	for _, s := range srcs {
		key := setKey(version, s.item.Path)
		if info, err := st.Stat(ctx, Bucket, key); err == nil && info.Size == s.item.Size {
			continue // a seed cut short before its manifest: the file is there
		}
		if err := st.Put(ctx, Bucket, key, bytes.NewReader(s.data), s.item.Size, "application/octet-stream"); err != nil {
			return nil, false, err
		}
	}
	vocab, profile, err := vocabulary(dataDir, sel, srcs)
	if err != nil {
		return nil, false, err
	}
	vb := []byte(strings.Join(vocab, "\n") + "\n")
	if err := st.Put(ctx, Bucket, setKey(version, "vocabulary.txt"), bytes.NewReader(vb), int64(len(vb)), "text/plain; charset=utf-8"); err != nil {
		return nil, false, err
	}
	m = &Manifest{Version: version, Selection: sel, Source: dataDir, CreatedBy: who, CreatedAt: now.UTC(), Items: items, Vocabulary: len(vocab), Profile: profile}
	if err := putJSON(ctx, st, setKey(version, "manifest.json"), m); err != nil {
		return nil, false, err
	}
	if err := setCurrent(ctx, st, version); err != nil {
		return nil, false, err
	}
	return m, true, nil
}

type pointer struct {
	Version string `json:"version"`
}

func setCurrent(ctx context.Context, st lecture.ObjectStore, version string) error {
	return putJSON(ctx, st, currentKey, pointer{version})
}

func putJSON(ctx context.Context, st lecture.ObjectStore, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return st.Put(ctx, Bucket, key, bytes.NewReader(b), int64(len(b)), "application/json")
}

func getJSON(ctx context.Context, st lecture.ObjectStore, key string, v any) error {
	rc, err := st.Get(ctx, Bucket, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := json.NewDecoder(rc).Decode(v); err != nil {
		return lecture.Wrap(lecture.EINTERNAL, err, "%s/%s: %v", Bucket, key, err)
	}
	return nil
}

// Load reads the manifest of one version (ENOTFOUND when not stored).
func Load(ctx context.Context, st lecture.ObjectStore, version string) (*Manifest, error) {
	var m Manifest
	if err := getJSON(ctx, st, setKey(version, "manifest.json"), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Current reads the manifest of the current version (ENOTFOUND when the
// store has no eval set: run `transcept eval seed`).
func Current(ctx context.Context, st lecture.ObjectStore) (*Manifest, error) {
	var p pointer
	if err := getJSON(ctx, st, currentKey, &p); err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return nil, lecture.Errorf(lecture.ENOTFOUND, "the store has no eval set: run `transcept eval seed`")
		}
		return nil, err
	}
	return Load(ctx, st, p.Version)
}

// Materialize writes the set's files under dir/<version>/ (laid out like
// shared/data), verifying each file's sha256, and returns that folder. A
// folder already verified is reused; a file that does not match its
// manifest is refused, named.
func Materialize(ctx context.Context, st lecture.ObjectStore, m *Manifest, dir string) (string, error) {
	out := filepath.Join(dir, m.Version)
	marker := filepath.Join(out, ".verified")
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == m.Version {
		return out, nil
	}
	for _, it := range m.Items {
		if err := fetch(ctx, st, m.Version, it, filepath.Join(out, filepath.FromSlash(it.Path))); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(marker, []byte(m.Version+"\n"), 0o644); err != nil {
		return "", lecture.Wrap(lecture.EUNAVAILABLE, err, "eval set: %v", err)
	}
	return out, nil
}

func fetch(ctx context.Context, st lecture.ObjectStore, version string, it Item, dst string) error {
	rc, err := st.Get(ctx, Bucket, setKey(version, it.Path))
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "eval set: %v", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".fetch-*")
	if err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "eval set: %v", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), rc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "eval set %s: %s: %v", version, it.Path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != it.SHA256 || n != it.Size {
		return lecture.Errorf(lecture.EINTERNAL, "eval set %s: %s has sha256 %s (%d bytes), the manifest says %s (%d bytes)", version, it.Path, got, n, it.SHA256, it.Size)
	}
	return os.Rename(tmp.Name(), dst)
}

// Vocabulary reads the set's vocabulary.
func Vocabulary(ctx context.Context, st lecture.ObjectStore, m *Manifest) (map[string]bool, error) {
	rc, err := st.Get(ctx, Bucket, setKey(m.Version, "vocabulary.txt"))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	v := map[string]bool{}
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			v[w] = true
		}
	}
	return v, sc.Err()
}

// Tokens are the words vocabulary and out-of-vocabulary shares count: runs
// of letters, lower-cased (numbers and punctuation are not vocabulary).
func Tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) })
}

// OOVShare is the share of s's tokens outside vocab (-1 when s has none).
func OOVShare(s string, vocab map[string]bool) float64 {
	toks := Tokens(s)
	if len(toks) == 0 {
		return -1
	}
	out := 0
	for _, t := range toks {
		if !vocab[t] {
			out++
		}
	}
	return float64(out) / float64(len(toks))
}

// documents reads the text documents among the seeded files: SummEval
// articles and QMSum meetings (each meeting once).
func documents(srcs []source) ([]string, error) {
	var docs []string
	seen := map[string]bool{}
	for _, s := range srcs {
		switch {
		case strings.HasSuffix(s.item.Path, ".jsonl"):
			dec := json.NewDecoder(bytes.NewReader(s.data))
			for {
				var it eval.SummEvalItem
				if err := dec.Decode(&it); err == io.EOF {
					break
				} else if err != nil {
					return nil, fmt.Errorf("%s: %w", s.item.Path, err)
				}
				docs = append(docs, it.Source)
			}
		case strings.HasPrefix(s.item.Path, "qmsum/"):
			name := path.Base(s.item.Path)
			if seen[name] {
				continue
			}
			seen[name] = true
			mt, err := eval.LoadQMSumFile(s.from)
			if err != nil {
				return nil, err
			}
			var b strings.Builder
			for _, t := range mt.Turns {
				b.WriteString(t.Content)
				b.WriteByte('\n')
			}
			docs = append(docs, b.String())
		}
	}
	return docs, nil
}

// vocabulary computes the set's vocabulary (its MaxVocabulary most frequent
// tokens) and its profile.
func vocabulary(dataDir string, sel Selection, srcs []source) ([]string, Profile, error) {
	docs, err := documents(srcs)
	if err != nil {
		return nil, Profile{}, err
	}
	held, err := heldOut(dataDir, sel, srcs)
	if err != nil {
		return nil, Profile{}, err
	}
	total := map[string]int{}
	counts := make([]map[string]int, len(docs))
	for i, d := range docs {
		counts[i] = map[string]int{}
		for _, t := range Tokens(d) {
			counts[i][t]++
			total[t]++
		}
	}
	words := make([]string, 0, len(total))
	for w := range total {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if total[words[i]] != total[words[j]] {
			return total[words[i]] > total[words[j]]
		}
		return words[i] < words[j]
	})
	if len(words) > MaxVocabulary {
		words = words[:MaxVocabulary]
	}
	vocab := map[string]bool{}
	for _, w := range words {
		vocab[w] = true
	}
	p := Profile{HeldOut: len(held)}
	for i, d := range docs {
		n, out := 0, 0
		for t, c := range counts[i] {
			n += c
			if !vocab[t] || total[t] == c { // only this document has it
				out += c
			}
		}
		p.Words = append(p.Words, text.WordCount(d))
		if n > 0 && len(held) == 0 {
			p.OOV = append(p.OOV, float64(out)/float64(n))
		}
	}
	for _, d := range held {
		if o := OOVShare(d, vocab); o >= 0 {
			p.OOV = append(p.OOV, o)
		}
	}
	sort.Strings(words)
	return words, p, nil
}

// heldOut reads the documents after the selection: as many SummEval
// articles as it holds (the next ones), and as many QMSum ALL/val meetings
// as it holds that it does not hold.
func heldOut(dataDir string, sel Selection, srcs []source) ([]string, error) {
	var out []string
	if n := sel.SummEvalItems; n > 0 {
		items, err := eval.LoadSummEval(filepath.Join(dataDir, "summeval", "summeval100.jsonl"))
		if err != nil {
			return nil, err
		}
		for _, it := range items[min(n, len(items)):min(2*n, len(items))] {
			out = append(out, it.Source)
		}
	}
	have := map[string]bool{}
	for _, s := range srcs {
		if strings.HasPrefix(s.item.Path, "qmsum/") {
			have[path.Base(s.item.Path)] = true
		}
	}
	if len(have) > 0 {
		paths, _ := filepath.Glob(filepath.Join(dataDir, "qmsum", "ALL", "val", "*.json"))
		sort.Strings(paths)
		n := 0
		for _, p := range paths {
			if have[filepath.Base(p)] || n == len(have) {
				continue
			}
			mt, err := eval.LoadQMSumFile(p)
			if err != nil {
				return nil, err
			}
			var b strings.Builder
			for _, t := range mt.Turns {
				b.WriteString(t.Content)
				b.WriteByte('\n')
			}
			out = append(out, b.String())
			n++
		}
	}
	return out, nil
}

// Policy fits a gate policy to the set: a part the set does not hold (no
// QMSum Academic meetings) is not asked for.
func (m *Manifest) Policy(p gate.Policy) gate.Policy {
	academic := 0
	for _, it := range m.Items {
		if strings.HasPrefix(it.Path, "qmsum/Academic/") {
			academic++
		}
	}
	if academic == 0 {
		p.QMSumMeetings = 0 // none
	}
	return p
}
