package minio

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/storetest"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

func newStore(t *testing.T, srv *svctest.MinIOServer) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := New(ctx, Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := svctest.StartMinIO(t)
	s := newStore(t, srv)
	storetest.Run(t, s)

	// No multipart upload was left behind by the failed puts.
	for _, b := range lecture.Buckets {
		for u := range s.Client().ListIncompleteUploads(context.Background(), b, "", true) {
			if u.Err != nil {
				t.Fatalf("ListIncompleteUploads(%s): %v", b, u.Err)
			}
			t.Errorf("incomplete upload left in %s: %s", b, u.Key)
		}
	}
}

func TestEnsureBuckets(t *testing.T) {
	srv := svctest.StartMinIO(t)
	s := newStore(t, srv)
	ctx := context.Background()
	buckets, err := s.Client().ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range buckets {
		names = append(names, b.Name)
	}
	if strings.Join(names, ",") != "eval,models,preprocessed,raw-inputs" {
		t.Errorf("buckets = %v, want eval, models, preprocessed, raw-inputs", names)
	}
	// A second New on existing buckets is fine, and so is a removed one.
	if err := s.Client().RemoveBucket(ctx, lecture.BucketModels); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, srv)
	if ok, err := s2.Client().BucketExists(ctx, lecture.BucketModels); !ok || err != nil {
		t.Errorf("bucket models after second New: %v, %v", ok, err)
	}
	if s2.Endpoint() != srv.Endpoint {
		t.Errorf("Endpoint() = %q, want %q", s2.Endpoint(), srv.Endpoint)
	}
	// An http:// endpoint is accepted.
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := New(c, Config{Endpoint: srv.URL(), AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}); err != nil {
		t.Errorf("New with %s: %v", srv.URL(), err)
	}
}

func TestMissingBucketIsNotFound(t *testing.T) {
	srv := svctest.StartMinIO(t)
	s := newStore(t, srv)
	ctx := context.Background()
	if err := s.Client().RemoveBucket(ctx, lecture.BucketModels); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, lecture.BucketModels, "m/x")
	if lecture.ErrorCode(err) != lecture.ENOTFOUND {
		t.Errorf("Get in a missing bucket = %v, want ENOTFOUND", err)
	}
	_, err = s.Stat(ctx, lecture.BucketModels, "m/x")
	if lecture.ErrorCode(err) != lecture.ENOTFOUND {
		t.Errorf("Stat in a missing bucket = %v, want ENOTFOUND", err)
	}
	_, err = s.List(ctx, lecture.BucketModels, "")
	if lecture.ErrorCode(err) != lecture.ENOTFOUND {
		t.Errorf("List of a missing bucket = %v, want ENOTFOUND", err)
	}
}

func TestForeignKeysHiddenFromList(t *testing.T) {
	srv := svctest.StartMinIO(t)
	s := newStore(t, srv)
	ctx := context.Background()
	// Put by another tool, past the key convention.
	for _, k := range []string{"L1/a/b", "L1/.hidden", "toplevel"} {
		if _, err := s.Client().PutObject(ctx, lecture.BucketRaw, k, strings.NewReader("x"), 1, miniogo.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, lecture.BucketRaw, "L1/ok", strings.NewReader("x"), 1, ""); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, lecture.BucketRaw, "")
	if err != nil || len(list) != 1 || list[0].Key != "L1/ok" {
		t.Errorf("List = %+v, %v; want only L1/ok", list, err)
	}
}

func TestMaxObjectSize(t *testing.T) {
	srv := svctest.StartMinIO(t)
	s := newStore(t, srv)
	s.MaxObjectSize = 1000
	ctx := context.Background()
	for _, size := range []int64{1001, -1} {
		err := s.Put(ctx, lecture.BucketRaw, "L2/big", bytes.NewReader(make([]byte, 1001)), size, "")
		if lecture.ErrorCode(err) != lecture.ETOOLARGE {
			t.Errorf("Put of 1001 bytes (size %d) with limit 1000 = %v, want ETOOLARGE", size, err)
		}
		if _, err := s.Stat(ctx, lecture.BucketRaw, "L2/big"); lecture.ErrorCode(err) != lecture.ENOTFOUND {
			t.Errorf("after refused put Stat = %v, want ENOTFOUND", err)
		}
	}
}

func TestUnavailable(t *testing.T) {
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := l.Addr().String()
	l.Close()
	const secret = "very-secret-key-123"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err = New(ctx, Config{Endpoint: endpoint, AccessKey: "k", SecretKey: secret})
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Fatalf("New on a dead endpoint = %v, want EUNAVAILABLE", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("New on a dead endpoint took %v", d)
	}
	if !strings.Contains(err.Error(), endpoint) || strings.Contains(err.Error(), secret) {
		t.Errorf("error %q: want the endpoint named and the secret not", err)
	}

	// A server that goes away after New.
	srv := svctest.StartMinIO(t)
	s := newStore(t, srv)
	if err := s.Put(ctx, lecture.BucketRaw, "L1/x", strings.NewReader("x"), 1, ""); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	_, err = s.Get(ctx, lecture.BucketRaw, "L1/x")
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(err.Error(), srv.Endpoint) {
		t.Errorf("Get on a stopped server = %v, want EUNAVAILABLE naming %s", err, srv.Endpoint)
	}
	err = s.Put(ctx, lecture.BucketRaw, "L1/y", strings.NewReader("y"), 1, "")
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
		t.Errorf("Put on a stopped server = %v, want EUNAVAILABLE", err)
	}
	// Data survives a restart.
	srv.Restart()
	rc, err := s.Get(ctx, lecture.BucketRaw, "L1/x")
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	rc.Close()
}

func TestWrongCredentials(t *testing.T) {
	srv := svctest.StartMinIO(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := New(ctx, Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: "wrong-secret-456"})
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE || strings.Contains(err.Error(), "wrong-secret-456") {
		t.Errorf("New with a wrong secret = %v, want EUNAVAILABLE without the secret", err)
	}
}
