package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"
)

// TestLayout checks the legacy ggml layout whisper.cpp's loader reads:
// magic, eleven int32 hyperparameters, the mel filters, the vocabulary,
// then a tensor header with its dims innermost first and f16 data.
func TestLayout(t *testing.T) {
	var buf bytes.Buffer
	w := &ggmlWriter{w: bufio.NewWriter(&buf), f16: true}
	w.header(header{Vocab: 51865, AudioCtx: 1500, AudioState: 384, AudioHeads: 6, AudioLayers: 4,
		TextCtx: 448, TextState: 384, TextHeads: 6, TextLayers: 4, Mels: 80, FType: 1})
	w.filters(2, []float64{0.5, 0.25, 1, 2})
	w.vocab([][]byte{[]byte("a"), nil})
	w.tensor("x.weight", tensor{dims: []int64{2, 3}, data: []float32{1, 2, 3, 4, 5, -2}}, false)
	w.tensor("x.bias", tensor{dims: []int64{2}, data: []float32{1, 2}}, true)
	if w.err != nil || w.w.Flush() != nil {
		t.Fatal(w.err)
	}
	var want bytes.Buffer
	put := func(v any) { binary.Write(&want, binary.LittleEndian, v) }
	put(uint32(0x67676d6c))
	put([]int32{51865, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1})
	put([]int32{2, 2})
	put([]float32{0.5, 0.25, 1, 2})
	put([]int32{2, 1})
	put([]byte("a"))
	put(int32(0))
	put([]int32{2, 8, 1, 3, 2})
	put([]byte("x.weight"))
	put([]uint16{0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0xc000})
	put([]int32{1, 6, 0, 2})
	put([]byte("x.bias"))
	put([]float32{1, 2})
	if !bytes.Equal(buf.Bytes(), want.Bytes()) {
		t.Fatalf("layout differs:\n got  %x\n want %x", buf.Bytes(), want.Bytes())
	}
	if got := buf.Bytes()[:4]; string(got) != "lmgg" { // "ggml" as a little-endian uint32
		t.Errorf("magic bytes %q", got)
	}
}

func TestToHalf(t *testing.T) {
	for _, c := range []struct {
		f float32
		h uint16
	}{{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {1e6, 0x7c00}, {5.960464477539063e-08, 0x0001},
		{6.103515625e-05, 0x0400}, {1.0009765625, 0x3c01}, {1.00048828125, 0x3c00}, {1.00146484375, 0x3c02}} {
		if got := toHalf(c.f); got != c.h {
			t.Errorf("toHalf(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
}

func TestTranspose(t *testing.T) {
	got := transpose(tensor{dims: []int64{2, 3}, data: []float32{1, 2, 3, 4, 5, 6}})
	if want := []float32{1, 4, 2, 5, 3, 6}; got.dims[0] != 3 || got.dims[1] != 2 || !equal(got.data, want) {
		t.Fatalf("transpose = %v %v", got.dims, got.data)
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
