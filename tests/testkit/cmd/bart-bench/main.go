// Command bart-bench times greedy generation of a BART folder (optimum.Seq2Seq,
// seq2seq.Greedy) the way tests/reference/bart-bench.mjs times
// transformers.js: one row of encoder input ids, a fixed number of new
// tokens (min = max, forced EOS off), a warm-up then RUNS timed generations.
//
//	bart-bench -model DIR -ids IDS_JSON [-new 64] [-runs 3] [-threads N] [-cache DIR] [-dtype q8] [-batch 8] [-cuda]
//
// It prints one JSON line: cold load (process start to a model ready to
// generate), each generation's time and the share of it spent outside
// ONNX Runtime's Run, the time to the first token (a one-token generation:
// encoder and first decoder step) and the mean cached decoder step (the
// generation's decoder Run time less the first step's, over the remaining
// steps), peak RSS and the generated ids. -dtype loads the folder's q8, q4
// or fp16 files (onnx/*_quantized.onnx, *_q4.onnx, *_fp16.onnx). -batch N
// generates N copies of the row at once (seq2seq.Greedy over a batch of N;
// tok/s is then N × new tokens over the generation time, and rows_agree
// says whether every row generated the same ids). -cuda asks for the CUDA
// execution provider and fails, with ONNX Runtime's reason, when a session
// falls back to the CPU (the CPU build of ONNX Runtime has no CUDA
// provider: TRANSCEPT_ORT_LIB must name the GPU build's library).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/seq2seq"
	"github.com/transcept/transcept/tests/testkit/procstat"
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
	Batch        int       `json:"batch"`      // rows generated at once (copies of the input row)
	Provider     string    `json:"provider"`   // the execution provider every session runs on
	ORT          string    `json:"ort"`        // ONNX Runtime's version and library path
	RowsAgree    bool      `json:"rows_agree"` // every row of the batch generated row 0's ids
	IDs          []int     `json:"ids"`        // row 0's
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
	noArena := flag.Bool("no-arena", false, "turn off ONNX Runtime's CPU memory arena (ort.Options.NoArena)")
	profile := flag.String("profile", "", "write ONNX Runtime's per-operator trace of each session to PREFIX_<time>.json (ort.Options.ProfilePrefix; sum it with tests/testkit/cmd/ort-profile)")
	int8w := flag.String("int8", "auto", "uint8 MatMulInteger weights as int8 on VNNI processors: auto or off (ort.Options.Int8Weights)")
	loadOnly := flag.Bool("load-only", false, "stop once the model is loaded (print load time and RSS)")
	batch := flag.Int("batch", 1, "rows generated at once (copies of the input row)")
	cuda := flag.Bool("cuda", false, "run on the CUDA execution provider (ort.Options.CUDA, device 0; ONNX Runtime's GPU build in TRANSCEPT_ORT_LIB); fails if a session falls back to the CPU")
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
	if *dir == "" || *idsFile == "" || *newTokens < 1 || *runs < 0 || *batch < 1 {
		flag.Usage()
		os.Exit(2)
	}
	o := ort.Options{IntraOpThreads: *threads, Optimization: level, OptimizedCacheDir: *cache, NoPrepack: *noPrepack, Int8Weights: *int8w, NoArena: *noArena, ConfigEntries: entries, DType: *dtype, CUDA: *cuda, ProfilePrefix: *profile}
	if *loadOnly {
		*runs = 0
	}
	if err := run(*dir, *idsFile, *newTokens, *runs, *batch, o); err != nil {
		fmt.Fprintln(os.Stderr, "bart-bench:", err)
		os.Exit(1)
	}
}

func run(dir, idsFile string, newTokens, runs, batch int, o ort.Options) error {
	raw, err := os.ReadFile(idsFile)
	if err != nil {
		return err
	}
	var ids []int
	if err := json.Unmarshal(raw, &ids); err != nil {
		return fmt.Errorf("%s: %w", idsFile, err)
	}
	rt, err := ort.Init()
	if err != nil {
		return err
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
	provider, err := sessionsProvider(m, o.CUDA)
	if err != nil {
		return err
	}

	mask := make([]int, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	rows, masks := make([][]int, batch), make([][]int, batch)
	for i := range rows {
		rows[i], masks[i] = ids, mask
	}
	noEOS := -1
	opts := seq2seq.Options{MaxLength: newTokens + 1, MinLength: newTokens + 1, ForcedEOS: &noEOS}
	res := result{Peer: "transcept", LoadMs: ms(loaded), LoadCPUMs: cpuMs(), Threads: o.IntraOpThreads, DType: o.DType,
		Batch: batch, Provider: provider, ORT: rt.Version + " " + rt.Library, RowsAgree: true}
	first := seq2seq.Options{MaxLength: 2, MinLength: 2, ForcedEOS: &noEOS}
	for i := 0; i <= runs && runs > 0; i++ {
		enc0, dec0 := m.Encoder.RunStats(), m.Decoder.RunStats()
		cpu0 := cpuMs()
		t0 := time.Now()
		out, err := seq2seq.Greedy(m, rows, masks, opts)
		took := time.Since(t0)
		cpu := cpuMs() - cpu0
		if err != nil {
			return err
		}
		enc, dec := m.Encoder.RunStats().Sub(enc0), m.Decoder.RunStats().Sub(dec0)
		inRun := enc.Time + dec.Time
		res.IDs = out.IDs[0]
		for _, r := range out.IDs[1:] {
			res.RowsAgree = res.RowsAgree && slices.Equal(r, res.IDs)
		}
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
		if _, err := seq2seq.Greedy(m, rows, masks, first); err != nil {
			return err
		}
		res.TTFTMs = append(res.TTFTMs, ms(time.Since(t0)))
		res.TTFTCPUMs = append(res.TTFTCPUMs, cpuMs()-cpu0)
		step := m.Decoder.RunStats().Sub(dec0)
		res.FirstStepMs = append(res.FirstStepMs, ms(step.Time))
		res.CachedStepMs = append(res.CachedStepMs, ms(dec.Time-step.Time)/float64(max(dec.Runs-step.Runs, 1)))
	}
	res.NewTokens = max(len(res.IDs)-1, 0)
	if res.PeakRSSBytes, err = procstat.PeakRSS(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// sessionsProvider is the execution provider the model's sessions run on;
// with cuda, a session that fell back to the CPU is an error naming ONNX
// Runtime's reason.
func sessionsProvider(m *optimum.Seq2Seq, cuda bool) (string, error) {
	sessions := map[string]*ort.Session{"encoder": m.Encoder, "decoder": m.Decoder}
	if m.DecoderWithPast != nil {
		sessions["decoder with past"] = m.DecoderWithPast
	}
	for name, s := range sessions {
		if cuda && s.Provider() != ort.ProviderCUDA {
			return "", fmt.Errorf("CUDA was asked for but the %s session runs on %q: %s (the CPU build of ONNX Runtime has no CUDA provider: set %s to the GPU build's lib/libonnxruntime.so)",
				name, s.Provider(), s.FallbackReason(), ort.LibraryEnv)
		}
	}
	return string(m.Encoder.Provider()), nil
}

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
