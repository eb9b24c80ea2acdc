package eval

import (
	"os"
	"path/filepath"
	"testing"
)

// skipNoData skips a test that needs the evaluation data, or fails it when
// TRANSCEPT_REQUIRE_SERVICES=1 (CI), where nothing may skip.
func skipNoData(t testing.TB) {
	t.Helper()
	msg := "shared data folder not found (set TRANSCEPT_EVAL_DATA or place it at ../shared/data beside the module root)"
	if os.Getenv("TRANSCEPT_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func dataDirOrSkip(t *testing.T) string {
	t.Helper()
	dir := DataDir()
	if dir == "" {
		skipNoData(t)
	}
	return dir
}

func TestDataDirEnv(t *testing.T) {
	t.Setenv("TRANSCEPT_EVAL_DATA", "/some/where")
	if got := DataDir(); got != "/some/where" {
		t.Fatalf("DataDir() = %q with TRANSCEPT_EVAL_DATA set", got)
	}
}

func TestDataDirWalksUp(t *testing.T) {
	t.Setenv("TRANSCEPT_EVAL_DATA", "")
	dir := DataDir()
	if dir == "" {
		skipNoData(t)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Errorf("DataDir() = %q has no README.md: %v", dir, err)
	}
}

func TestLoadSummEval(t *testing.T) {
	items := loadSummEvalOrSkip(t)
	if len(items) != 100 {
		t.Fatalf("got %d items, want 100", len(items))
	}
	for _, it := range items {
		if it.ID == "" || it.Source == "" || it.Highlights == "" {
			t.Fatalf("item %q has empty fields", it.ID)
		}
		if len(it.References) != 11 {
			t.Errorf("item %s: %d references, want 11", it.ID, len(it.References))
		}
		if len(it.Systems) != 16 || it.Systems["M0"] == "" || it.Systems["M22"] == "" {
			t.Errorf("item %s: systems %d, M0/M22 missing?", it.ID, len(it.Systems))
		}
	}
}

func TestLoadQMSum(t *testing.T) {
	dir := filepath.Join(dataDirOrSkip(t), "qmsum", "Academic", "train")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("QMSum data not available: %v", err)
	}
	ms, err := LoadQMSum(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 41 {
		t.Errorf("got %d meetings, want 41", len(ms))
	}
	for k := 1; k < len(ms); k++ {
		if ms[k-1].Name >= ms[k].Name {
			t.Fatalf("meetings not sorted: %s before %s", ms[k-1].Name, ms[k].Name)
		}
	}
	first := ms[0]
	if first.Name != "Bdb001" || len(first.Turns) != 766 || len(first.General) != 1 || len(first.Specific) != 6 {
		t.Fatalf("first meeting %s: %d turns, %d general, %d specific", first.Name, len(first.Turns), len(first.General), len(first.Specific))
	}
	if first.Turns[0].Speaker != "Grad C" || first.Turns[0].Content == "" {
		t.Errorf("first turn = %+v", first.Turns[0])
	}
	if sp := first.Specific[0].Spans; len(sp) != 1 || sp[0] != [2]int{19, 89} {
		t.Errorf("first specific query spans = %v, want [[19 89]]", sp)
	}
	spans := 0
	for _, m := range ms {
		for _, q := range m.General {
			if q.Query == "" || q.Answer == "" || len(q.Spans) != 0 {
				t.Errorf("%s: odd general query %+v", m.Name, q)
			}
		}
		for _, q := range m.Specific {
			if len(q.Spans) == 0 {
				t.Errorf("%s: specific query without spans: %q", m.Name, q.Query)
			}
			spans += len(q.Spans)
		}
	}
	t.Logf("%d meetings, %d specific spans", len(ms), spans)
}

func TestLoadQMSumFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.json", `{"topic_list": [], "general_query_list": [{"query": "Summarize the whole meeting.", "answer": "It met."}],
		"specific_query_list": [{"query": "q", "answer": "a", "relevant_text_span": [["0", "1"], [2, 2]]}],
		"meeting_transcripts": [{"speaker": "A", "content": "x"}, {"speaker": "B", "content": "y"}, {"speaker": "A", "content": "z"}]}`)
	write("a.json", `{"general_query_list": [], "specific_query_list": [], "meeting_transcripts": []}`)
	write("notes.txt", "not a meeting")
	ms, err := LoadQMSum(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "a" || ms[1].Name != "b" {
		t.Fatalf("got %+v", ms)
	}
	b := ms[1]
	if len(b.Turns) != 3 || b.Turns[1] != (QMSumTurn{"B", "y"}) {
		t.Errorf("turns = %+v", b.Turns)
	}
	if got := b.Specific[0].Spans; len(got) != 2 || got[0] != [2]int{0, 1} || got[1] != [2]int{2, 2} {
		t.Errorf("spans = %v", got)
	}

	write("c.json", `{"specific_query_list": [{"query": "q", "answer": "a", "relevant_text_span": [["0", "9"]]}],
		"meeting_transcripts": [{"speaker": "A", "content": "x"}]}`)
	if _, err := LoadQMSum(dir); err == nil {
		t.Error("span past the last turn accepted")
	}
	if _, err := LoadQMSum(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing directory accepted")
	}
}
