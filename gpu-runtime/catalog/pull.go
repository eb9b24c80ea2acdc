package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/progress"
)

// Puller downloads model folders.
type Puller struct {
	// BaseURL is the hub or a mirror with its layout; "" is HubURL.
	BaseURL string
	// Dir is where model folders go (TRANSCEPT_MODELS_DIR); "" is ./models.
	Dir string
	// Client makes the requests; nil is a client without an overall
	// timeout (files are gigabytes) but with connection timeouts.
	Client *http.Client
	// Log receives progress lines and warnings; nil discards them.
	Log io.Writer
	// Attempts bounds the tries per file when a transfer breaks off (each
	// resumes where the last stopped); 0 means 5.
	Attempts int
	// Backoff is the wait before the second try, doubled for each next; 0
	// means one second.
	Backoff time.Duration
	// ProgressEvery throttles progress lines; 0 means 500 ms.
	ProgressEvery time.Duration
}

func (p *Puller) base() string {
	if p.BaseURL == "" {
		return HubURL
	}
	return strings.TrimRight(p.BaseURL, "/")
}

func (p *Puller) dir() string {
	if p.Dir == "" {
		return "models"
	}
	return p.Dir
}

func (p *Puller) log() io.Writer {
	if p.Log == nil {
		return io.Discard
	}
	return p.Log
}

var defaultClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 15 * time.Second}).DialContext,
	TLSHandshakeTimeout:   15 * time.Second,
	ResponseHeaderTimeout: 60 * time.Second,
}}

func (p *Puller) client() *http.Client {
	if p.Client != nil {
		return p.Client
	}
	return defaultClient
}

// URL is where f of m is fetched from.
func (p *Puller) URL(m Model, f File) string {
	rev := m.Revision
	if rev == "" {
		rev = "main"
	}
	return p.base() + "/" + m.Repo + "/resolve/" + url.PathEscape(rev) + "/" + f.Path
}

// Folder is where m is put.
func (p *Puller) Folder(m Model) string { return filepath.Join(p.dir(), m.Name) }

// Pull fetches every file of m into its folder and returns the folder. A
// file already there (of the pinned size and sha256, where pinned) is kept;
// a partial download (<file>.part) is resumed. Each file is verified
// against its pinned size and sha256 and only then renamed into place: a
// file that fails is removed, and the error names it, what was expected and
// what came.
func (p *Puller) Pull(ctx context.Context, m Model) (string, error) {
	dir := p.Folder(m)
	if m.Revision == "" || m.Revision == "main" {
		fmt.Fprintf(p.log(), "warning: %s: revision of %s not pinned (fetching %q)\n", m.Name, m.Repo, "main")
	}
	for _, f := range m.Files {
		if err := p.pullFile(ctx, m, f, dir); err != nil {
			return dir, err
		}
	}
	fmt.Fprintf(p.log(), "%s: ready in %s\n", m.Name, dir)
	return dir, nil
}

func (p *Puller) pullFile(ctx context.Context, m Model, f File, dir string) error {
	if f.Path == "" || path.IsAbs(f.Path) || strings.Contains("/"+f.Path+"/", "/../") {
		return lecture.Errorf(lecture.EINVALID, "model %s: file path %q is not a relative path inside the folder", m.Name, f.Path)
	}
	dst := filepath.Join(dir, filepath.FromSlash(f.Path))
	name := m.Name + "/" + f.Path
	if st, err := os.Stat(dst); err == nil && !st.IsDir() {
		if err := verifyFile(dst, name, f); err == nil {
			fmt.Fprintf(p.log(), "%s: present\n", name)
			return nil
		} else {
			fmt.Fprintf(p.log(), "%s: present but %s; fetching again\n", name, lecture.ErrorMessage(err))
		}
	}
	if !f.Pinned() {
		what := "sha256"
		if f.Size <= 0 {
			what = "size and sha256"
		}
		fmt.Fprintf(p.log(), "warning: %s: %s not pinned, the download is not verified\n", name, what)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot create %s", filepath.Dir(dst))
	}
	part := dst + ".part"
	attempts := p.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	wait := p.Backoff
	if wait <= 0 {
		wait = time.Second
	}
	var err error
	for try := 1; try <= attempts; try++ {
		var retry bool
		retry, err = p.fetch(ctx, p.URL(m, f), part, name, f)
		if err == nil || !retry || try == attempts {
			break
		}
		fmt.Fprintf(p.log(), "%s: %s; resuming (try %d of %d)\n", name, lecture.ErrorMessage(err), try+1, attempts)
		select {
		case <-ctx.Done():
			return lecture.Wrap(lecture.EUNAVAILABLE, ctx.Err(), "download of %s cancelled (the partial file %s is kept for a resume)", name, part)
		case <-time.After(wait):
		}
		wait *= 2
	}
	if err != nil {
		return err
	}
	sum, size, err := verifyPart(part, name, f)
	if err != nil {
		os.Remove(part)
		return err
	}
	if err := os.Rename(part, dst); err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot move %s into place", part)
	}
	if !f.Pinned() {
		fmt.Fprintf(p.log(), "pin: %s %s size %d sha256 %s\n", m.Repo, f.Path, size, sum)
	}
	return nil
}

// fetch downloads u into part, resuming from part's length. retry says
// whether a failure is worth another try (a transfer that broke off, a
// server error), not when the host cannot be reached at all, the file is
// missing, or access is refused.
func (p *Puller) fetch(ctx context.Context, u, part, name string, f File) (retry bool, err error) {
	var have int64
	if st, err := os.Stat(part); err == nil {
		have = st.Size()
	}
	if f.Size > 0 && have > f.Size {
		os.Remove(part)
		have = 0
	}
	if f.Size > 0 && have == f.Size {
		return false, nil // complete: verified by the caller
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, lecture.Wrap(lecture.EINVALID, err, "model URL %s", u)
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := p.client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, lecture.Wrap(lecture.EUNAVAILABLE, ctx.Err(), "download of %s cancelled", name)
		}
		host := req.URL.Host
		return false, lecture.Wrap(lecture.EUNAVAILABLE, err,
			"cannot reach %s (%s): set TRANSCEPT_MODELS_URL to a mirror, or copy the folder into TRANSCEPT_MODELS_DIR (%s)",
			host, oneLine(err), p.dir())
	}
	defer resp.Body.Close()
	var out *os.File
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		start, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return true, p.restart(part, name, "the server resumed at the wrong offset")
		}
		if f.Size > 0 && total > 0 && total != f.Size {
			return false, lecture.Errorf(lecture.EINVALID, "%s is %d bytes on the server, pinned %d: the pinned list or the mirror is wrong", name, total, f.Size)
		}
		out, err = os.OpenFile(part, os.O_WRONLY|os.O_APPEND, 0o644)
	case resp.StatusCode == http.StatusOK:
		have = 0 // no resume: start over
		out, err = os.Create(part)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		_, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if ok && total == have {
			return false, nil // already complete
		}
		return true, p.restart(part, name, "the server refused to resume")
	case resp.StatusCode == http.StatusNotFound:
		return false, lecture.Errorf(lecture.ENOTFOUND, "%s: %s answers 404 Not Found: the repository, revision or file is wrong, or the mirror lacks it", name, req.URL.Redacted())
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return false, lecture.Errorf(lecture.EUNAVAILABLE, "%s: %s answers %s: the repository needs access rights, or use a mirror (TRANSCEPT_MODELS_URL)", name, req.URL.Redacted(), resp.Status)
	default:
		return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests,
			lecture.Errorf(lecture.EUNAVAILABLE, "%s: %s answers %s", name, req.URL.Redacted(), resp.Status)
	}
	if err != nil {
		return false, lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot write %s", part)
	}
	total := f.Size
	if resp.ContentLength >= 0 {
		total = have + resp.ContentLength
	}
	every := p.ProgressEvery
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	pr := &counter{done: have, line: progress.New(p.log(), every, byteProgress(name, have)), total: total}
	n, err := io.Copy(out, io.TeeReader(resp.Body, pr))
	cerr := out.Close()
	pr.line.Final(float64(pr.done), float64(total))
	if err == nil {
		err = cerr
	}
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, lecture.Wrap(lecture.EUNAVAILABLE, ctx.Err(), "download of %s cancelled (the partial file %s is kept for a resume)", name, part)
		}
		return true, lecture.Wrap(lecture.EUNAVAILABLE, err, "transfer of %s broke off after %d bytes (%s)", name, have+n, oneLine(err))
	}
	return false, nil
}

func (p *Puller) restart(part, name, why string) error {
	os.Remove(part)
	return lecture.Errorf(lecture.EUNAVAILABLE, "%s: %s; starting over", name, why)
}

// contentRange reads "bytes START-END/TOTAL" (TOTAL may be "*": -1).
func contentRange(h string) (start, total int64, ok bool) {
	h, found := strings.CutPrefix(strings.TrimSpace(h), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(h, "/")
	if !found {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		var err error
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	if rng == "*" {
		return 0, total, true
	}
	s, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(s, 10, 64)
	return start, total, err == nil
}

// verifyPart checks a finished download against what is pinned and
// returns its sha256 and size.
func verifyPart(file, name string, f File) (string, int64, error) {
	sum, size, err := hashFile(file)
	if err != nil {
		return "", 0, lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot read %s", file)
	}
	if f.Size > 0 && size != f.Size {
		return sum, size, lecture.Errorf(lecture.EINVALID, "%s: got %d bytes, pinned %d: removed; run the pull again, or check the mirror", name, size, f.Size)
	}
	if f.SHA256 != "" && !strings.EqualFold(sum, f.SHA256) {
		return sum, size, lecture.Errorf(lecture.EINVALID, "%s: sha256 %s, pinned %s: removed; the mirror serves other bytes or the download was corrupted", name, sum, f.SHA256)
	}
	return sum, size, nil
}

// verifyFile checks a file already in place: its size when pinned, its
// sha256 when pinned.
func verifyFile(file, name string, f File) error {
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	if f.Size > 0 && st.Size() != f.Size {
		return lecture.Errorf(lecture.EINVALID, "%d bytes, pinned %d", st.Size(), f.Size)
	}
	if f.SHA256 == "" {
		return nil
	}
	_, _, err = verifyPart(file, name, f)
	return err
}

func hashFile(file string) (string, int64, error) {
	fh, err := os.Open(file)
	if err != nil {
		return "", 0, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func oneLine(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// counter reports the bytes of one file as they are written.
type counter struct {
	done, total int64
	line        *progress.Line
}

func (c *counter) Write(b []byte) (int, error) {
	c.done += int64(len(b))
	c.line.Update(float64(c.done), float64(c.total))
	return len(b), nil
}

// byteProgress renders a download's bytes, rate and time left; start is
// what an earlier attempt had fetched.
func byteProgress(name string, start int64) progress.Format {
	return func(done, total float64, elapsed time.Duration, final bool) string {
		el := elapsed.Seconds()
		rate := 0.0
		if el > 0 {
			rate = (done - float64(start)) / el
		}
		line := fmt.Sprintf("%s  %s", name, Bytes(int64(done)))
		if total > 0 {
			line += fmt.Sprintf(" / %s (%.0f%%)", Bytes(int64(total)), 100*done/total)
		}
		line += fmt.Sprintf("  %s/s", Bytes(int64(rate)))
		if total > 0 && rate > 0 && !final {
			line += "  ETA " + (time.Duration((total-done)/rate) * time.Second).Round(time.Second).String()
		}
		return line
	}
}

// Bytes renders a byte count as B, kB, MB or GB (powers of 1000).
func Bytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
