//go:build cgo

package causal

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/procstat"
)

// TestBenchAgainstTransformersJS is our side of
// tests/reference/causal-bench.sh; it runs only when that script sets
// TRANSCEPT_CAUSAL_BENCH_REF (transformers.js's output: prompt, ids,
// timings) and TRANSCEPT_CAUSAL_BENCH_DIR (the model folder). It times the
// cold load, then RUNS+1 greedy generations (the first a warm-up) of the
// reference's prompt ids with min = max new tokens, stamping each token as
// it is streamed, exactly as the node script does; fails unless our
// tokenizer gives the same prompt ids and every run the same generated ids
// as transformers.js. TRANSCEPT_CAUSAL_BENCH_THREADS sets the intra-op
// threads (default 1), TRANSCEPT_CAUSAL_BENCH_SPIN=1 lets them spin (ONNX
// Runtime's default; Load turns it off), TRANSCEPT_BENCH_DTYPE chooses the
// folder's files (fp32, q8, q4, fp16). Prints one "causal-bench-result
// {json}" line, also when the ids differ (ids_identical false, the first
// differing position; the test then fails after printing it).
func TestBenchAgainstTransformersJS(t *testing.T) {
	refPath, dir := os.Getenv("TRANSCEPT_CAUSAL_BENCH_REF"), os.Getenv("TRANSCEPT_CAUSAL_BENCH_DIR")
	if refPath == "" || dir == "" {
		t.Skip("run by tests/reference/causal-bench.sh (TRANSCEPT_CAUSAL_BENCH_REF and _DIR unset)")
	}
	needORT(t)
	threads, runs := envInt(t, "TRANSCEPT_CAUSAL_BENCH_THREADS", 1), envInt(t, "TRANSCEPT_CAUSAL_BENCH_RUNS", 3)
	b, err := os.ReadFile(refPath)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		PromptText string `json:"prompt_text"`
		PromptIDs  []int  `json:"prompt_ids"`
		NewTokens  int    `json:"new_tokens"`
		OutputIDs  []int  `json:"output_ids"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}

	o := ort.Options{IntraOpThreads: threads, DType: os.Getenv("TRANSCEPT_BENCH_DTYPE"),
		CUDA: os.Getenv("TRANSCEPT_BENCH_CUDA") == "1", // CUDA: for tests/gpu-check.sh
		// for the LM rows of make bench-defaults
		NoPrepack: os.Getenv("TRANSCEPT_BENCH_NO_PREPACK") == "1", Int8Weights: os.Getenv("TRANSCEPT_BENCH_INT8"),
		ProfilePrefix:     os.Getenv("TRANSCEPT_BENCH_ORT_PROFILE"),  // per-operator times (tests/testkit/cmd/ort-profile)
		OptimizedCacheDir: os.Getenv("TRANSCEPT_CAUSAL_BENCH_CACHE")} // the kept copy and ONNX Runtime's cached form
	if os.Getenv("TRANSCEPT_CAUSAL_BENCH_SPIN") == "1" {
		// ONNX Runtime's default: worker threads spin between operators
		o.ConfigEntries = map[string]string{spinKey: "1"}
	}
	if os.Getenv("TRANSCEPT_CAUSAL_BENCH_REPEATED_KV") == "1" {
		// the graph's own repeat of the key/value heads (before regrouping)
		groupedAttention = false
		defer func() { groupedAttention = true }()
	}
	t0 := time.Now()
	m, err := Load(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	load := time.Since(t0)
	t.Logf("%d attention products regrouped", m.grouped)
	defer m.Close()
	if got := m.Tokenizer.EncodePlain(ref.PromptText); !slices.Equal(got, ref.PromptIDs) {
		t.Errorf("our tokenizer gives %d prompt ids, transformers.js %d (first difference matters)", len(got), len(ref.PromptIDs))
	}

	type run struct {
		TTFT      float64 `json:"ttft_ms"`
		TTFTCPU   float64 `json:"ttft_cpu_ms"`
		Decode    float64 `json:"decode_tok_s"`
		DecodeCPU float64 `json:"decode_cpu_ms_per_token"`
		Total     float64 `json:"total_ms"`
		Inside    float64 `json:"session_run_ms"`
	}
	var results []run
	identical, firstDiff := true, -1
	for i := 0; i <= runs; i++ {
		var stamps []time.Time
		var cpu []float64
		before := m.Session.RunStats()
		cpu0 := cpuMs()
		start := time.Now()
		res, err := Generate(context.Background(), m, [][]int{ref.PromptIDs}, Options{
			MaxNewTokens: ref.NewTokens, MinNewTokens: ref.NewTokens,
			OnToken: func(id int, _ string) {
				if id >= 0 {
					stamps = append(stamps, time.Now())
					cpu = append(cpu, cpuMs())
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Tokens[0], ref.OutputIDs) {
			if identical {
				t.Errorf("run %d: ids differ from transformers.js:\n ours %v\ntheirs %v", i, res.Tokens[0], ref.OutputIDs)
				for firstDiff = 0; firstDiff < min(len(res.Tokens[0]), len(ref.OutputIDs)) && res.Tokens[0][firstDiff] == ref.OutputIDs[firstDiff]; firstDiff++ {
				}
			}
			identical = false
		}
		n := len(stamps)
		r := run{
			TTFT:      ms(stamps[0].Sub(start)),
			TTFTCPU:   cpu[0] - cpu0,
			Decode:    float64(n-1) / stamps[n-1].Sub(stamps[0]).Seconds(),
			DecodeCPU: (cpu[n-1] - cpu[0]) / float64(n-1),
			Total:     ms(stamps[n-1].Sub(start)),
			Inside:    ms(m.Session.RunStats().Sub(before).Time),
		}
		label := ""
		if i == 0 {
			label = " (warm-up)"
		} else {
			results = append(results, r)
		}
		t.Logf("ours (%d thr) run %d%s: ttft %.0f ms (CPU %.0f ms), decode %.2f tok/s (CPU %.0f ms/token), %.1f%% of the time inside session.Run",
			threads, i, label, r.TTFT, r.TTFTCPU, r.Decode, r.DecodeCPU, 100*r.Inside/r.Total)
	}
	// stat is the median and the best run (lowest, or highest for a rate)
	stat := func(f func(run) float64, higher bool) map[string]float64 {
		xs := make([]float64, len(results))
		for i, r := range results {
			xs[i] = f(r)
		}
		sort.Float64s(xs)
		best := xs[0]
		if higher {
			best = xs[len(xs)-1]
		}
		h := len(xs) / 2
		med := xs[h]
		if len(xs)%2 == 0 {
			med = (xs[h-1] + xs[h]) / 2
		}
		return map[string]float64{"median": med, "best": best}
	}
	out, _ := json.Marshal(map[string]any{
		"impl": "transcept", "threads": threads, "new_tokens": ref.NewTokens, "prompt_tokens": len(ref.PromptIDs),
		"ids_identical": identical, "first_difference": firstDiff, "dtype": o.DType, "load_ms": ms(load),
		"ttft_ms":                 stat(func(r run) float64 { return r.TTFT }, false),
		"ttft_cpu_ms":             stat(func(r run) float64 { return r.TTFTCPU }, false),
		"decode_tok_s":            stat(func(r run) float64 { return r.Decode }, true),
		"decode_cpu_ms_per_token": stat(func(r run) float64 { return r.DecodeCPU }, false),
		"runs":                    results, "peak_rss_mb": peakRSSMB(),
	})
	fmt.Printf("causal-bench-result %s\n", out)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// cpuMs is the process's user + system CPU time (every thread), in ms.
func cpuMs() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q is not a count", name, s)
	}
	return n
}

// peakRSSMB is the process's high-water resident set (VmHWM), in MiB (0
// when /proc cannot tell).
func peakRSSMB() float64 {
	b, _ := procstat.PeakRSS()
	return float64(b) / (1 << 20)
}
