// Command whisper-ggml converts a Whisper model folder in Optimum's layout
// (the project's random-weight folders, tests/testkit/cmd/write-whisper)
// into whisper.cpp's legacy ggml model file, for the side-by-side benchmark
// tests/whisper-cpp-bench.sh: the same weights on both sides.
//
//	go run ./tests/testkit/cmd/whisper-ggml -i DIR -o model-f16.bin [-f32]
//
// The weights are read from the fp32 ONNX files' initializers
// (onnx/encoder_model.onnx, onnx/decoder_model_merged.onnx, Hugging Face's
// names, linear weights as [in, out]) and written as whisper.cpp's
// models/convert-pt-to-ggml.py writes openai-whisper's checkpoint: magic
// "ggml", eleven int32 hyperparameters (n_vocab, n_audio_ctx,
// n_audio_state, n_audio_head, n_audio_layer, n_text_ctx, n_text_state,
// n_text_head, n_text_layer, n_mels, ftype), the mel filterbank (n_mel,
// n_fft, float32 rows: gpu-runtime/whisper's MelFilterBank, what our
// features use), the vocabulary (count, then length + bytes), then each
// tensor (n_dims, name length, type 0 f32 / 1 f16, dims innermost first,
// name, data) under openai-whisper's names; 2-D weights are f16 unless
// -f32, vectors, conv biases and positional embeddings f32, as the
// converter does. q8_0 files come from whisper.cpp's own whisper-quantize.
//
// What the ggml format cannot carry: the random folders' logits_bias (a
// constant added to <|endoftext|> and the timestamps' logits so that random
// models end) is dropped, and whisper.cpp takes the special tokens' ids
// from the vocabulary size (OpenAI's layout for 51865 tokens), not from the
// folder's tokenizer; so the token ids each engine generates are not
// comparable, only the work per encoder window and per decoded token.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
	"github.com/transcept/transcept/gpu-runtime/whisper"
)

func main() {
	in := flag.String("i", "", "Whisper model folder (config.json, tokenizer.json, onnx/)")
	out := flag.String("o", "", "ggml model file to write")
	f32 := flag.Bool("f32", false, "write the 2-D weights as float32 (default float16)")
	flag.Parse()
	if *in == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := convert(*in, *out, !*f32); err != nil {
		fmt.Fprintln(os.Stderr, "whisper-ggml:", err)
		os.Exit(1)
	}
}

type config struct {
	DModel        int `json:"d_model"`
	EncoderLayers int `json:"encoder_layers"`
	DecoderLayers int `json:"decoder_layers"`
	EncoderHeads  int `json:"encoder_attention_heads"`
	DecoderHeads  int `json:"decoder_attention_heads"`
	NMels         int `json:"num_mel_bins"`
	VocabSize     int `json:"vocab_size"`
	MaxSource     int `json:"max_source_positions"`
	MaxTarget     int `json:"max_target_positions"`
	EOS           int `json:"eos_token_id"`
}

// tensor is one float32 initializer.
type tensor struct {
	dims []int64
	data []float32
}

func convert(dir, out string, f16 bool) error {
	var c config
	if err := readJSON(filepath.Join(dir, "config.json"), &c); err != nil {
		return err
	}
	ws := map[string]tensor{}
	for _, f := range []string{"encoder_model.onnx", "decoder_model_merged.onnx"} {
		if err := initializers(filepath.Join(dir, "onnx", f), ws); err != nil {
			return err
		}
	}
	vocab, err := vocabulary(filepath.Join(dir, "tokenizer.json"), c.EOS)
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	fh, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	w := &ggmlWriter{w: bufio.NewWriterSize(fh, 1<<20), f16: f16}
	ftype := int32(0)
	if f16 {
		ftype = 1
	}
	w.header(header{Vocab: c.VocabSize, AudioCtx: c.MaxSource, AudioState: c.DModel, AudioHeads: c.EncoderHeads,
		AudioLayers: c.EncoderLayers, TextCtx: c.MaxTarget, TextState: c.DModel, TextHeads: c.DecoderHeads,
		TextLayers: c.DecoderLayers, Mels: c.NMels, FType: ftype})
	w.filters(c.NMels, whisper.MelFilterBank(c.NMels))
	w.vocab(vocab)
	n := 0
	for _, m := range mapping(c) {
		t, ok := ws[m.hf]
		if !ok {
			return fmt.Errorf("no initializer %s in %s/onnx", m.hf, dir)
		}
		if m.transpose {
			t = transpose(t)
		}
		if m.col { // conv bias [n] → [n, 1], as the converter reshapes it
			t.dims = []int64{t.dims[0], 1}
		}
		w.tensor(m.ggml, t, m.f32)
		n++
	}
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "whisper-ggml: %s: %d tensors, %d vocabulary entries, %s\n", out, n, len(vocab), map[bool]string{true: "f16", false: "f32"}[f16])
	return nil
}

// name is one tensor's ggml name and its Hugging Face source.
type name struct {
	ggml, hf  string
	transpose bool // a linear weight: [in, out] in ONNX, [out, in] in openai-whisper
	f32       bool // kept in float32 in an f16 file
	col       bool // a conv bias, written as [n, 1]
}

// mapping lists the tensors whisper.cpp's loader expects, in
// convert-pt-to-ggml.py's order (openai-whisper's state dict).
func mapping(c config) []name {
	var ns []name
	add := func(g, h string, tr, f32, col bool) { ns = append(ns, name{g, h, tr, f32, col}) }
	lin := func(g, h string, bias bool) {
		add(g+".weight", h+".weight", true, false, false)
		if bias {
			add(g+".bias", h+".bias", false, true, false)
		}
	}
	ln := func(g, h string) {
		add(g+".weight", h+".weight", false, true, false)
		add(g+".bias", h+".bias", false, true, false)
	}
	attn := func(g, h string) {
		lin(g+".query", h+".q_proj", true)
		lin(g+".key", h+".k_proj", false)
		lin(g+".value", h+".v_proj", true)
		lin(g+".out", h+".out_proj", true)
	}
	add("encoder.positional_embedding", "model.encoder.embed_positions.weight", false, true, false)
	add("encoder.conv1.weight", "model.encoder.conv1.weight", false, false, false)
	add("encoder.conv1.bias", "model.encoder.conv1.bias", false, true, true)
	add("encoder.conv2.weight", "model.encoder.conv2.weight", false, false, false)
	add("encoder.conv2.bias", "model.encoder.conv2.bias", false, true, true)
	for i := range c.EncoderLayers {
		g, h := fmt.Sprintf("encoder.blocks.%d", i), fmt.Sprintf("model.encoder.layers.%d", i)
		attn(g+".attn", h+".self_attn")
		ln(g+".attn_ln", h+".self_attn_layer_norm")
		lin(g+".mlp.0", h+".fc1", true)
		lin(g+".mlp.2", h+".fc2", true)
		ln(g+".mlp_ln", h+".final_layer_norm")
	}
	ln("encoder.ln_post", "model.encoder.layer_norm")
	add("decoder.positional_embedding", "model.decoder.embed_positions.weight", false, true, false)
	add("decoder.token_embedding.weight", "model.decoder.embed_tokens.weight", false, false, false)
	for i := range c.DecoderLayers {
		g, h := fmt.Sprintf("decoder.blocks.%d", i), fmt.Sprintf("model.decoder.layers.%d", i)
		attn(g+".attn", h+".self_attn")
		ln(g+".attn_ln", h+".self_attn_layer_norm")
		attn(g+".cross_attn", h+".encoder_attn")
		ln(g+".cross_attn_ln", h+".encoder_attn_layer_norm")
		lin(g+".mlp.0", h+".fc1", true)
		lin(g+".mlp.2", h+".fc2", true)
		ln(g+".mlp_ln", h+".final_layer_norm")
	}
	ln("decoder.ln", "model.decoder.layer_norm")
	return ns
}

func transpose(t tensor) tensor {
	r, c := int(t.dims[0]), int(t.dims[1])
	d := make([]float32, len(t.data))
	for i := range r {
		for j := range c {
			d[j*r+i] = t.data[i*c+j]
		}
	}
	return tensor{dims: []int64{int64(c), int64(r)}, data: d}
}

// header is the eleven int32 hyperparameters after the magic.
type header struct {
	Vocab, AudioCtx, AudioState, AudioHeads, AudioLayers int
	TextCtx, TextState, TextHeads, TextLayers, Mels      int
	FType                                                int32
}

const ggmlMagic = 0x67676d6c // "ggml"

// ggmlWriter writes the legacy ggml layout; the first error sticks.
type ggmlWriter struct {
	w   *bufio.Writer
	f16 bool
	err error
}

func (g *ggmlWriter) put(v any) {
	if g.err == nil {
		g.err = binary.Write(g.w, binary.LittleEndian, v)
	}
}

func (g *ggmlWriter) header(h header) {
	g.put(uint32(ggmlMagic))
	for _, v := range []int{h.Vocab, h.AudioCtx, h.AudioState, h.AudioHeads, h.AudioLayers,
		h.TextCtx, h.TextState, h.TextHeads, h.TextLayers, h.Mels} {
		g.put(int32(v))
	}
	g.put(h.FType)
}

// filters writes nMels rows of NFFT/2+1 float32 weights.
func (g *ggmlWriter) filters(nMels int, fb []float64) {
	nFFT := len(fb) / nMels
	g.put(int32(nMels))
	g.put(int32(nFFT))
	f := make([]float32, len(fb))
	for i, v := range fb {
		f[i] = float32(v)
	}
	g.put(f)
}

func (g *ggmlWriter) vocab(words [][]byte) {
	g.put(int32(len(words)))
	for _, w := range words {
		g.put(uint32(len(w)))
		g.put(w)
	}
}

// tensor writes one tensor's header and data; dims are given outermost
// first (numpy's order) and written innermost first (ggml's ne).
func (g *ggmlWriter) tensor(name string, t tensor, keepF32 bool) {
	half := g.f16 && !keepF32 && len(t.dims) >= 2
	g.put(int32(len(t.dims)))
	g.put(int32(len(name)))
	g.put(int32(map[bool]int{true: 1, false: 0}[half]))
	for i := len(t.dims) - 1; i >= 0; i-- {
		g.put(int32(t.dims[i]))
	}
	g.put([]byte(name))
	if half {
		h := make([]uint16, len(t.data))
		for i, v := range t.data {
			h[i] = toHalf(v)
		}
		g.put(h)
	} else {
		g.put(t.data)
	}
}

// toHalf rounds a float32 to IEEE 754 binary16, to nearest even (as
// numpy's astype(float16)).
func toHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b >> 23) & 0xff)
	man := b & 0x7fffff
	switch {
	case exp == 0xff: // inf, nan
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127 > 15: // overflow
		return sign | 0x7c00
	case exp-127 >= -14: // normal
		e := uint32(exp-127+15) << 10
		m := man >> 13
		v := e | m
		rest := man & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && v&1 == 1) {
			v++ // may carry into the exponent, which is right
		}
		return sign | uint16(v)
	case exp-127 >= -25: // subnormal
		man |= 0x800000
		shift := uint(-14-(exp-127)) + 13
		v := man >> shift
		rest := man & (1<<shift - 1)
		halfway := uint32(1) << (shift - 1)
		if rest > halfway || (rest == halfway && v&1 == 1) {
			v++
		}
		return sign | uint16(v)
	}
	return sign
}

// initializers adds the float32 initializers of an ONNX file's main graph
// (raw_data or float_data; external data is not supported) to ws.
func initializers(path string, ws map[string]tensor) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	model, err := pb.Fields(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, f := range model {
		if !f.Bytes(7) { // ModelProto.graph
			continue
		}
		graph, err := pb.Fields(f.Payload)
		if err != nil {
			return fmt.Errorf("%s: graph: %w", path, err)
		}
		for _, g := range graph {
			if !g.Bytes(5) { // GraphProto.initializer
				continue
			}
			name, t, err := floatTensor(g.Payload)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", path, name, err)
			}
			if t != nil {
				ws[name] = *t
			}
		}
	}
	return nil
}

// floatTensor decodes a TensorProto; nil for other data types.
func floatTensor(msg []byte) (string, *tensor, error) {
	fs, err := pb.Fields(msg)
	if err != nil {
		return "", nil, err
	}
	var (
		name     string
		dtype    uint64
		dims     []int64
		raw      []byte
		floats   []float32
		external bool
	)
	for _, f := range fs {
		switch f.Num {
		case 1: // dims: packed or not
			if f.Wire == 2 {
				for p := f.Payload; len(p) > 0; {
					v, n := binary.Uvarint(p)
					if n <= 0 {
						return name, nil, errors.New("bad dims")
					}
					dims = append(dims, int64(v))
					p = p[n:]
				}
			} else {
				dims = append(dims, int64(f.Varint()))
			}
		case 2:
			dtype = f.Varint()
		case 4: // float_data, packed
			if f.Wire == 2 {
				for p := f.Payload; len(p) >= 4; p = p[4:] {
					floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(p)))
				}
			}
		case 8:
			name = string(f.Payload)
		case 9:
			raw = f.Payload
		case 14:
			external = f.Varint() == 1
		}
	}
	if dtype != uint64(pb.Float) {
		return name, nil, nil
	}
	if external {
		return name, nil, errors.New("external data is not supported")
	}
	if raw != nil {
		floats = make([]float32, len(raw)/4)
		for i := range floats {
			floats[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	}
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	if int64(len(floats)) != n {
		return name, nil, fmt.Errorf("%d values for dims %v", len(floats), dims)
	}
	return name, &tensor{dims: dims, data: floats}, nil
}

// vocabulary returns the text tokens (ids below eot) of tokenizer.json's
// byte-level BPE, decoded to bytes; whisper.cpp names the rest itself.
func vocabulary(path string, eot int) ([][]byte, error) {
	var tok struct {
		Model struct {
			Vocab map[string]int `json:"vocab"`
		} `json:"model"`
	}
	if err := readJSON(path, &tok); err != nil {
		return nil, err
	}
	dec := byteDecoder()
	words := make([][]byte, eot)
	type kv struct {
		s  string
		id int
	}
	var all []kv
	for s, id := range tok.Model.Vocab {
		all = append(all, kv{s, id})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	for _, e := range all {
		if e.id < 0 || e.id >= eot {
			continue
		}
		var b []byte
		for _, r := range e.s {
			if c, ok := dec[r]; ok {
				b = append(b, c)
			} else {
				b = append(b, string(r)...)
			}
		}
		words[e.id] = b
	}
	return words, nil
}

// byteDecoder inverts GPT-2's bytes_to_unicode.
func byteDecoder() map[rune]byte {
	m := map[rune]byte{}
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff) {
			m[rune(b)] = byte(b)
		} else {
			m[rune(256+n)] = byte(b)
			n++
		}
	}
	return m
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
