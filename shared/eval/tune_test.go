package eval

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/retrieval"
	"github.com/transcept/transcept/shared/text"
)

func TestTune(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip("set TUNE=1")
	}
	d := dataDir(t)
	var sets [][]QMSumMeeting
	for _, sp := range []string{"Academic/val", "ALL/val", "Academic/train"} {
		ms, _ := LoadQMSum(filepath.Join(d, "qmsum", sp))
		sets = append(sets, ms)
	}
	for _, mw := range []int{6, 8} {
		for _, top := range []int{300} {
			for _, den := range []float64{0, 0.5, 0.7} {
				for _, os := range []float64{0} {
					sm := extractive.New()
					sm.MinWords, sm.TopTerms, sm.Density = mw, top, den
					line := fmt.Sprintf("lam=%.1f mw=%2d top=%3d den=%.1f os=%.1f", sm.Lambda, mw, top, den, os)
					for _, ms := range sets {
						tab, _ := QMSum(context.Background(), ms, sm, "")
						r := tab.Rows[0].Rouge
						l := tab.Rows[1].Rouge
						line += fmt.Sprintf(" | %5.2f %4.2f %5.2f (lead %5.2f %4.2f)", 100*r.R1.F, 100*r.R2.F, 100*r.RL.F, 100*l.R1.F, 100*l.R2.F)
					}
					fmt.Println(line)
				}
			}
		}
	}
}

func TestTuneCoverage(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip("set TUNE=1")
	}
	ms, _ := LoadQMSum(filepath.Join(dataDir(t), "qmsum", "ALL", "val"))
	for _, mc := range []float64{0.1, 0.2, 0.3} {
		a := retrieval.NewAnswerer()
		a.PartialCoverage = mc
		c, _ := AnswerCoverage(context.Background(), ms, a)
		fmt.Printf("min=%.1f specific %d/%d offtopic %d/%d\n", mc, c.SpecificCovered, c.Specific, c.OffTopicCovered, c.OffTopic)
	}
}

func TestDumpSignals(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip("set TUNE=1")
	}
	ms, _ := LoadQMSum(filepath.Join(dataDir(t), "qmsum", "ALL", "val"))
	a := retrieval.NewAnswerer()
	f, _ := os.Create("/tmp/signals.tsv")
	defer f.Close()
	for _, m := range ms {
		ix := retrieval.NewIndex("", text.Sentences(QMSumTranscript(m)))
		for _, q := range m.Specific {
			c, n := a.Signals(ix, q.Query)
			fmt.Fprintf(f, "1\t%.3f\t%d\t%s\n", c, n, q.Query)
		}
		for _, q := range OffTopic {
			c, n := a.Signals(ix, q)
			fmt.Fprintf(f, "0\t%.3f\t%d\t%s\n", c, n, q)
		}
	}
}
