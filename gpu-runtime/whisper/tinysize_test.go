//go:build cgo

package whisper

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/audio"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/procstat"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// TestWhisperTinySizeSideBySide (only with TRANSCEPT_WHISPER_BENCH=1: it
// writes a 150 MB folder and takes minutes) decodes jfk's 11 s with a
// random model of whisper-tiny's shape (51865 tokens), greedy with and
// without timestamps, in transformers.js (tests/reference/whisper-asr.mjs:
// generate() and the pipeline, so each case decodes twice there) and here,
// requires identical token ids and logs both times.
func TestWhisperTinySizeSideBySide(t *testing.T) {
	if os.Getenv("TRANSCEPT_WHISPER_BENCH") != "1" {
		t.Skip("set TRANSCEPT_WHISPER_BENCH=1 to run (150 MB folder, minutes)")
	}
	orttest.Need(t)
	ref := nodeReference(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "whisper-tiny-size-random")
	if err := testmodels.WriteWhisper(model, testmodels.WhisperTinySize()); err != nil {
		t.Fatal(err)
	}
	x, err := audio.Decode(context.Background(), filepath.Join(dataDir(t), "audio", "jfk.flac"), nil)
	if err != nil {
		t.Fatal(err)
	}
	writeF32(t, filepath.Join(dir, "jfk.f32"), x)
	cmd := exec.Command("node", filepath.Join(ref, "whisper-asr.mjs"), model, dir, filepath.Join(dir, "jfk.f32"))
	cmd.Dir, cmd.Stderr = ref, os.Stderr
	start := time.Now()
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	nodeTime := time.Since(start)
	var r asrReference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	m, err := LoadModel(model, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	load := time.Since(start)
	var decode time.Duration
	tokens := 0
	for _, c := range r.Cases {
		start := time.Now()
		ids, err := m.Generate(m.Features.LogMel(x), DecodeOptions{Language: "en", Timestamps: c.ReturnTimestamps})
		if err != nil {
			t.Fatal(err)
		}
		decode += time.Since(start)
		tokens += len(ids)
		if !slices.Equal(ids, c.IDs) {
			t.Errorf("timestamps=%v: ids differ\n got %v\nwant %v", c.ReturnTimestamps, ids, c.IDs)
		}
	}
	t.Logf("transformers.js: %v for load + %d cases × (generate + pipeline); ours: load %v, %d cases once each %v (%d tokens, %.1f ms/token)",
		nodeTime.Round(time.Millisecond), len(r.Cases), load.Round(time.Millisecond), len(r.Cases),
		decode.Round(time.Millisecond), tokens, float64(decode.Milliseconds())/float64(tokens))
}

// TestLongFormBench is the Go half of tests/reference/whisper-bench-asr.sh
// (it skips unless TRANSCEPT_BENCH_MODEL names a Whisper folder): LongForm
// with Greedy options over the samples in $TRANSCEPT_BENCH_F32, every
// window's token ids required equal to transformers.js's in
// $TRANSCEPT_BENCH_REF (whisper-bench-asr.mjs's output) when given;
// $TRANSCEPT_BENCH_THREADS sets the intra-op threads, $TRANSCEPT_BENCH_DTYPE
// the folder's files (fp32, q8, q4, fp16). It prints one line:
// "whisper-bench-asr go: load_ms=… decode_ms=… tokens=… passes=…
// encoder_ms=… encoder_runs=… decoder_ms=… decoder_runs=… cross_ms=…
// cross_runs=… decode_cpu_ms=…" (the times inside each session's Run,
// cross: the split decoder's cross-attention projection, once a pass; the
// process's CPU time over the decoding).
// TRANSCEPT_BENCH_PASS_CACHE=1 loads the merged decoder unchanged (the
// cross-attention cache copied through every step), for comparison.
func TestLongFormBench(t *testing.T) {
	dir := os.Getenv("TRANSCEPT_BENCH_MODEL")
	if dir == "" {
		t.Skip("set TRANSCEPT_BENCH_MODEL (tests/reference/whisper-bench-asr.sh does)")
	}
	orttest.Need(t)
	x := readF32(t, os.Getenv("TRANSCEPT_BENCH_F32"))
	threads := 0
	if s := os.Getenv("TRANSCEPT_BENCH_THREADS"); s != "" {
		if _, err := fmt.Sscan(s, &threads); err != nil {
			t.Fatalf("TRANSCEPT_BENCH_THREADS=%q: %v", s, err)
		}
	}
	keepPassThrough = os.Getenv("TRANSCEPT_BENCH_PASS_CACHE") == "1"
	defer func() { keepPassThrough = false }()
	start := time.Now()
	o := ort.Options{IntraOpThreads: threads, DType: os.Getenv("TRANSCEPT_BENCH_DTYPE"),
		// for tests/gpu-check.sh
		CUDA: os.Getenv("TRANSCEPT_BENCH_CUDA") == "1",
		// for tests/bench-defaults.sh
		OptimizedCacheDir: os.Getenv("TRANSCEPT_BENCH_ORT_CACHE"), NoPrepack: os.Getenv("TRANSCEPT_BENCH_NO_PREPACK") == "1",
		NoArena: os.Getenv("TRANSCEPT_BENCH_NO_ARENA") == "1", Int8Weights: os.Getenv("TRANSCEPT_BENCH_INT8"),
		ProfilePrefix: os.Getenv("TRANSCEPT_BENCH_ORT_PROFILE")}
	if os.Getenv("TRANSCEPT_BENCH_SPIN") != "" {
		o.ConfigEntries = map[string]string{"session.intra_op.allow_spinning": os.Getenv("TRANSCEPT_BENCH_SPIN")}
	}
	m, err := LoadModel(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	load := time.Since(start)
	loadRSS := peakRSS()
	enc0, dec0 := m.Encoder.RunStats(), m.Decoder.RunStats()
	var cross0 ort.RunStats
	if m.Cross != nil {
		cross0 = m.Cross.RunStats()
	}
	var passes [][]int
	m.onPass = func(ids []int) { passes = append(passes, slices.Clone(ids)) }
	// time to first token per window: the window's samples in (log-mel
	// features, encoder, first decoder step) to its first token chosen
	var windowStart time.Time
	var ttft []time.Duration
	m.onWindow = func() { windowStart = time.Now() }
	m.onFirstToken = func() {
		if !windowStart.IsZero() {
			ttft = append(ttft, time.Since(windowStart))
			windowStart = time.Time{}
		}
	}
	defer func() { m.onWindow, m.onFirstToken = nil, nil }()
	prompt, err := m.Prompt(DecodeOptions{Language: "en", Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	rest := x
	next := func() ([]float32, error) { // as an audio stream delivers: 1 s at a time
		if len(rest) == 0 {
			return nil, io.EOF
		}
		n := min(len(rest), SampleRate)
		b := rest[:n]
		rest = rest[n:]
		return b, nil
	}
	// the process's CPU time (every thread): steadier than wall time on a
	// machine shared with other work
	procCPU := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	cpu0 := procCPU()
	start = time.Now()
	if _, err := m.LongForm(context.Background(), next, Greedy(DecodeOptions{Language: "en", MaxLength: benchMaxLength(t)}), nil); err != nil {
		t.Fatal(err)
	}
	decode := time.Since(start)
	decodeCPU := procCPU() - cpu0
	enc, dec := m.Encoder.RunStats().Sub(enc0), m.Decoder.RunStats().Sub(dec0)
	var cross ort.RunStats // the split decoder's cross-attention projection (cross0: before decoding)
	if m.Cross != nil {
		cross = m.Cross.RunStats().Sub(cross0)
	}
	tokens := 0
	for _, p := range passes {
		tokens += len(p) - len(prompt)
	}
	msOf := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
	fmt.Printf("whisper-bench-asr go: load_ms=%.1f decode_ms=%.1f tokens=%d passes=%d encoder_ms=%.1f encoder_runs=%d decoder_ms=%.1f decoder_runs=%d cross_ms=%.1f cross_runs=%d decode_cpu_ms=%.1f rss_after_load_mb=%d peak_rss_mb=%d ttft_ms=%.1f\n",
		msOf(load), msOf(decode), tokens, len(passes), msOf(enc.Time), enc.Runs, msOf(dec.Time), dec.Runs, msOf(cross.Time), cross.Runs, msOf(decodeCPU), loadRSS>>20, peakRSS()>>20, msOf(medianDuration(ttft)))
	refPath := os.Getenv("TRANSCEPT_BENCH_REF")
	if refPath == "" {
		return
	}
	b, err := os.ReadFile(refPath)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Passes []struct {
			Seek int   `json:"seek"`
			IDs  []int `json:"ids"`
		} `json:"passes"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatalf("%s: %v", refPath, err)
	}
	if len(ref.Passes) != len(passes) {
		t.Errorf("transformers.js decoded %d windows, we %d", len(ref.Passes), len(passes))
	}
	for i := range min(len(ref.Passes), len(passes)) {
		if !slices.Equal(ref.Passes[i].IDs, passes[i]) {
			t.Fatalf("window %d (seek %d frames): token ids differ\n ours %v\n transformers.js %v",
				i, ref.Passes[i].Seek, passes[i], ref.Passes[i].IDs)
		}
	}
	if !t.Failed() {
		fmt.Printf("whisper-bench-asr: %d windows, %d tokens identical to transformers.js\n", len(passes), tokens)
	}
}

// TestLongFormMemoryBounded streams one hour of synthetic audio through
// LongForm (openai-whisper's defaults) on a small random model whose every
// window is silence after one decoder step, and requires memory that does
// not grow with the recording: the Go heap in use stays under 64 MiB, and
// the resident set (ONNX Runtime's memory included) grows by under 48 MiB
// from the 15th minute to the end (a leak of one 30 s window of samples,
// features or encoder output per window would add over 100 MiB).
func TestLongFormMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("an hour of audio (seconds of CPU)")
	}
	c := testmodels.TinyWhisper()
	c.NoSpeechBias, c.EOSBias = 50, 50
	m := tinyModelWith(t, c)
	const total = 3600 * SampleRate
	rng := rand.New(rand.NewPCG(1, 2))
	sent := 0
	next := func() ([]float32, error) {
		if sent >= total {
			return nil, io.EOF
		}
		b := make([]float32, min(SampleRate, total-sent))
		for i := range b {
			tm := float64(sent+i) / SampleRate
			b[i] = float32(0.2*math.Sin(2*math.Pi*(200+float64(int(tm)%50)*10)*tm) + 0.05*rng.NormFloat64())
		}
		sent += len(b)
		return b, nil
	}
	var heapMax uint64
	var rss15, rssMax int64
	windows := 0
	done := func(s float64) {
		windows++
		if windows%8 != 0 {
			return
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heapMax = max(heapMax, ms.HeapInuse)
		r := residentBytes(t)
		if s >= 15*60 && rss15 == 0 {
			rss15 = r
		}
		rssMax = max(rssMax, r)
	}
	segs, err := m.LongForm(context.Background(), next, DefaultLongForm(), done)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d windows, %d segments; Go heap in use at most %.1f MiB; RSS %.1f MiB at 15 min, at most %.1f MiB",
		windows, len(segs), float64(heapMax)/(1<<20), float64(rss15)/(1<<20), float64(rssMax)/(1<<20))
	if windows < 3600/30 {
		t.Errorf("%d windows for an hour, want at least 120", windows)
	}
	if heapMax > 64<<20 {
		t.Errorf("Go heap in use reached %.1f MiB, want under 64", float64(heapMax)/(1<<20))
	}
	if rss15 == 0 || rssMax-rss15 > 48<<20 {
		t.Errorf("resident set grew from %.1f MiB (15 min) to %.1f MiB", float64(rss15)/(1<<20), float64(rssMax)/(1<<20))
	}
}

// residentBytes is the process's resident set size (/proc/self/statm).
func residentBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	var size, res int64
	if _, err := fmt.Sscan(string(b), &size, &res); err != nil {
		t.Fatal(err)
	}
	return res * int64(os.Getpagesize())
}

// peakRSS is the process's peak resident set (VmHWM) in bytes, 0 when
// /proc cannot tell.
func peakRSS() int64 {
	b, _ := procstat.PeakRSS()
	return b
}

// medianDuration is the median of ds (0 for none).
func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
