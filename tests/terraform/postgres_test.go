package terraform_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// pinnedImage: an exact tag or a digest (":latest" refused separately).
var pinnedImage = regexp.MustCompile(`^[a-z0-9./_-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$`)

// typedObjects decodes every document of the auto-deploy manifests strictly
// into the Kubernetes type of its kind (StatefulSet, Service, Secret,
// Deployment, PersistentVolumeClaim): a misspelt field is an error, as it
// would be for `kubectl apply --validate=strict`.
type typedObjects struct {
	StatefulSets map[string]*appsv1.StatefulSet
	Deployments  map[string]*appsv1.Deployment
	Services     map[string]*corev1.Service
	Secrets      map[string]*corev1.Secret
	PVCs         map[string]*corev1.PersistentVolumeClaim
}

func decodeTyped(t *testing.T, cc *cloudConfig) *typedObjects {
	t.Helper()
	objs := &typedObjects{
		StatefulSets: map[string]*appsv1.StatefulSet{}, Deployments: map[string]*appsv1.Deployment{},
		Services: map[string]*corev1.Service{}, Secrets: map[string]*corev1.Secret{}, PVCs: map[string]*corev1.PersistentVolumeClaim{},
	}
	for _, f := range cc.WriteFiles {
		if !strings.HasPrefix(f.Path, manifestDir) {
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(f.Content))
		for {
			var m map[string]any
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
			js, err := json.Marshal(m)
			if err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
			strict := func(v any) {
				d := json.NewDecoder(bytes.NewReader(js))
				d.DisallowUnknownFields()
				if err := d.Decode(v); err != nil {
					t.Errorf("%s: %v %v: %v", f.Path, m["kind"], m["metadata"], err)
				}
			}
			switch m["apiVersion"].(string) + "/" + m["kind"].(string) {
			case "apps/v1/StatefulSet":
				var o appsv1.StatefulSet
				strict(&o)
				objs.StatefulSets[o.Name] = &o
			case "apps/v1/Deployment":
				var o appsv1.Deployment
				strict(&o)
				objs.Deployments[o.Name] = &o
			case "v1/Service":
				var o corev1.Service
				strict(&o)
				objs.Services[o.Name] = &o
			case "v1/Secret":
				var o corev1.Secret
				strict(&o)
				objs.Secrets[o.Name] = &o
			case "v1/PersistentVolumeClaim":
				var o corev1.PersistentVolumeClaim
				strict(&o)
				objs.PVCs[o.Name] = &o
			}
		}
	}
	return objs
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkPostgres: PostgreSQL runs like MinIO and Redis (auto-deploy manifests
// of the first server): a StatefulSet with a volume, a Service, the password
// in Secret postgres-auth, and TRANSCEPT_DATABASE_URL in transcept-config
// pointing at that Service with those credentials.
func checkPostgres(t *testing.T, cc *cloudConfig) {
	t.Helper()
	objs := decodeTyped(t, cc)
	ss, ok := objs.StatefulSets["postgres"]
	if !ok {
		t.Fatal("no StatefulSet postgres")
	}
	svc, ok := objs.Services["postgres"]
	if !ok {
		t.Fatal("no Service postgres")
	}
	auth, ok := objs.Secrets["postgres-auth"]
	if !ok {
		t.Fatal("no Secret postgres-auth")
	}
	cfg, ok := objs.Secrets["transcept-config"]
	if !ok {
		t.Fatal("no Secret transcept-config")
	}
	ns := ss.Namespace
	for _, o := range []string{svc.Namespace, auth.Namespace, cfg.Namespace} {
		if o != ns || ns == "" {
			t.Errorf("PostgreSQL objects in namespaces %q and %q", ns, o)
		}
	}

	// StatefulSet: one replica, its governing Service, a claim per pod.
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 1 {
		t.Errorf("postgres replicas %v, want 1", ss.Spec.Replicas)
	}
	if ss.Spec.ServiceName != svc.Name {
		t.Errorf("postgres serviceName %q, want %s", ss.Spec.ServiceName, svc.Name)
	}
	pod := ss.Spec.Template
	if ss.Spec.Selector == nil || !matches(ss.Spec.Selector.MatchLabels, pod.Labels) {
		t.Errorf("postgres selector %v does not match its pods' labels %v", ss.Spec.Selector, pod.Labels)
	}
	if !matches(svc.Spec.Selector, pod.Labels) {
		t.Errorf("Service postgres selector %v does not match the pods' labels %v", svc.Spec.Selector, pod.Labels)
	}
	if len(ss.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("postgres volumeClaimTemplates: %d, want 1", len(ss.Spec.VolumeClaimTemplates))
	}
	claim := ss.Spec.VolumeClaimTemplates[0]
	if q := claim.Spec.Resources.Requests[corev1.ResourceStorage]; q.IsZero() {
		t.Errorf("postgres claim %s requests no storage", claim.Name)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("postgres pod has %d containers", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if !pinnedImage.MatchString(c.Image) || strings.HasSuffix(c.Image, ":latest") {
		t.Errorf("postgres image %q is not pinned to an exact tag or digest", c.Image)
	}
	vars, err := os.ReadFile(filepath.Join(repoRoot(t), "terraform", "variables.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(vars), `"`+c.Image+`"`) {
		t.Errorf("postgres image %s is not the postgres_image default in variables.tf", c.Image)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, k := range []string{"POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD"} {
		e := env[k]
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != auth.Name || e.ValueFrom.SecretKeyRef.Key != k {
			t.Errorf("postgres env %s must come from Secret %s key %s, got %+v", k, auth.Name, k, e)
		}
	}
	mounted := false
	for _, vm := range c.VolumeMounts {
		if vm.Name == claim.Name {
			pgdata := env["PGDATA"].Value
			// initdb wants an empty directory: PGDATA below the mount point
			// (where lost+found or the provisioner's files may be).
			mounted = pgdata != "" && strings.HasPrefix(pgdata, strings.TrimSuffix(vm.MountPath, "/")+"/")
		}
	}
	if !mounted {
		t.Errorf("postgres: claim %s not mounted above PGDATA %q", claim.Name, env["PGDATA"].Value)
	}
	port := int32(0)
	for _, p := range c.Ports {
		if p.Name == svc.Spec.Ports[0].TargetPort.String() || p.ContainerPort == svc.Spec.Ports[0].TargetPort.IntVal {
			port = p.ContainerPort
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 5432 || port != 5432 {
		t.Errorf("Service postgres ports %+v, container port %d: want 5432 to 5432", svc.Spec.Ports, port)
	}
	if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service postgres type %s: the database stays inside the cluster", svc.Spec.Type)
	}
	if c.ReadinessProbe == nil {
		t.Errorf("postgres has no readiness probe")
	}
	if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("postgres must run as non-root")
	}

	// The URL the functions read: this Service, these credentials.
	pw := auth.StringData["POSTGRES_PASSWORD"]
	if !regexp.MustCompile(`^[0-9a-f]{32,}$`).MatchString(pw) {
		t.Errorf("postgres password %q: want a long derived hex secret", pw)
	}
	for _, other := range []string{objs.Secrets["minio-root"].StringData["MINIO_ROOT_PASSWORD"], objs.Secrets["redis-auth"].StringData["REDIS_PASSWORD"]} {
		if other == pw {
			t.Errorf("postgres shares its password with another service")
		}
	}
	raw := cfg.StringData["TRANSCEPT_DATABASE_URL"]
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		t.Fatalf("transcept-config TRANSCEPT_DATABASE_URL %q: %v", raw, err)
	}
	gotPW, _ := u.User.Password()
	if u.Scheme != "postgres" || u.Host != "postgres."+ns+".svc.cluster.local:5432" ||
		u.User.Username() != auth.StringData["POSTGRES_USER"] || gotPW != pw || u.Path != "/"+auth.StringData["POSTGRES_DB"] {
		t.Errorf("TRANSCEPT_DATABASE_URL %s does not name the postgres Service with the postgres-auth credentials", u.Redacted())
	}
}
