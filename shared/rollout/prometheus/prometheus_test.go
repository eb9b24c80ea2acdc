package prometheus_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/rollout/prometheus"
)

// Answers in the shape of Prometheus's /api/v1/query, keyed by the query.
var answers = map[string]string{
	"one":    `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.25"]}]}}`,
	"empty":  `{"status":"success","data":{"resultType":"vector","result":[]}}`,
	"nan":    `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`,
	"inf":    `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}}`,
	"scalar": `{"status":"success","data":{"resultType":"scalar","result":[1,"3"]}}`,
	"two":    `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}`,
	"matrix": `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}`,
}

func TestQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		q := r.Form.Get("query")
		w.Header().Set("Content-Type", "application/json")
		if a, ok := answers[q]; ok {
			fmt.Fprint(w, a)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}`)
	}))
	defer srv.Close()
	c, err := prometheus.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		q    string
		v    float64
		ok   bool
		code string
	}{
		{"one", 0.25, true, ""}, {"empty", 0, false, ""}, {"nan", 0, false, ""}, {"scalar", 3, true, ""},
		{"two", 0, false, lecture.EINVALID}, {"matrix", 0, false, lecture.EINVALID}, {"rate(", 0, false, lecture.EINVALID},
	} {
		v, ok, err := c.Query(ctx, tc.q)
		if v != tc.v || ok != tc.ok || lecture.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v %v %v; want %v %v code %q", tc.q, v, ok, err, tc.v, tc.ok, tc.code)
		}
	}
	if v, ok, err := c.Query(ctx, "inf"); err != nil || !ok || v < 1e308 {
		t.Errorf("+Inf is a value (a p95 past the last bucket): %v %v %v", v, ok, err)
	}
	down, _ := prometheus.New("http://127.0.0.1:1")
	if _, _, err := down.Query(ctx, "one"); lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(lecture.ErrorMessage(err), "Prometheus at http://127.0.0.1:1 unreachable") {
		t.Errorf("unreachable: %v", err)
	}
	for _, bad := range []string{"", "127.0.0.1:9090", "ftp://x"} {
		if _, err := prometheus.New(bad); lecture.ErrorCode(err) != lecture.EINVALID {
			t.Errorf("New(%q): %v", bad, err)
		}
	}
}
