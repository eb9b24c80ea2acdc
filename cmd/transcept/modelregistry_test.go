package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/registry/gate"
	"github.com/transcept/transcept/tests/testkit/orttest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// inStore runs the CLI against one filesystem store shared by the calls.
func inStore(t *testing.T) func(args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("TRANSCEPT_STORE_DIR", t.TempDir())
	t.Setenv("TRANSCEPT_MODEL_CACHE_DIR", t.TempDir())
	return func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
}

func modelFolder(t *testing.T, weights string) string {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, b := range map[string]string{"config.json": `{"model_type":"bart"}`, "onnx/encoder_model.onnx": weights} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestModelsRegistryCommands(t *testing.T) {
	cli := inStore(t)
	code, v1, errs := cli("models", "push", modelFolder(t, "weights one"), "--name", "tiny", "--by", "alice@lab")
	v1 = strings.TrimSpace(v1)
	if code != 0 || len(v1) != 12 || strings.Contains(v1, " ") {
		t.Fatalf("push: %d %q %s: want the version id alone on stdout", code, v1, errs)
	}
	_, v2, _ := cli("models", "push", modelFolder(t, "weights two"), "--name", "tiny", "--source", "hub:sshleifer/distilbart-cnn-6-6@main")
	v2 = strings.TrimSpace(v2)
	if _, again, _ := cli("models", "push", modelFolder(t, "weights one"), "--name", "tiny"); strings.TrimSpace(again) != v1 {
		t.Fatalf("pushing the same content again gave %q, want %s", again, v1)
	}
	if code, out, errs := cli("models", "alias", "tiny@champion", v1, "--why", "first release", "--by", "alice@lab"); code != 0 || !strings.Contains(out, "(new) -> "+v1) {
		t.Fatalf("alias: %d %q %s", code, out, errs)
	}
	if code, out, errs := cli("models", "alias", "tiny@champion", v2, "--why", "better"); code != 0 || !strings.Contains(out, v1+" -> "+v2) {
		t.Fatalf("alias move: %d %q %s", code, out, errs)
	}
	if code, _, errs := cli("models", "alias", "tiny@previous", "champion"); code != 0 {
		t.Fatalf("alias to another alias: %d %s", code, errs)
	}
	if code, _, _ := cli("models", "alias", "tiny@champion", "0123456789ab"); code != exitNotFound {
		t.Fatalf("alias to a missing version: exit %d", code)
	}
	code, out, _ := cli("models", "history", "tiny")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("history: %d\n%s", code, out)
	}
	f := strings.Split(lines[1], "\t")
	if f[0] != "2" || f[2] != "champion" || f[3] != v1 || f[4] != v2 || f[6] != "better" {
		t.Fatalf("history line %q", lines[1])
	}
	code, out, _ = cli("models", "list", "tiny")
	if code != 0 || !strings.Contains(out, v2) || !strings.Contains(out, "champion,previous") || !strings.Contains(out, "hub:sshleifer/distilbart-cnn-6-6@main") || !strings.Contains(out, "alice@lab") {
		t.Fatalf("list tiny: %d\n%s", code, out)
	}
	code, out, _ = cli("models", "list")
	if code != 0 || !strings.Contains(out, "champion="+v2) || !strings.Contains(out, "distilbart") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if code, _, _ := cli("models", "list", "nothing"); code != exitNotFound {
		t.Fatalf("list of an unknown model: exit %d", code)
	}
}

func needData(t *testing.T) {
	if eval.DataDir() == "" {
		t.Skip("evaluation data (../shared/data) not found; set TRANSCEPT_EVAL_DATA")
	}
}

// The gate fails a gutted candidate with exit 1 and passes an identical one.
func TestEvalGateExtractive(t *testing.T) {
	needData(t)
	cli := inStore(t)
	out := filepath.Join(t.TempDir(), "report.json")
	code, stdout, errs := cli("eval", "gate", "--task", "summarize", "--candidate", "extractive:ratio=0.05", "--baseline", "extractive:ratio=0.3", "--out", out)
	if code != exitFailure || !strings.Contains(errs, "gate failed") || !strings.Contains(errs, "rouge_l") {
		t.Fatalf("gutted candidate: exit %d, want %d\n%s", code, exitFailure, errs)
	}
	var r gate.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Pass || r.Candidate.Metrics.RougeL >= r.Baseline.Metrics.RougeL {
		t.Fatalf("report %+v %v", r, err)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != stdout {
		t.Fatalf("--out file differs from stdout (%v)", err)
	}
	code, _, errs = cli("eval", "gate", "--task", "summarize", "--candidate", "extractive:ratio=0.3", "--baseline", "extractive:ratio=0.3")
	if code != 0 || !strings.Contains(errs, "gate passed") {
		t.Fatalf("identical candidate: exit %d\n%s", code, errs)
	}
	code, _, errs = cli("eval", "gate", "--task", "qa", "--candidate", "extractive:min-coverage=0", "--baseline", "extractive")
	if code != exitFailure || !strings.Contains(errs, "decline") {
		t.Fatalf("qa candidate that never declines: exit %d\n%s", code, errs)
	}
	// A policy file that tolerates anything passes the gutted candidate.
	lax := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(lax, []byte(`{"version":1,"rouge_l_max_drop_points":100,"summeval_items":5}`), 0o644)
	code, _, errs = cli("eval", "gate", "--task", "summarize", "--candidate", "extractive:ratio=0.05", "--baseline", "extractive:ratio=0.3", "--policy", lax)
	if code != 0 {
		t.Fatalf("lax policy: exit %d\n%s", code, errs)
	}
	if code, _, _ := cli("eval", "gate", "--task", "summarize", "--candidate", "extractive:ratio=2", "--baseline", "extractive"); code != exitUsage {
		t.Fatalf("bad spec: exit %d", code)
	}
}

// Registry versions on both sides: a tiny random BART against itself
// passes, and the report is stored with the candidate version.
func TestEvalGateRegistry(t *testing.T) {
	needData(t)
	orttest.Need(t)
	cli := inStore(t)
	dir := filepath.Join(t.TempDir(), "tiny-bart")
	if err := testmodels.WriteBART(dir, testmodels.Tiny()); err != nil {
		t.Fatal(err)
	}
	_, v, _ := cli("models", "push", dir, "--name", "tiny")
	v = strings.TrimSpace(v)
	cli("models", "alias", "tiny@champion", v)
	cli("models", "alias", "tiny@challenger", v)
	policy := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(policy, []byte(`{"version":1,"rouge_l_max_drop_points":0.5,"p95_max_rise":0.2,"p95_min_rise_ms":250,"summeval_items":4,"qmsum_meetings":0}`), 0o644)
	code, stdout, errs := cli("eval", "gate", "--task", "summarize", "--candidate", "tiny@challenger", "--baseline", "tiny@champion", "--policy", policy)
	if code != 0 {
		t.Fatalf("identical registry versions: exit %d\n%s", code, errs)
	}
	var r gate.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Candidate.Version != "tiny@"+v || r.Candidate.Engine != "bart" {
		t.Fatalf("report %+v %v", r.Candidate, err)
	}
	i := strings.Index(errs, "report stored with tiny@"+v+": ")
	if i < 0 {
		t.Fatalf("report not stored:\n%s", errs)
	}
	key := strings.Fields(errs[i+len("report stored with tiny@"+v+": "):])[0]
	if code, _, errs := cli("models", "alias", "tiny@production", v, "--report", key, "--why", "gate passed"); code != 0 {
		t.Fatalf("alias with the report: %d %s", code, errs)
	}
	_, hist, _ := cli("models", "history", "tiny")
	if !strings.Contains(hist, key) {
		t.Fatalf("history does not name the report %s:\n%s", key, hist)
	}
}

// The transcription gate on a tiny random Whisper from the registry against
// itself: the same WER, so it passes.
func TestEvalGateTranscribe(t *testing.T) {
	needData(t)
	orttest.Need(t)
	cli := inStore(t)
	t.Setenv("TRANSCEPT_VAD", "off")
	dir := filepath.Join(t.TempDir(), "tiny-whisper")
	if err := testmodels.WriteWhisper(dir, testmodels.TinyWhisper()); err != nil {
		t.Fatal(err)
	}
	_, v, _ := cli("models", "push", dir, "--name", "whisper-tiny")
	v = strings.TrimSpace(v)
	policy := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(policy, []byte(`{"version":1,"wer_max_rise_points":1,"p95_max_rise":0.2,"p95_min_rise_ms":500,"speech_clips":2}`), 0o644)
	code, stdout, errs := cli("eval", "gate", "--task", "transcribe", "--candidate", "whisper-tiny@"+v, "--baseline", dir, "--policy", policy, "--no-store")
	if code != 0 {
		t.Fatalf("identical Whisper: exit %d\n%s", code, errs)
	}
	var r gate.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Candidate.Metrics.Items != 2 || r.Candidate.Metrics.WER != r.Baseline.Metrics.WER {
		t.Fatalf("report %+v %v", r, err)
	}
	t.Logf("WER %.1f, p95 %.0f ms", r.Candidate.Metrics.WER, r.Candidate.Metrics.P95MS)
}
