package testmodels

import (
	"math"
	"math/rand/v2"

	pb "github.com/transcept/transcept/gpu-runtime/onnxpb"
)

// Params draws a model's random parameters in a fixed order from one seed:
// every generator (BART, Whisper, Qwen2, BERT) builds its weights with it, so
// the same seed always gives byte-identical folders.
type Params struct {
	Tensors []pb.Tensor
	r       *rand.Rand
}

// NewParams starts a parameter set; stream separates generators that share a seed.
func NewParams(seed, stream uint64) *Params {
	return &Params{r: rand.New(rand.NewPCG(seed, stream))}
}

// Add appends a float32 tensor of normal(mean, std) values.
func (p *Params) Add(name string, std, mean float64, dims ...int64) {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + std*p.r.NormFloat64())
	}
	p.Tensors = append(p.Tensors, pb.Tensor{Name: name, DataType: pb.Float, Dims: dims, Float32: v})
}

// Linear appends name.weight [in, out] (std 1/√in) and name.bias [out].
func (p *Params) Linear(name string, in, out int64) {
	p.Add(name+".weight", 1/math.Sqrt(float64(in)), 0, in, out)
	p.Add(name+".bias", 0.1, 0, out)
}

// LayerNorm appends name.weight (around 1) and name.bias of width d.
func (p *Params) LayerNorm(name string, d int64) {
	p.Add(name+".weight", 0.1, 1, d)
	p.Add(name+".bias", 0.1, 0, d)
}

// Last is the most recently added tensor.
func (p *Params) Last() *pb.Tensor { return &p.Tensors[len(p.Tensors)-1] }

// Layer appends one BART/Whisper-style transformer layer under prefix: for
// each attention block its q/k/v/out projections and layer norm, then fc1,
// fc2 and the final layer norm (Hugging Face's names, in this order).
func (p *Params) Layer(prefix string, attns []string, d, f int64) {
	for _, a := range attns {
		for _, proj := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			p.Linear(prefix+a+"."+proj, d, d)
		}
		p.LayerNorm(prefix+a+"_layer_norm", d)
	}
	p.Linear(prefix+"fc1", d, f)
	p.Linear(prefix+"fc2", f, d)
	p.LayerNorm(prefix+"final_layer_norm", d)
}
