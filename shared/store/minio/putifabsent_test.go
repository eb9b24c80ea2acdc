package minio

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

func TestPutIfAbsent(t *testing.T) {
	srv := svctest.StartMinIO(t)
	checkPutIfAbsent(t, newStore(t, srv))
}

// putIfAbsent is what the model registry's alias log relies on: the first
// create wins, a second is ECONFLICT and leaves the object as it was, and
// of many concurrent creates of one key exactly one succeeds.
func checkPutIfAbsent(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	b := lecture.BucketModels
	put := func(key, body string) error {
		return s.PutIfAbsent(ctx, b, key, strings.NewReader(body), int64(len(body)), "application/json")
	}
	if err := put("m/a.json", "first"); err != nil {
		t.Fatalf("PutIfAbsent on a new key: %v", err)
	}
	if err := put("m/a.json", "second"); lecture.ErrorCode(err) != lecture.ECONFLICT {
		t.Fatalf("PutIfAbsent on an existing key: %v, want ECONFLICT", err)
	}
	read := func(key string) string {
		rc, err := s.Get(ctx, b, key)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		got, _ := io.ReadAll(rc)
		return string(got)
	}
	if got := read("m/a.json"); got != "first" {
		t.Fatalf("object after a refused PutIfAbsent = %q, want %q", got, "first")
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = put("m/race.json", fmt.Sprintf("writer %d", i))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both created the key", winner, i)
		case err == nil:
			winner = i
		case lecture.ErrorCode(err) != lecture.ECONFLICT:
			t.Fatalf("writer %d: %v, want ECONFLICT", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer created the key")
	}
	if got, want := read("m/race.json"), fmt.Sprintf("writer %d", winner); got != want {
		t.Fatalf("object = %q, want the winner's %q", got, want)
	}
}
