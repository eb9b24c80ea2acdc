package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/transcept/transcept/shared/config"
)

// DataDir returns the shared evaluation data folder: $TRANSCEPT_EVAL_DATA when
// set, otherwise shared/data beside the module root (the module root is the
// nearest folder at or above the working directory holding go.mod; the data
// is filepath.Join(moduleRoot, "..", "shared", "data")). It returns "" when
// no such folder exists.
func DataDir() string {
	if d := config.Get("TRANSCEPT_EVAL_DATA"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			data := filepath.Join(dir, "..", "shared", "data")
			if fi, err := os.Stat(data); err == nil && fi.IsDir() {
				return filepath.Clean(data)
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// SummEvalItem is one line of summeval/summeval100.jsonl: a CNN/DailyMail
// article, its original highlights (the usual ROUGE reference), 11 further
// human references and the outputs of 16 systems keyed "M0" (LEAD-3) ...
// "M23". SummEval text is already tokenised and largely lowercased.
type SummEvalItem struct {
	ID         string            `json:"id"`
	Source     string            `json:"source"`
	Highlights string            `json:"highlights"`
	References []string          `json:"references"`
	Systems    map[string]string `json:"systems"`
}

// LoadSummEval reads a SummEval JSONL file.
func LoadSummEval(path string) ([]SummEvalItem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var items []SummEvalItem
	for {
		var it SummEvalItem
		if err := dec.Decode(&it); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: item %d: %w", path, len(items)+1, err)
		}
		items = append(items, it)
	}
	return items, nil
}

// QMSumTurn is one turn of a meeting transcript.
type QMSumTurn struct{ Speaker, Content string }

// QMSumQuery is a query with its reference answer. Spans are the
// relevant_text_span turn ranges, both ends inclusive, as indices into
// QMSumMeeting.Turns; general queries have none.
type QMSumQuery struct {
	Query, Answer string
	Spans         [][2]int
}

// QMSumMeeting is one QMSum meeting file. General holds the general queries
// ("Summarize the whole meeting." and the like), Specific the
// topic-specific ones.
type QMSumMeeting struct {
	Name     string // file name without .json
	Turns    []QMSumTurn
	General  []QMSumQuery
	Specific []QMSumQuery
}

type qmsumFile struct {
	General  []qmsumQuery `json:"general_query_list"`
	Specific []qmsumQuery `json:"specific_query_list"`
	Turns    []struct {
		Speaker string `json:"speaker"`
		Content string `json:"content"`
	} `json:"meeting_transcripts"`
}

type qmsumQuery struct {
	Query  string              `json:"query"`
	Answer string              `json:"answer"`
	Spans  [][]json.RawMessage `json:"relevant_text_span"`
}

// spanBound parses a span bound, written in QMSum as a string ("90") but
// accepted as a bare number too.
func spanBound(raw json.RawMessage) (int, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		s = string(raw)
	}
	return strconv.Atoi(strings.TrimSpace(s))
}

func (q qmsumQuery) convert(nTurns int) (QMSumQuery, error) {
	out := QMSumQuery{Query: q.Query, Answer: q.Answer}
	for _, sp := range q.Spans {
		if len(sp) != 2 {
			return out, fmt.Errorf("query %q: span with %d bounds", q.Query, len(sp))
		}
		lo, err := spanBound(sp[0])
		if err != nil {
			return out, fmt.Errorf("query %q: %w", q.Query, err)
		}
		hi, err := spanBound(sp[1])
		if err != nil {
			return out, fmt.Errorf("query %q: %w", q.Query, err)
		}
		if lo < 0 || hi < lo || hi >= nTurns {
			return out, fmt.Errorf("query %q: span [%d, %d] outside %d turns", q.Query, lo, hi, nTurns)
		}
		out.Spans = append(out.Spans, [2]int{lo, hi})
	}
	return out, nil
}

// LoadQMSumFile reads one QMSum meeting JSON file.
func LoadQMSumFile(path string) (QMSumMeeting, error) {
	m := QMSumMeeting{Name: strings.TrimSuffix(filepath.Base(path), ".json")}
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	var f qmsumFile
	if err := json.Unmarshal(b, &f); err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	m.Turns = make([]QMSumTurn, len(f.Turns))
	for i, t := range f.Turns {
		m.Turns[i] = QMSumTurn{Speaker: t.Speaker, Content: t.Content}
	}
	for _, q := range f.General {
		c, err := q.convert(len(m.Turns))
		if err != nil {
			return m, fmt.Errorf("%s: %w", path, err)
		}
		m.General = append(m.General, c)
	}
	for _, q := range f.Specific {
		c, err := q.convert(len(m.Turns))
		if err != nil {
			return m, fmt.Errorf("%s: %w", path, err)
		}
		m.Specific = append(m.Specific, c)
	}
	return m, nil
}

// LoadQMSum reads every *.json file in dir, sorted by file name.
func LoadQMSum(dir string) ([]QMSumMeeting, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, err
		}
	}
	sort.Strings(paths)
	out := make([]QMSumMeeting, 0, len(paths))
	for _, p := range paths {
		m, err := LoadQMSumFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
