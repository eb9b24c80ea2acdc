// Command ort-profile sums an ONNX Runtime profile (the JSON trace a
// session writes with ort.Options.ProfilePrefix) by operator type: time
// per model run and share of the runs' time, largest first, so that a
// benchmark's step time can be split into its operators.
//
//	go run ./tests/testkit/cmd/ort-profile PROFILE.json [-top 15] [-node]
//
// -node sums by node name instead of operator type.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// event is one entry of ONNX Runtime's trace (Chrome's trace event format).
type event struct {
	Cat  string `json:"cat"`
	Name string `json:"name"`
	Dur  int64  `json:"dur"` // µs
	Args struct {
		OpName string `json:"op_name"`
	} `json:"args"`
}

// row is one operator type's (or node's) total.
type row struct {
	Key   string
	Calls int64
	US    int64
}

// summary is a profile's totals: model runs, their time, and per operator.
type summary struct {
	Runs  int64
	RunUS int64
	Rows  []row
}

func summarize(r io.Reader, byNode bool) (*summary, error) {
	var evs []event
	if err := json.NewDecoder(r).Decode(&evs); err != nil {
		return nil, fmt.Errorf("not an ONNX Runtime profile: %w", err)
	}
	s := &summary{}
	tot := map[string]*row{}
	for _, e := range evs {
		switch {
		case e.Cat == "Session" && e.Name == "model_run":
			s.Runs++
			s.RunUS += e.Dur
		case e.Cat == "Node" && strings.HasSuffix(e.Name, "_kernel_time"):
			k := e.Args.OpName
			if byNode {
				k = strings.TrimSuffix(e.Name, "_kernel_time")
			}
			t := tot[k]
			if t == nil {
				t = &row{Key: k}
				tot[k] = t
			}
			t.Calls++
			t.US += e.Dur
		}
	}
	for _, t := range tot {
		s.Rows = append(s.Rows, *t)
	}
	slices.SortFunc(s.Rows, func(a, b row) int { return cmp.Or(cmp.Compare(b.US, a.US), strings.Compare(a.Key, b.Key)) })
	return s, nil
}

func main() {
	top := flag.Int("top", 15, "rows to print")
	byNode := flag.Bool("node", false, "sum by node name instead of operator type")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: ort-profile PROFILE.json [-top N] [-node]")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ort-profile:", err)
		os.Exit(1)
	}
	defer f.Close()
	s, err := summarize(f, *byNode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ort-profile:", err)
		os.Exit(1)
	}
	if s.Runs == 0 {
		fmt.Fprintln(os.Stderr, "ort-profile: no model runs in the profile")
		os.Exit(1)
	}
	var kernels int64
	for _, r := range s.Rows {
		kernels += r.US
	}
	fmt.Printf("%d runs, %.3f ms a run, operators %.3f ms a run (the rest: between operators)\n",
		s.Runs, float64(s.RunUS)/float64(s.Runs)/1e3, float64(kernels)/float64(s.Runs)/1e3)
	fmt.Printf("%-40s %10s %12s %7s\n", "operator", "calls/run", "ms/run", "share")
	for i, r := range s.Rows {
		if i == *top {
			break
		}
		fmt.Printf("%-40s %10.1f %12.3f %6.1f%%\n", r.Key, float64(r.Calls)/float64(s.Runs),
			float64(r.US)/float64(s.Runs)/1e3, 100*float64(r.US)/float64(s.RunUS))
	}
}
