//go:build cgo

package whisper

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/orttest"
)

// TestBatchedBench is the Go half of tests/whisper-batch-bench.sh (it
// skips unless TRANSCEPT_BENCH_MODEL names a Whisper folder): the samples
// in $TRANSCEPT_BENCH_F32 go through Silero VAD (WhisperVADOptions), then
// the speech is decoded greedily with timestamps, as the Transcriber does:
// $TRANSCEPT_BENCH_BATCH 1 by the sequential long-form path
// (TranscribeStream over the speech end to end), N by TranscribeBatched
// over PlanChunks's chunks, N at a time. $TRANSCEPT_BENCH_THREADS sets the
// intra-op threads, $TRANSCEPT_BENCH_ENCODER_ROWS the windows of one
// encoder run (default: encoderRows's choice). It prints one line: "whisper-batch-bench: batch=…
// vad_ms=… decode_ms=… decode_cpu_ms=… tokens=… passes=… chunks=…
// speech_s=… segments=… encoder_ms=… (with a split decoder's cross-attention
// projection) decoder_ms=… decoder_runs=…"; with
// $TRANSCEPT_BENCH_IDS it also writes every decoding pass's token ids
// there (one line each), so runs at different batch sizes can be compared.
func TestBatchedBench(t *testing.T) {
	dir := os.Getenv("TRANSCEPT_BENCH_MODEL")
	if dir == "" {
		t.Skip("set TRANSCEPT_BENCH_MODEL (tests/whisper-batch-bench.sh does)")
	}
	orttest.Need(t)
	x := readF32(t, os.Getenv("TRANSCEPT_BENCH_F32"))
	threads, batch := 0, 1
	for k, p := range map[string]*int{"TRANSCEPT_BENCH_THREADS": &threads, "TRANSCEPT_BENCH_BATCH": &batch,
		"TRANSCEPT_BENCH_ENCODER_ROWS": &encoderRunRows} {
		if s := os.Getenv(k); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("%s=%q: %v", k, s, err)
			}
			*p = n
		}
	}
	defer func() { encoderRunRows = 0 }()
	vadPath, err := FindVADModel()
	if err != nil {
		t.Fatal(err)
	}
	v, err := LoadVAD(vadPath, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	m, err := LoadModel(dir, ort.Options{IntraOpThreads: threads, // DType and CUDA: for tests/gpu-check.sh
		DType: os.Getenv("TRANSCEPT_BENCH_DTYPE"), CUDA: os.Getenv("TRANSCEPT_BENCH_CUDA") == "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	start := time.Now()
	probs, n, err := v.Probabilities(context.Background(), samplesOf(x))
	if err != nil {
		t.Fatal(err)
	}
	speech := SpeechSegments(probs, n, WhisperVADOptions())
	vad := time.Since(start)
	var only []float32
	for _, s := range speech {
		only = append(only, x[s.Start:s.End]...)
	}
	plan := PlanChunks(speech, probs)
	var passes [][]int
	m.onPass = func(ids []int) { passes = append(passes, slices.Clone(ids)) }
	prompt, err := m.Prompt(DecodeOptions{Language: "en", Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	lf := Greedy(DecodeOptions{Language: "en", MaxLength: benchMaxLength(t)})
	enc0, dec0 := m.Encoder.RunStats(), m.Decoder.RunStats()
	var cross0 ort.RunStats
	if m.Cross != nil {
		cross0 = m.Cross.RunStats()
	}
	cpu0 := cpuTime(t)
	start = time.Now()
	var res *StreamResult
	if batch <= 1 {
		res, err = m.TranscribeStream(context.Background(), samplesOf(only), lf, nil)
	} else {
		res, err = m.TranscribeBatched(context.Background(), samplesOf(only), plan, lf, batch, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	decode, cpu := time.Since(start), cpuTime(t)-cpu0
	enc, dec := m.Encoder.RunStats().Sub(enc0), m.Decoder.RunStats().Sub(dec0)
	if m.Cross != nil { // the cross-attention projection: the encoder's share of the work
		enc.Time += m.Cross.RunStats().Sub(cross0).Time
	}
	tokens := 0
	for _, p := range passes {
		tokens += len(p) - len(prompt)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
	fmt.Printf("whisper-batch-bench: batch=%d vad_ms=%.1f decode_ms=%.1f decode_cpu_ms=%.1f tokens=%d passes=%d chunks=%d speech_s=%.1f segments=%d encoder_ms=%.1f decoder_ms=%.1f decoder_runs=%d\n",
		batch, ms(vad), ms(decode), ms(cpu), tokens, len(passes), len(plan), float64(len(only))/SampleRate, len(res.Segments),
		ms(enc.Time), ms(dec.Time), dec.Runs)
	if f := os.Getenv("TRANSCEPT_BENCH_IDS"); f != "" {
		var b []byte
		for _, p := range passes {
			b = fmt.Appendln(b, p)
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// benchMaxLength is $TRANSCEPT_BENCH_MAX_LENGTH, the benchmarks' bound on
// each decoding pass, prompt included (0: generation_config.json's
// max_length). tests/whisper-cpp-bench.sh sets it to whisper.cpp's bound
// (half the text context) so that both sides decode as many tokens per
// window.
func benchMaxLength(t *testing.T) int {
	s := os.Getenv("TRANSCEPT_BENCH_MAX_LENGTH")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("TRANSCEPT_BENCH_MAX_LENGTH=%q: want a token count", s)
	}
	return n
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
