package progress

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestLineThrottlesAndEnds(t *testing.T) {
	var b bytes.Buffer
	l := New(&b, time.Hour, func(done, total float64, _ time.Duration, final bool) string {
		return fmt.Sprintf("%g/%g final=%v", done, total, final)
	})
	l.Update(1, 10)
	l.Update(2, 10) // within Every: not drawn
	l.Final(10, 10)
	if got, want := b.String(), "\r1/10 final=false\r10/10 final=true\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	b.Reset()
	quiet := New(&b, 0, func(float64, float64, time.Duration, bool) string { return "x" })
	quiet.End()
	if b.Len() != 0 {
		t.Errorf("End of an undrawn line wrote %q", b.String())
	}
}
