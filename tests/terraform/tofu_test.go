package terraform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tools are the binaries .ci/tf-tools.sh caches.
type tools struct {
	tofu      string // OpenTofu CLI
	cliConfig string // CLI config whose dev_overrides point at the provider
}

func requireTools(t *testing.T) tools {
	t.Helper()
	dir := os.Getenv("TRANSCEPT_TOOLS_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("no TRANSCEPT_TOOLS_DIR and no home directory: %v", err)
		}
		dir = filepath.Join(home, ".cache", "transcept-bin")
	}
	tl := tools{tofu: filepath.Join(dir, "tofu"), cliConfig: filepath.Join(dir, "tofurc")}
	var missing []string
	for _, p := range []string{tl.tofu, filepath.Join(dir, "providers", "openstack", "terraform-provider-openstack")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	if _, err := os.Stat(tl.cliConfig); err != nil {
		missing = append(missing, tl.cliConfig)
	}
	if len(missing) > 0 {
		msg := "OpenTofu / OpenStack provider not built (missing " + strings.Join(missing, ", ") +
			"): run `make tf-tools` (.ci/tf-tools.sh) first"
		if os.Getenv("TRANSCEPT_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg + " (TRANSCEPT_REQUIRE_SERVICES=1)")
		}
		t.Skip(msg)
	}
	return tl
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// workspace is a private copy of terraform/ with a dummy clouds.yaml, so that
// no state, lock or tfvars file of the real directory is read or written.
type workspace struct {
	t     *testing.T
	tl    tools
	dir   string
	env   []string
	probe *authProbe
}

func newWorkspace(t *testing.T, tl tools) *workspace {
	t.Helper()
	src := filepath.Join(repoRoot(t), "terraform")
	tmp := t.TempDir()
	dst := filepath.Join(tmp, "terraform")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if d.Name() == ".terraform" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		switch ext := filepath.Ext(path); {
		case ext == ".tf", ext == ".tftpl", ext == ".sh" && strings.HasPrefix(rel, "scripts"):
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
		}
		return nil // tfvars, state, plans, docs: not part of the test
	})
	if err != nil {
		t.Fatalf("copy terraform/: %v", err)
	}

	probe := startAuthProbe(t)
	clouds := filepath.Join(tmp, "clouds.yaml")
	// A complete-looking cloud whose Keystone is a loopback listener that only
	// counts connections: the plan must never call it.
	cloudsYAML := `clouds:
  transcept-test:
    auth:
      auth_url: http://` + probe.addr + `/v3
      username: offline
      password: offline
      project_name: offline
      user_domain_name: Default
      project_domain_name: Default
    region_name: CHI@UC
    interface: public
    identity_api_version: 3
`
	if err := os.WriteFile(clouds, []byte(cloudsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TF_CLI_CONFIG_FILE=" + tl.cliConfig,
		"TF_DATA_DIR=" + filepath.Join(tmp, "data"),
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1",
		"OS_CLIENT_CONFIG_FILE=" + clouds,
		"OS_CLOUD=transcept-test",
		"NO_PROXY=*",
	}
	return &workspace{t: t, tl: tl, dir: dst, env: env, probe: probe}
}

// writeVars writes a tfvars JSON file and returns its path.
func (w *workspace) writeVars(name string, vars map[string]any) string {
	w.t.Helper()
	b, err := json.MarshalIndent(vars, "", "  ")
	if err != nil {
		w.t.Fatal(err)
	}
	p := filepath.Join(filepath.Dir(w.dir), name+".tfvars.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// tofu runs the CLI in the workspace and returns stdout, or the error with stderr.
func (w *workspace) tofu(stdin string, args ...string) (string, error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.tl.tofu, append([]string{"-chdir=" + w.dir}, args...)...)
	cmd.Env = w.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), errors.New(err.Error() + ": " + errb.String() + out.String())
	}
	return out.String(), nil
}

func (w *workspace) mustTofu(stdin string, args ...string) string {
	w.t.Helper()
	out, err := w.tofu(stdin, args...)
	if err != nil {
		w.t.Fatalf("tofu %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// authProbe is a loopback TCP listener standing in for Keystone. It answers
// nothing; it counts connections so the test can prove the plan is offline.
type authProbe struct {
	addr  string
	conns atomic.Int64
}

func startAuthProbe(t *testing.T) *authProbe {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("loopback listener: %v", err)
	}
	p := &authProbe{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return p
}
