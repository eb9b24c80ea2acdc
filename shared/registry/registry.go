// Package registry is the model registry: immutable, content-addressed
// versions of Optimum model folders in the object store's models bucket,
// with named aliases (champion, challenger) moved through an append-only,
// serialised log, and a verified local cache for the functions that run them.
//
// Layout. The object store's keys are "<id>/<name>" with exactly one slash,
// so the registry's tree models/<name>/<version>/ is kept flat under the
// model's name:
//
//	models/<name>/<version>.manifest.json       the manifest (written last)
//	models/<name>/<version>=<path>               a file; "/" in path is ","
//	models/<name>/<version>.report.<stamp>.json  an eval report attached later
//	models/<name>/aliases.<seq>.json             one alias-log entry
//
// A version id is the first 12 hex digits of the sha256 of the manifest's
// file list (path, size, sha256 of every file), so pushing the same folder
// twice yields the same version. Alias-log entries are created only where
// absent (a conditional put: If-None-Match: * on S3, link(2) on the
// filesystem) with the next sequence number as key, so concurrent alias
// moves are serialised: a loser retries on top of the winner's entry.
package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// BucketModels is the bucket the registry lives in.
const BucketModels = lecture.BucketModels

// Scheme prefixes a model setting that names a registry version.
const Scheme = "registry://"

// IDLen is the length of a version id in hex digits.
const IDLen = 12

const (
	manifestSuffix = ".manifest.json"
	aliasPrefix    = "aliases."
	reportInfix    = ".report."
	markerFile     = ".transcept-registry.json" // in a fetched folder
)

// ConditionalPutter is the optional store capability the alias log needs:
// Put only when the key does not exist yet, else an ECONFLICT error.
type ConditionalPutter interface {
	PutIfAbsent(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) error
}

// File is one file of a version.
type File struct {
	Path   string `json:"path"` // slash-separated, relative to the folder
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Source says where a folder came from.
type Source struct {
	// Kind is "hub" (Repo and Revision name the hub repository) or
	// "local export" (LoRAMerge holds the folder's lora_merge.json, if any).
	Kind      string          `json:"kind"`
	Repo      string          `json:"repo,omitempty"`
	Revision  string          `json:"revision,omitempty"`
	LoRAMerge json.RawMessage `json:"lora_merge,omitempty"`
}

// Meta is what Push records beside the files.
type Meta struct {
	Source    Source
	CreatedBy string    // user@host when empty
	CreatedAt time.Time // now when zero
}

// Manifest describes one version.
type Manifest struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Files     []File    `json:"files"`
	Size      int64     `json:"size"`
	Source    Source    `json:"source"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	// Reports are the keys of the eval reports attached to the version
	// (filled in when read; not part of the stored manifest).
	Reports []string `json:"reports,omitempty"`
}

// Version names one immutable version of a model.
type Version struct {
	Name string `json:"name"`
	ID   string `json:"version"`
}

// String is "name@id".
func (v Version) String() string { return v.Name + "@" + v.ID }

// Entry is one alias move.
type Entry struct {
	Seq    int       `json:"seq"`
	Name   string    `json:"name"`
	Alias  string    `json:"alias"`
	From   string    `json:"from,omitempty"` // "" when the alias is new
	To     string    `json:"to"`
	Who    string    `json:"who"`
	Why    string    `json:"why,omitempty"`
	Report string    `json:"report,omitempty"` // key of the eval report relied on
	At     time.Time `json:"at"`
}

// Registry is a model registry over an object store.
type Registry struct {
	Store lecture.ObjectStore
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	entries sync.Map // key -> Entry: log entries are immutable
}

// New returns a registry over st.
func New(st lecture.ObjectStore) *Registry { return &Registry{Store: st} }

func (r *Registry) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

var (
	aliasRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	idRe    = regexp.MustCompile(`^[0-9a-f]{12}$`)
)

// ValidateName checks a model name: what the store accepts as the first key
// segment (1 to 64 of [A-Za-z0-9._-], not starting with '.' or '-').
func ValidateName(name string) error {
	if err := lecture.ValidateLectureID(name); err != nil || strings.Contains(name, "@") {
		return lecture.Errorf(lecture.EINVALID, "invalid model name %q: want 1 to 64 of [A-Za-z0-9._-], not starting with '.' or '-'", name)
	}
	return nil
}

// ValidateAlias checks an alias name: a lowercase word such as champion.
func ValidateAlias(alias string) error {
	if !aliasRe.MatchString(alias) || idRe.MatchString(alias) {
		return lecture.Errorf(lecture.EINVALID, "invalid alias %q: want a lowercase word of [a-z0-9_-] (up to 32) that is not a version id", alias)
	}
	return nil
}

// ParseRef splits "name@alias" or "name@version" (a "registry://" prefix
// is allowed).
func ParseRef(ref string) (name, at string, err error) {
	ref = strings.TrimPrefix(ref, Scheme)
	name, at, ok := strings.Cut(ref, "@")
	if !ok || at == "" {
		return "", "", lecture.Errorf(lecture.EINVALID, "model reference %q: want NAME@ALIAS or NAME@VERSION", ref)
	}
	if err := ValidateName(name); err != nil {
		return "", "", err
	}
	if !idRe.MatchString(at) {
		if err := ValidateAlias(at); err != nil {
			return "", "", err
		}
	}
	return name, at, nil
}

// fileKey is the object key of a version's file.
func fileKey(name, id, path string) string {
	return name + "/" + id + "=" + strings.ReplaceAll(path, "/", ",")
}

func manifestKey(name, id string) string { return name + "/" + id + manifestSuffix }

// fileList hashes the canonical file list into a version id.
func versionID(files []File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\t%d\t%s\n", f.Path, f.Size, f.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))[:IDLen]
}

// scan lists and hashes the regular files under dir (hidden files and
// folders left out), sorted by path.
func scan(dir string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		files = append(files, File{Path: rel, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	})
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "cannot read model folder %s", dir)
	}
	if len(files) == 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "model folder %s holds no files", dir)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// Who is the default author of a push or alias move: the OS user @ host
// (an identity of the process, not a setting).
func Who() string {
	u := "unknown"
	if cu, err := user.Current(); err == nil && cu.Username != "" {
		u = cu.Username
	}
	h, _ := os.Hostname()
	if h == "" {
		h = "localhost"
	}
	return u + "@" + h
}

// Push uploads the folder dir as a version of name and returns it. The
// files stream to the store one by one, each checked for its size after
// the upload; the manifest goes last, so a version is visible only once
// complete. Pushing a folder already there returns its version.
func (r *Registry) Push(ctx context.Context, dir, name string, meta Meta) (Version, error) {
	if err := ValidateName(name); err != nil {
		return Version{}, err
	}
	files, err := scan(dir)
	if err != nil {
		return Version{}, err
	}
	id := versionID(files)
	v := Version{Name: name, ID: id}
	for _, f := range files {
		k := fileKey(name, id, f.Path)
		if strings.Contains(f.Path, ",") || lecture.ValidateKey(k) != nil {
			return Version{}, lecture.Errorf(lecture.EINVALID, "model folder %s: file %s cannot be stored (a path of [A-Za-z0-9._-/ +()@=], no ',', at most %d bytes)", dir, f.Path, lecture.MaxNameLen-IDLen-1)
		}
	}
	if _, err := r.Store.Stat(ctx, BucketModels, manifestKey(name, id)); err == nil {
		return v, nil // the same content is already there
	} else if lecture.ErrorCode(err) != lecture.ENOTFOUND {
		return Version{}, err
	}
	var size int64
	for _, f := range files {
		if err := r.putFile(ctx, dir, name, id, f); err != nil {
			return Version{}, err
		}
		size += f.Size
	}
	m := Manifest{Name: name, Version: id, Files: files, Size: size, Source: meta.Source, CreatedBy: meta.CreatedBy, CreatedAt: meta.CreatedAt.UTC()}
	if m.Source.Kind == "" {
		m.Source.Kind = "local export"
	}
	if m.Source.Kind == "local export" && m.Source.LoRAMerge == nil {
		if b, err := os.ReadFile(filepath.Join(dir, "lora_merge.json")); err == nil && json.Valid(b) {
			m.Source.LoRAMerge = json.RawMessage(bytes.TrimSpace(b))
		}
	}
	if m.CreatedBy == "" {
		m.CreatedBy = Who()
	}
	if meta.CreatedAt.IsZero() {
		m.CreatedAt = r.now()
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Version{}, lecture.Wrap(lecture.EINTERNAL, err, "manifest of %s", v)
	}
	if err := r.Store.Put(ctx, BucketModels, manifestKey(name, id), bytes.NewReader(b), int64(len(b)), "application/json"); err != nil {
		return Version{}, err
	}
	return v, nil
}

func (r *Registry) putFile(ctx context.Context, dir, name, id string, f File) error {
	k := fileKey(name, id, f.Path)
	fh, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.Path)))
	if err != nil {
		return lecture.Wrap(lecture.EINVALID, err, "cannot read %s", f.Path)
	}
	defer fh.Close()
	if err := r.Store.Put(ctx, BucketModels, k, fh, f.Size, "application/octet-stream"); err != nil {
		return lecture.Wrap(lecture.ErrorCode(err), err, "uploading %s: %s", f.Path, lecture.ErrorMessage(err))
	}
	info, err := r.Store.Stat(ctx, BucketModels, k)
	if err != nil {
		return err
	}
	if info.Size != f.Size {
		return lecture.Errorf(lecture.EINTERNAL, "uploading %s: the store holds %d bytes, the file has %d", f.Path, info.Size, f.Size)
	}
	return nil
}

// Manifest reads a version's manifest, with its attached reports.
func (r *Registry) Manifest(ctx context.Context, v Version) (*Manifest, error) {
	rc, err := r.Store.Get(ctx, BucketModels, manifestKey(v.Name, v.ID))
	if err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return nil, lecture.Errorf(lecture.ENOTFOUND, "model version %s not found in the registry", v)
		}
		return nil, err
	}
	defer rc.Close()
	var m Manifest
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		return nil, lecture.Wrap(lecture.EINTERNAL, err, "manifest of %s unreadable", v)
	}
	if m.Name != v.Name || m.Version != v.ID || versionID(m.Files) != v.ID {
		return nil, lecture.Errorf(lecture.EINTERNAL, "manifest of %s does not describe that version", v)
	}
	list, err := r.Store.List(ctx, BucketModels, v.Name+"/"+v.ID+reportInfix)
	if err != nil {
		return nil, err
	}
	for _, o := range list {
		m.Reports = append(m.Reports, o.Key)
	}
	return &m, nil
}

// List returns the names of the registry's models, sorted.
func (r *Registry) List(ctx context.Context) ([]string, error) {
	list, err := r.Store.List(ctx, BucketModels, "")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, o := range list {
		n, rest, _ := strings.Cut(o.Key, "/")
		if strings.HasSuffix(rest, manifestSuffix) && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// Versions returns the manifests of name's versions, oldest first.
func (r *Registry) Versions(ctx context.Context, name string) ([]*Manifest, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	list, err := r.Store.List(ctx, BucketModels, name+"/")
	if err != nil {
		return nil, err
	}
	var out []*Manifest
	for _, o := range list {
		_, rest, _ := strings.Cut(o.Key, "/")
		id, ok := strings.CutSuffix(rest, manifestSuffix)
		if !ok || !idRe.MatchString(id) {
			continue
		}
		m, err := r.Manifest(ctx, Version{name, id})
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// History returns name's alias log, oldest first.
func (r *Registry) History(ctx context.Context, name string) ([]Entry, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	list, err := r.Store.List(ctx, BucketModels, name+"/"+aliasPrefix)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, o := range list {
		if v, ok := r.entries.Load(o.Key); ok {
			out = append(out, v.(Entry))
			continue
		}
		rc, err := r.Store.Get(ctx, BucketModels, o.Key)
		if err != nil {
			return nil, err
		}
		var e Entry
		err = json.NewDecoder(rc).Decode(&e)
		rc.Close()
		if err != nil {
			return nil, lecture.Wrap(lecture.EINTERNAL, err, "alias log entry %s unreadable", o.Key)
		}
		r.entries.Store(o.Key, e)
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// Aliases returns name's current aliases (alias -> version id), derived
// from the log.
func (r *Registry) Aliases(ctx context.Context, name string) (map[string]string, error) {
	h, err := r.History(ctx, name)
	if err != nil {
		return nil, err
	}
	return current(h), nil
}

func current(h []Entry) map[string]string {
	m := map[string]string{}
	for _, e := range h {
		m[e.Alias] = e.To
	}
	return m
}

func entryKey(name string, seq int) string {
	return fmt.Sprintf("%s/%s%010d.json", name, aliasPrefix, seq)
}

// Alias points name@alias at version id, recording who moved it, why and
// the eval report it relied on (a key from AttachReport, or ""). Concurrent
// moves are serialised through conditional puts; the entry is returned.
func (r *Registry) Alias(ctx context.Context, name, alias, id, who, why, reportKey string) (Entry, error) {
	if err := ValidateName(name); err != nil {
		return Entry{}, err
	}
	if err := ValidateAlias(alias); err != nil {
		return Entry{}, err
	}
	if !idRe.MatchString(id) {
		return Entry{}, lecture.Errorf(lecture.EINVALID, "version %q: want the %d hex digits `models push` printed", id, IDLen)
	}
	if _, err := r.Store.Stat(ctx, BucketModels, manifestKey(name, id)); err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return Entry{}, lecture.Errorf(lecture.ENOTFOUND, "model version %s@%s not found in the registry", name, id)
		}
		return Entry{}, err
	}
	if reportKey != "" {
		if _, err := r.Store.Stat(ctx, BucketModels, reportKey); err != nil {
			return Entry{}, lecture.Wrap(lecture.ErrorCode(err), err, "eval report %s: %s", reportKey, lecture.ErrorMessage(err))
		}
	}
	if who == "" {
		who = Who()
	}
	cp, atomic := r.Store.(ConditionalPutter)
	for try := 0; ; try++ {
		h, err := r.History(ctx, name)
		if err != nil {
			return Entry{}, err
		}
		seq := 1
		if len(h) > 0 {
			seq = h[len(h)-1].Seq + 1
		}
		e := Entry{Seq: seq, Name: name, Alias: alias, From: current(h)[alias], To: id, Who: who, Why: why, Report: reportKey, At: r.now()}
		b, _ := json.Marshal(e)
		k := entryKey(name, seq)
		if atomic {
			err = cp.PutIfAbsent(ctx, BucketModels, k, bytes.NewReader(b), int64(len(b)), "application/json")
		} else if _, serr := r.Store.Stat(ctx, BucketModels, k); serr == nil {
			err = lecture.Errorf(lecture.ECONFLICT, "alias log entry %s exists", k)
		} else {
			err = r.Store.Put(ctx, BucketModels, k, bytes.NewReader(b), int64(len(b)), "application/json")
		}
		if err == nil {
			r.entries.Store(k, e)
			return e, nil
		}
		if lecture.ErrorCode(err) != lecture.ECONFLICT || try >= 200 {
			return Entry{}, err
		}
		select { // another move won this sequence number: try the next
		case <-ctx.Done():
			return Entry{}, lecture.Wrap(lecture.EUNAVAILABLE, ctx.Err(), "moving %s@%s cancelled", name, alias)
		case <-time.After(time.Duration(rand.IntN(5+min(try, 20)*2)) * time.Millisecond):
		}
	}
}

// Resolve turns "name@alias" or "name@version" (with or without the
// registry:// prefix) into the version it names now.
func (r *Registry) Resolve(ctx context.Context, ref string) (Version, error) {
	name, at, err := ParseRef(ref)
	if err != nil {
		return Version{}, err
	}
	if idRe.MatchString(at) {
		if _, err := r.Store.Stat(ctx, BucketModels, manifestKey(name, at)); err != nil {
			if lecture.ErrorCode(err) == lecture.ENOTFOUND {
				return Version{}, lecture.Errorf(lecture.ENOTFOUND, "model version %s@%s not found in the registry", name, at)
			}
			return Version{}, err
		}
		return Version{name, at}, nil
	}
	aliases, err := r.Aliases(ctx, name)
	if err != nil {
		return Version{}, err
	}
	id, ok := aliases[at]
	if !ok {
		return Version{}, lecture.Errorf(lecture.ENOTFOUND, "model %s has no alias %s (move one with `transcept models alias %s@%s VERSION`)", name, at, name, at)
	}
	return Version{name, id}, nil
}

// AttachReport stores an eval report with a version and returns its key.
func (r *Registry) AttachReport(ctx context.Context, v Version, report []byte) (string, error) {
	if _, err := r.Manifest(ctx, v); err != nil {
		return "", err
	}
	k := v.Name + "/" + v.ID + reportInfix + r.now().Format("20060102T150405.000000000Z") + ".json"
	if err := r.Store.Put(ctx, BucketModels, k, bytes.NewReader(report), int64(len(report)), "application/json"); err != nil {
		return "", err
	}
	return k, nil
}

// marker is what a fetched folder records about itself: the manifest's
// files and, per file, the size and modification time seen at verification.
type marker struct {
	Version string           `json:"version"`
	Files   []File           `json:"files"`
	ModNano map[string]int64 `json:"mod_ns"`
}

// Fetch makes version v available in <cacheDir>/<name>/<version>/ and
// returns that folder. Every file's sha256 is checked against the manifest
// (a mismatch is refused, naming the file); the folder appears at once,
// complete, through a rename. A folder verified before is reused while its
// files keep the size and modification time seen then.
func (r *Registry) Fetch(ctx context.Context, v Version, cacheDir string) (string, error) {
	m, err := r.Manifest(ctx, v)
	if err != nil {
		return "", err
	}
	dest := filepath.Join(cacheDir, v.Name, v.ID)
	if cachedOK(dest, m) {
		return dest, nil
	}
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", lecture.Wrap(lecture.EUNAVAILABLE, err, "model cache %s", parent)
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-"+v.ID+"-")
	if err != nil {
		return "", lecture.Wrap(lecture.EUNAVAILABLE, err, "model cache %s", parent)
	}
	defer os.RemoveAll(tmp)
	mk := marker{Version: v.ID, Files: m.Files, ModNano: map[string]int64{}}
	for _, f := range m.Files {
		p := filepath.Join(tmp, filepath.FromSlash(f.Path))
		if err := r.download(ctx, v, f, p); err != nil {
			return "", err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return "", lecture.Wrap(lecture.EUNAVAILABLE, err, "model cache")
		}
		mk.ModNano[f.Path] = fi.ModTime().UnixNano()
	}
	b, _ := json.Marshal(mk)
	if err := os.WriteFile(filepath.Join(tmp, markerFile), b, 0o644); err != nil {
		return "", lecture.Wrap(lecture.EUNAVAILABLE, err, "model cache")
	}
	if cachedOK(dest, m) {
		return dest, nil // another process fetched it meanwhile: keep theirs, which may be in use
	}
	if _, err := os.Stat(dest); err == nil {
		// A stale or damaged copy: move it aside, then put ours in place.
		old := tmp + ".old"
		if err := os.Rename(dest, old); err == nil {
			defer os.RemoveAll(old)
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		if cachedOK(dest, m) { // another process fetched it meanwhile
			return dest, nil
		}
		return "", lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot move %s into the model cache", v)
	}
	return dest, nil
}

func (r *Registry) download(ctx context.Context, v Version, f File, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "model cache")
	}
	rc, err := r.Store.Get(ctx, BucketModels, fileKey(v.Name, v.ID, f.Path))
	if err != nil {
		return lecture.Wrap(lecture.ErrorCode(err), err, "model %s: file %s: %s", v, f.Path, lecture.ErrorMessage(err))
	}
	defer rc.Close()
	out, err := os.Create(path)
	if err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "model cache")
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), rc)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "model %s: downloading file %s", v, f.Path)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != f.Size || sum != f.SHA256 {
		return lecture.Errorf(lecture.EINTERNAL, "model %s: file %s is corrupted in the registry: %d bytes with sha256 %s, the manifest says %d bytes with sha256 %s; refused",
			v, f.Path, n, sum, f.Size, f.SHA256)
	}
	return nil
}

// cachedOK says whether dest holds m's files as verified by an earlier Fetch.
func cachedOK(dest string, m *Manifest) bool {
	b, err := os.ReadFile(filepath.Join(dest, markerFile))
	if err != nil {
		return false
	}
	var mk marker
	if json.Unmarshal(b, &mk) != nil || mk.Version != m.Version || versionID(mk.Files) != m.Version {
		return false
	}
	for _, f := range m.Files {
		fi, err := os.Stat(filepath.Join(dest, filepath.FromSlash(f.Path)))
		if err != nil || fi.Size() != f.Size || fi.ModTime().UnixNano() != mk.ModNano[f.Path] {
			return false
		}
	}
	return true
}

// Verify re-hashes a fetched folder against its manifest, naming the first
// file that differs.
func Verify(dir string, m *Manifest) error {
	for _, f := range m.Files {
		fh, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			return lecture.Wrap(lecture.ENOTFOUND, err, "model %s@%s: file %s missing", m.Name, m.Version, f.Path)
		}
		h := sha256.New()
		n, err := io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "reading %s", f.Path)
		}
		if n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
			return lecture.Errorf(lecture.EINTERNAL, "model %s@%s: file %s is corrupted (sha256 differs from the manifest)", m.Name, m.Version, f.Path)
		}
	}
	return nil
}

// ErrNotRegistry is returned by SplitSetting for a plain folder.
var ErrNotRegistry = errors.New("not a registry:// reference")

// SplitSetting returns the reference of a "registry://N@X" setting value.
func SplitSetting(value string) (string, error) {
	ref, ok := strings.CutPrefix(value, Scheme)
	if !ok {
		return "", ErrNotRegistry
	}
	if _, _, err := ParseRef(ref); err != nil {
		return "", err
	}
	return ref, nil
}
