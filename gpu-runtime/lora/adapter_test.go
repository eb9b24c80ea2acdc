package lora

import (
	"reflect"
	"testing"

	"github.com/transcept/transcept/gpu-runtime/onnxpb"
)

func TestMarshalRoundTrip(t *testing.T) {
	a := &Adapter{AdapterVersion: 3, ModelVersion: 7, Params: []Param{
		Float32("layer.0.lora_A", []int64{8, 4}, make([]float32, 32)),
		Float32("b", []int64{4, 6}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}),
		{Name: "ints", Dims: []int64{3}, DataType: onnxpb.Int64, Raw: make([]byte, 24)},
	}}
	b, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, back) {
		t.Errorf("round trip:\n%+v\n%+v", a, back)
	}
	for i := 0; i < len(b); i++ { // no truncation or corruption panics
		Unmarshal(b[:i])
	}
	if _, err := (&Adapter{Params: []Param{{Name: "x", Dims: []int64{2}, DataType: onnxpb.Float, Raw: []byte{1}}}}).Marshal(); err == nil {
		t.Error("data of the wrong size accepted")
	}
}
