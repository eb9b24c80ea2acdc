package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/store/fs"
	"github.com/transcept/transcept/shared/store/minio"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// stores runs f on the filesystem store and on a real MinIO server.
func stores(t *testing.T, f func(t *testing.T, st lecture.ObjectStore)) {
	t.Run("fs", func(t *testing.T) {
		st, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f(t, st)
	})
	t.Run("minio", func(t *testing.T) {
		srv := svctest.StartMinIO(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st, err := minio.New(ctx, minio.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		f(t, st)
	})
}

// folder writes a small Optimum-like folder; seed changes the weights.
func folder(t *testing.T, seed byte) string {
	t.Helper()
	dir := t.TempDir()
	w := func(p string, b []byte) {
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("config.json", []byte(`{"model_type":"bart"}`))
	w("tokenizer.json", []byte(`{"model":{}}`))
	weights := bytes.Repeat([]byte{seed, 1, 2, 3, 4, 5, 6, 7}, 40000)
	w("onnx/encoder_model.onnx", weights)
	w("onnx/decoder_model_merged.onnx", weights[:1000])
	w("lora_merge.json", []byte(`{"adapter":"peft/lecture-lora","r":8}`))
	w(".cache/huggingface/x.lock", []byte("left out"))
	return dir
}

func TestRoundTrip(t *testing.T) {
	stores(t, func(t *testing.T, st lecture.ObjectStore) {
		ctx := context.Background()
		r := New(st)
		dir := folder(t, 1)
		v1, err := r.Push(ctx, dir, "tiny", Meta{CreatedBy: "alice@lab"})
		if err != nil {
			t.Fatal(err)
		}
		if len(v1.ID) != IDLen || v1.Name != "tiny" {
			t.Fatalf("version %+v", v1)
		}
		again, err := r.Push(ctx, dir, "tiny", Meta{})
		if err != nil || again != v1 {
			t.Fatalf("pushing the same folder again: %v, %v; want %v", again, err, v1)
		}
		v2, err := r.Push(ctx, folder(t, 2), "tiny", Meta{Source: Source{Kind: "hub", Repo: "sshleifer/distilbart-cnn-6-6", Revision: "abc"}})
		if err != nil || v2 == v1 {
			t.Fatalf("second folder: %v, %v", v2, err)
		}
		m, err := r.Manifest(ctx, v1)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Files) != 5 || m.CreatedBy != "alice@lab" || m.Source.Kind != "local export" || !strings.Contains(string(m.Source.LoRAMerge), "lecture-lora") {
			t.Fatalf("manifest %+v", m)
		}
		for _, f := range m.Files {
			if strings.HasPrefix(f.Path, ".") || len(f.SHA256) != 64 || f.Size <= 0 {
				t.Errorf("manifest file %+v", f)
			}
		}
		names, err := r.List(ctx)
		if err != nil || len(names) != 1 || names[0] != "tiny" {
			t.Fatalf("List = %v, %v", names, err)
		}
		vs, err := r.Versions(ctx, "tiny")
		if err != nil || len(vs) != 2 {
			t.Fatalf("Versions = %v, %v", vs, err)
		}

		report, err := r.AttachReport(ctx, v2, []byte(`{"pass":true}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Alias(ctx, "tiny", "champion", v1.ID, "alice@lab", "first release", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Alias(ctx, "tiny", "challenger", v2.ID, "bob@lab", "fine-tuned", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Alias(ctx, "tiny", "champion", v2.ID, "bob@lab", "gate passed", report); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Alias(ctx, "tiny", "champion", "0123456789ab", "", "", ""); lecture.ErrorCode(err) != lecture.ENOTFOUND {
			t.Fatalf("alias to a missing version: %v", err)
		}
		h, err := r.History(ctx, "tiny")
		if err != nil || len(h) != 3 {
			t.Fatalf("History = %+v, %v", h, err)
		}
		last := h[2]
		if last.Seq != 3 || last.Alias != "champion" || last.From != v1.ID || last.To != v2.ID || last.Who != "bob@lab" || last.Why != "gate passed" || last.Report != report {
			t.Fatalf("last entry %+v", last)
		}
		if h[0].From != "" || h[0].Seq != 1 {
			t.Fatalf("first entry %+v", h[0])
		}
		for ref, want := range map[string]Version{"tiny@champion": v2, "registry://tiny@challenger": v2, "tiny@" + v1.ID: v1} {
			got, err := r.Resolve(ctx, ref)
			if err != nil || got != want {
				t.Errorf("Resolve(%s) = %v, %v; want %v", ref, got, err, want)
			}
		}
		if _, err := r.Resolve(ctx, "tiny@canary"); lecture.ErrorCode(err) != lecture.ENOTFOUND {
			t.Errorf("Resolve of a missing alias: %v", err)
		}
		if m, err := r.Manifest(ctx, v2); err != nil || len(m.Reports) != 1 || m.Reports[0] != report {
			t.Errorf("reports of %s: %+v, %v", v2, m, err)
		}

		cache := t.TempDir()
		got, err := r.Fetch(ctx, v1, cache)
		if err != nil {
			t.Fatal(err)
		}
		if got != filepath.Join(cache, "tiny", v1.ID) {
			t.Fatalf("Fetch into %s", got)
		}
		for _, f := range m.Files {
			want, _ := os.ReadFile(filepath.Join(dir, f.Path))
			have, err := os.ReadFile(filepath.Join(got, f.Path))
			if err != nil || !bytes.Equal(want, have) {
				t.Errorf("fetched %s differs (%v)", f.Path, err)
			}
		}
		m1, _ := r.Manifest(ctx, v1)
		if err := Verify(got, m1); err != nil {
			t.Fatal(err)
		}
		// A verified cache is reused: a second fetch reads no file from
		// the store (deleting one there does not matter).
		if err := st.Delete(ctx, BucketModels, fileKey("tiny", v1.ID, "config.json")); err != nil {
			t.Fatal(err)
		}
		if again, err := r.Fetch(ctx, v1, cache); err != nil || again != got {
			t.Fatalf("second Fetch = %s, %v", again, err)
		}
	})
}

func TestCorruptedFileRefused(t *testing.T) {
	stores(t, func(t *testing.T, st lecture.ObjectStore) {
		ctx := context.Background()
		r := New(st)
		v, err := r.Push(ctx, folder(t, 3), "tiny", Meta{})
		if err != nil {
			t.Fatal(err)
		}
		// One byte flipped in the stored encoder, same size.
		k := fileKey("tiny", v.ID, "onnx/encoder_model.onnx")
		bad := bytes.Repeat([]byte{3, 1, 2, 3, 4, 5, 6, 7}, 40000)
		bad[1234] ^= 0xff
		if err := st.Put(ctx, BucketModels, k, bytes.NewReader(bad), int64(len(bad)), ""); err != nil {
			t.Fatal(err)
		}
		cache := t.TempDir()
		_, err = r.Fetch(ctx, v, cache)
		if err == nil || !strings.Contains(err.Error(), "onnx/encoder_model.onnx") || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("Fetch of a corrupted version: %v, want a sha256 error naming onnx/encoder_model.onnx", err)
		}
		// Nothing half-fetched is left where a loader would look.
		if _, err := os.Stat(filepath.Join(cache, "tiny", v.ID)); !os.IsNotExist(err) {
			t.Fatalf("a folder was left for the corrupted version: %v", err)
		}
		ents, _ := os.ReadDir(filepath.Join(cache, "tiny"))
		if len(ents) != 0 {
			t.Fatalf("left in the cache: %v", ents)
		}
	})
}

func TestCorruptedCacheFetchedAgain(t *testing.T) {
	ctx := context.Background()
	st, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := New(st)
	v, err := r.Push(ctx, folder(t, 4), "tiny", Meta{})
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	dir, err := r.Fetch(ctx, v, cache)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "onnx", "decoder_model_merged.onnx")
	if err := os.WriteFile(p, bytes.Repeat([]byte{9}, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	m, _ := r.Manifest(ctx, v)
	if err := Verify(dir, m); err == nil || !strings.Contains(err.Error(), "onnx/decoder_model_merged.onnx") {
		t.Fatalf("Verify of a damaged cache: %v", err)
	}
	if _, err := r.Fetch(ctx, v, cache); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dir, m); err != nil {
		t.Fatalf("after a new Fetch: %v", err)
	}
}

func TestConcurrentAliasMoves(t *testing.T) {
	stores(t, func(t *testing.T, st lecture.ObjectStore) {
		ctx := context.Background()
		var vs []Version
		for i := range 4 {
			v, err := New(st).Push(ctx, folder(t, byte(10+i)), "tiny", Meta{})
			if err != nil {
				t.Fatal(err)
			}
			vs = append(vs, v)
		}
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		done := make([]Entry, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A registry per mover, as separate processes would have.
				done[i], errs[i] = New(st).Alias(ctx, "tiny", "champion", vs[i%len(vs)].ID, fmt.Sprintf("mover-%d", i), "race", "")
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("mover %d: %v", i, err)
			}
		}
		h, err := New(st).History(ctx, "tiny")
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != n {
			t.Fatalf("history has %d entries, want %d", len(h), n)
		}
		movers := map[string]bool{}
		for i, e := range h {
			if e.Seq != i+1 {
				t.Fatalf("entry %d has seq %d", i, e.Seq)
			}
			if i == 0 && e.From != "" || i > 0 && e.From != h[i-1].To {
				t.Fatalf("entry %d moved from %q, but the alias was at %q", e.Seq, e.From, h[max(0, i-1)].To)
			}
			movers[e.Who] = true
		}
		if len(movers) != n {
			t.Fatalf("%d distinct movers recorded, want %d", len(movers), n)
		}
		aliases, err := New(st).Aliases(ctx, "tiny")
		if err != nil || aliases["champion"] != h[n-1].To {
			t.Fatalf("champion = %v (%v), want the last entry's %s", aliases, err, h[n-1].To)
		}
		b, _ := json.Marshal(h[n-1])
		t.Logf("last move: %s", b)
	})
}

func TestParseRef(t *testing.T) {
	for _, bad := range []string{"", "tiny", "tiny@", "@champion", "../x@champion", "tiny@Champion", "tiny@a/b"} {
		if _, _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) accepted", bad)
		}
	}
	if n, at, err := ParseRef("registry://tiny@champion"); err != nil || n != "tiny" || at != "champion" {
		t.Errorf("ParseRef = %s %s %v", n, at, err)
	}
	if _, err := SplitSetting("models/distilbart"); err != ErrNotRegistry {
		t.Errorf("a folder: %v", err)
	}
}

// Processes starting together fetch one version into one cache: all get a
// complete, verified folder, and none pulls it from under another.
func TestConcurrentFetch(t *testing.T) {
	ctx := context.Background()
	st, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(st).Push(ctx, folder(t, 5), "tiny", Meta{})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := New(st).Manifest(ctx, v)
	cache := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir, err := New(st).Fetch(ctx, v, cache)
			if err == nil {
				err = Verify(dir, m)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("fetcher %d: %v", i, err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(cache, "tiny"))
	if len(ents) != 1 || ents[0].Name() != v.ID {
		t.Errorf("cache holds %v, want only %s", ents, v.ID)
	}
}
