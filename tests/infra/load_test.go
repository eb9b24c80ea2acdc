// Package infra_test validates the Knative, MinIO and monitoring manifests in
// infra/ offline: every document is decoded strictly into its Go type
// (knative.dev/serving, knative.dev/eventing, k8s.io/api, or a local struct for
// the prometheus-operator kinds), the Knative objects are defaulted and
// validated with the feature flags and defaults from infra/knative/, and the
// pieces are cross-checked against each other, the func.yaml files, the event
// types the code emits and the terraform bootstrap.
package infra_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// repoRoot is the repository root (two levels above this file).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// kustomization is the subset of kustomize's Kustomization that infra/ uses.
// Decoded strictly: a field this loader does not implement (a namespace
// transformer, patches, ...) is an error rather than silently ignored.
type kustomization struct {
	APIVersion         string            `json:"apiVersion"`
	Kind               string            `json:"kind"`
	Resources          []string          `json:"resources"`
	Images             []imageOverride   `json:"images,omitempty"`
	GeneratorOptions   *generatorOptions `json:"generatorOptions,omitempty"`
	ConfigMapGenerator []configMapGen    `json:"configMapGenerator,omitempty"`
}

type imageOverride struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
}

type generatorOptions struct {
	DisableNameSuffixHash bool              `json:"disableNameSuffixHash,omitempty"`
	Labels                map[string]string `json:"labels,omitempty"`
}

type configMapGen struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Files     []string          `json:"files"`
	Options   *generatorOptions `json:"options,omitempty"`
}

// doc is one manifest document: where it came from, its raw JSON and its type.
type doc struct {
	Source     string // file (or generator) it came from
	JSON       []byte
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
}

func (d doc) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", d.Kind, d.Namespace, d.Name, d.Source)
}

// manifests holds every decoded object in infra/.
type manifests struct {
	Docs         []doc
	Services     map[string]*servingv1.Service // by name
	Brokers      map[string]*eventingv1.Broker
	Triggers     map[string]*eventingv1.Trigger
	SinkBindings map[string]*sourcesv1.SinkBinding
	PingSources  map[string]*sourcesv1.PingSource
	ConfigMaps   map[string]*corev1.ConfigMap // by namespace/name
	Jobs         map[string]*batchv1.Job
	PodMonitors  []*podMonitor
	SvcMonitors  []*serviceMonitor
	Rules        []*prometheusRule
	Images       []imageOverride
}

var (
	loadOnce sync.Once
	loaded   *manifests
	loadErr  error
)

// load reads and decodes infra/ once per test binary.
func load(t testing.TB) *manifests {
	t.Helper()
	root := repoRoot(t)
	loadOnce.Do(func() { loaded, loadErr = loadInfra(filepath.Join(root, "infra")) })
	if loadErr != nil {
		t.Fatalf("loading infra/: %v", loadErr)
	}
	return loaded
}

func loadInfra(dir string) (*manifests, error) {
	m := &manifests{
		Services: map[string]*servingv1.Service{}, Brokers: map[string]*eventingv1.Broker{},
		Triggers: map[string]*eventingv1.Trigger{}, SinkBindings: map[string]*sourcesv1.SinkBinding{},
		PingSources: map[string]*sourcesv1.PingSource{},
		ConfigMaps:  map[string]*corev1.ConfigMap{}, Jobs: map[string]*batchv1.Job{},
	}
	docs, images, err := readKustomization(dir, 0)
	if err != nil {
		return nil, err
	}
	m.Images = images
	seen := map[string]string{}
	for _, d := range docs {
		key := d.APIVersion + "/" + d.Kind + "/" + d.Namespace + "/" + d.Name
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s defined twice (also in %s)", d, prev)
		}
		seen[key] = d.Source
		if err := m.decode(d); err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
	}
	m.Docs = docs
	return m, nil
}

// readKustomization resolves a kustomization directory into documents.
func readKustomization(dir string, depth int) ([]doc, []imageOverride, error) {
	if depth > 5 {
		return nil, nil, fmt.Errorf("%s: kustomizations nest too deep", dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, nil, err
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		return nil, nil, fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		return nil, nil, fmt.Errorf("%s/kustomization.yaml: apiVersion/kind %q/%q", dir, k.APIVersion, k.Kind)
	}
	var docs []doc
	images := k.Images
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("%s/kustomization.yaml: resource %s: %w", dir, r, err)
		}
		if st.IsDir() {
			sub, subImages, err := readKustomization(p, depth+1)
			if err != nil {
				return nil, nil, err
			}
			docs = append(docs, sub...)
			images = append(images, subImages...)
			continue
		}
		fileDocs, err := readYAMLFile(p)
		if err != nil {
			return nil, nil, err
		}
		docs = append(docs, fileDocs...)
	}
	for _, g := range k.ConfigMapGenerator {
		opts := k.GeneratorOptions
		if g.Options != nil {
			opts = g.Options
		}
		if opts == nil || !opts.DisableNameSuffixHash {
			return nil, nil, fmt.Errorf("%s: configMapGenerator %s: set disableNameSuffixHash (the loader and the Job's volume names rely on fixed names)", dir, g.Name)
		}
		cm := corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: g.Name, Namespace: g.Namespace, Labels: map[string]string{}},
			Data:       map[string]string{},
		}
		for _, o := range []*generatorOptions{k.GeneratorOptions, g.Options} {
			if o != nil {
				for k, v := range o.Labels {
					cm.Labels[k] = v
				}
			}
		}
		for _, f := range g.Files {
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return nil, nil, fmt.Errorf("%s: configMapGenerator %s: %w", dir, g.Name, err)
			}
			cm.Data[filepath.Base(f)] = string(data)
		}
		js, err := yaml.Marshal(cm)
		if err != nil {
			return nil, nil, err
		}
		docs = append(docs, doc{Source: filepath.Join(dir, "kustomization.yaml") + " (generator)", JSON: mustJSON(js),
			APIVersion: "v1", Kind: "ConfigMap", Name: g.Name, Namespace: g.Namespace})
	}
	return docs, images, nil
}

func mustJSON(y []byte) []byte {
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		panic(err)
	}
	return j
}

// readYAMLFile splits a multi-document YAML file.
func readYAMLFile(path string) ([]doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []doc
	for i, part := range splitYAML(b) {
		j, err := yaml.YAMLToJSON(part)
		if err != nil {
			return nil, fmt.Errorf("%s document %d: %w", path, i+1, err)
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue // comments only
		}
		var meta struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(part, &meta); err != nil {
			return nil, fmt.Errorf("%s document %d: %w", path, i+1, err)
		}
		out = append(out, doc{Source: fmt.Sprintf("%s#%d", path, i+1), JSON: j, APIVersion: meta.APIVersion,
			Kind: meta.Kind, Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace})
	}
	return out, nil
}

func splitYAML(b []byte) [][]byte {
	var parts [][]byte
	var cur bytes.Buffer
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.TrimRight(line, " \r\n") == "---" {
			parts = append(parts, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(parts, cur.Bytes())
}

// strict decodes JSON into v, rejecting unknown fields.
func strict(d doc, v any) error {
	return yaml.UnmarshalStrict(d.JSON, v)
}

// decode places a document into its typed slot; unknown kinds are errors.
func (m *manifests) decode(d doc) error {
	switch d.APIVersion + "/" + d.Kind {
	case "serving.knative.dev/v1/Service":
		var s servingv1.Service
		if err := strict(d, &s); err != nil {
			return err
		}
		m.Services[s.Name] = &s
	case "eventing.knative.dev/v1/Broker":
		var b eventingv1.Broker
		if err := strict(d, &b); err != nil {
			return err
		}
		m.Brokers[b.Name] = &b
	case "eventing.knative.dev/v1/Trigger":
		var tr eventingv1.Trigger
		if err := strict(d, &tr); err != nil {
			return err
		}
		m.Triggers[tr.Name] = &tr
	case "sources.knative.dev/v1/SinkBinding":
		var sb sourcesv1.SinkBinding
		if err := strict(d, &sb); err != nil {
			return err
		}
		m.SinkBindings[sb.Name] = &sb
	case "sources.knative.dev/v1/PingSource":
		var ps sourcesv1.PingSource
		if err := strict(d, &ps); err != nil {
			return err
		}
		m.PingSources[ps.Name] = &ps
	case "v1/ConfigMap":
		var cm corev1.ConfigMap
		if err := strict(d, &cm); err != nil {
			return err
		}
		m.ConfigMaps[cm.Namespace+"/"+cm.Name] = &cm
	case "v1/Namespace":
		var ns corev1.Namespace
		return strict(d, &ns)
	case "v1/ServiceAccount":
		var sa corev1.ServiceAccount
		return strict(d, &sa)
	case "rbac.authorization.k8s.io/v1/Role":
		var r rbacv1.Role
		return strict(d, &r)
	case "rbac.authorization.k8s.io/v1/RoleBinding":
		var rb rbacv1.RoleBinding
		return strict(d, &rb)
	case "batch/v1/Job":
		var j batchv1.Job
		if err := strict(d, &j); err != nil {
			return err
		}
		m.Jobs[j.Name] = &j
	case "monitoring.coreos.com/v1/PodMonitor":
		var pm podMonitor
		if err := strict(d, &pm); err != nil {
			return err
		}
		m.PodMonitors = append(m.PodMonitors, &pm)
	case "monitoring.coreos.com/v1/ServiceMonitor":
		var sm serviceMonitor
		if err := strict(d, &sm); err != nil {
			return err
		}
		m.SvcMonitors = append(m.SvcMonitors, &sm)
	case "monitoring.coreos.com/v1/PrometheusRule":
		var pr prometheusRule
		if err := strict(d, &pr); err != nil {
			return err
		}
		m.Rules = append(m.Rules, &pr)
	default:
		return fmt.Errorf("no decoder for %s %s: add one to tests/infra", d.APIVersion, d.Kind)
	}
	return nil
}

// The prometheus-operator kinds, reduced to the fields infra/ uses (strict
// decoding rejects anything else, so a typo in a field name fails).
type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []metricsEndpoint    `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []metricsEndpoint    `json:"endpoints"`
	} `json:"spec"`
}

type metricsEndpoint struct {
	Port        string       `json:"port"`
	Path        string       `json:"path"`
	Interval    string       `json:"interval,omitempty"`
	Relabelings []relabeling `json:"relabelings,omitempty"`
}

// relabeling is a Prometheus relabel_config in prometheus-operator's spelling.
type relabeling struct {
	SourceLabels []string `json:"sourceLabels,omitempty"`
	Separator    string   `json:"separator,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Replacement  *string  `json:"replacement,omitempty"`
	Action       string   `json:"action,omitempty"`
}

type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Record      string            `json:"record,omitempty"`
				Alert       string            `json:"alert,omitempty"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels,omitempty"`
				Annotations map[string]string `json:"annotations,omitempty"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// TestKustomizeBuildMatches checks that kustomize itself (kubectl kustomize)
// renders the same set of objects as this package's loader, so the checks here
// see what a cluster would get. Skipped where kubectl is not installed.
func TestKustomizeBuildMatches(t *testing.T) {
	m := load(t)
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed: kustomize rendering not compared (the loader's own resolution is still checked)")
	}
	out, err := exec.Command(kubectl, "kustomize", filepath.Join(repoRoot(t), "infra")).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize infra: %v\n%s", err, out)
	}
	var got []string
	for _, part := range splitYAML(out) {
		var meta struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(part, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind == "" {
			continue
		}
		got = append(got, meta.Kind+" "+meta.Metadata.Namespace+"/"+meta.Metadata.Name)
	}
	var want []string
	for _, d := range m.Docs {
		want = append(want, d.Kind+" "+d.Namespace+"/"+d.Name)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kustomize renders:\n%s\n\nthe loader read:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestNamespaces: everything in transcept, except the Knative Serving
// ConfigMaps (knative-serving) and the Namespace itself.
func TestNamespaces(t *testing.T) {
	m := load(t)
	for _, d := range m.Docs {
		switch {
		case d.Kind == "Namespace":
			if d.Name != "transcept" {
				t.Errorf("%s: unexpected namespace", d)
			}
		case d.Kind == "ConfigMap" && (d.Name == "config-features" || d.Name == "config-defaults"):
			if d.Namespace != "knative-serving" {
				t.Errorf("%s: must be in knative-serving", d)
			}
		case d.Namespace != "transcept":
			t.Errorf("%s: must be in namespace transcept", d)
		}
	}
}
