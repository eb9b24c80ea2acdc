// Package orttest holds what tests of the model packages share: loading
// ONNX Runtime or skipping (failing under TRANSCEPT_REQUIRE_SERVICES=1) with
// the reason.
package orttest

import (
	"testing"

	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// Need loads ONNX Runtime, or skips t saying why and how to install it
// (`make ort`); with TRANSCEPT_REQUIRE_SERVICES=1 it fails t instead.
func Need(t testing.TB) ort.Runtime {
	t.Helper()
	rt, err := ort.Init()
	if err != nil {
		svctest.Missing(t, "%v", err)
	}
	return rt
}
