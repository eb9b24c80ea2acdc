package bart

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/gpu-runtime/seq2seq"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// requestTexts are four requests of different lengths.
var requestTexts = [][]lecture.Sentence{
	{{Text: "Entropy."}},
	{{Text: "In part one we discuss entropy and why it matters for the second law."}, {Text: "Heat engines turn heat into work."}},
	{{Text: "The Carnot cycle bounds the efficiency of every heat engine between two temperatures."}},
	{{Text: "Free energy decides which way a reaction runs."}, {Text: "Phase transitions follow."}, {Text: "Then we stop."}},
}

// TestRequestsBatchedEqualAlone: four concurrent requests gathered into
// one batch (a batch as large as their windows together and a wait that
// never ends before it is full, so nothing depends on timing) get exactly
// the windows' text each
// gets alone, with and without a LoRA adapter (every row of a batch runs
// with the engine's one adapter), and with the folder's own max_length
// and min_length or the engine's.
func TestRequestsBatchedEqualAlone(t *testing.T) {
	orttest.Need(t)
	dir, adapter, _ := loraFolders(t, testmodels.TinyLoRA(), func(c *testmodels.Config) { c.EOSBias = 9 })
	for _, c := range []struct {
		name, adapter string
		minLen        int
	}{{"plain", "", 0}, {"adapter", adapter, 0}, {"adapter, min length 6", adapter, 6}} {
		t.Run(c.name, func(t *testing.T) {
			o := Options{Adapter: c.adapter, MaxPasses: 1, MinLength: c.minLen, IntraOpThreads: 1}
			alone := o
			alone.BatchSize = 1
			one, err := Load(dir, alone)
			if err != nil {
				t.Fatal(err)
			}
			defer one.Close()
			var want [][]string
			lengths := map[int]bool{}
			windows := 0
			for _, sents := range requestTexts {
				_, passes, err := one.summarize(context.Background(), sents, lecture.SummarizeOptions{Ratio: 1})
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, passes[0].outputs)
				windows += len(passes[0].windows)
				for _, out := range passes[0].outputs {
					lengths[len(out)] = true
				}
			}
			if st := one.Stats(); st.Batches != int64(windows) {
				t.Errorf("alone: %v, want %d batches of one", st, windows)
			}
			batched := o
			batched.BatchSize, batched.BatchWait = windows, time.Hour
			many, err := Load(dir, batched)
			if err != nil {
				t.Fatal(err)
			}
			defer many.Close()
			got := make([][]string, len(requestTexts))
			errs := make([]error, len(requestTexts))
			var wg sync.WaitGroup
			for i, sents := range requestTexts {
				wg.Go(func() {
					_, passes, err := many.summarize(context.Background(), sents, lecture.SummarizeOptions{Ratio: 1})
					if errs[i] = err; err == nil {
						got[i] = passes[0].outputs
					}
				})
			}
			wg.Wait()
			for i := range got {
				if errs[i] != nil || !slices.Equal(got[i], want[i]) {
					t.Errorf("request %d: batched %q (%v), alone %q", i, got[i], errs[i], want[i])
				}
			}
			st := many.Stats()
			if st.Batches != 1 || st.Rows != int64(windows) {
				t.Errorf("batched: %v, want one batch of %d rows", st, windows)
			}
			if len(lengths) < 2 {
				t.Errorf("every window's summary has the same length %v: the test wants rows ending at different steps", lengths)
			}
			t.Logf("%s: %v; alone %v", c.name, st, one.Stats())
		})
	}
}

// TestRequestCancelledInBatch: a request that goes away once its rows are
// in a running batch returns, and the requests batched with it get their
// summaries.
func TestRequestCancelledInBatch(t *testing.T) {
	ref := load(t, Options{BatchSize: 1, MaxPasses: 1, IntraOpThreads: 1})
	reqs := requestTexts[1:]
	want := make([]string, len(reqs))
	windows := 0
	for i, sents := range reqs {
		_, passes, err := ref.summarize(context.Background(), sents, lecture.SummarizeOptions{Ratio: 1})
		if err != nil {
			t.Fatal(err)
		}
		want[i], windows = fmt.Sprint(passes[0].outputs), windows+len(passes[0].windows)
	}
	s := load(t, Options{BatchSize: windows, BatchWait: time.Hour, MaxPasses: 1, IntraOpThreads: 1})
	ctx, cancel := context.WithCancel(context.Background())
	gen := s.g.gen
	s.g.gen = func(in []seq2seq.Input) ([]seq2seq.Output, error) {
		if len(in) != windows {
			t.Errorf("batch of %d rows, want %d", len(in), windows)
		}
		cancel() // the client of request 1 goes away as its rows start
		return gen(in)
	}
	var wg sync.WaitGroup
	got := make([]string, len(reqs))
	errs := make([]error, len(reqs))
	for i := range reqs {
		wg.Go(func() {
			rctx := context.Background()
			if i == 1 {
				rctx = ctx
			}
			_, passes, err := s.summarize(rctx, reqs[i], lecture.SummarizeOptions{Ratio: 1})
			if errs[i] = err; err == nil {
				got[i] = fmt.Sprint(passes[0].outputs)
			}
		})
	}
	wg.Wait()
	if lecture.ErrorCode(errs[1]) != lecture.EUNAVAILABLE {
		t.Errorf("cancelled request: %v", errs[1])
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil || got[i] != want[i] {
			t.Errorf("request %d beside the cancelled one: %s (%v), alone %s", i, got[i], errs[i], want[i])
		}
	}
}
