package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"knative.dev/serving/pkg/client/clientset/versioned/fake"

	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/rollout"
	"github.com/transcept/transcept/shared/rollout/knative"
)

// fakePrometheus answers instant queries like Prometheus's HTTP API: the
// challenger's error ratio is challengerErrors, every other value small.
func fakePrometheus(t *testing.T, challengerErrors *atomic.Value) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		q := r.Form.Get("query")
		v := "0.004"
		if strings.Contains(q, `outcome="error"`) {
			v = "0"
			if strings.Contains(q, `-r1"`) || strings.Contains(q, `-r4"`) {
				v = challengerErrors.Load().(string)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"%s"]}]}}`, time.Now().Unix(), v)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestRolloutCommands(t *testing.T) {
	cli := inStore(t)
	svc := &servingv1.Service{ObjectMeta: metav1.ObjectMeta{Name: "transcept-summarize", Namespace: "transcept"},
		Spec: servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			Spec: servingv1.RevisionSpec{PodSpec: corev1.PodSpec{Containers: []corev1.Container{{Image: "transcept"}}}}}}}}
	svc.Status.LatestReadyRevisionName = "transcept-summarize-00001"
	client := fake.NewSimpleClientset(svc)
	prev := rolloutPlatform
	rolloutPlatform = func(c *config.Config) (rollout.Platform, error) { return knative.New(client, c.Rollout.Namespace), nil }
	t.Cleanup(func() { rolloutPlatform = prev })
	var errs atomic.Value
	errs.Store("0.4")
	prom := fakePrometheus(t, &errs)
	t.Setenv("TRANSCEPT_PROMETHEUS_URL", prom.URL)

	_, v1, _ := cli("models", "push", modelFolder(t, "one"), "--name", "tiny")
	_, v2, _ := cli("models", "push", modelFolder(t, "two"), "--name", "tiny")
	v1, v2 = strings.TrimSpace(v1), strings.TrimSpace(v2)
	cli("models", "alias", "tiny@champion", v1)
	cli("models", "alias", "tiny@challenger", v2)

	// Bad input.
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"rollout", "start", "--function", "gateway", "--model", "tiny@challenger"}, exitInvalid, "unknown function"},
		{[]string{"rollout", "start", "--function", "summarize", "--model", "tiny@staging"}, exitNotFound, "no alias staging"},
		{[]string{"rollout", "start", "--function", "summarize", "--model", "tiny@challenger", "--percent", "100"}, exitUsage, "1 to 99"},
		{[]string{"rollout", "start", "--function", "summarize", "--model", "tiny@challenger", "--percent", "0"}, exitUsage, "1 to 99"},
		{[]string{"rollout", "promote", "--function", "summarize"}, exitNotFound, "no rollout of summarize in progress"},
		{[]string{"rollout", "analyze", "--function", "summarize"}, exitNotFound, "no rollout of summarize in progress"},
		{[]string{"rollout", "start", "--model", "tiny@challenger"}, exitUsage, "--function is required"},
	} {
		code, _, stderr := cli(c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, stderr, c.code, c.msg)
		}
	}

	code, out, stderr := cli("rollout", "start", "--function", "summarize", "--model", "tiny@challenger", "--percent", "10", "--by", "ana")
	rev := "transcept-summarize-" + v2 + "-r1"
	if code != 0 || !strings.Contains(out, rev+" gets 10%") || !strings.Contains(out, "kn service update transcept-summarize --namespace transcept --revision-name "+rev) {
		t.Fatalf("start: %d\n%s%s", code, out, stderr)
	}
	// Prometheus unreachable: a clear error, nothing recorded.
	code, _, stderr = cli("rollout", "analyze", "--function", "summarize", "--prometheus", "http://127.0.0.1:1", "--interval", "1ms", "--count", "2")
	if code == 0 || !strings.Contains(stderr, "Prometheus at http://127.0.0.1:1 unreachable") {
		t.Errorf("analyze with Prometheus down: %d %s", code, stderr)
	}
	// A failing challenger: aborted with --auto, exit non-zero.
	code, out, stderr = cli("rollout", "analyze", "--function", "summarize", "--auto", "--interval", "1ms", "--count", "3", "--window", "10s")
	if code != exitFailure || !strings.Contains(out, "verdict: abort") || !strings.Contains(out, "aborted: champion transcept-summarize-00001 has 100%") ||
		!strings.Contains(stderr, "the challenger failed the analysis: error-ratio failed") {
		t.Errorf("analyze --auto of a failing challenger: %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "error-ratio") || !strings.Contains(out, "0.4 ") || !strings.Contains(out, "latency-p95") {
		t.Errorf("no table of the metrics:\n%s", out)
	}
	// A good one: promoted, alias moved.
	errs.Store("0")
	cli("rollout", "start", "--function", "summarize", "--model", "tiny@challenger", "--percent", "20")
	code, out, stderr = cli("rollout", "analyze", "--function", "summarize", "--auto", "--interval", "1ms", "--count", "3", "--window", "10s")
	if code != 0 || !strings.Contains(out, "verdict: promote") || !strings.Contains(out, "promoted: transcept-summarize-"+v2+"-r4") {
		t.Fatalf("analyze --auto of a good challenger: %d\n%s%s", code, out, stderr)
	}
	_, hist, _ := cli("models", "history", "tiny")
	lines := strings.Split(strings.TrimSpace(hist), "\n")
	if last := lines[len(lines)-1]; len(lines) != 3 || !strings.Contains(last, "\tchampion\t"+v1+"\t"+v2+"\t") || !strings.Contains(last, "canary rollout #4 of summarize promoted") || !strings.Contains(last, ".report.") {
		t.Errorf("alias history:\n%s", hist)
	}
	t.Logf("analyze:\n%s%s", out, stderr)
	code, out, _ = cli("rollout", "status", "--function", "summarize")
	t.Logf("status:\n%s", out)
	for _, want := range []string{"rollout #4 of summarize: promoted", "challenger  transcept-summarize-" + v2 + "-r4  100%", "start", "analysis", "abort", "promote"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}
