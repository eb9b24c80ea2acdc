// Command soak sends a steady mix of traffic to a running `transcept serve`
// for a fixed time and watches the server for leaks: transcript uploads
// (POST /lectures, text bodies of mixed sizes), status polls (GET
// /lectures/{id}), POST /summarize (repeated bodies: cache hits; fresh
// ones: misses) and POST /qa {lecture_id, question} on lectures that are
// ready. It samples the server's RSS (/proc/PID/status), goroutines
// (go_goroutines on /metrics) and open files (/proc/PID/fd) at the start,
// every -sample and at the end; then it polls every upload until it is
// ready or -ready-deadline passes.
//
// It only targets the address it is given (loopback in `make soak`) and
// stops by itself. It exits 1 when any request failed (transport error or
// an unexpected status), a lecture failed, or an upload did not reach
// "ready".
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type op int

const (
	opUpload op = iota
	opPoll
	opSummarize
	opQA
	nOps
)

var opNames = [nOps]string{"upload", "poll", "summarize", "qa"}

type soak struct {
	base   string
	client *http.Client

	mu       sync.Mutex
	rng      *rand.Rand
	lectures []string        // every upload's id
	pending  map[string]bool // uploaded, not yet seen ready
	ready    []string        // seen ready
	lat      [nOps][]time.Duration
	count    [nOps]int64

	errs    atomic.Int64
	errMsgs []string // the first few, to print
}

func main() {
	base := flag.String("base", "http://127.0.0.1:8080", "the server's base URL")
	pid := flag.Int("pid", 0, "the server's process id (RSS and open files are read from /proc)")
	dur := flag.Duration("d", 30*time.Minute, "how long to send traffic")
	rate := flag.Float64("rate", 10, "requests per second, all kinds together")
	maxInFlight := flag.Int("c", 32, "most requests in flight")
	sample := flag.Duration("sample", time.Minute, "how often to sample RSS, goroutines and open files")
	deadline := flag.Duration("ready-deadline", 2*time.Minute, "how long after the traffic every upload has to become ready")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *pid <= 0 || *rate <= 0 || *dur <= 0 {
		fmt.Fprintln(os.Stderr, "soak: -pid, -rate and -d are required and positive")
		os.Exit(2)
	}
	s := &soak{
		base:    strings.TrimRight(*base, "/"),
		client:  &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *maxInFlight}},
		rng:     rand.New(rand.NewPCG(*seed, 11)),
		pending: map[string]bool{},
	}
	summaryBodies := make([][]byte, 6) // repeated: cache hits after the first
	for i := range summaryBodies {
		summaryBodies[i] = mustJSON(map[string]string{"text": s.transcript(2_000+i*6_000, fmt.Sprintf("summary body %d", i))})
	}

	samples := []sampleT{s.sample(*pid, "start")}
	fmt.Println(samples[0])
	start := time.Now()
	interval := time.Duration(float64(time.Second) / *rate)
	sem := make(chan struct{}, *maxInFlight)
	var wg sync.WaitGroup
	nextSample := start.Add(*sample)
	var skipped int64
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= *dur {
			break
		}
		time.Sleep(time.Until(due))
		if now := time.Now(); !now.Before(nextSample) {
			sm := s.sample(*pid, fmt.Sprintf("%5.1f min", now.Sub(start).Minutes()))
			samples = append(samples, sm)
			fmt.Println(sm)
			nextSample = nextSample.Add(*sample)
		}
		select {
		case sem <- struct{}{}:
		default:
			skipped++ // the server is behind: counted, not queued
			continue
		}
		kind, arg := s.pick(summaryBodies)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.do(kind, arg)
		}()
	}
	wg.Wait()
	trafficEnd := time.Now()

	// Every upload has to reach "ready".
	unready := s.waitReady(*deadline)
	// Close this client's idle keep-alive connections, so that the end
	// sample counts what the server holds on its own (each open connection
	// is a goroutine and a file there).
	s.client.CloseIdleConnections()
	time.Sleep(2 * time.Second)
	end := s.sample(*pid, "end")
	fmt.Println(end)

	fmt.Printf("\nsoak: %s of traffic at %.1f req/s, %d skipped (more than %d in flight)\n",
		trafficEnd.Sub(start).Round(time.Second), *rate, skipped, *maxInFlight)
	for k := range nOps {
		d := s.lat[k]
		slices.Sort(d)
		fmt.Printf("  %-10s %6d requests  p50 %8.1f ms  p99 %8.1f ms  max %8.1f ms\n", opNames[k], s.count[k],
			ms(pctl(d, .5)), ms(pctl(d, .99)), ms(pctl(d, 1)))
	}
	first := samples[0]
	fmt.Printf("  %-10s start %8d  end %8d  max %8d\n", "RSS (kB)", first.rssKB, end.rssKB, maxOf(samples, end, func(x sampleT) int64 { return x.rssKB }))
	fmt.Printf("  %-10s start %8d  end %8d  max %8d\n", "goroutines", first.goroutines, end.goroutines, maxOf(samples, end, func(x sampleT) int64 { return x.goroutines }))
	fmt.Printf("  %-10s start %8d  end %8d  max %8d\n", "open files", first.fds, end.fds, maxOf(samples, end, func(x sampleT) int64 { return x.fds }))
	fmt.Printf("  uploads %d, ready %d, not ready after %v: %d\n", len(s.lectures), len(s.lectures)-len(unready), *deadline, len(unready))
	fmt.Printf("  errors %d\n", s.errs.Load())
	for _, m := range s.errMsgs {
		fmt.Println("    " + m)
	}
	if s.errs.Load() > 0 || len(unready) > 0 {
		for _, id := range unready[:min(len(unready), 5)] {
			fmt.Println("    not ready:", id)
		}
		fmt.Println("soak: FAILED")
		os.Exit(1)
	}
	fmt.Println("soak: ok")
}

// pick chooses the next request: 10% uploads, 40% polls, 30% summaries,
// 20% questions (a poll or a question needs an upload, a question a ready
// lecture; until there is one a summary goes instead).
func (s *soak) pick(summaryBodies [][]byte) (op, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rng.IntN(100)
	switch {
	case r < 10 || len(s.lectures) == 0:
		// Sizes from a short note to a long lecture: 1, 8, 32, 128 kB.
		size := []int{1 << 10, 8 << 10, 32 << 10, 128 << 10}[weighted(s.rng, 40, 30, 20, 10)]
		return opUpload, size
	case r < 50:
		// Half the polls go to uploads not yet seen ready.
		if len(s.pending) > 0 && s.rng.IntN(2) == 0 {
			for id := range s.pending {
				return opPoll, id
			}
		}
		return opPoll, s.lectures[s.rng.IntN(len(s.lectures))]
	case r < 80 || len(s.ready) == 0:
		if s.rng.IntN(10) < 3 { // a fresh body: a cache miss
			return opSummarize, mustJSON(map[string]string{"text": s.transcriptLocked(1_000+s.rng.IntN(4_000), fmt.Sprintf("fresh %d", s.rng.Int64()))})
		}
		return opSummarize, summaryBodies[s.rng.IntN(len(summaryBodies))]
	default:
		q := questions[s.rng.IntN(len(questions))]
		return opQA, mustJSON(map[string]string{"lecture_id": s.ready[s.rng.IntN(len(s.ready))], "question": q})
	}
}

func (s *soak) do(kind op, arg any) {
	t0 := time.Now()
	var err error
	switch kind {
	case opUpload:
		size := arg.(int)
		s.mu.Lock()
		text := s.transcriptLocked(size, fmt.Sprintf("upload %d", s.rng.Int64()))
		s.mu.Unlock()
		var out struct {
			ID string `json:"id"`
		}
		err = s.call(http.MethodPost, "/lectures?title=soak", "text/plain", []byte(text), http.StatusAccepted, &out)
		if err == nil && out.ID == "" {
			err = fmt.Errorf("POST /lectures: no id in the answer")
		}
		if err == nil {
			s.mu.Lock()
			s.lectures = append(s.lectures, out.ID)
			s.pending[out.ID] = true
			s.mu.Unlock()
		}
	case opPoll:
		err = s.poll(arg.(string))
	case opSummarize:
		err = s.call(http.MethodPost, "/summarize", "application/json", arg.([]byte), http.StatusOK, nil)
	case opQA:
		err = s.call(http.MethodPost, "/qa", "application/json", arg.([]byte), http.StatusOK, nil)
	}
	d := time.Since(t0)
	s.mu.Lock()
	s.count[kind]++
	s.lat[kind] = append(s.lat[kind], d)
	s.mu.Unlock()
	if err != nil {
		s.fail(err)
	}
}

// poll reads a lecture's status; "failed" is an error.
func (s *soak) poll(id string) error {
	var l struct {
		Status string `json:"status"`
		Error  any    `json:"error"`
	}
	if err := s.call(http.MethodGet, "/lectures/"+id, "", nil, http.StatusOK, &l); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch l.Status {
	case "ready":
		if s.pending[id] {
			delete(s.pending, id)
			s.ready = append(s.ready, id)
		}
	case "failed":
		if s.pending[id] {
			delete(s.pending, id)
			return fmt.Errorf("lecture %s failed: %v", id, l.Error)
		}
	}
	return nil
}

// waitReady polls the uploads not yet seen ready until all are or the
// deadline passes, and returns those that are not.
func (s *soak) waitReady(deadline time.Duration) []string {
	stop := time.Now().Add(deadline)
	for {
		s.mu.Lock()
		var ids []string
		for id := range s.pending {
			ids = append(ids, id)
		}
		s.mu.Unlock()
		if len(ids) == 0 || time.Now().After(stop) {
			slices.Sort(ids)
			return ids
		}
		for _, id := range ids {
			if err := s.poll(id); err != nil {
				s.fail(err)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (s *soak) call(method, path, ctype string, body []byte, want int, out any) error {
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %.200s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

func (s *soak) fail(err error) {
	if s.errs.Add(1) <= 10 {
		s.mu.Lock()
		s.errMsgs = append(s.errMsgs, err.Error())
		s.mu.Unlock()
	}
}

type sampleT struct {
	label                  string
	rssKB, goroutines, fds int64
}

func (x sampleT) String() string {
	return fmt.Sprintf("%-10s RSS %7d kB  goroutines %5d  open files %4d", x.label, x.rssKB, x.goroutines, x.fds)
}

func (s *soak) sample(pid int, label string) sampleT {
	x := sampleT{label: label, rssKB: -1, goroutines: -1, fds: -1}
	if f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				x.rssKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
		f.Close()
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		x.fds = int64(len(fds))
	}
	if resp, err := s.client.Get(s.base + "/metrics"); err == nil {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				x.goroutines = int64(f)
			}
		}
		resp.Body.Close()
	}
	return x
}

func maxOf(xs []sampleT, last sampleT, f func(sampleT) int64) int64 {
	m := f(last)
	for _, x := range xs {
		m = max(m, f(x))
	}
	return m
}

func pctl(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[max(0, min(len(d)-1, int(p*float64(len(d))+0.5)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func weighted(r *rand.Rand, w ...int) int {
	t := 0
	for _, x := range w {
		t += x
	}
	n := r.IntN(t)
	for i, x := range w {
		if n < x {
			return i
		}
		n -= x
	}
	return len(w) - 1
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// transcript makes a lecture-like text of about n bytes in "Speaker: line"
// turns; tag makes it unique.
func (s *soak) transcript(n int, tag string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transcriptLocked(n, tag)
}

func (s *soak) transcriptLocked(n int, tag string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Professor: Welcome, this is lecture %s.\n", tag)
	for b.Len() < n {
		speaker := "Professor"
		if s.rng.IntN(5) == 0 {
			speaker = "Student"
		}
		fmt.Fprintf(&b, "%s: %s\n", speaker, sentences[s.rng.IntN(len(sentences))])
	}
	return b.String()
}

var sentences = []string{
	"Entropy of an isolated system never decreases, so heat flows from hot to cold bodies.",
	"The first law says that energy is conserved: the heat added equals the work done plus the change in internal energy.",
	"A Carnot engine working between two reservoirs has the highest efficiency any engine can reach.",
	"We measure temperature in kelvin because the scale starts at absolute zero.",
	"The ideal gas law relates pressure, volume and temperature through the gas constant.",
	"Photosynthesis turns light, water and carbon dioxide into glucose and oxygen in the chloroplasts.",
	"Mitochondria make most of the cell's ATP through oxidative phosphorylation.",
	"A binary search halves the interval at every step, so it takes logarithmic time.",
	"Dynamic programming stores the answers to overlapping subproblems so each is solved once.",
	"The French Revolution began in 1789 with the storming of the Bastille.",
	"Supply and demand curves cross at the market's equilibrium price.",
	"Let us work through an example on the board before the break.",
	"So the key point to remember for the exam is the definition, not the derivation.",
	"Any questions so far? Good, then we move on to the next topic.",
}

var questions = []string{
	"What does the second law say about entropy?",
	"Which engine has the highest efficiency?",
	"What is conserved according to the first law?",
	"How long does a binary search take?",
	"When did the French Revolution begin?",
	"What should I remember for the exam?",
}
