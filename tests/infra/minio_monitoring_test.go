package infra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// policy is an S3/MinIO IAM policy document.
type policy struct {
	Version   string `json:"Version"`
	Statement []struct {
		Sid      string   `json:"Sid"`
		Effect   string   `json:"Effect"`
		Action   []string `json:"Action"`
		Resource []string `json:"Resource"`
	} `json:"Statement"`
}

// allows evaluates the policy (Allow statements, * wildcards) for one request.
func (p *policy) allows(action, arn string) bool {
	for _, st := range p.Statement {
		if st.Effect != "Allow" {
			continue
		}
		for _, a := range st.Action {
			if !wildcard(a, action) {
				continue
			}
			for _, r := range st.Resource {
				if wildcard(r, arn) {
					return true
				}
			}
		}
	}
	return false
}

func wildcard(pattern, s string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	return regexp.MustCompile(re).MatchString(s)
}

// TestMinIOPolicies: least privilege per function, as a table of requests
// each function must and must not be able to make.
func TestMinIOPolicies(t *testing.T) {
	m := load(t)
	cm, ok := m.ConfigMaps["transcept/transcept-minio-policies"]
	if !ok {
		t.Fatal("no ConfigMap transcept-minio-policies")
	}
	obj := func(bucket, key string) string { return "arn:aws:s3:::" + bucket + "/" + key }
	const id = "20261127-013012-3f9a1c2e"
	type req struct{ action, arn string }
	get := func(b, k string) req { return req{"s3:GetObject", obj(b, k)} }
	put := func(b, k string) req { return req{"s3:PutObject", obj(b, k)} }
	raw, model := "raw-inputs", "models"
	pre, ev := "preprocessed", "eval"
	cases := map[string]struct{ allow, deny []req }{
		"ingest": {
			allow: []req{get(raw, id+"/lecture.srt")},
			deny:  []req{put(raw, id+"/x"), get(pre, id+"/summary.json"), get(model, "whisper/config.json")},
		},
		"transcribe": {
			allow: []req{get(raw, id+"/lecture.mp4"), put(pre, id+"/transcript.json"), get(pre, id+"/transcript.json"), get(model, "whisper/onnx/encoder_model.onnx")},
			deny:  []req{put(raw, id+"/x"), put(pre, id+"/summary.json"), put(model, "x")},
		},
		"segment": {
			allow: []req{get(pre, id+"/transcript.json"), put(pre, id+"/chunks.json"),
				get(ev, "set/current.json"), get(ev, "set-0123456789abcdef/vocabulary.txt"), put(ev, "drift-2026-12-03/"+id+".json")},
			deny: []req{get(raw, id+"/lecture.srt"), put(pre, id+"/transcript.json"), put(pre, id+"/summary.json"),
				put(ev, "set/current.json"), get(ev, "set-0123456789abcdef/audio,jfk.flac"), put(ev, "reports-2026-12-03/x.json")},
		},
		// The nightly evaluation reads the eval set, the input profiles and
		// the models, writes its reports there and beside registry versions.
		"eval": {
			allow: []req{get(ev, "set/current.json"), get(ev, "set-0123456789abcdef/audio,jfk.flac"), get(ev, "drift-2026-12-03/"+id+".json"),
				put(ev, "reports-2026-12-03/summarize-bart-x.json"), get(model, "bart/abc=onnx,encoder_model.onnx"), put(model, "bart/0123.report.20261203T030000.000000000Z.json"),
				{"s3:ListBucket", "arn:aws:s3:::eval"}},
			deny: []req{put(ev, "set/current.json"), put(ev, "set-0123456789abcdef/manifest.json"), put(model, "bart/abc=onnx,encoder_model.onnx"),
				put(model, "bart/alias.champion.000001.json"), get(pre, id+"/transcript.json"), get(raw, id+"/lecture.srt")},
		},
		"summarize": {
			allow: []req{get(pre, id+"/chunks.json"), put(pre, id+"/summary.json"), get(model, "bart/onnx/decoder_model_merged.onnx")},
			deny:  []req{get(raw, id+"/lecture.srt"), put(pre, id+"/chunks.json"), put(pre, id+"/index.json")},
		},
		"index": {
			allow: []req{get(pre, id+"/chunks.json"), put(pre, id+"/index.json")},
			deny:  []req{put(pre, id+"/summary.json"), get(raw, id+"/lecture.srt")},
		},
		"answer": {
			allow: []req{get(pre, id+"/index.json"), get(pre, id+"/chunks.json")},
			deny:  []req{put(pre, id+"/index.json"), get(raw, id+"/lecture.srt"), put(raw, id+"/x")},
		},
		// The gateway writes uploads through its API and signs the PUT URLs of
		// direct-to-bucket uploads (raw-inputs/<lecture_id>/<name>), which
		// MinIO checks against its policy; it never reads, lists or deletes
		// raw inputs (ingest reads them).
		"gateway": {
			allow: []req{put(raw, id+"/lecture.srt"), put(raw, id+"/Lecture 3 (recording).mp4"), get(pre, id+"/summary.json"), put(pre, id+"/failed.json"), put(pre, id+"/lecture.json"), {"s3:ListBucket", "arn:aws:s3:::preprocessed"}},
			deny: []req{put(model, "x"), get(model, "x"), {"s3:DeleteBucket", "arn:aws:s3:::raw-inputs"},
				get(raw, id+"/lecture.srt"), {"s3:DeleteObject", obj(raw, id+"/lecture.srt")}, {"s3:ListBucket", "arn:aws:s3:::raw-inputs"},
				{"s3:PutBucketPolicy", "arn:aws:s3:::raw-inputs"}, {"s3:PutBucketNotification", "arn:aws:s3:::raw-inputs"}},
		},
	}
	var files []string
	for k := range cm.Data {
		files = append(files, strings.TrimSuffix(k, ".json"))
	}
	sort.Strings(files)
	var services []string
	for name := range m.Services {
		services = append(services, fnName(name))
	}
	sort.Strings(services)
	if strings.Join(files, " ") != strings.Join(services, " ") {
		t.Errorf("policies for %v, Services %v", files, services)
	}
	for fn, c := range cases {
		raw, ok := cm.Data[fn+".json"]
		if !ok {
			t.Errorf("no policy for %s", fn)
			continue
		}
		var p policy
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Errorf("%s.json: %v", fn, err)
			continue
		}
		if p.Version != "2012-10-17" {
			t.Errorf("%s.json: Version %q", fn, p.Version)
		}
		for _, st := range p.Statement {
			for _, a := range st.Action {
				if !strings.HasPrefix(a, "s3:") || strings.Contains(a, "*") {
					t.Errorf("%s.json: action %s: name s3 actions one by one", fn, a)
				}
			}
			for _, r := range st.Resource {
				if !regexp.MustCompile(`^arn:aws:s3:::(raw-inputs|preprocessed|models|eval)(/.*)?$`).MatchString(r) {
					t.Errorf("%s.json: resource %s outside the four buckets", fn, r)
				}
			}
		}
		for _, r := range c.allow {
			if !p.allows(r.action, r.arn) {
				t.Errorf("%s cannot %s %s", fn, r.action, r.arn)
			}
		}
		for _, r := range c.deny {
			if p.allows(r.action, r.arn) {
				t.Errorf("%s may %s %s (least privilege)", fn, r.action, r.arn)
			}
		}
		// The gateway's grants, exactly: presigned uploads added nothing but
		// s3:PutObject on raw-inputs/*.
		if fn == "gateway" {
			var got []string
			for _, st := range p.Statement {
				for _, a := range st.Action {
					for _, r := range st.Resource {
						got = append(got, st.Effect+" "+a+" "+r)
					}
				}
			}
			sort.Strings(got)
			want := []string{
				"Allow s3:DeleteObject arn:aws:s3:::preprocessed/*",
				"Allow s3:GetBucketLocation arn:aws:s3:::preprocessed",
				"Allow s3:GetObject arn:aws:s3:::preprocessed/*",
				"Allow s3:ListBucket arn:aws:s3:::preprocessed",
				"Allow s3:PutObject arn:aws:s3:::preprocessed/*",
				"Allow s3:PutObject arn:aws:s3:::raw-inputs/*",
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("gateway.json grants:\n%s\nwant exactly:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
}

// TestMinIOSetup: the webhook points at ingest's cluster-local address, the
// Job configures every function's credentials, buckets and the subscription.
func TestMinIOSetup(t *testing.T) {
	m := load(t)
	notify, ok := m.ConfigMaps["transcept/transcept-minio-notify"]
	if !ok {
		t.Fatal("no ConfigMap transcept-minio-notify")
	}
	if notify.Data["MINIO_NOTIFY_WEBHOOK_ENABLE_TRANSCEPT"] != "on" {
		t.Errorf("MINIO_NOTIFY_WEBHOOK_ENABLE_TRANSCEPT must be on")
	}
	// Knative's cluster-local address of the ingest Service.
	if got, want := notify.Data["MINIO_NOTIFY_WEBHOOK_ENDPOINT_TRANSCEPT"], "http://"+ingestName+"."+namespace+".svc.cluster.local"; got != want {
		t.Errorf("webhook endpoint %q, want %q", got, want)
	}
	if m.Services[ingestName].Labels["networking.knative.dev/visibility"] != "cluster-local" {
		t.Errorf("%s should be cluster-local: only MinIO calls it", ingestName)
	}
	scripts, ok := m.ConfigMaps["transcept/transcept-minio-scripts"]
	if !ok {
		t.Fatal("no ConfigMap transcept-minio-scripts")
	}
	setup := scripts.Data["setup.sh"]
	for _, want := range []string{"local/$b", "raw-inputs preprocessed models eval", "mc admin policy create", "mc admin user add", "mc admin policy attach",
		"arn:minio:sqs::TRANSCEPT:webhook", `mc event add local/raw-inputs "$ARN" --event put`} {
		if !strings.Contains(setup, want) {
			t.Errorf("setup.sh lacks %q", want)
		}
	}
	if !strings.Contains(scripts.Data["credentials.sh"], `name="transcept-minio-$fn"`) {
		t.Errorf("credentials.sh does not create transcept-minio-<fn> Secrets")
	}
	job, ok := m.Jobs["transcept-minio-setup"]
	if !ok {
		t.Fatal("no Job transcept-minio-setup")
	}
	var services []string
	for name := range m.Services {
		services = append(services, fnName(name))
	}
	sort.Strings(services)
	pod := job.Spec.Template.Spec
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		if !pinnedImage.MatchString(c.Image) || strings.HasSuffix(c.Image, ":latest") {
			t.Errorf("Job container %s: image %s not pinned", c.Name, c.Image)
		}
		env := map[string]string{}
		refs := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				refs[e.Name] = e.ValueFrom.SecretKeyRef.Name + ":" + e.ValueFrom.SecretKeyRef.Key
			}
		}
		fns := strings.Fields(env["FUNCTIONS"])
		sort.Strings(fns)
		if strings.Join(fns, " ") != strings.Join(services, " ") {
			t.Errorf("Job container %s: FUNCTIONS %v, want the Services' %v", c.Name, fns, services)
		}
		if c.Name != "setup" {
			continue
		}
		for _, fn := range services {
			up := strings.ToUpper(fn)
			if refs[up+"_ACCESS_KEY"] != "transcept-minio-"+fn+":accessKey" || refs[up+"_SECRET_KEY"] != "transcept-minio-"+fn+":secretKey" {
				t.Errorf("setup container does not read transcept-minio-%s", fn)
			}
		}
	}
	if job.Spec.TTLSecondsAfterFinished == nil {
		t.Errorf("the Job should delete itself when done, so that the next apply runs it again")
	}
}

// TestTerraformConsistency: what infra/ reads from the bootstrap exists there.
func TestTerraformConsistency(t *testing.T) {
	m := load(t)
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "terraform", "manifests", "data.yaml.tftpl"))
	if err != nil {
		t.Skipf("terraform manifests not found: %v", err)
	}
	tf := string(data)
	for _, key := range []string{"MINIO_ENDPOINT:", "REDIS_URL:", "MINIO_SECURE:", "TRANSCEPT_DATABASE_URL:", "name: transcept-config", "name: minio-root", "MINIO_ROOT_USER:", "MINIO_ROOT_PASSWORD:"} {
		if !strings.Contains(tf, key) {
			t.Errorf("terraform/manifests/data.yaml.tftpl has no %q, which infra/ reads", key)
		}
	}
	// Every key a Service requires from transcept-config is in the bootstrap's Secret.
	cfg := tf[strings.Index(tf, "name: transcept-config"):]
	if end := strings.Index(cfg, "\n---"); end >= 0 {
		cfg = cfg[:end]
	}
	for name, s := range m.Services {
		for _, e := range s.Spec.Template.Spec.Containers[0].Env {
			ref := secretRef(e)
			if ref == nil || ref.Name != "transcept-config" || (ref.Optional != nil && *ref.Optional) {
				continue
			}
			if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(ref.Key) + `:`).MatchString(cfg) {
				t.Errorf("%s reads transcept-config key %s, which the terraform bootstrap's Secret lacks", name, ref.Key)
			}
		}
	}
	nvidia, err := os.ReadFile(filepath.Join(root, "terraform", "manifests", "nvidia.yaml.tftpl"))
	if err == nil && !regexp.MustCompile(`(?m)kind: RuntimeClass\s*\nmetadata:\s*\n\s+name: nvidia`).Match(nvidia) {
		t.Errorf("the bootstrap no longer defines RuntimeClass nvidia, which the GPU stages use")
	}
	vars, err := os.ReadFile(filepath.Join(root, "terraform", "variables.tf"))
	if err == nil {
		for _, want := range []string{`"` + gpuNodeLabel + `=true"`, `"nvidia.com/gpu=`} {
			if !strings.Contains(string(vars), want) {
				t.Errorf("terraform/variables.tf default GPU label/taint changed (want %s); update infra/serving", want)
			}
		}
	}
}

// Metric names the functions export (shared/metrics).
var metricNames = map[string]bool{
	"transcept_http_requests_total":           true,
	"transcept_http_request_duration_seconds": true,
	"transcept_stage_duration_seconds":        true,
	"transcept_cache_requests_total":          true,
	"transcept_engine_info":                   true,
	"transcept_events_total":                  true,
	"transcept_lectures_total":                true,
	"transcept_model_load_seconds":            true,
	"transcept_stage_lectures_total":          true,
	"transcept_model_run_duration_seconds":    true,
	"transcept_model_tokens_total":            true,
	"transcept_queue_jobs":                    true,
	// The nightly evaluation and input drift (shared/metrics/eval.go).
	"transcept_eval_score":                      true,
	"transcept_eval_latency_seconds":            true,
	"transcept_eval_last_run_timestamp_seconds": true,
	"transcept_eval_runs_total":                 true,
	"transcept_eval_set_items":                  true,
	"transcept_drift_score":                     true,
	"transcept_retrain_requests_total":          true,
	"transcept_input_words":                     true,
	"transcept_input_language_total":            true,
	"transcept_input_no_speech_ratio":           true,
	"transcept_input_oov_ratio":                 true,
}

var metricRef = regexp.MustCompile(`\btranscept_[a-z_]+`)

func checkMetricNames(t *testing.T, where, expr string) {
	t.Helper()
	for _, name := range metricRef.FindAllString(expr, -1) {
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(name, suf) && metricNames[strings.TrimSuffix(name, suf)] {
				base = strings.TrimSuffix(name, suf)
			}
		}
		if !metricNames[base] {
			t.Errorf("%s uses %s, which no function exports", where, name)
		}
	}
}

// TestMonitoring: scrape targets, rules and dashboard use our metric names,
// the rules cover errors, dead letters and stage latency, and Grafana's
// sidecar label is on the dashboard.
func TestMonitoring(t *testing.T) {
	m := load(t)
	// The names really are the ones shared/metrics registers.
	var src []byte
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "shared", "metrics", "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	for name := range metricNames {
		if !strings.Contains(string(src), `"`+name+`"`) {
			t.Errorf("shared/metrics no longer registers %s", name)
		}
	}
	if len(m.PodMonitors) != 1 {
		t.Fatalf("want one PodMonitor, got %d", len(m.PodMonitors))
	}
	pm := m.PodMonitors[0]
	if pm.Spec.Selector.MatchLabels["app.kubernetes.io/part-of"] != "transcept" {
		t.Errorf("PodMonitor does not select the functions' pods")
	}
	for name, s := range m.Services {
		if s.Spec.Template.Labels["app.kubernetes.io/part-of"] != "transcept" {
			t.Errorf("Service %s: pods lack app.kubernetes.io/part-of=transcept (the PodMonitor's selector)", name)
		}
	}
	if ep := pm.Spec.PodMetricsEndpoints; len(ep) != 1 || ep[0].Path != "/metrics" || ep[0].Port != "user-port" {
		t.Errorf("PodMonitor must select the user-port target (Knative's name for the user container port) and scrape /metrics; TestMetricsScrape checks it moves to the metrics port")
	}
	var exprs []string
	alerts := map[string]string{}
	for _, r := range m.Rules {
		for _, g := range r.Spec.Groups {
			for _, rule := range g.Rules {
				exprs = append(exprs, rule.Expr)
				checkMetricNames(t, "rule "+rule.Alert+rule.Record, rule.Expr)
				if rule.Alert != "" {
					alerts[rule.Alert] = rule.Expr
					if rule.Annotations["summary"] == "" || rule.Labels["severity"] == "" {
						t.Errorf("alert %s needs a summary and a severity", rule.Alert)
					}
				}
			}
		}
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{`transcept_events_total{outcome="dead_letter"}`, `status=~"5.."`, "transcept_stage_duration_seconds_bucket"} {
		if !strings.Contains(all, want) {
			t.Errorf("no rule uses %s", want)
		}
	}
	cm, ok := m.ConfigMaps["transcept/transcept-grafana-dashboard"]
	if !ok {
		t.Fatal("no dashboard ConfigMap")
	}
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap lacks grafana_dashboard=1 (the sidecar's label)")
	}
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	// Every dashboard in the folder is in the ConfigMap, and only those.
	onDisk, _ := filepath.Glob(filepath.Join(repoRoot(t), "infra", "monitoring", "dashboards", "*.json"))
	if len(cm.Data) != len(onDisk) || len(onDisk) == 0 {
		t.Fatalf("dashboard ConfigMap has %d keys, infra/monitoring/dashboards %d files", len(cm.Data), len(onDisk))
	}
	used := map[string]bool{}
	uids := map[string]bool{}
	for _, f := range onDisk {
		key := filepath.Base(f)
		js, ok := cm.Data[key]
		if !ok {
			t.Fatalf("dashboard %s is not in the ConfigMap (infra/monitoring/kustomization.yaml)", key)
		}
		dash.UID, dash.Panels = "", nil
		if err := json.Unmarshal([]byte(js), &dash); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if dash.UID == "" || uids[dash.UID] || len(dash.Panels) < 3 {
			t.Errorf("dashboard %s: uid %q (must be set and unique), %d panels", key, dash.UID, len(dash.Panels))
		}
		uids[dash.UID] = true
		for _, p := range dash.Panels {
			for _, tg := range p.Targets {
				checkMetricNames(t, "panel "+p.Title, tg.Expr)
				for _, n := range metricRef.FindAllString(tg.Expr, -1) {
					used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")] = true
				}
			}
		}
	}
	for name := range metricNames {
		if !used[name] {
			t.Errorf("no dashboard shows %s", name)
		}
	}
}
