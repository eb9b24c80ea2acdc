// Package chat renders the chat templates of the instruct models the
// runtime supports, without a general Jinja engine: the chat_template of a
// model's tokenizer_config.json is recognised by family from known template
// texts and markers, and messages are rendered by Go code that produces the
// same string the template would.
//
// Families:
//   - ChatML (Qwen2/2.5-Instruct and other <|im_start|>/<|im_end|> models):
//     "<|im_start|>ROLE\nCONTENT<|im_end|>\n" per message and
//     "<|im_start|>assistant\n" as the generation prompt. A template that
//     writes a default system message when the first message is not a
//     system one (Qwen2.5: "You are Qwen, created by Alibaba Cloud. You are
//     a helpful assistant.") has it taken from the template text.
//   - Phi-3/3.5: "<|system|>\nCONTENT<|end|>\n", "<|user|>\n…<|end|>\n",
//     "<|assistant|>\n…<|end|>\n"; an empty system message is left out;
//     "<|assistant|>\n" as the generation prompt, else the EOS token.
//
// Proved against @huggingface/jinja (the engine transformers.js uses)
// rendering the real template strings (tests/reference/chat-render.mjs).
// Tool calls and tool messages are not supported.
package chat

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // system, user or assistant
	Content string `json:"content"`
}

// Family is a chat format.
type Family string

const (
	ChatML Family = "chatml" // Qwen2/2.5-Instruct
	Phi3   Family = "phi3"   // Phi-3/3.5-mini-instruct
)

// Template is a recognised chat template.
type Template struct {
	Family Family
	// DefaultSystem is the system message a ChatML template writes when the
	// conversation does not start with one ("" when it writes none).
	DefaultSystem string
	// BOS is written first when the template starts with {{ bos_token }}.
	BOS string
	// EOS ends a Phi-3 conversation rendered without a generation prompt.
	EOS string
	// Source is the file the template came from.
	Source string

	bosFirst bool // the template starts with {{ bos_token }}
}

// Load reads the chat template of a model folder: tokenizer_config.json's
// chat_template (a string, or a list of named templates of which
// "default" is taken), else a chat_template.jinja beside it.
func Load(dir string) (*Template, error) {
	return LoadFile(filepath.Join(dir, "tokenizer_config.json"))
}

// LoadFile reads the chat template of a tokenizer_config.json.
func LoadFile(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, lecture.Errorf(lecture.EINVALID, "%s does not exist: the model folder needs its tokenizer_config.json for the chat template", path)
		}
		return nil, lecture.Wrap(lecture.EINVALID, err, "reading %s", path)
	}
	var cfg struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
		BOS          json.RawMessage `json:"bos_token"`
		EOS          json.RawMessage `json:"eos_token"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "%s is not valid JSON", path)
	}
	src, tmpl := path, ""
	if len(cfg.ChatTemplate) > 0 && string(cfg.ChatTemplate) != "null" {
		if tmpl, err = templateText(cfg.ChatTemplate); err != nil {
			return nil, lecture.Wrap(lecture.EINVALID, err, "%s: chat_template", path)
		}
	} else {
		jinja := filepath.Join(filepath.Dir(path), "chat_template.jinja")
		jb, err := os.ReadFile(jinja)
		if err != nil {
			return nil, lecture.Errorf(lecture.EINVALID, "%s has no chat_template (and there is no %s): the model is not an instruct model this runtime can prompt", path, jinja)
		}
		src, tmpl = jinja, string(jb)
	}
	t, err := Recognize(tmpl)
	if err != nil {
		return nil, lecture.Errorf(lecture.EINVALID, "%s: %v", src, err)
	}
	t.Source = src
	bos, eos := tokenText(cfg.BOS), tokenText(cfg.EOS)
	if t.bosFirst {
		t.BOS = bos
	}
	t.EOS = eos
	return t, nil
}

// templateText takes a chat_template value: a string, or a list of
// {"name", "template"} of which "default" is used.
func templateText(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var named []struct{ Name, Template string }
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", errors.New("is neither a string nor a list of named templates")
	}
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, nil
		}
	}
	return "", errors.New("lists no \"default\" template")
}

// tokenText reads a special token written as a string or as an AddedToken
// object {"content": ...}; "" for null or absent.
func tokenText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct{ Content string }
	if json.Unmarshal(raw, &o) == nil {
		return o.Content
	}
	return ""
}

// defaultSystem finds a ChatML template's literal default system message:
// '<|im_start|>system\n' followed by text (no expression) up to <|im_end|>.
var defaultSystem = regexp.MustCompile(`<\|im_start\|>system\\n([^'"+{}]+?)<\|im_end\|>`)

// Recognize identifies a chat template's family from its text. A template
// of no known family is an error listing the families.
func Recognize(tmpl string) (*Template, error) {
	has := func(s ...string) bool {
		for _, x := range s {
			if !strings.Contains(tmpl, x) {
				return false
			}
		}
		return true
	}
	compact := strings.Join(strings.Fields(tmpl), "")
	var t Template
	switch {
	case strings.TrimSpace(tmpl) == "":
		return nil, errors.New("chat_template is empty")
	case has("<|im_start|>", "<|im_end|>", "message['role']") || has("<|im_start|>", "<|im_end|>", "message.role"):
		t.Family = ChatML
		if m := defaultSystem.FindStringSubmatch(tmpl); m != nil {
			t.DefaultSystem = unescape(m[1])
		}
	case has("<|user|>", "<|assistant|>", "<|end|>"):
		t.Family = Phi3
	default:
		return nil, errors.New("chat_template is not one this runtime renders (known: ChatML as in Qwen2.5-Instruct, Phi-3/3.5 with <|user|>/<|assistant|>/<|end|>)")
	}
	if strings.HasPrefix(compact, "{{bos_token}}") || strings.HasPrefix(compact, "{{-bos_token}}") || strings.HasPrefix(compact, "{{bos_token-}}") {
		t.bosFirst = true
	}
	return &t, nil
}

// unescape undoes a Jinja string literal's backslash escapes.
func unescape(s string) string {
	r := strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\'`, "'", `\"`, `"`, `\\`, `\`)
	return r.Replace(s)
}

// Render writes the conversation as the model's template does;
// addGenerationPrompt ends it with the assistant's turn opening.
func (t *Template) Render(msgs []Message, addGenerationPrompt bool) (string, error) {
	for i, m := range msgs {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return "", lecture.Errorf(lecture.EINVALID, "message %d has role %q; chat templates here take system, user and assistant", i, m.Role)
		}
	}
	var b strings.Builder
	b.WriteString(t.BOS)
	switch t.Family {
	case ChatML:
		if t.DefaultSystem != "" && (len(msgs) == 0 || msgs[0].Role != "system") {
			b.WriteString("<|im_start|>system\n" + t.DefaultSystem + "<|im_end|>\n")
		}
		for _, m := range msgs {
			b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		}
		if addGenerationPrompt {
			b.WriteString("<|im_start|>assistant\n")
		}
	case Phi3:
		for _, m := range msgs {
			if m.Role == "system" && m.Content == "" {
				continue
			}
			b.WriteString("<|" + m.Role + "|>\n" + m.Content + "<|end|>\n")
		}
		if addGenerationPrompt {
			b.WriteString("<|assistant|>\n")
		} else {
			b.WriteString(t.EOS)
		}
	default:
		return "", lecture.Errorf(lecture.EINTERNAL, "chat template family %q is unknown", t.Family)
	}
	return b.String(), nil
}

// Markers are the strings a family's template uses to delimit turns;
// text from outside (a transcript) must not carry them into a prompt.
func (t *Template) Markers() []string {
	if t.Family == Phi3 {
		return []string{"<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"}
	}
	return []string{"<|im_start|>", "<|im_end|>", "<|endoftext|>"}
}
