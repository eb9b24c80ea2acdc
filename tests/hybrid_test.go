package tests

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/tests/testkit/bertgen"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// TestHybridRetrievalWithEmbeddingModel configures an embedding model (a
// random-weight BERT folder in the Optimum layout), runs a lecture through
// the pipeline and checks that the index holds the passages' vectors and
// that answers go through hybrid ranking.
func TestHybridRetrievalWithEmbeddingModel(t *testing.T) {
	if _, err := ort.Init(); err != nil {
		if os.Getenv(svctest.RequireEnv) == "1" {
			t.Fatalf("ONNX Runtime: %v", err)
		}
		t.Skipf("ONNX Runtime not available (make ort): %v", err)
	}
	dir := t.TempDir()
	if err := bertgen.Write(dir+"/minilm", bertgen.Tiny()); err != nil {
		t.Fatal(err)
	}
	c, err := config.FromMap(map[string]string{"TRANSCEPT_STORE_DIR": dir + "/data", "TRANSCEPT_EMBED_MODEL": dir + "/minilm"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := wire.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	bus := s.StartBus()
	defer bus.Close()
	text := "Prof: Today we study entropy in isolated systems.\nProf: The Carnot efficiency depends only on the reservoir temperatures.\nProf: Next week we cover Maxwell's equations and electromagnetism.\n"
	l, ev, err := s.Service.CreateLecture(context.Background(), pipeline.Upload{Name: "l.txt", Data: []byte(text)})
	if err != nil {
		t.Fatal(err)
	}
	bus.Publish(ev)
	bus.Wait()
	var ix struct {
		Vectors    [][]float32 `json:"vectors"`
		EmbedModel string      `json:"embed_model"`
	}
	b, err := os.ReadFile(dir + "/data/preprocessed/" + l.ID + "/index.json")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(b, &ix)
	if len(ix.Vectors) == 0 || len(ix.Vectors[0]) != 32 || !strings.HasPrefix(ix.EmbedModel, "minilm") {
		t.Fatalf("index vectors: %d, model %q", len(ix.Vectors), ix.EmbedModel)
	}
	ans, err := s.Service.Ask(context.Background(), l.ID, "What does the Carnot efficiency depend on?")
	if err != nil || !ans.Covered || !strings.Contains(ans.Text, "temperatures") {
		t.Errorf("answer: %+v %v", ans, err)
	}
	if off, _ := s.Service.Ask(context.Background(), l.ID, "Who painted the Mona Lisa?"); off == nil || off.Covered {
		t.Errorf("off-topic question answered: %+v", off)
	}
}
