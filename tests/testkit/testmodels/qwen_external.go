package testmodels

import (
	"encoding/json"
	"fmt"
	"os"
)

// qwenSpecials are the ids config.json and generation_config.json name:
// <|endoftext|> (BOS, padding and an EOS) and <|im_end|> (the chat EOS).
type qwenSpecials struct{ EndOfText, IMEnd int }

// readQwenSpecials finds them among a tokenizer.json's added tokens (the
// real Qwen2.5 file has them at 151643 and 151645).
func readQwenSpecials(path string) (qwenSpecials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return qwenSpecials{}, err
	}
	var t struct {
		Added []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return qwenSpecials{}, fmt.Errorf("testmodels: %s: %w", path, err)
	}
	sp := qwenSpecials{EndOfText: -1, IMEnd: -1}
	for _, a := range t.Added {
		switch a.Content {
		case "<|endoftext|>":
			sp.EndOfText = a.ID
		case "<|im_end|>":
			sp.IMEnd = a.ID
		}
	}
	if sp.EndOfText < 0 || sp.IMEnd < 0 {
		return sp, fmt.Errorf("testmodels: %s lacks <|endoftext|> or <|im_end|>: not a Qwen tokenizer", path)
	}
	return sp, nil
}
