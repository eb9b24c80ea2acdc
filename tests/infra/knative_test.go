package infra_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"knative.dev/eventing/pkg/apis/feature"
	"knative.dev/pkg/apis"
	servingconfig "knative.dev/serving/pkg/apis/config"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	asconfig "knative.dev/serving/pkg/autoscaler/config"
)

// gpuStages are the functions that run on GPU nodes.
var gpuStages = map[string]bool{"transcept-transcribe": true, "transcept-summarize": true, "transcept-eval": true}

// servingContext builds the context Knative's webhook would validate with:
// our config-features and config-defaults (from infra/knative/), the default
// autoscaler config, and Knative Eventing's default feature flags.
func servingContext(t testing.TB, features, defaults map[string]string) context.Context {
	t.Helper()
	f, err := servingconfig.NewFeaturesConfigFromConfigMap(&corev1.ConfigMap{Data: features})
	if err != nil {
		t.Fatalf("config-features: %v", err)
	}
	d, err := servingconfig.NewDefaultsConfigFromConfigMap(&corev1.ConfigMap{Data: defaults})
	if err != nil {
		t.Fatalf("config-defaults: %v", err)
	}
	as, err := asconfig.NewConfigFromMap(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := servingconfig.ToContext(context.Background(), &servingconfig.Config{Features: f, Defaults: d, Autoscaler: as})
	flags, err := feature.NewFlagsConfigFromMap(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	ctx = feature.ToContext(ctx, flags)
	return apis.WithinCreate(ctx)
}

// ourConfig returns copies of the data of infra/knative's ConfigMaps.
func ourConfig(t testing.TB) (features, defaults map[string]string) {
	t.Helper()
	m := load(t)
	get := func(name string) map[string]string {
		cm, ok := m.ConfigMaps["knative-serving/"+name]
		if !ok {
			t.Fatalf("infra/ has no knative-serving/%s ConfigMap", name)
		}
		out := map[string]string{}
		for k, v := range cm.Data {
			out[k] = v
		}
		return out
	}
	return get("config-features"), get("config-defaults")
}

func validateService(ctx context.Context, s *servingv1.Service) *apis.FieldError {
	s = s.DeepCopy()
	s.SetDefaults(ctx)
	return s.Validate(ctx)
}

// TestKnativeValidate: every Knative object defaults and validates cleanly
// with our feature flags and defaults, as Knative's admission webhooks would.
func TestKnativeValidate(t *testing.T) {
	m := load(t)
	features, defaults := ourConfig(t)
	ctx := servingContext(t, features, defaults)
	if len(m.Services) == 0 || len(m.Triggers) == 0 || len(m.Brokers) == 0 || len(m.SinkBindings) == 0 {
		t.Fatalf("expected Services, a Broker, Triggers and a SinkBinding; got %d, %d, %d, %d",
			len(m.Services), len(m.Brokers), len(m.Triggers), len(m.SinkBindings))
	}
	for name, s := range m.Services {
		if err := validateService(ctx, s); err != nil {
			t.Errorf("Service %s: %v", name, err)
		}
	}
	for name, b := range m.Brokers {
		b = b.DeepCopy()
		b.SetDefaults(ctx)
		if err := b.Validate(ctx); err != nil {
			t.Errorf("Broker %s: %v", name, err)
		}
	}
	for name, tr := range m.Triggers {
		tr = tr.DeepCopy()
		tr.SetDefaults(ctx)
		if err := tr.Validate(ctx); err != nil {
			t.Errorf("Trigger %s: %v", name, err)
		}
	}
	for name, sb := range m.SinkBindings {
		sb = sb.DeepCopy()
		sb.SetDefaults(ctx)
		if err := sb.Validate(ctx); err != nil {
			t.Errorf("SinkBinding %s: %v", name, err)
		}
	}
	if len(m.PingSources) == 0 {
		t.Errorf("no PingSource (the nightly evaluation's)")
	}
	for name, ps := range m.PingSources {
		ps = ps.DeepCopy()
		ps.SetDefaults(ctx)
		if err := ps.Validate(ctx); err != nil {
			t.Errorf("PingSource %s: %v", name, err)
		}
	}
}

// TestValidationNeedsOurConfig proves the validation above has teeth: take
// away one of our feature flags (or the raised timeout ceiling) and Knative
// rejects the GPU Services for exactly that field.
func TestValidationNeedsOurConfig(t *testing.T) {
	m := load(t)
	cases := []struct {
		name      string
		feature   string // config-features key to remove
		defaultsK string // config-defaults key to remove
		wantField string // what the error must mention
	}{
		{name: "no nodeselector flag", feature: servingconfig.FeaturePodSpecNodeSelector, wantField: "nodeSelector"},
		{name: "no tolerations flag", feature: servingconfig.FeaturePodSpecTolerations, wantField: "tolerations"},
		{name: "no runtimeclassname flag", feature: servingconfig.FeaturePodSpecRuntimeClassName, wantField: "runtimeClassName"},
		{name: "no affinity flag", feature: servingconfig.FeaturePodSpecAffinity, wantField: "affinity"},
		{name: "default timeout ceiling", defaultsK: "max-revision-timeout-seconds", wantField: "timeoutSeconds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			features, defaults := ourConfig(t)
			if tc.feature != "" {
				if _, ok := features[tc.feature]; !ok {
					t.Fatalf("config-features does not set %s", tc.feature)
				}
				delete(features, tc.feature)
			}
			if tc.defaultsK != "" {
				if _, ok := defaults[tc.defaultsK]; !ok {
					t.Fatalf("config-defaults does not set %s", tc.defaultsK)
				}
				// Knative refuses a default above the ceiling; keep the stock default.
				defaults = map[string]string{}
			}
			ctx := servingContext(t, features, defaults)
			for name := range gpuStages {
				s, ok := m.Services[name]
				if !ok {
					t.Fatalf("no Service %s", name)
				}
				err := validateService(ctx, s)
				if err == nil {
					t.Errorf("%s validated without %s%s", name, tc.feature, tc.defaultsK)
					continue
				}
				if !strings.Contains(err.Error(), tc.wantField) {
					t.Errorf("%s: error does not name %s: %v", name, tc.wantField, err)
				} else {
					t.Logf("%s rejected as expected: %v", name, err)
				}
			}
		})
	}
}
