package terraform_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// renderUserData asks `tofu console` for every node's rendered cloud-init
// (local.user_data) under the scenario's variables. The value travels as
// base64 of JSON so that the console's HCL quoting cannot alter it.
func renderUserData(t *testing.T, w *workspace, scenario string) map[string]string {
	t.Helper()
	varFile := filepath.Join(filepath.Dir(w.dir), scenario+".tfvars.json")
	out := w.mustTofu("base64encode(nonsensitive(jsonencode(local.user_data)))\n", "console", "-no-color", "-var-file="+varFile)
	enc := strings.Trim(strings.TrimSpace(out), `"`)
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("console output is not base64 (%v): %.200s", err, out)
	}
	var ud map[string]string
	if err := json.Unmarshal(raw, &ud); err != nil {
		t.Fatalf("decode rendered user_data: %v", err)
	}
	return ud
}

type cloudConfig struct {
	PackageUpdate bool     `yaml:"package_update"`
	Packages      []string `yaml:"packages"`
	WriteFiles    []struct {
		Path        string `yaml:"path"`
		Owner       string `yaml:"owner"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
	Runcmd       [][]string `yaml:"runcmd"`
	FinalMessage string     `yaml:"final_message"`
}

func (c *cloudConfig) file(path string) (string, bool) {
	for _, f := range c.WriteFiles {
		if f.Path == path {
			return f.Content, true
		}
	}
	return "", false
}

type nodeWant struct {
	role           string // server or agent
	gpu            bool
	labels, taints []string
	addons         bool // installs the platform and carries the manifests
}

type cloudInitWant struct {
	serverURL, token string
	roles            map[string]nodeWant
}

const manifestDir = "/var/lib/rancher/k3s/server/manifests/"

func checkCloudInit(t *testing.T, rendered map[string]string, want cloudInitWant) {
	t.Helper()
	if len(rendered) != len(want.roles) {
		t.Errorf("rendered cloud-init for %d nodes, want %d", len(rendered), len(want.roles))
	}
	root := repoRoot(t)
	bootstrap, err := os.ReadFile(filepath.Join(root, "terraform/scripts/k3s-bootstrap.sh"))
	if err != nil {
		t.Fatal(err)
	}
	addons, err := os.ReadFile(filepath.Join(root, "terraform/scripts/install-addons.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for node, nw := range want.roles {
		t.Run(node, func(t *testing.T) {
			ud, ok := rendered[node]
			if !ok {
				t.Fatalf("no cloud-init rendered for %s", node)
			}
			if !strings.HasPrefix(ud, "#cloud-config\n") {
				t.Fatalf("does not start with #cloud-config: %.60q", ud)
			}
			// Nova takes at most 65535 bytes of base64-encoded user data.
			if n := base64.StdEncoding.EncodedLen(len(ud)); n > 65535 {
				t.Errorf("user data is %d bytes base64-encoded; Nova's limit is 65535", n)
			}
			cloudInitSchema(t, ud)
			var cc cloudConfig
			dec := yaml.NewDecoder(strings.NewReader(ud))
			dec.KnownFields(true)
			if err := dec.Decode(&cc); err != nil {
				t.Fatalf("cloud-init is not valid YAML for its schema: %v", err)
			}

			// The scripts arrive byte for byte (YAML block indentation intact).
			if got, _ := cc.file("/opt/transcept/k3s-bootstrap.sh"); got != string(bootstrap) {
				t.Errorf("k3s-bootstrap.sh differs after rendering and parsing")
			}
			got, has := cc.file("/opt/transcept/install-addons.sh")
			if nw.role == "server" && got != string(addons) {
				t.Errorf("install-addons.sh missing or altered on a server")
			}
			if nw.role != "server" && has {
				t.Errorf("agent carries install-addons.sh")
			}
			if len(cc.Runcmd) != 1 || !strings.Contains(strings.Join(cc.Runcmd[0], " "), "/opt/transcept/k3s-bootstrap.sh") {
				t.Errorf("runcmd does not run the bootstrap: %v", cc.Runcmd)
			}

			envText, ok := cc.file("/etc/transcept/node.env")
			if !ok {
				t.Fatal("no /etc/transcept/node.env")
			}
			env := sourceEnv(t, envText)
			for k, v := range map[string]string{
				"TRANSCEPT_ROLE":            nw.role,
				"TRANSCEPT_GPU":             boolString(nw.gpu),
				"TRANSCEPT_SERVER_URL":      want.serverURL,
				"K3S_TOKEN":                 want.token,
				"TRANSCEPT_INSTALL_ADDONS":  boolString(nw.addons),
				"TRANSCEPT_NODE_LABELS":     strings.Join(nw.labels, " "),
				"TRANSCEPT_NODE_TAINTS":     strings.Join(nw.taints, " "),
				"TRANSCEPT_KNATIVE_VERSION": "1.23.0",
			} {
				if env[k] != v {
					t.Errorf("node.env %s = %q, want %q", k, env[k], v)
				}
			}
			if env["TRANSCEPT_DEPLOY_INFRA"] != "true" || !strings.HasPrefix(env["TRANSCEPT_REPO_URL"], "https://") || env["TRANSCEPT_GIT_REF"] == "" {
				t.Errorf("infra/ settings: deploy=%q repo=%q ref=%q", env["TRANSCEPT_DEPLOY_INFRA"], env["TRANSCEPT_REPO_URL"], env["TRANSCEPT_GIT_REF"])
			}

			var manifests []string
			for _, f := range cc.WriteFiles {
				if strings.HasPrefix(f.Path, manifestDir) {
					manifests = append(manifests, f.Path)
					if f.Permissions != "0600" {
						t.Errorf("%s: permissions %s, want 0600 (it holds secrets)", f.Path, f.Permissions)
					}
				}
			}
			if !nw.addons {
				if len(manifests) > 0 {
					t.Errorf("manifests on a node that does not install the platform: %v", manifests)
				}
				return
			}
			checkManifests(t, &cc)
		})
	}
}

// cloudInitSchema validates against cloud-init's own JSON schema when the
// cloud-init package is installed (Debian: apt-get install cloud-init).
func cloudInitSchema(t *testing.T, ud string) {
	t.Helper()
	bin, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Log("cloud-init not installed: schema check skipped (YAML structure still checked)")
		return
	}
	f := filepath.Join(t.TempDir(), "user-data.yaml")
	if err := os.WriteFile(f, []byte(ud), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "schema", "-c", f).CombinedOutput(); err != nil {
		t.Errorf("cloud-init schema: %v\n%s", err, out)
	}
}

// sourceEnv loads node.env the way the bootstrap does, with bash.
func sourceEnv(t *testing.T, text string) map[string]string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "node.env")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", "-c", `set -euo pipefail; set -a; . "$1"; env -0`, "bash", f).Output()
	if err != nil {
		t.Fatalf("bash cannot source node.env: %v\n%s", err, text)
	}
	env := map[string]string{}
	for _, kv := range bytes.Split(out, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			env[k] = v
		}
	}
	return env
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// checkManifests parses the auto-deploy manifests of the first server.
func checkManifests(t *testing.T, cc *cloudConfig) {
	t.Helper()
	type object struct {
		APIVersion string         `yaml:"apiVersion"`
		Kind       string         `yaml:"kind"`
		Metadata   map[string]any `yaml:"metadata"`
		Handler    string         `yaml:"handler"`
		Spec       map[string]any `yaml:"spec"`
		StringData map[string]any `yaml:"stringData"`
	}
	objects := map[string]object{} // kind/name
	for _, f := range cc.WriteFiles {
		if !strings.HasPrefix(f.Path, manifestDir) {
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(f.Content))
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: not valid YAML: %v", f.Path, err)
			}
			if o.Kind == "" || o.APIVersion == "" {
				t.Errorf("%s: document without kind/apiVersion", f.Path)
				continue
			}
			objects[o.Kind+"/"+o.Metadata["name"].(string)] = o
		}
	}
	for _, k := range []string{
		"RuntimeClass/nvidia", "DaemonSet/nvidia-device-plugin", "HelmChart/kube-prometheus-stack",
		"Deployment/minio", "Service/minio", "Deployment/redis", "Service/redis", "Secret/transcept-config",
		"StatefulSet/postgres", "Service/postgres", "Secret/postgres-auth",
	} {
		if _, ok := objects[k]; !ok {
			t.Errorf("manifests lack %s", k)
		}
	}
	if rc := objects["RuntimeClass/nvidia"]; rc.Handler != "nvidia" {
		t.Errorf("RuntimeClass nvidia: handler %q", rc.Handler)
	}
	// The device plugin runs only on GPU nodes, through the nvidia runtime, tolerating their taint.
	ds := objects["DaemonSet/nvidia-device-plugin"]
	pod, _ := ds.Spec["template"].(map[string]any)["spec"].(map[string]any)
	if pod["runtimeClassName"] != "nvidia" {
		t.Errorf("device plugin runtimeClassName %v", pod["runtimeClassName"])
	}
	if sel, _ := pod["nodeSelector"].(map[string]any); sel["transcept.io/gpu"] != "true" {
		t.Errorf("device plugin nodeSelector %v", pod["nodeSelector"])
	}
	tol, _ := pod["tolerations"].([]any)
	if !slices.ContainsFunc(tol, func(x any) bool { return x.(map[string]any)["key"] == "nvidia.com/gpu" }) {
		t.Errorf("device plugin does not tolerate nvidia.com/gpu: %v", tol)
	}
	cfg := objects["Secret/transcept-config"].StringData
	for _, k := range []string{"MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "REDIS_URL", "TRANSCEPT_DATABASE_URL"} {
		if s, _ := cfg[k].(string); s == "" {
			t.Errorf("transcept-config lacks %s", k)
		}
	}
	if hc := objects["HelmChart/kube-prometheus-stack"]; hc.Spec["chart"] != "kube-prometheus-stack" || hc.Spec["targetNamespace"] != "monitoring" {
		t.Errorf("HelmChart spec %v", hc.Spec)
	}
	checkPostgres(t, cc)
}
