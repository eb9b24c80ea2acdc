package infra_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/transcept/transcept/shared/config"
)

const (
	// metricsPort is where every function serves /metrics
	// (TRANSCEPT_METRICS_ADDR), apart from the route's port 8080.
	metricsPort = 9095
	// visibilityLabel keeps a Knative Service off the public ingress.
	visibilityLabel = "networking.knative.dev/visibility"
	// oidcSecret holds the optional OpenID Connect settings of the gateway.
	oidcSecret = "transcept-oidc"
)

// envOf indexes a Service's container environment by name.
func envOf(c corev1.Container) map[string]corev1.EnvVar {
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	return env
}

func secretRef(e corev1.EnvVar) *corev1.SecretKeySelector {
	if e.ValueFrom == nil {
		return nil
	}
	return e.ValueFrom.SecretKeyRef
}

// TestVisibility: the gateway is the one public Service; every stage is
// cluster-local (reached by the Broker, MinIO's webhook and the gateway only).
func TestVisibility(t *testing.T) {
	m := load(t)
	if _, ok := m.Services[gatewayName]; !ok {
		t.Fatalf("no Service %s", gatewayName)
	}
	for name, s := range m.Services {
		label, hasLabel := s.Labels[visibilityLabel]
		_, hasAnn := s.Annotations[visibilityLabel]
		if name == gatewayName {
			if hasLabel || hasAnn {
				t.Errorf("%s carries %s: the gateway must stay public", name, visibilityLabel)
			}
			continue
		}
		if label != "cluster-local" {
			t.Errorf("%s: label %s=%q, want cluster-local (only the gateway is public)", name, visibilityLabel, label)
		}
	}
	// The stages that take events are Trigger subscribers, never the public gateway's paths.
	for name, tr := range m.Triggers {
		ref := tr.Spec.Subscriber.Ref
		if ref == nil || ref.Name == gatewayName {
			continue
		}
		if m.Services[ref.Name] != nil && m.Services[ref.Name].Labels[visibilityLabel] != "cluster-local" {
			t.Errorf("Trigger %s delivers to %s, which is public", name, ref.Name)
		}
	}
}

// TestGatewayAuth: sign-in always on, no CORS origin by default, OIDC only
// from the optional Secret.
func TestGatewayAuth(t *testing.T) {
	m := load(t)
	s, ok := m.Services[gatewayName]
	if !ok {
		t.Fatalf("no Service %s", gatewayName)
	}
	env := envOf(s.Spec.Template.Spec.Containers[0])
	if e, ok := env["TRANSCEPT_AUTH"]; !ok || e.ValueFrom != nil || e.Value != "on" {
		t.Errorf("gateway TRANSCEPT_AUTH = %+v, want the literal \"on\"", e)
	}
	if e, ok := env["TRANSCEPT_CORS_ORIGINS"]; ok && (e.ValueFrom != nil || e.Value != "") {
		t.Errorf("gateway TRANSCEPT_CORS_ORIGINS = %+v: the default allowlist is empty", e)
	}
	var oidc []string
	for _, st := range config.Settings {
		if strings.HasPrefix(st.Name, "TRANSCEPT_OIDC_") {
			oidc = append(oidc, st.Name)
		}
	}
	if len(oidc) == 0 {
		t.Fatal("shared/config has no TRANSCEPT_OIDC_* settings")
	}
	for _, name := range oidc {
		ref := secretRef(env[name])
		if ref == nil || ref.Name != oidcSecret || ref.Key != name || ref.Optional == nil || !*ref.Optional {
			t.Errorf("gateway %s must come from Secret %s key %s, optional", name, oidcSecret, name)
		}
	}
	// Nothing else turns sign-in off or opens CORS.
	for name, svc := range m.Services {
		e := envOf(svc.Spec.Template.Spec.Containers[0])
		if a, ok := e["TRANSCEPT_AUTH"]; ok && a.Value != "on" {
			t.Errorf("%s sets TRANSCEPT_AUTH=%q", name, a.Value)
		}
		if name != gatewayName {
			if _, ok := e["TRANSCEPT_CORS_ORIGINS"]; ok {
				t.Errorf("%s sets TRANSCEPT_CORS_ORIGINS; only the gateway answers browsers", name)
			}
		}
	}
}

// TestDatabaseURL: every function (they all write lecture status or accounts)
// reads TRANSCEPT_DATABASE_URL from the transcept-config Secret, the one the
// terraform bootstrap fills with the PostgreSQL address and password.
func TestDatabaseURL(t *testing.T) {
	m := load(t)
	for name, s := range m.Services {
		c := s.Spec.Template.Spec.Containers[0]
		e, ok := envOf(c)["TRANSCEPT_DATABASE_URL"]
		if !ok {
			t.Errorf("%s: no TRANSCEPT_DATABASE_URL", name)
			continue
		}
		ref := secretRef(e)
		if e.Value != "" || ref == nil || ref.Name != "transcept-config" || ref.Key != "TRANSCEPT_DATABASE_URL" {
			t.Errorf("%s: TRANSCEPT_DATABASE_URL must come from Secret transcept-config key TRANSCEPT_DATABASE_URL, got %+v", name, e)
		}
		if ref != nil && ref.Optional != nil && *ref.Optional {
			t.Errorf("%s: TRANSCEPT_DATABASE_URL is optional: without it the function would fall back to a SQLite file in the pod", name)
		}
		// The function also reaches the store: the URL goes where MinIO's settings go.
		if _, ok := envOf(c)["MINIO_ENDPOINT"]; !ok {
			t.Errorf("%s reads the database but not the object store", name)
		}
	}
}

// dsnWithPassword matches a URL with credentials (scheme://user:pass@host).
var dsnWithPassword = regexp.MustCompile(`^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]+@`)

// TestSecretsNeverLiteral: every setting shared/config marks secret comes
// from a Secret when a Service sets it, no env value carries a password in a
// URL, and every variable a Service sets is a setting shared/config knows.
func TestSecretsNeverLiteral(t *testing.T) {
	m := load(t)
	known := map[string]config.Setting{}
	for _, st := range config.Settings {
		known[st.Name] = st
	}
	for name, s := range m.Services {
		for _, e := range s.Spec.Template.Spec.Containers[0].Env {
			st, ok := known[e.Name]
			if !ok {
				t.Errorf("%s: env %s is not a setting in shared/config", name, e.Name)
			}
			if e.ValueFrom == nil && (st.Secret || strings.Contains(e.Name, "SECRET") || strings.Contains(e.Name, "PASSWORD")) {
				t.Errorf("%s: secret setting %s has a literal value; take it from a Secret", name, e.Name)
			}
			if dsnWithPassword.MatchString(e.Value) {
				t.Errorf("%s: env %s holds a URL with a password", name, e.Name)
			}
		}
	}
}

// TestMetricsPort: every function serves /metrics on metricsPort, a port that
// is neither the route's container port nor one of the ports queue-proxy
// listens on in the same pod (Knative rejects those as reserved).
func TestMetricsPort(t *testing.T) {
	m := load(t)
	features, defaults := ourConfig(t)
	ctx := servingContext(t, features, defaults)
	want := ":" + strconv.Itoa(metricsPort)
	for name, s := range m.Services {
		c := s.Spec.Template.Spec.Containers[0]
		e := envOf(c)["TRANSCEPT_METRICS_ADDR"]
		if e.ValueFrom != nil || e.Value != want {
			t.Errorf("%s: TRANSCEPT_METRICS_ADDR %q, want %q", name, e.Value, want)
		}
		for _, p := range c.Ports {
			if p.ContainerPort == metricsPort {
				t.Errorf("%s: the route's port is the metrics port", name)
			}
		}
		// Knative's reserved ports are queue-proxy's (8012, 8013, 8022, 9090,
		// 9091, ...): declaring the metrics port must validate.
		probe := s.DeepCopy()
		probe.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http1", ContainerPort: metricsPort}}
		if err := validateService(ctx, probe); err != nil {
			t.Errorf("%s: port %d clashes with Knative: %v", name, metricsPort, err)
		}
	}
	// The check has teeth: 9090 is queue-proxy's.
	for _, s := range m.Services {
		probe := s.DeepCopy()
		probe.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http1", ContainerPort: 9090}}
		if err := validateService(ctx, probe); err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("Knative accepted port 9090 (%v); the reserved-port check above proves nothing", err)
		}
		break
	}
}

// relabel applies prometheus-operator relabelings (replace, the default
// action) to a target's labels, as Prometheus does before a scrape.
func relabel(t *testing.T, rules []relabeling, labels map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range labels {
		out[k] = v
	}
	for _, r := range rules {
		if a := strings.ToLower(r.Action); a != "" && a != "replace" {
			t.Fatalf("relabeling action %s not simulated here", r.Action)
		}
		sep := r.Separator
		if sep == "" {
			sep = ";"
		}
		var vals []string
		for _, l := range r.SourceLabels {
			vals = append(vals, out[l])
		}
		expr := r.Regex
		if expr == "" {
			expr = "(.*)"
		}
		re, err := regexp.Compile("^(?:" + expr + ")$")
		if err != nil {
			t.Fatalf("relabeling regex %q: %v", r.Regex, err)
		}
		src := strings.Join(vals, sep)
		idx := re.FindStringSubmatchIndex(src)
		if idx == nil {
			continue
		}
		repl := "$1"
		if r.Replacement != nil {
			repl = *r.Replacement
		}
		res := string(re.ExpandString(nil, repl, src, idx))
		if r.TargetLabel == "" {
			t.Fatalf("replace relabeling without targetLabel")
		}
		if res == "" {
			delete(out, r.TargetLabel)
		} else {
			out[r.TargetLabel] = res
		}
	}
	return out
}

// TestMetricsScrape: the PodMonitor scrapes the functions' pods on
// metricsPort, never the route's port.
func TestMetricsScrape(t *testing.T) {
	m := load(t)
	if len(m.PodMonitors) != 1 {
		t.Fatalf("want one PodMonitor, got %d", len(m.PodMonitors))
	}
	eps := m.PodMonitors[0].Spec.PodMetricsEndpoints
	if len(eps) != 1 {
		t.Fatalf("want one podMetricsEndpoint, got %d", len(eps))
	}
	ep := eps[0]
	if ep.Path != "/metrics" {
		t.Errorf("path %q, want /metrics", ep.Path)
	}
	for _, addr := range []struct{ pod, want string }{
		{"10.42.1.7:8080", "10.42.1.7:" + strconv.Itoa(metricsPort)},
		{"[fd00:42::7]:8080", "[fd00:42::7]:" + strconv.Itoa(metricsPort)},
	} {
		got := relabel(t, ep.Relabelings, map[string]string{
			"__address__": addr.pod,
			"__meta_kubernetes_pod_label_serving_knative_dev_service":  gatewayName,
			"__meta_kubernetes_pod_label_serving_knative_dev_revision": gatewayName + "-00001",
		})
		if got["__address__"] != addr.want {
			t.Errorf("the PodMonitor scrapes %s for a pod at %s, want %s", got["__address__"], addr.pod, addr.want)
		}
		if got["service"] != gatewayName || got["revision"] != gatewayName+"-00001" {
			t.Errorf("service/revision labels: %q/%q", got["service"], got["revision"])
		}
	}
}
