package eventing

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzISODuration: the ISO 8601 durations of Broker and Trigger delivery
// settings parse to a non-negative duration, or fail; "P" and "PT" (in
// either case) fail; whole seconds written back as PT<n>S parse the same.
func FuzzISODuration(f *testing.F) {
	for _, s := range []string{"PT1S", "PT0.5S", "PT1H", "P1DT2H", "PT10M30S", "pt2s", "P", "PT", "p", "1S", "PT-1S", "PT1.S", "P99999999999DT1S", "PT9223372036S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ISODuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ISODuration(%q) = %v, negative", s, d)
		}
		if u := strings.ToUpper(s); u == "P" || u == "PT" {
			t.Fatalf("ISODuration(%q) = %v, want an error", s, d)
		}
		if d%time.Second == 0 {
			w := "PT" + strconv.FormatInt(int64(d/time.Second), 10) + "S"
			if back, err := ISODuration(w); err != nil || back != d {
				t.Fatalf("ISODuration(%q) = %v; ISODuration(%q) = %v, %v", s, d, w, back, err)
			}
		}
	})
}
