// Command bart-bench times greedy generation of a BART folder (optimum.Seq2Seq,
// seq2seq.Greedy) the way tests/reference/bart-bench.mjs times
// transformers.js: one row of encoder input ids, a fixed number of new
// tokens (min = max, forced EOS off), a warm-up then RUNS timed generations.
//
//	bart-bench -model DIR -ids IDS_JSON [-new 64] [-runs 3] [-threads N] [-cache DIR] [-dtype q8]
//
// It prints one JSON line: cold load (process start to a model ready to
// generate), each generation's time and the share of it spent outside
// ONNX Runtime's Run, the time to the first token (a one-token generation:
// encoder and first decoder step) and the mean cached decoder step (the
// generation's decoder Run time less the first step's, over the remaining
// steps), peak RSS and the generated ids. -dtype loads the folder's q8, q4
// or fp16 files (onnx/*_quantized.onnx, *_q4.onnx, *_fp16.onnx).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/seq2seq"
)

type result struct {
	Peer         string    `json:"peer"`
	LoadMs       float64   `json:"load_ms"`
	LoadCPUMs    float64   `json:"load_cpu_ms"` // the process's CPU time up to a loaded model
	GenMs        []float64 `json:"gen_ms"`
	OutsideRun   []float64 `json:"outside_run"`
	EncoderMs    []float64 `json:"encoder_ms"`      // inside the encoder's Run, per generation
	DecoderMs    []float64 `json:"decoder_step_ms"` // inside the decoder's Run, mean per step
	GenCPUMs     []float64 `json:"gen_cpu_ms"`      // the process's CPU time (every thread) over each generation
	TTFTMs       []float64 `json:"ttft_ms"`         // a one-token generation (encoder + first decoder step)
	TTFTCPUMs    []float64 `json:"ttft_cpu_ms"`     // its CPU time
	FirstStepMs  []float64 `json:"first_step_ms"`   // its decoder Run (no cache: cross-attention keys and values built)
	CachedStepMs []float64 `json:"cached_step_ms"`  // the generation's later decoder Runs, mean
	DType        string    `json:"dtype"`
	NewTokens    int       `json:"new_tokens"`
	PeakRSSBytes int64     `json:"peak_rss_bytes"`
	Threads      int       `json:"threads"`
	IDs          []int     `json:"ids"`
}

func main() {
	dir := flag.String("model", "", "BART folder (Optimum layout)")
	idsFile := flag.String("ids", "", "JSON array of encoder input ids (one row)")
	newTokens := flag.Int("new", 64, "new tokens to generate (min = max)")
	runs := flag.Int("runs", 3, "timed generations after one warm-up")
	threads := flag.Int("threads", 0, "ONNX Runtime intra-op threads (0: ONNX Runtime's choice)")
	cache := flag.String("cache", "", "optimised-model cache folder (empty: build sessions from the .onnx files)")
	opt := flag.String("opt", "all", "graph optimisation level: all, extended, basic or none")
	noPrepack := flag.Bool("no-prepack", false, "skip weight prepacking (ort.Options.NoPrepack)")
	dtype := flag.String("dtype", "fp32", "which files to load: fp32, q8, q4 or fp16")
	loadOnly := flag.Bool("load-only", false, "stop once the model is loaded (print load time and RSS)")
	entries := map[string]string{}
	flag.Func("set", "ONNX Runtime session setting KEY=VALUE (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("want KEY=VALUE, got %q", s)
		}
		entries[k] = v
		return nil
	})
	verbose := flag.Bool("v", false, "log ONNX Runtime's load steps (debug level)")
	flag.Parse()
	if *verbose {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}
	level, err := ort.ParseOptimization(*opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bart-bench:", err)
		os.Exit(2)
	}
	if *dir == "" || *idsFile == "" || *newTokens < 1 || *runs < 0 {
		flag.Usage()
		os.Exit(2)
	}
	o := ort.Options{IntraOpThreads: *threads, Optimization: level, OptimizedCacheDir: *cache, NoPrepack: *noPrepack, ConfigEntries: entries, DType: *dtype}
	if *loadOnly {
		*runs = 0
	}
	if err := run(*dir, *idsFile, *newTokens, *runs, o); err != nil {
		fmt.Fprintln(os.Stderr, "bart-bench:", err)
		os.Exit(1)
	}
}

func run(dir, idsFile string, newTokens, runs int, o ort.Options) error {
	raw, err := os.ReadFile(idsFile)
	if err != nil {
		return err
	}
	var ids []int
	if err := json.Unmarshal(raw, &ids); err != nil {
		return fmt.Errorf("%s: %w", idsFile, err)
	}
	m, err := optimum.LoadSeq2Seq(dir, o)
	if err != nil {
		return err
	}
	defer m.Close()
	loaded, err := sinceProcessStart()
	if err != nil {
		return err
	}

	mask := make([]int, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	noEOS := -1
	opts := seq2seq.Options{MaxLength: newTokens + 1, MinLength: newTokens + 1, ForcedEOS: &noEOS}
	res := result{Peer: "transcept", LoadMs: ms(loaded), LoadCPUMs: cpuMs(), Threads: o.IntraOpThreads, DType: o.DType}
	first := seq2seq.Options{MaxLength: 2, MinLength: 2, ForcedEOS: &noEOS}
	for i := 0; i <= runs && runs > 0; i++ {
		enc0, dec0 := m.Encoder.RunStats(), m.Decoder.RunStats()
		cpu0 := cpuMs()
		t0 := time.Now()
		out, err := seq2seq.Greedy(m, [][]int{ids}, [][]int{mask}, opts)
		took := time.Since(t0)
		cpu := cpuMs() - cpu0
		if err != nil {
			return err
		}
		enc, dec := m.Encoder.RunStats().Sub(enc0), m.Decoder.RunStats().Sub(dec0)
		inRun := enc.Time + dec.Time
		res.IDs = out.IDs[0]
		if i == 0 {
			continue // warm-up
		}
		res.GenMs = append(res.GenMs, ms(took))
		res.GenCPUMs = append(res.GenCPUMs, cpu)
		res.OutsideRun = append(res.OutsideRun, 1-float64(inRun)/float64(took))
		res.EncoderMs = append(res.EncoderMs, ms(enc.Time))
		res.DecoderMs = append(res.DecoderMs, ms(dec.Time)/float64(max(dec.Runs, 1)))
		// time to the first token: the same input, one new token
		dec0 = m.Decoder.RunStats()
		cpu0 = cpuMs()
		t0 = time.Now()
		if _, err := seq2seq.Greedy(m, [][]int{ids}, [][]int{mask}, first); err != nil {
			return err
		}
		res.TTFTMs = append(res.TTFTMs, ms(time.Since(t0)))
		res.TTFTCPUMs = append(res.TTFTCPUMs, cpuMs()-cpu0)
		step := m.Decoder.RunStats().Sub(dec0)
		res.FirstStepMs = append(res.FirstStepMs, ms(step.Time))
		res.CachedStepMs = append(res.CachedStepMs, ms(dec.Time-step.Time)/float64(max(dec.Runs-step.Runs, 1)))
	}
	res.NewTokens = max(len(res.IDs)-1, 0)
	if res.PeakRSSBytes, err = peakRSS(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// cpuMs is the process's user + system CPU time (every thread), in ms: on
// a machine shared with other work, steadier than wall time.
func cpuMs() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

// sinceProcessStart is the time since the kernel started this process
// (/proc/self/stat start time against /proc/uptime; 10 ms resolution).
func sinceProcessStart() (time.Duration, error) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	rest := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(rest) < 20 {
		return 0, fmt.Errorf("/proc/self/stat: too few fields")
	}
	start, err := strconv.ParseFloat(rest[19], 64) // field 22: starttime in clock ticks
	if err != nil {
		return 0, err
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	uptime, err := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	if err != nil {
		return 0, err
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration((uptime - start/ticks) * float64(time.Second)), nil
}

// peakRSS is VmHWM, the process's peak resident set size.
func peakRSS() (int64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/self/status has no VmHWM")
}
