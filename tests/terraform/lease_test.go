package terraform_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fakeOpenstack is an `openstack` CLI stand-in: it logs its arguments, creates
// the lease on `lease create`, and answers `lease show` the way python-blazarclient
// prints reservations (a JSON string holding one object per line).
const fakeOpenstack = `#!/usr/bin/env bash
set -euo pipefail
printf '%s\n' "$*" >>"$FAKE_DIR/calls"
case "$*" in
"reservation lease show "*" -f value -c id")
	[[ -f "$FAKE_DIR/lease" ]] && echo lease-id || { echo "No lease found" >&2; exit 1; } ;;
"reservation lease create "*)
	printf '%s\n' "$@" >"$FAKE_DIR/create-args"
	touch "$FAKE_DIR/lease" ;;
"reservation lease show "*" -f json")
	cat <<'JSON'
{"id": "lease-id", "name": "transcept-test", "status": "ACTIVE", "end_date": "2030-01-02T03:04:00.000000",
 "reservations": "{\"id\": \"res-gpu-1\", \"resource_type\": \"physical:host\", \"min\": 3, \"max\": 3, \"resource_properties\": \"[\\\"=\\\", \\\"$node_type\\\", \\\"gpu_a100_pcie\\\"]\"}\n{\"id\": \"res-cpu-2\", \"resource_type\": \"physical:host\", \"min\": 1, \"max\": 1, \"resource_properties\": \"[\\\"=\\\", \\\"$node_type\\\", \\\"compute_cascadelake_r\\\"]\"}"}
JSON
	;;
"network show public -f value -c id") echo ext-net-public ;;
*) echo "fake openstack: unexpected: $*" >&2; exit 2 ;;
esac
`

func TestGPULeaseScript(t *testing.T) {
	for _, bin := range []string{"bash", "python3"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not on PATH: %v", bin, err)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "openstack"), []byte(fakeOpenstack), 0o755); err != nil {
		t.Fatal(err)
	}
	tfvars := filepath.Join(dir, "lease.auto.tfvars")
	script := filepath.Join(repoRoot(t), "terraform", "scripts", "gpu-lease.sh")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(script, args...)
		cmd.Env = []string{
			"PATH=" + bin + ":" + os.Getenv("PATH"),
			"HOME=" + dir,
			"FAKE_DIR=" + dir,
			"OS_AUTH_URL=http://127.0.0.1:9/v3",
			"OS_REGION_NAME=CHI@TACC",
			"LEASE_NAME=transcept-test",
			"GPU_NODE_TYPE=gpu_a100_pcie",
			"GPU_NODES=3",
			"CPU_NODES=1",
			"DURATION_HOURS=48",
			"TFVARS=" + tfvars,
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gpu-lease.sh %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	run("create")

	b, err := os.ReadFile(filepath.Join(dir, "create-args"))
	if err != nil {
		t.Fatalf("the lease was not created: %v", err)
	}
	args := strings.Split(strings.TrimSpace(string(b)), "\n")
	wantArgs := []string{
		"reservation", "lease", "create",
		"--reservation", `min=3,max=3,resource_type=physical:host,resource_properties=["=", "$node_type", "gpu_a100_pcie"]`,
		"--reservation", `min=1,max=1,resource_type=physical:host,resource_properties=["=", "$node_type", "compute_cascadelake_r"]`,
		"--end-date",
	}
	if len(args) != len(wantArgs)+2 || strings.Join(args[:len(wantArgs)], "\x00") != strings.Join(wantArgs, "\x00") {
		t.Fatalf("lease create arguments:\n%q\nwant prefix\n%q", args, wantArgs)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d$`).MatchString(args[len(wantArgs)]) || args[len(args)-1] != "transcept-test" {
		t.Errorf("end date / name: %q", args[len(wantArgs):])
	}

	vars, err := os.ReadFile(tfvars)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`site                = "CHI@TACC"`,
		`gpu_reservation_id  = "res-gpu-1"`,
		`cpu_reservation_id  = "res-cpu-2"`,
		"gpu_node_count      = 3",
		"cpu_node_count      = 0",
		`external_network_id = "ext-net-public"`,
	} {
		if !strings.Contains(string(vars), want+"\n") {
			t.Errorf("tfvars lacks %q:\n%s", want, vars)
		}
	}
	token := regexp.MustCompile(`(?m)^k3s_token += "([0-9a-f]{64})"$`).FindStringSubmatch(string(vars))
	if token == nil {
		t.Fatalf("tfvars has no 64-hex-digit k3s_token:\n%s", vars)
	}
	if fi, _ := os.Stat(tfvars); fi.Mode().Perm() != 0o600 {
		t.Errorf("tfvars mode %v, want 0600 (it holds the join token)", fi.Mode().Perm())
	}

	// A second run reuses the lease and keeps the token the cluster depends on.
	run("create")
	again, _ := os.ReadFile(tfvars)
	if !strings.Contains(string(again), token[1]) {
		t.Errorf("the k3s token changed on a second run")
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	if n := strings.Count(string(calls), "reservation lease create"); n != 1 {
		t.Errorf("lease created %d times, want once", n)
	}

	// What the script writes is what the configuration takes.
	t.Run("plans", func(t *testing.T) {
		w := newWorkspace(t, requireTools(t))
		w.mustTofu("", "plan", "-input=false", "-lock=false", "-no-color", "-var-file="+tfvars)
		if n := w.probe.conns.Load(); n != 0 {
			t.Errorf("plan reached the identity endpoint %d times", n)
		}
	})

	// DRY_RUN prints the change instead of making it.
	cmd := exec.Command(script, "delete")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_DIR="+dir, "OS_AUTH_URL=http://127.0.0.1:9/v3", "LEASE_NAME=transcept-test", "DRY_RUN=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "DRY_RUN: openstack reservation lease delete transcept-test") {
		t.Errorf("dry-run delete: %v\n%s", err, out)
	}
}
