package tests

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// BenchmarkColdStart measures each function from exec to a 200 on
// /health/readiness (func-go's readiness probe), on the embedded defaults
// (filesystem store, memory cache, no model): what scale-from-zero costs.
func BenchmarkColdStart(b *testing.B) {
	bin := buildBinary(b)
	for _, name := range []string{"gateway", "ingest", "transcribe", "segment", "summarize", "index", "answer"} {
		b.Run(name, func(b *testing.B) {
			var samples []time.Duration
			for b.Loop() {
				addr := svctest.FreeAddr(b)
				cmd := exec.Command(bin, "function", name)
				cmd.Env = append(os.Environ(), "LISTEN_ADDRESS="+addr, "TRANSCEPT_STORE_DIR="+b.TempDir(), "K_SINK=http://127.0.0.1:9", "TRANSCEPT_LOG_LEVEL=warn")
				start := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				for {
					resp, err := http.Get("http://" + addr + "/health/readiness")
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == 200 {
							break
						}
					}
					if time.Since(start) > 10*time.Second {
						b.Fatalf("%s not ready in 10 s", name)
					}
					time.Sleep(time.Millisecond)
				}
				samples = append(samples, time.Since(start))
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
			sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
			b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "ms-median")
			b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "ms-max")
		})
	}
}

// BenchmarkUploadToSummary measures POST /lectures to a ready lecture
// (summary and index written) through `transcept serve` on its defaults,
// with a 12k-word QMSum meeting.
func BenchmarkUploadToSummary(b *testing.B) {
	bin := buildBinary(b)
	m, err := eval.LoadQMSumFile(filepath.Join(eval.DataDir(), "qmsum", "Academic", "val", "Bed002.json"))
	if err != nil {
		b.Skipf("evaluation data missing: %v", err)
	}
	var sb strings.Builder
	for _, tu := range m.Turns {
		sb.WriteString(tu.Speaker + ": " + tu.Content + "\n")
	}
	text := sb.String()
	base := serveB(b, bin, "TRANSCEPT_STORE_DIR="+b.TempDir(), "TRANSCEPT_LOG_LEVEL=warn")
	var samples []time.Duration
	for i := 0; b.Loop(); i++ {
		// A different lecture each time (the cache would make it free).
		body := text + "\nProf: Run number " + strings.Repeat("x", i%50+1) + " " + time.Now().String() + ".\n"
		start := time.Now()
		resp, err := http.Post(base+"/lectures?name=m.txt", "text/plain", strings.NewReader(body))
		if err != nil || resp.StatusCode != 202 {
			b.Fatalf("upload: %v %v", resp, err)
		}
		loc := resp.Header.Get("Location")
		resp.Body.Close()
		for {
			var l struct{ Status string }
			getJSONB(b, base+loc, &l)
			if l.Status == "ready" {
				break
			}
			if l.Status == "failed" || time.Since(start) > 30*time.Second {
				b.Fatalf("lecture %s: %s", loc, l.Status)
			}
			time.Sleep(2 * time.Millisecond)
		}
		samples = append(samples, time.Since(start))
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "ms-max")
}
