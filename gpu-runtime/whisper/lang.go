package whisper

import (
	"math"
	"slices"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// Languages are the language codes the model accepts, sorted: those of
// generation_config.json's lang_to_id, or "en" alone for an English-only
// model.
func (m *Model) Languages() []string {
	if !m.Generation.IsMultilingual {
		return []string{"en"}
	}
	out := make([]string, 0, len(m.Generation.LangToID))
	for tok := range m.Generation.LangToID {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(tok, "<|"), "|>"))
	}
	slices.Sort(out)
	return out
}

// ResolveLanguage checks a requested language code (any case, "<|de|>"
// too) against the model: it returns the code to decode with, "" meaning
// "detect it" (a multilingual model given none); an English-only model
// gives "en". A code the model lacks is a lecture.EINVALID error listing
// the accepted ones.
func (m *Model) ResolveLanguage(code string) (string, error) {
	code = strings.ToLower(strings.TrimSpace(code))
	code = strings.TrimSuffix(strings.TrimPrefix(code, "<|"), "|>")
	if !m.Generation.IsMultilingual {
		if code == "" || code == "en" {
			return "en", nil
		}
		return "", lecture.Errorf(lecture.EINVALID, "whisper model %s is English-only: language %q is not accepted (accepted: en, or empty)", m.Dir, code)
	}
	if code == "" {
		return "", nil
	}
	if _, ok := m.Generation.LangToID["<|"+code+"|>"]; !ok {
		return "", lecture.Errorf(lecture.EINVALID, "whisper model %s has no language %q; accepted: %s (or empty to detect it)",
			m.Dir, code, strings.Join(m.Languages(), ", "))
	}
	return code, nil
}

// DetectLanguage finds the spoken language of one 30-second window of
// log-mel features (NMels×ChunkFrames) as openai-whisper and Hugging Face
// do: one decoder step on <|startoftranscript|>, the language token with
// the largest logit (the first on a tie). It also returns that language's
// probability among the languages (softmax over their logits). An
// English-only model answers "en".
func (m *Model) DetectLanguage(features []float32) (string, float64, error) {
	if !m.Generation.IsMultilingual {
		return "en", 1, nil
	}
	if len(m.Generation.LangToID) == 0 {
		return "", 0, lecture.Errorf(lecture.EINVALID, "%s: multilingual but lang_to_id is empty in generation_config.json", m.Dir)
	}
	if n := m.Features.NMels() * ChunkFrames; len(features) != n {
		return "", 0, lecture.Errorf(lecture.EINVALID, "whisper: %d feature values, want %d×%d", len(features), m.Features.NMels(), ChunkFrames)
	}
	r, err := m.newRun(features)
	if err != nil {
		return "", 0, err
	}
	defer r.close()
	logits, err := r.step([]int{m.Generation.DecoderStartTokenID})
	if err != nil {
		return "", 0, err
	}
	ids := make([]int, 0, len(m.Generation.LangToID))
	code := map[int]string{}
	for tok, id := range m.Generation.LangToID {
		if id < 0 || id >= len(logits) {
			return "", 0, lecture.Errorf(lecture.EINVALID, "%s: language token %s has id %d, outside the %d logits", m.Dir, tok, id, len(logits))
		}
		ids = append(ids, id)
		code[id] = strings.TrimSuffix(strings.TrimPrefix(tok, "<|"), "|>")
	}
	slices.Sort(ids)
	best := ids[0]
	for _, id := range ids[1:] {
		if logits[id] > logits[best] {
			best = id
		}
	}
	s := 0.0
	for _, id := range ids {
		s += math.Exp(float64(logits[id] - logits[best]))
	}
	return code[best], 1 / s, nil
}
