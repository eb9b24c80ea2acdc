package main

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	const trace = `[
{"cat":"Session","name":"session_initialization","dur":900},
{"cat":"Session","name":"model_run","dur":100},
{"cat":"Node","name":"mm1_kernel_time","dur":40,"args":{"op_name":"MatMulInteger"}},
{"cat":"Node","name":"mm1_fence_before","dur":1,"args":{"op_name":"MatMulInteger"}},
{"cat":"Node","name":"sm_kernel_time","dur":10,"args":{"op_name":"Softmax"}},
{"cat":"Node","name":"mm2_kernel_time","dur":30,"args":{"op_name":"MatMulInteger"}},
{"cat":"Session","name":"model_run","dur":60},
{"cat":"Node","name":"mm1_kernel_time","dur":35,"args":{"op_name":"MatMulInteger"}}
]`
	s, err := summarize(strings.NewReader(trace), false)
	if err != nil {
		t.Fatal(err)
	}
	if s.Runs != 2 || s.RunUS != 160 {
		t.Fatalf("runs %d, %d µs; want 2, 160", s.Runs, s.RunUS)
	}
	want := []row{{"MatMulInteger", 3, 105}, {"Softmax", 1, 10}}
	if len(s.Rows) != len(want) || s.Rows[0] != want[0] || s.Rows[1] != want[1] {
		t.Fatalf("rows %+v, want %+v", s.Rows, want)
	}
	s, err = summarize(strings.NewReader(trace), true)
	if err != nil {
		t.Fatal(err)
	}
	if s.Rows[0] != (row{"mm1", 2, 75}) {
		t.Fatalf("by node: %+v", s.Rows)
	}
	if _, err := summarize(strings.NewReader(`{"not":"a list"}`), false); err == nil {
		t.Fatal("an object was taken for a profile")
	}
}
