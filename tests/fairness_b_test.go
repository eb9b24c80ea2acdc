package tests

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkSmallBehindBig: a 31 KB lecture uploaded right behind two 3 MB
// ones, upload to ready, with the scheduler's defaults (shortest input
// first, one worker kept for small lectures) and with the reserved worker
// off. Reported: the small lecture's time, and the big ones' for scale.
func BenchmarkSmallBehindBig(b *testing.B) {
	bin := buildBinary(b)
	for _, c := range []struct{ name, small string }{{"default", "1048576"}, {"no-small-worker", "0"}} {
		b.Run(c.name, func(b *testing.B) {
			base := serveB(b, bin, "TRANSCEPT_STORE_DIR="+b.TempDir(), "TRANSCEPT_LOG_LEVEL=warn", "TRANSCEPT_SMALL_JOB_BYTES="+c.small)
			var small, big []time.Duration
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				var locs []string
				for j, kb := range []int{3 << 10, 3 << 10, 31} {
					body := fmt.Sprintf("Prof: Run %d lecture %d at %s.\n", i, j, time.Now()) + lectureOf(kb)
					resp, err := http.Post(base+"/lectures?name=l.txt", "text/plain", strings.NewReader(body))
					if err != nil || resp.StatusCode != 202 {
						b.Fatalf("upload: %v %v", resp, err)
					}
					locs = append(locs, resp.Header.Get("Location"))
					resp.Body.Close()
				}
				done := make([]time.Duration, 3)
				for n := 0; n < 3; {
					n = 0
					for k, loc := range locs {
						if done[k] > 0 {
							n++
							continue
						}
						var l struct{ Status string }
						getJSONB(b, base+loc, &l)
						if l.Status == "ready" {
							done[k] = time.Since(start)
							n++
						} else if l.Status == "failed" || time.Since(start) > 5*time.Minute {
							b.Fatalf("lecture %s: %s", loc, l.Status)
						}
					}
					time.Sleep(5 * time.Millisecond)
				}
				small = append(small, done[2])
				big = append(big, max(done[0], done[1]))
			}
			med := func(d []time.Duration) float64 {
				sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
				return float64(d[len(d)/2].Microseconds()) / 1000
			}
			b.ReportMetric(med(small), "ms-small")
			b.ReportMetric(med(big), "ms-big")
		})
	}
}
