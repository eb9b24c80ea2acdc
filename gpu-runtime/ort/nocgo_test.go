//go:build !cgo

package ort

import (
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

func TestWithoutCgoEverythingSaysWhy(t *testing.T) {
	_, err := Init()
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("Init: %v", err)
	}
	if _, err := NewSession("m.onnx", Options{}); lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Errorf("NewSession: %v", err)
	}
	if _, err := NewTensor([]int64{1}, []float32{1}); lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Errorf("NewTensor: %v", err)
	}
	if _, err := LoadAdapter("a.onnx_adapter"); lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Errorf("LoadAdapter: %v", err)
	}
}
