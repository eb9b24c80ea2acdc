// Package fs is a lecture.ObjectStore on the local filesystem: an object
// <bucket>/<lecture_id>/<name> is the file <root>/<bucket>/<lecture_id>/<name>.
//
// Put writes a temporary file in the object's directory, fsyncs it and renames
// it over the object, so readers see the old object or the new one, never a
// part. The content type and ETag (hex SHA-256 of the content) live in a
// sidecar file ".<name>.meta" next to the object; should the sidecar not match
// the object (a crash between the two renames, a file replaced by hand), the
// ETag is computed from the content and the content type derived from the
// name's extension. Files whose name starts with '.' (temporary files,
// sidecars) are never objects, since no valid name starts with '.'.
//
// Within one process, puts, deletes and reads of one key are serialised around
// the renames; two processes sharing a root still never see a partial object,
// but may briefly see a stale sidecar, which Stat detects as above.
package fs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/store"
)

const (
	tmpPrefix  = ".tmp-"
	metaSuffix = ".meta"
)

// Store is a filesystem object store. Use New; the zero value is not usable.
type Store struct {
	root string

	// MaxObjectSize, when > 0, is the largest object Put accepts; a larger
	// one fails with ETOOLARGE and leaves nothing behind. Set it before use.
	MaxObjectSize int64

	locks [64]sync.RWMutex
}

var _ lecture.ObjectStore = (*Store)(nil)

// New returns a store rooted at root, creating root and a folder for each
// known bucket.
func New(root string) (*Store, error) {
	if root == "" {
		return nil, lecture.Errorf(lecture.EINVALID, "object store root is empty")
	}
	root = filepath.Clean(root)
	for _, b := range lecture.Buckets {
		if err := os.MkdirAll(filepath.Join(root, b), 0o755); err != nil {
			return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot create object store folder %s", filepath.Join(root, b))
		}
	}
	return &Store{root: root}, nil
}

// Root returns the directory the store lives in.
func (s *Store) Root() string { return s.root }

// Path returns the file that holds bucket/key (which may not exist), for
// tools that need a file name. It validates bucket and key.
func (s *Store) Path(bucket, key string) (string, error) {
	if err := lecture.ValidateBucket(bucket); err != nil {
		return "", err
	}
	if err := lecture.ValidateKey(key); err != nil {
		return "", err
	}
	return s.path(bucket, key), nil
}

func (s *Store) path(bucket, key string) string {
	return filepath.Join(s.root, bucket, filepath.FromSlash(key))
}

func metaPath(dataPath string) string {
	dir, name := filepath.Split(dataPath)
	return filepath.Join(dir, "."+name+metaSuffix)
}

func (s *Store) lock(bucket, key string) *sync.RWMutex {
	h := fnv.New32a()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return &s.locks[h.Sum32()%uint32(len(s.locks))]
}

func validate(ctx context.Context, bucket, key string) error {
	if err := lecture.ValidateBucket(bucket); err != nil {
		return err
	}
	if err := lecture.ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "object store request cancelled")
	}
	return nil
}

// meta is the sidecar of an object. Size and ModNano identify the data file
// it describes.
type meta struct {
	ContentType string `json:"content_type"`
	ETag        string `json:"etag"`
	Size        int64  `json:"size"`
	ModNano     int64  `json:"mod_ns"`
}

// Put stores r under bucket/key atomically. size is the content length, or
// -1 when unknown; a reader that yields another length fails the put. On any
// error nothing is left behind and an existing object is untouched.
func (s *Store) Put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) error {
	return s.put(ctx, bucket, key, r, size, contentType, false)
}

// PutIfAbsent is Put that creates bucket/key only where it does not exist
// yet: an existing object is an ECONFLICT error and stays untouched. The
// object appears through link(2), which fails when the name is taken, so
// of two processes creating one key exactly one wins.
func (s *Store) PutIfAbsent(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) error {
	return s.put(ctx, bucket, key, r, size, contentType, true)
}

func (s *Store) put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string, exclusive bool) (err error) {
	if err := validate(ctx, bucket, key); err != nil {
		return err
	}
	if s.MaxObjectSize > 0 && size > s.MaxObjectSize {
		return lecture.Errorf(lecture.ETOOLARGE, "object of %d bytes is larger than the limit of %d bytes", size, s.MaxObjectSize)
	}
	contentType = store.ContentType(key, contentType)
	final := s.path(bucket, key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return diskError(err, "cannot create the folder of %s/%s", bucket, key)
	}

	var tmps []string // removed on failure
	defer func() {
		if err != nil {
			for _, t := range tmps {
				_ = os.Remove(t)
			}
		}
	}()

	f, err := os.CreateTemp(dir, tmpName())
	if err != nil {
		return diskError(err, "cannot store %s/%s", bucket, key)
	}
	tmps = append(tmps, f.Name())
	h := sha256.New()
	buf := make([]byte, 256<<10)
	src := &errReader{r: store.CheckReader(ctx, r, size, s.MaxObjectSize)}
	_, err = io.CopyBuffer(io.MultiWriter(f, h), src, buf)
	if err == nil {
		err = f.Sync()
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = f.Stat()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var le *lecture.Error
		switch {
		case errors.As(err, &le):
			return err
		case src.err != nil:
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "reading the content of %s/%s failed", bucket, key)
		}
		return diskError(err, "cannot write %s/%s", bucket, key)
	}

	m := meta{ContentType: contentType, ETag: hex.EncodeToString(h.Sum(nil)), Size: fi.Size(), ModNano: fi.ModTime().UnixNano()}
	mt, err := writeTemp(dir, m)
	if mt != "" {
		tmps = append(tmps, mt)
	}
	if err != nil {
		return diskError(err, "cannot write metadata of %s/%s", bucket, key)
	}
	if err := ctx.Err(); err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "object store request cancelled")
	}

	l := s.lock(bucket, key)
	l.Lock()
	if exclusive {
		if err = os.Link(f.Name(), final); err == nil {
			_ = os.Remove(f.Name())
		} else if errors.Is(err, iofs.ErrExist) {
			l.Unlock()
			return lecture.Errorf(lecture.ECONFLICT, "object %s/%s already exists", bucket, key)
		}
	} else {
		err = os.Rename(f.Name(), final)
	}
	if err == nil {
		tmps = tmps[1:] // the data file is committed
		err = os.Rename(mt, metaPath(final))
	}
	l.Unlock()
	if err != nil {
		return diskError(err, "cannot commit %s/%s", bucket, key)
	}
	syncDir(dir)
	return nil
}

// tmpName is the pattern of this process's temporary files: ".tmp-<pid>-*",
// so that SweepTemp can tell a dead process's leftovers from live writes.
func tmpName() string { return tmpPrefix + strconv.Itoa(os.Getpid()) + "-*" }

// diskError says what went wrong in words a client can act on: a full,
// read-only or forbidden disk is "unavailable" and names the cause.
func diskError(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s: the object store's disk is full", msg)
	case errors.Is(err, syscall.EROFS):
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s: the object store's disk is read-only", msg)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s: permission denied in the object store folder", msg)
	}
	return lecture.Wrap(lecture.EINTERNAL, err, "%s", msg)
}

// SweepTemp removes temporary files that dead processes left behind (a
// crash between create and rename), any older than an hour, and sidecars
// whose object is gone, and returns how many it removed. Call it at start.
func (s *Store) SweepTemp() (int, error) {
	n := 0
	err := filepath.WalkDir(s.root, func(p string, d iofs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if name := d.Name(); strings.HasPrefix(name, ".") && strings.HasSuffix(name, metaSuffix) && !strings.HasPrefix(name, tmpPrefix) {
			data := filepath.Join(filepath.Dir(p), strings.TrimSuffix(name[1:], metaSuffix))
			if _, err := os.Lstat(data); errors.Is(err, iofs.ErrNotExist) && os.Remove(p) == nil {
				n++ // a sidecar whose object is gone
			}
			return nil
		}
		if !strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		if !tempOwnerDead(strings.TrimPrefix(d.Name(), tmpPrefix)) {
			if fi, err := d.Info(); err != nil || time.Since(fi.ModTime()) < time.Hour {
				return nil
			}
		}
		if os.Remove(p) == nil {
			n++
		}
		return nil
	})
	return n, err
}

// tempOwnerDead reads "<pid>-..." and says whether that process is gone.
func tempOwnerDead(rest string) bool {
	pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
	if err != nil || pid <= 0 {
		return false // an older name: the age rule decides
	}
	if pid == os.Getpid() {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err != nil && !errors.Is(err, syscall.EPERM)
}

// errReader remembers the error of its reader other than io.EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

func writeTemp(dir string, m meta) (name string, err error) {
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, tmpName())
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Get opens bucket/key for reading; a missing object is ENOTFOUND.
func (s *Store) Get(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	if err := validate(ctx, bucket, key); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(bucket, key))
	if err != nil {
		return nil, s.openErr(err, bucket, key)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, lecture.Errorf(lecture.ENOTFOUND, "object %s/%s not found", bucket, key)
	}
	return f, nil
}

func (s *Store) openErr(err error, bucket, key string) error {
	if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return lecture.Wrap(lecture.ENOTFOUND, err, "object %s/%s not found", bucket, key)
	}
	return lecture.Wrap(lecture.EINTERNAL, err, "cannot read %s/%s", bucket, key)
}

// Stat describes bucket/key; a missing object is ENOTFOUND.
func (s *Store) Stat(ctx context.Context, bucket, key string) (lecture.ObjectInfo, error) {
	if err := validate(ctx, bucket, key); err != nil {
		return lecture.ObjectInfo{}, err
	}
	info, err := s.stat(bucket, key)
	if err != nil {
		return lecture.ObjectInfo{}, s.openErr(err, bucket, key)
	}
	return info, nil
}

// stat reads the object's file and sidecar together, falling back to hashing
// the content when the sidecar does not describe the file.
func (s *Store) stat(bucket, key string) (lecture.ObjectInfo, error) {
	p := s.path(bucket, key)
	l := s.lock(bucket, key)
	l.RLock()
	fi, err := os.Stat(p)
	var mb []byte
	if err == nil {
		mb, _ = os.ReadFile(metaPath(p))
	}
	l.RUnlock()
	if err != nil {
		return lecture.ObjectInfo{}, err
	}
	if !fi.Mode().IsRegular() {
		return lecture.ObjectInfo{}, iofs.ErrNotExist
	}
	info := lecture.ObjectInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime().UTC()}
	var m meta
	if mb != nil && json.Unmarshal(mb, &m) == nil && m.Size == fi.Size() && m.ModNano == fi.ModTime().UnixNano() && m.ETag != "" {
		info.ContentType, info.ETag = m.ContentType, m.ETag
		return info, nil
	}
	info.ContentType = store.ContentType(key, "")
	f, err := os.Open(p)
	if err != nil {
		return lecture.ObjectInfo{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return lecture.ObjectInfo{}, err
	}
	info.ETag, info.Size = hex.EncodeToString(h.Sum(nil)), n
	return info, nil
}

// List returns the objects of bucket whose key starts with prefix, sorted by
// key. The prefix may be empty, part of a lecture id, or "<lecture_id>/" and
// part of a name.
func (s *Store) List(ctx context.Context, bucket, prefix string) ([]lecture.ObjectInfo, error) {
	if err := lecture.ValidateBucket(bucket); err != nil {
		return nil, err
	}
	if err := lecture.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	idPrefix, _, exact := strings.Cut(prefix, "/")
	var ids []string
	if exact {
		ids = []string{idPrefix}
	} else {
		ents, err := os.ReadDir(filepath.Join(s.root, bucket))
		if err != nil {
			return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot list bucket %s", bucket)
		}
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), idPrefix) && lecture.ValidateLectureID(e.Name()) == nil {
				ids = append(ids, e.Name())
			}
		}
	}
	out := []lecture.ObjectInfo{}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "object store request cancelled")
		}
		ents, err := os.ReadDir(filepath.Join(s.root, bucket, id))
		if errors.Is(err, iofs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot list %s/%s", bucket, id)
		}
		for _, e := range ents {
			key := lecture.Key(id, e.Name())
			if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) || lecture.ValidateName(e.Name()) != nil {
				continue
			}
			info, err := s.stat(bucket, key)
			if errors.Is(err, iofs.ErrNotExist) {
				continue // deleted meanwhile
			} else if err != nil {
				return nil, lecture.Wrap(lecture.EINTERNAL, err, "cannot read %s/%s", bucket, key)
			}
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes bucket/key; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	if err := validate(ctx, bucket, key); err != nil {
		return err
	}
	p := s.path(bucket, key)
	l := s.lock(bucket, key)
	l.Lock()
	// The sidecar first: a crash in between leaves an object without one,
	// which Stat handles, never a sidecar without its object.
	merr := os.Remove(metaPath(p))
	err := os.Remove(p)
	l.Unlock()
	if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return lecture.Wrap(lecture.EINTERNAL, err, "cannot delete %s/%s", bucket, key)
	}
	if merr != nil && !errors.Is(merr, iofs.ErrNotExist) {
		return lecture.Wrap(lecture.EINTERNAL, merr, "cannot delete metadata of %s/%s", bucket, key)
	}
	return nil
}

// Prune removes the empty folders left under bucket/prefix (a deleted
// lecture's), deepest first; a folder that still holds anything stays.
// Call it only where nothing writes under prefix any more.
func (s *Store) Prune(ctx context.Context, bucket, prefix string) error {
	if err := validate(ctx, bucket, strings.TrimSuffix(prefix, "/")+"/x"); err != nil {
		return err
	}
	root := s.path(bucket, strings.TrimSuffix(prefix, "/"))
	if root == s.path(bucket, "") {
		return nil // never the bucket itself
	}
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d iofs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return nil
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails, harmlessly, when not empty
	}
	return nil
}
