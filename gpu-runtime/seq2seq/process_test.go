package seq2seq

import (
	"math"
	"slices"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/optimum"
)

func TestProcess(t *testing.T) {
	g := optimum.Generation{EOSTokenIDs: []int{2}, ForcedBOSTokenID: 0, ForcedEOSTokenID: 2, MaxLength: 6, MinLength: 3}
	s := resolve(g, Options{})
	inf := float32(math.Inf(-1))
	l := []float32{1, 2, 9, 3}
	s.process(l, 1) // forced BOS at the first step
	if !slices.Equal(l, []float32{1, inf, inf, inf}) {
		t.Errorf("forced BOS: %v", l)
	}
	l = []float32{1, 2, 9, 3}
	s.process(l, 2) // below min_length: no EOS
	if optimum.Argmax(l) != 3 {
		t.Errorf("min_length: %v", l)
	}
	l = []float32{1, 2, 9, 3}
	s.process(l, 3)
	if optimum.Argmax(l) != 2 {
		t.Errorf("at min_length EOS is allowed: %v", l)
	}
	l = []float32{1, 9, 2, 3}
	s.process(l, 5) // max_length-1: forced EOS
	if optimum.Argmax(l) != 2 {
		t.Errorf("forced EOS: %v", l)
	}
	off := -1
	s = resolve(g, Options{ForcedBOS: &off, ForcedEOS: &off, MinLength: 1})
	l = []float32{1, 9, 2, 3}
	s.process(l, 1)
	s.process(l, 5)
	if optimum.Argmax(l) != 1 {
		t.Errorf("forcing off: %v", l)
	}
}

func TestPad(t *testing.T) {
	ids, mask := Pad([][]int{{0, 5, 2}, {0, 2}}, 1)
	if !slices.Equal(ids[1], []int{0, 2, 1}) || !slices.Equal(mask[1], []int{1, 1, 0}) || !slices.Equal(mask[0], []int{1, 1, 1}) {
		t.Errorf("%v %v", ids, mask)
	}
}

func TestGreedyBadInput(t *testing.T) {
	m := &optimum.Seq2Seq{Seq2SeqFiles: &optimum.Seq2SeqFiles{Dir: "m", Config: optimum.Config{MaxPositions: 4}}}
	if _, err := Greedy(m, nil, nil, Options{}); err == nil {
		t.Error("empty batch accepted")
	}
	if _, err := Greedy(m, [][]int{{1, 2}, {1}}, [][]int{{1, 1}, {1}}, Options{}); err == nil {
		t.Error("ragged batch accepted")
	}
	if _, err := Greedy(m, [][]int{{1, 2, 3, 4, 5}}, [][]int{{1, 1, 1, 1, 1}}, Options{}); err == nil {
		t.Error("input longer than max_position_embeddings accepted")
	}
}
