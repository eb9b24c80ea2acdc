// Command summary-batch-bench measures what the bart engine's request
// gatherer gives: N summary requests run one after another against the
// same N sent at once (gathered into shared batches), on one loaded model.
//
//	summary-batch-bench -model DIR [-dtype fp32|q8|q4] [-n 8] [-words 360] [-new 64] [-threads 2] [-wait 5ms]
//
// Each request is a different lecture text of about -words words, one
// window of at most 512 tokens (the map pass only: MaxPasses 1), and every
// window generates exactly -new tokens (min length = max length, EOS
// forced at the end), so sequential and concurrent do the same work; the
// generated ids of each request must be the same both ways. It prints one
// JSON line: aggregate generated tok/s both ways and their ratio (medians
// over -rounds rounds, each a sequential then a concurrent run, so that a
// shared machine's changing load slows both alike), the CPU time per token
// both ways, the lone request's latency (median of the sequential ones),
// the concurrent requests' p50 and p95 latency and p95 over lone, batches
// run, threads and the load average.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/transcept/transcept/gpu-runtime/bart"
	"github.com/transcept/transcept/gpu-runtime/tokenizer"
	"github.com/transcept/transcept/shared/lecture"
)

type result struct {
	DType         string    `json:"dtype"`
	Requests      int       `json:"requests"`
	Threads       int       `json:"threads"`
	InputTokens   []int     `json:"input_tokens"`
	NewTokens     int       `json:"new_tokens_per_request"`
	Wait          string    `json:"batch_wait"`
	Rounds        int       `json:"rounds"`
	SeqSeconds    float64   `json:"sequential_s"`
	SeqCPU        float64   `json:"sequential_cpu_s"`
	ConCPU        float64   `json:"concurrent_cpu_s"`
	CPURatio      float64   `json:"cpu_per_token_ratio"`
	SeqTokS       float64   `json:"sequential_tok_s"`
	ConSeconds    float64   `json:"concurrent_s"`
	ConTokS       float64   `json:"concurrent_tok_s"`
	Ratio         float64   `json:"throughput_ratio"`
	LoneMs        float64   `json:"lone_ms"`
	SeqMs         []float64 `json:"sequential_ms"`
	ConMs         []float64 `json:"concurrent_ms"`
	P50Ms         float64   `json:"concurrent_p50_ms"`
	P95Ms         float64   `json:"concurrent_p95_ms"`
	P95OverLone   float64   `json:"p95_over_lone"`
	ConBatches    []int64   `json:"concurrent_batches"`
	SameOutputs   int       `json:"same_outputs"` // requests whose summary is the same both ways
	LoadAvgBefore string    `json:"loadavg_before"`
	LoadAvgAfter  string    `json:"loadavg_after"`
}

var words = strings.Fields(`the a of and to in is that it for on with as this by be are from at or an was
entropy heat energy temperature engine cycle work system law second first thermodynamics equilibrium state
pressure volume gas ideal reversible process isolated increase decrease measure define consider example
students lecture today question answer problem result because therefore however between each every which
carnot efficiency reservoir boundary molecule probability statistical microstate macrostate disorder order
free enthalpy reaction phase transition liquid solid vapor critical point diagram curve slope derivative`)

// lectureText is about n words in sentences of 8 to 16 words, seeded.
func lectureText(seed uint64, n int) []lecture.Sentence {
	r := rand.New(rand.NewPCG(seed, 7))
	var out []lecture.Sentence
	for w := 0; w < n; {
		k := 8 + r.IntN(9)
		var s []string
		for range k {
			s = append(s, words[r.IntN(len(words))])
		}
		s[0] = strings.ToUpper(s[0][:1]) + s[0][1:]
		out = append(out, lecture.Sentence{Index: len(out), Text: strings.Join(s, " ") + ".",
			Span: lecture.Span{Start: float64(5 * len(out)), End: float64(5*len(out) + 4)}})
		w += k
	}
	return out
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// cpuSeconds is the process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// median is the middle value (the mean of the two middle ones).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank p-th percentile.
func percentile(ms []float64, p float64) float64 {
	s := slices.Clone(ms)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func main() {
	dir := flag.String("model", "", "BART folder (Optimum layout)")
	dtype := flag.String("dtype", "fp32", "weights: fp32, q8, q4 or fp16")
	n := flag.Int("n", 8, "requests")
	nWords := flag.Int("words", 360, "words per request (one window of at most 512 tokens)")
	newTokens := flag.Int("new", 64, "new tokens per request")
	threads := flag.Int("threads", 2, "ONNX Runtime intra-op threads")
	wait := flag.Duration("wait", bart.DefaultBatchWait, "batch wait")
	cache := flag.String("cache", "", "optimised-model cache folder")
	rounds := flag.Int("rounds", 2, "rounds of sequential then concurrent (medians reported)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "summary-batch-bench: -model DIR is required")
		os.Exit(2)
	}
	s, err := bart.Load(*dir, bart.Options{DType: *dtype, IntraOpThreads: *threads, BatchSize: *n, BatchWait: *wait,
		MaxPasses: 1, MinLength: *newTokens + 1, MaxLength: *newTokens + 1, OptimizedCacheDir: *cache,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "summary-batch-bench:", err)
		os.Exit(1)
	}
	defer s.Close()
	tok, err := tokenizer.Load(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "summary-batch-bench:", err)
		os.Exit(1)
	}
	reqs := make([][]lecture.Sentence, *n)
	res := result{DType: *dtype, Requests: *n, Threads: *threads, NewTokens: *newTokens, Wait: wait.String()}
	for i := range reqs {
		reqs[i] = lectureText(uint64(i+1), *nWords)
	}
	ctx := context.Background()
	opts := lecture.SummarizeOptions{Ratio: 1}
	summarize := func(i int) (string, float64) {
		start := time.Now()
		sum, err := s.Summarize(ctx, reqs[i], opts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "summary-batch-bench:", err)
			os.Exit(1)
		}
		b, _ := json.Marshal(sum.Bullets)
		return string(b), float64(time.Since(start).Microseconds()) / 1000
	}
	before := s.Stats()
	summarize(0) // warm-up
	if st := s.Stats(); st.Rows-before.Rows != 1 {
		fmt.Fprintf(os.Stderr, "summary-batch-bench: a request made %d windows; want one (fewer -words)\n", st.Rows-before.Rows)
		os.Exit(1)
	}
	res.LoadAvgBefore = loadavg()

	// Rounds alternate sequential and concurrent, so a machine whose load
	// moves slows both alike; the medians of the rounds are reported.
	seqOut := make([]string, *n)
	conOut := make([]string, *n)
	var seqS, conS, seqCPU, conCPU []float64
	var seqTokens, conTokens int64
	res.Rounds = *rounds
	for round := range *rounds {
		before := s.Stats()
		cpu0 := cpuSeconds()
		t0 := time.Now()
		for i := range reqs {
			var ms float64
			seqOut[i], ms = summarize(i)
			res.SeqMs = append(res.SeqMs, ms)
		}
		seqS = append(seqS, time.Since(t0).Seconds())
		seqCPU = append(seqCPU, cpuSeconds()-cpu0)
		seqTokens = s.Stats().Tokens - before.Tokens

		ms := make([]float64, *n)
		before = s.Stats()
		cpu0 = cpuSeconds()
		var wg sync.WaitGroup
		t0 = time.Now()
		for i := range reqs {
			wg.Go(func() { conOut[i], ms[i] = summarize(i) })
		}
		wg.Wait()
		conS = append(conS, time.Since(t0).Seconds())
		conCPU = append(conCPU, cpuSeconds()-cpu0)
		after := s.Stats()
		conTokens = after.Tokens - before.Tokens
		res.ConBatches = append(res.ConBatches, after.Batches-before.Batches)
		res.ConMs = append(res.ConMs, ms...)
		fmt.Fprintf(os.Stderr, "summary-batch-bench: %s round %d: sequential %.1f s, concurrent %.1f s, load %s\n", *dtype, round+1, seqS[round], conS[round], loadavg())
	}
	res.LoadAvgAfter = loadavg()
	res.SeqSeconds, res.ConSeconds = median(seqS), median(conS)
	res.SeqCPU, res.ConCPU = median(seqCPU), median(conCPU)
	res.SeqTokS = float64(seqTokens) / res.SeqSeconds
	res.ConTokS = float64(conTokens) / res.ConSeconds
	res.Ratio = res.ConTokS / res.SeqTokS
	res.CPURatio = (res.SeqCPU / float64(seqTokens)) / (res.ConCPU / float64(conTokens))
	res.LoneMs = median(res.SeqMs)
	res.P50Ms = percentile(res.ConMs, 0.5)
	res.P95Ms = percentile(res.ConMs, 0.95)
	res.P95OverLone = res.P95Ms / res.LoneMs
	for i := range seqOut {
		if seqOut[i] == conOut[i] {
			res.SameOutputs++
		}
	}
	for _, r := range reqs {
		var text []string
		for _, x := range r {
			text = append(text, x.Text)
		}
		res.InputTokens = append(res.InputTokens, len(tok.Encode(strings.Join(text, " "))))
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	if res.SameOutputs != *n {
		// q8's DynamicQuantizeLinear takes one activation scale per tensor,
		// over every row of the batch, so batched rows are quantised a
		// little differently from rows alone; fp32 must not differ.
		fmt.Fprintf(os.Stderr, "summary-batch-bench: %s: %d of %d summaries differ between sequential and concurrent\n", *dtype, *n-res.SameOutputs, *n)
		if *dtype == "fp32" || *dtype == "" {
			os.Exit(1)
		}
	}
}
