package infra_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"knative.dev/serving/pkg/client/clientset/versioned/fake"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/registry"
	"github.com/transcept/transcept/shared/rollout"
	"github.com/transcept/transcept/shared/rollout/knative"
	"github.com/transcept/transcept/shared/store/fs"
)

// rolloutFixture: the summarize Service of infra/serving in a fake
// Knative serving clientset, with one ready revision, and a registry with
// a champion and a challenger version.
type rolloutFixture struct {
	client   *fake.Clientset
	r        *rollout.Rollouts
	champion registry.Version
	chal     registry.Version
}

func newRolloutFixture(t *testing.T) *rolloutFixture {
	t.Helper()
	s := load(t).Services["transcept-summarize"]
	if s == nil {
		t.Fatal("infra/ has no transcept-summarize Service")
	}
	s = s.DeepCopy()
	s.Status.LatestReadyRevisionName = "transcept-summarize-00001"
	client := fake.NewSimpleClientset(s)
	st, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := rollout.New(st, knative.New(client, "transcept"))
	ctx := context.Background()
	push := func(content string) registry.Version {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		v, err := r.Registry.Push(ctx, dir, "distilbart", registry.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	f := &rolloutFixture{client: client, r: r, champion: push(`{"v":1}`), chal: push(`{"v":2}`)}
	for alias, v := range map[string]registry.Version{"champion": f.champion, "challenger": f.chal} {
		if _, err := r.Registry.Alias(ctx, "distilbart", alias, v.ID, "test", "", ""); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *rolloutFixture) service(t *testing.T) *servingv1.Service {
	t.Helper()
	s, err := f.client.ServingV1().Services("transcept").Get(context.Background(), "transcept-summarize", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// traffic is "tag=revision:percent ..." of spec.traffic.
func traffic(s *servingv1.Service) string {
	var parts []string
	for _, tt := range s.Spec.Traffic {
		pct := int64(-1)
		if tt.Percent != nil {
			pct = *tt.Percent
		}
		parts = append(parts, tt.Tag+"="+tt.RevisionName+":"+strconv.FormatInt(pct, 10))
	}
	return strings.Join(parts, " ")
}

func envValue(s *servingv1.Service, name string) string {
	for _, e := range s.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// `rollout start` on the summarize Service creates a revision pinned to the
// challenger's version and splits the traffic 90/10 between two tagged
// targets; promote gives the challenger 100%, abort 0%; every Service
// written validates as Knative's webhook would with our configuration.
func TestRolloutServiceUpdates(t *testing.T) {
	features, defaults := ourConfig(t)
	vctx := servingContext(t, features, defaults)
	ctx := context.Background()
	valid := func(step string, s *servingv1.Service) {
		t.Helper()
		if err := validateService(vctx, s); err != nil {
			t.Errorf("%s: the Service does not validate: %v", step, err)
		}
	}

	t.Run("start and promote", func(t *testing.T) {
		f := newRolloutFixture(t)
		rec, err := f.r.Start(ctx, rollout.StartOptions{Function: "summarize", Model: "distilbart@challenger", Percent: 10, Who: "test"})
		if err != nil {
			t.Fatal(err)
		}
		s := f.service(t)
		rev := "transcept-summarize-" + f.chal.ID + "-r1"
		if s.Spec.Template.Name != rev || rec.Challenger.Revision != rev {
			t.Errorf("new revision %q (record %q), want %q", s.Spec.Template.Name, rec.Challenger.Revision, rev)
		}
		if got := envValue(s, "TRANSCEPT_SUMMARY_MODEL"); got != "registry://distilbart@"+f.chal.ID {
			t.Errorf("TRANSCEPT_SUMMARY_MODEL=%q: want the challenger's version pinned", got)
		}
		if got := envValue(s, "TRANSCEPT_SUMMARIZER"); got != "bart" {
			t.Errorf("TRANSCEPT_SUMMARIZER=%q", got)
		}
		if envValue(s, "TRANSCEPT_METRICS_ADDR") != ":9095" {
			t.Error("the template lost its other settings")
		}
		if got, want := traffic(s), "champion=transcept-summarize-00001:90 challenger="+rev+":10"; got != want {
			t.Errorf("traffic %s, want %s", got, want)
		}
		valid("start", s)
		bad := s.DeepCopy() // the validation has teeth: a revision name Knative refuses
		bad.Spec.Template.Name = "summarize-" + f.chal.ID
		if err := validateService(vctx, bad); err == nil || !strings.Contains(err.Error(), "metadata.name") {
			t.Errorf("a revision name without the Service's prefix validated: %v", err)
		}
		if len(rec.Commands) != 1 || !strings.Contains(rec.Commands[0], "kn service update transcept-summarize --namespace transcept --revision-name "+rev) ||
			!strings.Contains(rec.Commands[0], "--traffic champion=90 --traffic challenger=10") {
			t.Errorf("kn commands %q", rec.Commands)
		}
		if _, err := f.r.Promote(ctx, "summarize", "test", "looks good", nil); err != nil {
			t.Fatal(err)
		}
		s = f.service(t)
		if got, want := traffic(s), "champion=transcept-summarize-00001:0 challenger="+rev+":100"; got != want {
			t.Errorf("after promote: traffic %s, want %s", got, want)
		}
		valid("promote", s)
		// The next rollout's champion is the promoted revision.
		s.Status.LatestReadyRevisionName = rev
		if _, err := f.client.ServingV1().Services("transcept").UpdateStatus(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		rec2, err := f.r.Start(ctx, rollout.StartOptions{Function: "summarize", Model: "distilbart@" + f.champion.ID, Percent: 25})
		if err != nil {
			t.Fatal(err)
		}
		if rec2.Champion.Revision != rev || rec2.Champion.Setting != "registry://distilbart@"+f.chal.ID || rec2.Champion.Version != f.chal.ID {
			t.Errorf("second rollout's champion %+v", rec2.Champion)
		}
		valid("second start", f.service(t))
	})

	t.Run("start and abort", func(t *testing.T) {
		f := newRolloutFixture(t)
		rec, err := f.r.Start(ctx, rollout.StartOptions{Function: "summarize", Model: "distilbart@challenger", Percent: 30})
		if err != nil {
			t.Fatal(err)
		}
		if got := traffic(f.service(t)); !strings.HasSuffix(got, ":30") || !strings.HasPrefix(got, "champion=transcept-summarize-00001:70 ") {
			t.Errorf("traffic %s", got)
		}
		if _, err := f.r.Abort(ctx, "summarize", "test", "regression", nil); err != nil {
			t.Fatal(err)
		}
		s := f.service(t)
		if got, want := traffic(s), "champion=transcept-summarize-00001:100 challenger="+rec.Challenger.Revision+":0"; got != want {
			t.Errorf("after abort: traffic %s, want %s", got, want)
		}
		valid("abort", s)
		// A new rollout after an abort starts from the champion again.
		rec2, err := f.r.Start(ctx, rollout.StartOptions{Function: "summarize", Model: "distilbart@challenger", Percent: 5})
		if err != nil || rec2.Champion.Revision != "transcept-summarize-00001" || rec2.Challenger.Revision == rec.Challenger.Revision {
			t.Fatalf("rollout after abort: %+v %v", rec2, err)
		}
		valid("start after abort", f.service(t))
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		f := newRolloutFixture(t)
		before := f.service(t)
		for _, o := range []rollout.StartOptions{
			{Function: "summarise", Model: "distilbart@challenger", Percent: 10},
			{Function: "summarize", Model: "distilbart@nightly", Percent: 10},
			{Function: "summarize", Model: "distilbart@challenger", Percent: 0},
			{Function: "summarize", Model: "distilbart@challenger", Percent: 100},
		} {
			if _, err := f.r.Start(ctx, o); err == nil {
				t.Errorf("%+v accepted", o)
			}
		}
		// The Service of a function that is not deployed.
		if _, err := f.r.Start(ctx, rollout.StartOptions{Function: "transcribe", Model: "distilbart@challenger", Percent: 10}); lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(err.Error(), "transcept-transcribe not found") {
			t.Errorf("missing Service: %v", err)
		}
		if _, err := f.r.Promote(ctx, "summarize", "", "", nil); lecture.ErrorCode(err) != lecture.ENOTFOUND {
			t.Errorf("promote without a rollout: %v", err)
		}
		after := f.service(t)
		if after.ResourceVersion != before.ResourceVersion || traffic(after) != traffic(before) || after.Spec.Template.Name != before.Spec.Template.Name {
			t.Errorf("the Service changed: %s -> %s", traffic(before), traffic(after))
		}
		if log, _ := f.r.Log(ctx, "summarize"); len(log) != 0 {
			t.Errorf("%d log entries", len(log))
		}
	})
}
