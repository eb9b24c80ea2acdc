package infra_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"sigs.k8s.io/yaml"

	"github.com/transcept/transcept/shared/lecture"
)

const (
	namespace     = "transcept"
	brokerName    = "transcept"
	gatewayName   = "transcept-gateway"
	ingestName    = "transcept-ingest"
	cpuImage      = "ghcr.io/transcept/transcept"
	cudaImage     = "ghcr.io/transcept/transcept-cuda"
	gpuNodeLabel  = "transcept.io/gpu"
	gpuResource   = corev1.ResourceName("nvidia.com/gpu")
	lectureLength = 3 * time.Hour
)

// fnName is a Service's function name: transcept-summarize -> summarize.
func fnName(service string) string { return strings.TrimPrefix(service, "transcept-") }

func isServiceRef(ref *duckv1.KReference) bool {
	return ref != nil && ref.APIVersion == "serving.knative.dev/v1" && ref.Kind == "Service"
}

// TestEveryEventTypeHasATrigger: each type the code emits reaches a subscriber.
func TestEveryEventTypeHasATrigger(t *testing.T) {
	m := load(t)
	byType := map[string][]string{}
	for name, tr := range m.Triggers {
		if tr.Spec.Filter == nil || tr.Spec.Filter.Attributes["type"] == "" {
			t.Errorf("Trigger %s has no exact type filter", name)
			continue
		}
		typ := tr.Spec.Filter.Attributes["type"]
		byType[typ] = append(byType[typ], name)
		known := false
		for _, et := range lecture.EventTypes {
			known = known || et == typ
		}
		if !known {
			t.Errorf("Trigger %s filters on %s, which is not in lecture.EventTypes", name, typ)
		}
	}
	for _, typ := range lecture.EventTypes {
		if len(byType[typ]) == 0 {
			t.Errorf("no Trigger filters on %s", typ)
		}
	}
	// The fan-out the pipeline relies on.
	want := map[string][]string{
		lecture.LectureUploaded: {"transcept-transcribe"},
		lecture.TranscriptReady: {"transcept-segment"},
		lecture.ChunksReady:     {"transcept-index", "transcept-summarize"},
		lecture.SummaryReady:    {gatewayName},
		lecture.IndexReady:      {"transcept-answer"},
		lecture.LectureFailed:   {gatewayName},
	}
	for typ, subs := range want {
		var got []string
		for _, name := range byType[typ] {
			got = append(got, m.Triggers[name].Spec.Subscriber.Ref.Name)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, subs) {
			t.Errorf("%s goes to %v, want %v", typ, got, subs)
		}
	}
}

// TestTriggers: subscribers are Services in infra/, names follow
// transcept-<subscriber>-<short type>, the Broker exists, and every Trigger
// has the Broker's delivery (retries, backoff, dead-letter sink).
func TestTriggers(t *testing.T) {
	m := load(t)
	b, ok := m.Brokers[brokerName]
	if !ok {
		t.Fatalf("no Broker %s", brokerName)
	}
	for name, tr := range m.Triggers {
		if tr.Spec.Broker != brokerName {
			t.Errorf("Trigger %s: broker %q, want %s", name, tr.Spec.Broker, brokerName)
		}
		ref := tr.Spec.Subscriber.Ref
		if !isServiceRef(ref) {
			t.Errorf("Trigger %s: subscriber is not a serving.knative.dev/v1 Service: %+v", name, ref)
			continue
		}
		if _, ok := m.Services[ref.Name]; !ok {
			t.Errorf("Trigger %s: subscriber %s is not a Service in infra/", name, ref.Name)
		}
		if ref.Namespace != "" && ref.Namespace != namespace {
			t.Errorf("Trigger %s: subscriber in namespace %s", name, ref.Namespace)
		}
		typ := tr.Spec.Filter.Attributes["type"]
		short := strings.ReplaceAll(strings.TrimPrefix(typ, "transcept."), ".", "-")
		if want := ref.Name + "-" + short; name != want {
			t.Errorf("Trigger %s: want name %s", name, want)
		}
		if ref.Name == gatewayName && (tr.Spec.Subscriber.URI == nil || tr.Spec.Subscriber.URI.Path != "/events") {
			t.Errorf("Trigger %s: the gateway takes events at /events", name)
		}
		checkDelivery(t, "Trigger "+name, tr.Spec.Delivery, m)
		if d, want := tr.Spec.Delivery, b.Spec.Delivery; d != nil && want != nil {
			if *d.Retry != *want.Retry || *d.BackoffPolicy != *want.BackoffPolicy || *d.BackoffDelay != *want.BackoffDelay {
				t.Errorf("Trigger %s: delivery differs from the Broker's", name)
			}
		}
		// A delivery must be allowed to last as long as its subscriber may work.
		if d := tr.Spec.Delivery; d != nil && d.Timeout != nil {
			to, err := isoDuration(*d.Timeout)
			if err != nil {
				t.Errorf("Trigger %s: timeout: %v", name, err)
			} else if s := m.Services[ref.Name]; s != nil && s.Spec.Template.Spec.TimeoutSeconds != nil &&
				to < time.Duration(*s.Spec.Template.Spec.TimeoutSeconds)*time.Second && gpuStages[ref.Name] {
				t.Errorf("Trigger %s: delivery timeout %s shorter than %s's timeoutSeconds %d", name, *d.Timeout, ref.Name, *s.Spec.Template.Spec.TimeoutSeconds)
			}
		}
	}
}

func isoDuration(s string) (time.Duration, error) {
	m := regexp.MustCompile(`^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$`).FindStringSubmatch(s)
	if m == nil || s == "PT" {
		return 0, fmt.Errorf("%q: want PT#H#M#S", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	return d, nil
}

// checkDelivery: retry 5, exponential from PT1S, dead letters to the gateway.
func checkDelivery(t *testing.T, what string, d *eventingduckv1.DeliverySpec, m *manifests) {
	t.Helper()
	if d == nil {
		t.Errorf("%s: no delivery", what)
		return
	}
	if d.Retry == nil || *d.Retry != 5 {
		t.Errorf("%s: retry %v, want 5", what, d.Retry)
	}
	if d.BackoffPolicy == nil || *d.BackoffPolicy != eventingduckv1.BackoffPolicyExponential {
		t.Errorf("%s: backoffPolicy %v, want exponential", what, d.BackoffPolicy)
	}
	if d.BackoffDelay == nil || *d.BackoffDelay != "PT1S" {
		t.Errorf("%s: backoffDelay %v, want PT1S", what, d.BackoffDelay)
	}
	dls := d.DeadLetterSink
	if dls == nil || !isServiceRef(dls.Ref) || dls.Ref.Name != gatewayName || dls.URI == nil || dls.URI.Path != "/dead-letter" {
		t.Errorf("%s: deadLetterSink must be Service %s, uri /dead-letter", what, gatewayName)
	} else if _, ok := m.Services[dls.Ref.Name]; !ok {
		t.Errorf("%s: dead-letter sink %s is not a Service in infra/", what, dls.Ref.Name)
	}
}

// TestBroker: class annotation written out, delivery as contracted.
func TestBroker(t *testing.T) {
	m := load(t)
	b, ok := m.Brokers[brokerName]
	if !ok {
		t.Fatalf("no Broker %s", brokerName)
	}
	// Checked on the manifest as written, before SetDefaults could fill it in.
	if got := b.Annotations[eventingv1.BrokerClassAnnotationKey]; got != "MTChannelBasedBroker" {
		t.Errorf("Broker class annotation %q, want MTChannelBasedBroker", got)
	}
	checkDelivery(t, "Broker", b.Spec.Delivery, m)
}

// TestSinkBinding: ingest's K_SINK is the Broker.
func TestSinkBinding(t *testing.T) {
	m := load(t)
	sb, ok := m.SinkBindings[ingestName]
	if !ok {
		t.Fatalf("no SinkBinding %s", ingestName)
	}
	s := sb.Spec.Subject
	if s.APIVersion != "serving.knative.dev/v1" || s.Kind != "Service" || s.Name != ingestName || s.Selector != nil {
		t.Errorf("SinkBinding subject %+v, want serving.knative.dev/v1 Service %s", s, ingestName)
	}
	if _, ok := m.Services[s.Name]; !ok {
		t.Errorf("SinkBinding subject %s is not a Service in infra/", s.Name)
	}
	ref := sb.Spec.Sink.Ref
	if ref == nil || ref.APIVersion != "eventing.knative.dev/v1" || ref.Kind != "Broker" || m.Brokers[ref.Name] == nil {
		t.Errorf("SinkBinding sink %+v, want the Broker %s", sb.Spec.Sink, brokerName)
	}
	// The SinkBinding webhook only acts where the namespace/object opted in.
	if m.Services[ingestName].Labels["bindings.knative.dev/include"] != "true" {
		t.Errorf("Service %s lacks the label bindings.knative.dev/include=true", ingestName)
	}
}

// TestServices: scale to zero, the one binary with its function name, ports,
// health probes, secrets, and GPU placement exactly on the GPU stages.
func TestServices(t *testing.T) {
	m := load(t)
	features, defaults := ourConfig(t)
	maxTimeout, _ := strconv.Atoi(defaults["max-revision-timeout-seconds"])
	for name, s := range m.Services {
		t.Run(name, func(t *testing.T) {
			fn := fnName(name)
			tmpl := s.Spec.Template
			ann := tmpl.Annotations
			if ann["autoscaling.knative.dev/min-scale"] != "0" {
				t.Errorf("min-scale %q, want \"0\" (scale to zero)", ann["autoscaling.knative.dev/min-scale"])
			}
			if v, err := strconv.Atoi(ann["autoscaling.knative.dev/max-scale"]); err != nil || v < 1 || v > 50 {
				t.Errorf("max-scale %q: want a bound between 1 and 50", ann["autoscaling.knative.dev/max-scale"])
			}
			spec := tmpl.Spec
			if len(spec.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(spec.Containers))
			}
			c := spec.Containers[0]
			if !reflect.DeepEqual(c.Args, []string{"function", fn}) {
				t.Errorf("args %q, want [function %s]", c.Args, fn)
			}
			if len(c.Command) != 0 {
				t.Errorf("command set; the image's ENTRYPOINT is the transcept binary")
			}
			if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 {
				t.Errorf("ports %+v, want containerPort 8080", c.Ports)
			}
			if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/health/readiness" {
				t.Errorf("readiness probe must GET /health/readiness")
			}
			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/health/liveness" {
				t.Errorf("liveness probe must GET /health/liveness")
			}
			if sc := c.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				t.Errorf("container must run as non-root")
			}
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			wantSecret := func(envName, secret, key string) {
				e, ok := env[envName]
				if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
					e.ValueFrom.SecretKeyRef.Name != secret || e.ValueFrom.SecretKeyRef.Key != key {
					t.Errorf("env %s must come from Secret %s key %s", envName, secret, key)
				}
			}
			wantSecret("MINIO_ENDPOINT", "transcept-config", "MINIO_ENDPOINT")
			wantSecret("MINIO_ACCESS_KEY", "transcept-minio-"+fn, "accessKey")
			wantSecret("MINIO_SECRET_KEY", "transcept-minio-"+fn, "secretKey")
			if _, ok := env["REDIS_URL"]; ok || fn != "ingest" {
				wantSecret("REDIS_URL", "transcept-config", "REDIS_URL")
			}
			if spec.TimeoutSeconds == nil || int(*spec.TimeoutSeconds) > maxTimeout {
				t.Errorf("timeoutSeconds %v must be set and within max-revision-timeout-seconds %d", spec.TimeoutSeconds, maxTimeout)
			}

			gpu := gpuStages[name]
			_, hasGPU := c.Resources.Limits[gpuResource]
			repo, _, _ := strings.Cut(c.Image, ":")
			if !gpu {
				if hasGPU || spec.RuntimeClassName != nil || len(spec.NodeSelector) > 0 || len(spec.Tolerations) > 0 {
					t.Errorf("a CPU function asks for GPU placement")
				}
				if repo != cpuImage {
					t.Errorf("image %s, want %s:<tag>", c.Image, cpuImage)
				}
				return
			}
			// GPU stages.
			if repo != cudaImage {
				t.Errorf("image %s, want %s:<tag>", c.Image, cudaImage)
			}
			if q := c.Resources.Limits[gpuResource]; !q.Equal(resource.MustParse("1")) {
				t.Errorf("limits %s = %s, want 1", gpuResource, q.String())
			}
			if spec.NodeSelector[gpuNodeLabel] != "true" {
				t.Errorf("nodeSelector %v, want %s: \"true\"", spec.NodeSelector, gpuNodeLabel)
			}
			tolerates := false
			for _, tol := range spec.Tolerations {
				tolerates = tolerates || (tol.Key == string(gpuResource) && tol.Operator == corev1.TolerationOpExists && tol.Effect == corev1.TaintEffectNoSchedule)
			}
			if !tolerates {
				t.Errorf("no toleration for %s (Exists, NoSchedule)", gpuResource)
			}
			if spec.RuntimeClassName == nil || *spec.RuntimeClassName != "nvidia" {
				t.Errorf("runtimeClassName must be nvidia")
			}
			// One request at a time per GPU pod, except where the engine
			// batches concurrent requests: summarize gathers up to
			// TRANSCEPT_BATCH_MAX windows into one batch, so it takes that
			// many requests at once, and the autoscaler aims at it.
			wantConcurrency := "1"
			if fn == "summarize" {
				e, ok := env["TRANSCEPT_BATCH_MAX"]
				if !ok || e.Value == "" {
					t.Errorf("summarize must set TRANSCEPT_BATCH_MAX, which its containerConcurrency matches")
				}
				wantConcurrency = e.Value
			}
			if spec.ContainerConcurrency == nil || strconv.FormatInt(*spec.ContainerConcurrency, 10) != wantConcurrency {
				t.Errorf("containerConcurrency %v, want %s on this GPU stage", spec.ContainerConcurrency, wantConcurrency)
			}
			if ann["autoscaling.knative.dev/target"] != wantConcurrency {
				t.Errorf("autoscaling target %q, want %s (its containerConcurrency)", ann["autoscaling.knative.dev/target"], wantConcurrency)
			}
			if spec.TimeoutSeconds == nil || time.Duration(*spec.TimeoutSeconds)*time.Second < lectureLength/3 {
				t.Errorf("timeoutSeconds %v too short for a %s lecture", spec.TimeoutSeconds, lectureLength)
			}
			if spec.ResponseStartTimeoutSeconds == nil || *spec.ResponseStartTimeoutSeconds < *spec.TimeoutSeconds {
				t.Errorf("responseStartTimeoutSeconds must cover the whole run (the stage answers when done)")
			}
			for _, key := range []string{"kubernetes.podspec-nodeselector", "kubernetes.podspec-tolerations", "kubernetes.podspec-runtimeclassname", "kubernetes.podspec-affinity"} {
				if !strings.EqualFold(features[key], "enabled") {
					t.Errorf("config-features does not enable %s", key)
				}
			}
		})
	}
}

// TestFuncYAML: the func.yaml files follow knative/func's func.yaml schema
// (the fields and enums below are the schema's), and name exactly the
// Services in infra/, with the same image, namespace, scale-to-zero and secrets.
func TestFuncYAML(t *testing.T) {
	m := load(t)
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "functions", "*", "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "func.yaml")}, files...)
	names := map[string]string{}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fy funcYAML
		if err := yaml.UnmarshalStrict(b, &fy); err != nil {
			t.Errorf("%s: not a valid func.yaml: %v", rel, err)
			continue
		}
		for _, problem := range fy.problems() {
			t.Errorf("%s: %s", rel, problem)
		}
		if prev, dup := names[fy.Name]; dup {
			t.Errorf("%s and %s both name %s", prev, rel, fy.Name)
		}
		names[fy.Name] = rel
		s, ok := m.Services[fy.Name]
		if !ok {
			t.Errorf("%s: function %s has no Service in infra/serving", rel, fy.Name)
			continue
		}
		if ns := fy.Namespace; ns != namespace || (fy.Deploy != nil && fy.Deploy.Namespace != "" && fy.Deploy.Namespace != namespace) {
			t.Errorf("%s: namespace %q, want %s", rel, ns, namespace)
		}
		c := s.Spec.Template.Spec.Containers[0]
		if fy.Image != c.Image {
			t.Errorf("%s: image %s, but the Service runs %s", rel, fy.Image, c.Image)
		}
		if fy.Deploy == nil || fy.Deploy.Options == nil || fy.Deploy.Options.Scale == nil || fy.Deploy.Options.Scale.Min == nil || *fy.Deploy.Options.Scale.Min != 0 {
			t.Errorf("%s: deploy.options.scale.min must be 0", rel)
		}
		// The pipeline stages (and eval, its PingSource's) take only
		// CloudEvents; gateway, ingest (MinIO's webhook) and answer (POST /qa,
		// plus index.ready events) are HTTP.
		wantInvoke := "http"
		if isCloudEventSubscriber(m, fy.Name) && !httpFunctions[fy.Name] {
			wantInvoke = "cloudevent"
		}
		if fy.Invoke != wantInvoke {
			t.Errorf("%s: invoke %q, want %q", rel, fy.Invoke, wantInvoke)
		}
		// Secret references agree with the Service's env.
		svcEnv := map[string]string{}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				svcEnv[e.Name] = e.ValueFrom.SecretKeyRef.Name + ":" + e.ValueFrom.SecretKeyRef.Key
			}
		}
		secretRef := regexp.MustCompile(`^\{\{\s*secret:([a-z0-9-]+):([A-Za-z0-9_.-]+)\s*\}\}$`)
		if fy.Run != nil {
			for _, e := range fy.Run.Envs {
				if sm := secretRef.FindStringSubmatch(e.Value); sm != nil {
					if got := svcEnv[e.Name]; got != sm[1]+":"+sm[2] {
						t.Errorf("%s: env %s from secret %s:%s, but the Service takes it from %q", rel, e.Name, sm[1], sm[2], got)
					}
				}
			}
		}
	}
	for name := range m.Services {
		if _, ok := names[name]; !ok {
			t.Errorf("Service %s has no func.yaml", name)
		}
	}
}

var httpFunctions = map[string]bool{gatewayName: true, ingestName: true, "transcept-answer": true}

func isCloudEventSubscriber(m *manifests, service string) bool {
	for _, ps := range m.PingSources { // the eval function takes its PingSource's events
		if ps.Spec.Sink.Ref != nil && ps.Spec.Sink.Ref.Name == service && ps.Spec.Sink.URI == nil {
			return true
		}
	}
	for _, tr := range m.Triggers {
		if tr.Spec.Subscriber.Ref != nil && tr.Spec.Subscriber.Ref.Name == service && tr.Spec.Subscriber.URI == nil {
			return true
		}
	}
	return false
}

// funcYAML mirrors knative/func's func.yaml schema (schema/func_yaml-schema.json):
// additionalProperties are false at every level, so strict decoding into
// these structs rejects what func would reject.
type funcYAML struct {
	SpecVersion string      `json:"specVersion"`
	Name        string      `json:"name"`
	Domain      string      `json:"domain,omitempty"`
	Runtime     string      `json:"runtime,omitempty"`
	Registry    string      `json:"registry,omitempty"`
	Image       string      `json:"image,omitempty"`
	Namespace   string      `json:"namespace,omitempty"`
	Created     string      `json:"created"`
	Invoke      string      `json:"invoke,omitempty"`
	Build       *funcBuild  `json:"build,omitempty"`
	Run         *funcRun    `json:"run,omitempty"`
	Deploy      *funcDeploy `json:"deploy,omitempty"`
}

type funcEnv struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

type funcBuild struct {
	Git           map[string]string `json:"git,omitempty"`
	BuilderImages map[string]string `json:"builderImages,omitempty"`
	Buildpacks    []string          `json:"buildpacks,omitempty"`
	Builder       string            `json:"builder,omitempty"`
	BuildEnvs     []funcEnv         `json:"buildEnvs,omitempty"`
	PVCSize       string            `json:"pvcSize,omitempty"`
}

type funcRun struct {
	Volumes      []map[string]interface{} `json:"volumes,omitempty"`
	Envs         []funcEnv                `json:"envs,omitempty"`
	StartTimeout *int                     `json:"startTimeout,omitempty"`
}

type funcDeploy struct {
	Namespace       string            `json:"namespace,omitempty"`
	Image           string            `json:"image,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
	Options         *funcOptions      `json:"options,omitempty"`
	Labels          []funcLabel       `json:"labels,omitempty"`
	HealthEndpoints *struct {
		Liveness  string `json:"liveness,omitempty"`
		Readiness string `json:"readiness,omitempty"`
	} `json:"healthEndpoints,omitempty"`
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	Subscriptions      []struct {
		Source  string            `json:"source"`
		Filters map[string]string `json:"filters,omitempty"`
	} `json:"subscriptions,omitempty"`
}

type funcLabel struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

type funcOptions struct {
	Scale *struct {
		Min         *int     `json:"min,omitempty"`
		Max         *int     `json:"max,omitempty"`
		Metric      string   `json:"metric,omitempty"`
		Target      *float64 `json:"target,omitempty"`
		Utilization *float64 `json:"utilization,omitempty"`
	} `json:"scale,omitempty"`
	Resources *struct {
		Requests *struct {
			CPU    string `json:"cpu,omitempty"`
			Memory string `json:"memory,omitempty"`
		} `json:"requests,omitempty"`
		Limits *struct {
			CPU         string `json:"cpu,omitempty"`
			Memory      string `json:"memory,omitempty"`
			Concurrency *int   `json:"concurrency,omitempty"`
		} `json:"limits,omitempty"`
	} `json:"resources,omitempty"`
}

// problems checks the schema's required fields, patterns and enums.
func (f *funcYAML) problems() []string {
	var out []string
	if f.SpecVersion == "" {
		out = append(out, "specVersion is required")
	}
	if f.Created == "" {
		out = append(out, "created is required")
	} else if _, err := time.Parse(time.RFC3339, f.Created); err != nil {
		out = append(out, "created must be an RFC 3339 date-time: "+err.Error())
	}
	if !regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`).MatchString(f.Name) {
		out = append(out, fmt.Sprintf("name %q does not match the schema's pattern", f.Name))
	}
	if f.Invoke != "" && f.Invoke != "http" && f.Invoke != "cloudevent" {
		out = append(out, fmt.Sprintf("invoke %q: the schema allows http or cloudevent", f.Invoke))
	}
	if f.Build != nil && f.Build.Builder != "" && f.Build.Builder != "pack" && f.Build.Builder != "s2i" {
		out = append(out, fmt.Sprintf("build.builder %q: the schema allows pack or s2i", f.Build.Builder))
	}
	envName := regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
	if f.Run != nil {
		for _, e := range f.Run.Envs {
			if !envName.MatchString(e.Name) {
				out = append(out, fmt.Sprintf("env name %q does not match the schema's pattern", e.Name))
			}
		}
	}
	quantity := regexp.MustCompile(`^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$`)
	if d := f.Deploy; d != nil && d.Options != nil {
		if s := d.Options.Scale; s != nil {
			if (s.Min != nil && *s.Min < 0) || (s.Max != nil && *s.Max < 0) {
				out = append(out, "scale min/max must be ≥ 0")
			}
			if s.Metric != "" && s.Metric != "concurrency" && s.Metric != "rps" {
				out = append(out, "scale.metric must be concurrency or rps")
			}
		}
		if r := d.Options.Resources; r != nil {
			var qs []string
			if r.Requests != nil {
				qs = append(qs, r.Requests.CPU, r.Requests.Memory)
			}
			if r.Limits != nil {
				qs = append(qs, r.Limits.CPU, r.Limits.Memory)
			}
			for _, q := range qs {
				if q != "" && !quantity.MatchString(q) {
					out = append(out, fmt.Sprintf("resource quantity %q does not match the schema's pattern", q))
				}
			}
		}
	}
	return out
}

// TestNightlyEval: a PingSource sends one event a night to the eval
// Service (cluster-local, in infra/), whose SinkBinding points K_SINK at the
// Broker for the events it sends; the eval function takes the PingSource's
// event type.
func TestNightlyEval(t *testing.T) {
	m := load(t)
	const evalName = "transcept-eval"
	ps, ok := m.PingSources["transcept-eval-nightly"]
	if !ok {
		t.Fatal("no PingSource transcept-eval-nightly")
	}
	fields := strings.Fields(ps.Spec.Schedule)
	if len(fields) != 5 || fields[2] != "*" || fields[3] != "*" || fields[4] != "*" || strings.ContainsAny(fields[0]+fields[1], "*/,-") {
		t.Errorf("schedule %q: want once a day at a fixed minute and hour", ps.Spec.Schedule)
	}
	if ps.Spec.Timezone != "Etc/UTC" {
		t.Errorf("timezone %q: want Etc/UTC (the reports are filed by UTC day)", ps.Spec.Timezone)
	}
	ref := ps.Spec.Sink.Ref
	if !isServiceRef(ref) || ref.Name != evalName || m.Services[evalName] == nil {
		t.Fatalf("PingSource sink %+v: want the Service %s in infra/", ps.Spec.Sink, evalName)
	}
	if m.Services[evalName].Labels[visibilityLabel] != "cluster-local" {
		t.Errorf("%s must be cluster-local: only its PingSource calls it", evalName)
	}
	sb, ok := m.SinkBindings[evalName]
	if !ok || sb.Spec.Subject.Name != evalName || sb.Spec.Sink.Ref == nil || sb.Spec.Sink.Ref.Kind != "Broker" || sb.Spec.Sink.Ref.Name != brokerName {
		t.Fatalf("no SinkBinding from %s to the Broker %s", evalName, brokerName)
	}
	if m.Services[evalName].Labels["bindings.knative.dev/include"] != "true" {
		t.Errorf("Service %s lacks the label bindings.knative.dev/include=true", evalName)
	}
	// The eval function takes the PingSource's events (and no pipeline Trigger feeds it).
	if !strings.Contains(readFile(t, "functions/eval/function.go"), `PingType = "dev.knative.sources.ping"`) {
		t.Errorf("functions/eval does not take dev.knative.sources.ping events")
	}
	for name, tr := range m.Triggers {
		if tr.Spec.Subscriber.Ref != nil && tr.Spec.Subscriber.Ref.Name == evalName {
			t.Errorf("Trigger %s delivers pipeline events to %s", name, evalName)
		}
	}
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
