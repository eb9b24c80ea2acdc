package ort

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// The optimised-model cache (Options.OptimizedCacheDir). Building a session
// from a large .onnx file spends seconds parsing protobuf and rewriting the
// graph; ONNX Runtime can save the optimised graph in its own FlatBuffer
// format once and later run straight from those bytes, memory-mapped, with
// the weights used in place. One cache file per source model:
//
//	<stem>-<hash of the source path>-<hash of the key>.ort
//
// holding ONNX Runtime's bytes followed by a trailer (cacheTrailer). The key
// covers what the optimised graph depends on: the source file's identity
// (size, modification time, inode), the ONNX Runtime version, the
// optimisation level and the processor (layout rewrites are
// hardware-specific). A changed source gets a new name; the old file is
// removed when the new one is written. Files are written to a temporary name
// and renamed, so a reader sees a whole file or none; a file whose trailer,
// length or CRC-32C does not match is removed and the source model loads
// instead.

// cacheMagic starts the trailer; the last byte is the trailer's version.
var cacheMagic = [8]byte{'T', 'R', 'C', 'O', 'R', 'T', 'C', 1}

// cacheTrailer ends a cache file: magic, payload length, CRC-32C of the
// payload, and the SHA-256 of the key it was built for.
type cacheTrailer struct {
	Magic   [8]byte
	Length  uint64
	CRC     uint32
	KeyHash [32]byte
}

var trailerSize = binary.Size(cacheTrailer{})

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// cacheEntry is where a source model's optimised copy lives and the key it
// must carry.
type cacheEntry struct {
	Path    string   // the cache file
	Prefix  string   // names of this source's cache files, current or stale, start so
	KeyHash [32]byte // SHA-256 of the key text
	Key     string
}

// newCacheEntry describes the cache file for source under dir.
// Variants are further things the optimised graph depends on (a rewrite of
// the source made before loading it), one line each.
func newCacheEntry(dir, source, ortVersion string, o *Options, variants ...string) (*cacheEntry, error) {
	abs, err := filepath.Abs(source)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	key := strings.Join([]string{
		"transcept optimised model cache v1",
		"source=" + abs,
		fileIdentity(fi),
		"onnxruntime=" + ortVersion,
		"optimization=" + o.Optimization.String(),
		"cpu=" + cpuIdentity(),
	}, "\n")
	for _, v := range variants {
		key += "\nvariant=" + v
	}
	e := &cacheEntry{Key: key, KeyHash: sha256.Sum256([]byte(key)), Prefix: cachePrefix(dir, abs)}
	e.Path = e.Prefix + hex.EncodeToString(e.KeyHash[:8]) + ".ort"
	return e, nil
}

// cachePrefix starts the names of the cache files of the model at abs.
func cachePrefix(dir, abs string) string {
	pathHash := sha256.Sum256([]byte(abs))
	stem := strings.TrimSuffix(filepath.Base(abs), filepath.Ext(abs))
	return filepath.Join(dir, stem+"-"+hex.EncodeToString(pathHash[:6])+"-")
}

// RemoveCached removes the optimised copies that dir holds of the model
// file at source (found by its path, current or stale): for callers that
// remove a model file of their own, whose copies would otherwise stay.
func RemoveCached(dir, source string) {
	abs, err := filepath.Abs(source)
	if err != nil || dir == "" {
		return
	}
	old, _ := filepath.Glob(cachePrefix(dir, abs) + "*.ort")
	for _, p := range old {
		os.Remove(p)
	}
}

// DataIdentity names the external data files a model reads (its
// info.External), each with its fileIdentity, one line each.
func DataIdentity(path string, info *onnxpb.Info) []string {
	if info == nil {
		return nil
	}
	seen := map[string]bool{}
	var lines []string
	for _, e := range info.External {
		if seen[e.Location] {
			continue
		}
		seen[e.Location] = true
		line := "data=" + e.Location
		if p, err := e.Path(path); err == nil {
			if fi, err := os.Stat(p); err == nil {
				line += " " + fileIdentity(fi)
			}
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return lines
}

// fileIdentity is what tells one version of a file from another: size,
// modification time, inode and device.
func fileIdentity(fi os.FileInfo) string {
	var ino, dev uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino, dev = uint64(st.Ino), uint64(st.Dev)
	}
	return fmt.Sprintf("size=%d mtime=%d ino=%d dev=%d", fi.Size(), fi.ModTime().UnixNano(), ino, dev)
}

// cpuIdentity names the processor model and its feature flags (hashed), so a
// cache copied to another machine is rebuilt rather than trusted.
func cpuIdentity() string {
	id := runtime.GOARCH
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return id
	}
	var model, flags string
	for line := range strings.SplitSeq(string(info), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			if model == "" {
				model = strings.TrimSpace(v)
			}
		case "flags", "Features":
			if flags == "" {
				flags = strings.TrimSpace(v)
			}
		}
		if model != "" && flags != "" {
			break
		}
	}
	h := sha256.Sum256([]byte(flags))
	return id + " " + model + " flags:" + hex.EncodeToString(h[:8])
}

// errCacheCorrupt marks a cache file that fails its checks.
var errCacheCorrupt = errors.New("optimised model cache file is corrupt")

// checkCacheFile verifies data (a whole cache file) against the key and
// returns ONNX Runtime's part of it.
func checkCacheFile(data []byte, keyHash [32]byte) ([]byte, error) {
	if len(data) < trailerSize {
		return nil, fmt.Errorf("%w: %d bytes is shorter than its trailer", errCacheCorrupt, len(data))
	}
	var t cacheTrailer
	if err := binary.Read(bytes.NewReader(data[len(data)-trailerSize:]), binary.LittleEndian, &t); err != nil {
		return nil, fmt.Errorf("%w: %v", errCacheCorrupt, err)
	}
	switch {
	case t.Magic != cacheMagic:
		return nil, fmt.Errorf("%w: no trailer", errCacheCorrupt)
	case t.KeyHash != keyHash:
		return nil, fmt.Errorf("%w: built for another source or setting", errCacheCorrupt)
	case t.Length != uint64(len(data)-trailerSize):
		return nil, fmt.Errorf("%w: %d bytes of model, trailer says %d", errCacheCorrupt, len(data)-trailerSize, t.Length)
	}
	payload := data[:t.Length]
	if crc32.Checksum(payload, castagnoli) != t.CRC {
		return nil, fmt.Errorf("%w: CRC-32C mismatch", errCacheCorrupt)
	}
	return payload, nil
}

// sealCacheFile appends the trailer to the model ONNX Runtime wrote at tmp,
// syncs it and renames it to e.Path; then it removes this source's stale
// cache files.
func sealCacheFile(tmp string, e *cacheEntry) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("onnxruntime wrote an empty optimised model to %s", tmp)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	t := cacheTrailer{Magic: cacheMagic, Length: uint64(n), CRC: h.Sum32(), KeyHash: e.KeyHash}
	if err := binary.Write(f, binary.LittleEndian, &t); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, e.Path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(e.Path)); err == nil {
		d.Sync()
		d.Close()
	}
	stale, _ := filepath.Glob(e.Prefix + "*.ort")
	for _, p := range stale {
		if p != e.Path {
			os.Remove(p)
		}
	}
	return nil
}

// cacheTempPath is a fresh temporary name beside the cache file (same
// folder, so the rename is atomic). ONNX Runtime picks the format from the
// ".ort" ending as well as from the session setting.
func cacheTempPath(e *cacheEntry) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(e.Path), ".tmp-*.ort")
	if err != nil {
		return "", err
	}
	name := f.Name()
	f.Close()
	return name, nil
}

// mapFile maps a file read-only into memory.
func mapFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("%w: empty file", errCacheCorrupt)
	}
	// MAP_POPULATE reads the file in as one batch rather than a page fault
	// per 4 KiB page as the checks and ONNX Runtime touch it.
	return syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
}
