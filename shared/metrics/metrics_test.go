package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMethodsReport(t *testing.T) {
	m := New()
	m.ObserveRequest("/summarize", "POST", 200, time.Millisecond)
	m.CountCache("redis", "hit")
	m.CountCache("redis", "hit")
	m.SetEngine("summarize", "extractive", "", "cpu")
	m.CountEvent("transcept.lecture.uploaded", "ok")
	m.CountReused("index")
	m.ObserveStage("index", time.Now(), errors.New("x"))
	m.SetModelLoad("summarize", 1500*time.Millisecond)
	m.CountLecture(LectureUploaded)
	m.CountLecture(LectureUploaded)
	m.CountLecture(LectureReady)
	m.CountLecture("anything")
	m.CountStageLecture("segment", StageDone)
	m.CountStageLecture("summarize/index", "dead")
	m.CountStageLecture("x", StageDone)
	m.ObserveModelRun("summarize", "bart", 2*time.Second, 64, nil)
	m.ObserveModelRun("summarize", "bart", time.Second, 36, nil)
	m.ObserveModelRun("answer", "extractive", time.Millisecond, 0, errors.New("x"))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"transcept_http_requests_total", []string{"/summarize", "POST", "200"}, 1},
		{"transcept_cache_requests_total", []string{"redis", "hit"}, 2},
		{"transcept_engine_info", []string{"summarize", "extractive", "", "cpu"}, 1},
		{"transcept_events_total", []string{"transcept.lecture.uploaded", "ok"}, 1},
		{"transcept_stage_reused_total", []string{"index"}, 1},
		{"transcept_model_load_seconds", []string{"summarize"}, 1.5},
		{"transcept_lectures_total", []string{"uploaded"}, 2},
		{"transcept_lectures_total", []string{"ready"}, 1},
		{"transcept_lectures_total", []string{"failed"}, 0},
		{"transcept_lectures_total", []string{"other"}, 1},
		{"transcept_stage_lectures_total", []string{"segment", "done"}, 1},
		{"transcept_stage_lectures_total", []string{"summarize/index", "failed"}, 1},
		{"transcept_stage_lectures_total", []string{"other", "done"}, 1},
		{"transcept_model_tokens_total", []string{"summarize", "bart"}, 100},
		{"transcept_model_tokens_total", []string{"answer", "extractive"}, 0},
		{"transcept_nothing", nil, 0},
	} {
		if got := m.Value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	for _, want := range []string{`transcept_stage_duration_seconds_count{outcome="error",stage="index"} 1`,
		`transcept_model_run_duration_seconds_sum{engine="bart",outcome="ok",task="summarize"} 3`,
		`transcept_model_run_duration_seconds_count{engine="extractive",outcome="error",task="answer"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("exposition lacks %s:\n%s", want, body)
		}
	}
}
