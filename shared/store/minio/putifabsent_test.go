package minio

import (
	"testing"

	"github.com/transcept/transcept/tests/testkit/storetest"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

func TestPutIfAbsent(t *testing.T) {
	srv := svctest.StartMinIO(t)
	storetest.PutIfAbsent(t, newStore(t, srv))
}
