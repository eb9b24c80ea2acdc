//go:build cgo

package seq2seq

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/optimum"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/orttest"
)

// TestDecoderStepSpeed compares decoder steps with ONNX Runtime allocating
// the outputs (copied into Go memory each step) against outputs allocated
// here, on a large folder, interleaved so that a busy machine slows both
// alike. It runs when TRANSCEPT_BART_BENCH_DIR names a BART folder (write one
// with tests/reference/bart-bench.sh); TRANSCEPT_BART_BENCH_IDS may name a
// JSON array of input ids (default: 512 ids).
func TestDecoderStepSpeed(t *testing.T) {
	dir := os.Getenv("TRANSCEPT_BART_BENCH_DIR")
	if dir == "" {
		t.Skip("set TRANSCEPT_BART_BENCH_DIR to a BART folder to compare decoder step speeds")
	}
	orttest.Need(t)
	m, err := optimum.LoadSeq2Seq(dir, ort.Options{IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ids := []int{0}
	for i := range 510 {
		ids = append(ids, 4+(i*7919+13)%49996)
	}
	ids = append(ids, 2)
	if f := os.Getenv("TRANSCEPT_BART_BENCH_IDS"); f != "" {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &ids); err != nil {
			t.Fatal(err)
		}
	}
	mask := slices.Repeat([]int{1}, len(ids))
	noEOS := -1
	o := Options{MaxLength: 33, MinLength: 33, ForcedEOS: &noEOS}
	defer func() { preallocate = true }()
	times := map[bool][]time.Duration{}
	var want []int
	for rep := range 4 {
		for _, pre := range []bool{false, true} {
			preallocate = pre
			before := m.Decoder.RunStats()
			res, err := Greedy(m, [][]int{ids}, [][]int{mask}, o)
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want = res.IDs[0]
			} else if !slices.Equal(res.IDs[0], want) {
				t.Fatalf("preallocate=%v gave %v, want %v", pre, res.IDs[0], want)
			}
			st := m.Decoder.RunStats().Sub(before)
			if rep > 0 {
				times[pre] = append(times[pre], st.Time/time.Duration(st.Runs))
			}
		}
	}
	for _, pre := range []bool{false, true} {
		slices.Sort(times[pre])
		t.Logf("preallocated outputs %v: decoder Run per step %v (median of %v)", pre, times[pre][len(times[pre])/2], times[pre])
	}
}
