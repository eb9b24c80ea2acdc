// Command loadgen drives a Transcept endpoint with concurrent clients for a
// fixed time and prints latency percentiles and errors. It only targets the
// address it is given (loopback in `make bench`), stops by itself, and caps
// the number of requests.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/summarize", "endpoint to POST to")
	bodyFile := flag.String("body", "", "file with the JSON request body")
	clients := flag.Int("c", 50, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "how long to run")
	maxReq := flag.Int64("max", 2_000_000, "stop after this many requests")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: -body:", err)
		os.Exit(2)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *clients, MaxConnsPerHost: *clients}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		n, errs atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
		wg      sync.WaitGroup
	)
	stop := time.Now().Add(*dur)
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(stop) && n.Add(1) <= *maxReq {
				t0 := time.Now()
				resp, err := client.Post(*url, "application/json", bytes.NewReader(body))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("requests %d  errors %d  rps %.0f  p50 %v  p90 %v  p99 %v  max %v\n",
		len(lat), errs.Load(), float64(len(lat))/dur.Seconds(), pct(0.50), pct(0.90), pct(0.99), pct(1))
	if errs.Load() > 0 {
		os.Exit(1)
	}
}
