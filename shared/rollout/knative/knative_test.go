package knative_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"knative.dev/serving/pkg/client/clientset/versioned/fake"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/rollout"
	"github.com/transcept/transcept/shared/rollout/knative"
)

func service(latest string, traffic ...servingv1.TrafficTarget) *servingv1.Service {
	s := &servingv1.Service{ObjectMeta: metav1.ObjectMeta{Name: "transcept-summarize", Namespace: "transcept"},
		Spec: servingv1.ServiceSpec{
			ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{PodSpec: corev1.PodSpec{
				Containers: []corev1.Container{{Image: "transcept", Env: []corev1.EnvVar{{Name: "TRANSCEPT_SUMMARY_MODEL", Value: "registry://bart@aaaaaaaaaaaa"}}}}}}}},
			RouteSpec: servingv1.RouteSpec{Traffic: traffic}}}
	s.Status.LatestReadyRevisionName = latest
	return s
}

func pct(n int64) *int64 { return &n }

var plan = rollout.Plan{Function: "summarize", Service: "transcept-summarize", Revision: "transcept-summarize-bbbbbbbbbbbb-r1",
	Env: map[string]string{"TRANSCEPT_SUMMARY_MODEL": "registry://bart@bbbbbbbbbbbb", "TRANSCEPT_SUMMARIZER": "bart"}, Percent: 10}

// The champion is the revision at 100% (or the latest ready one); a Service
// already split, or without a ready revision, is refused unchanged.
func TestStartPicksTheServingRevision(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		svc      *servingv1.Service
		champion string
		code     string
	}{
		{"latest ready", service("transcept-summarize-00002"), "transcept-summarize-00002", ""},
		{"pinned at 100%", service("transcept-summarize-00003",
			servingv1.TrafficTarget{Tag: "champion", RevisionName: "transcept-summarize-00001", Percent: pct(100)},
			servingv1.TrafficTarget{Tag: "challenger", RevisionName: "transcept-summarize-00003", Percent: pct(0)}), "transcept-summarize-00001", ""},
		{"split", service("transcept-summarize-00003",
			servingv1.TrafficTarget{RevisionName: "transcept-summarize-00001", Percent: pct(50)},
			servingv1.TrafficTarget{RevisionName: "transcept-summarize-00003", Percent: pct(50)}), "", lecture.ECONFLICT},
		{"not ready", service(""), "", lecture.EUNAVAILABLE},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := fake.NewSimpleClientset(c.svc)
			p := knative.New(client, "transcept")
			champion, setting, kn, err := p.Start(ctx, plan)
			if lecture.ErrorCode(err) != c.code || champion != c.champion {
				t.Fatalf("champion %q, %v; want %q, code %q", champion, err, c.champion, c.code)
			}
			got, _ := client.ServingV1().Services("transcept").Get(ctx, "transcept-summarize", metav1.GetOptions{})
			if err != nil {
				if got.Spec.Template.Name != "" || len(got.Spec.Traffic) != len(c.svc.Spec.Traffic) {
					t.Errorf("a refused start changed the Service: %+v", got.Spec)
				}
				return
			}
			if setting != "registry://bart@aaaaaaaaaaaa" {
				t.Errorf("champion setting %q", setting)
			}
			want := "kn service update transcept-summarize --namespace transcept --revision-name transcept-summarize-bbbbbbbbbbbb-r1"
			if len(c.svc.Spec.Traffic) > 0 {
				want += " --untag champion --untag challenger"
			}
			want += " --env TRANSCEPT_SUMMARIZER=bart --env TRANSCEPT_SUMMARY_MODEL=registry://bart@bbbbbbbbbbbb --tag " + c.champion +
				"=champion --tag @latest=challenger --traffic champion=90 --traffic challenger=10"
			if len(kn) != 1 || kn[0] != want {
				t.Errorf("kn:\n got %q\nwant %q", kn, want)
			}
			env := got.Spec.Template.Spec.Containers[0].Env
			if len(env) != 2 || env[0].Value != "registry://bart@bbbbbbbbbbbb" || env[1].Name != "TRANSCEPT_SUMMARIZER" {
				t.Errorf("env %+v: the model setting replaced in place, the summarizer added", env)
			}
			ts, err := p.Traffic(ctx, "transcept-summarize")
			if err != nil || len(ts) != 2 || ts[0].Tag != "champion" || ts[0].Revision != c.champion || ts[0].Percent != 90 ||
				ts[1].Tag != "challenger" || ts[1].Revision != plan.Revision || ts[1].Percent != 10 {
				t.Errorf("traffic %+v %v", ts, err)
			}
		})
	}
}

func TestMissingService(t *testing.T) {
	p := knative.New(fake.NewSimpleClientset(), "transcept")
	_, _, _, err := p.Start(context.Background(), plan)
	if lecture.ErrorCode(err) != lecture.ENOTFOUND || !strings.Contains(lecture.ErrorMessage(err), "transcept-summarize not found in namespace transcept") {
		t.Errorf("start on a missing Service: %v", err)
	}
	if _, err := p.SetTraffic(context.Background(), "transcept-summarize", "a", "b", 100); lecture.ErrorCode(err) != lecture.ENOTFOUND {
		t.Errorf("traffic on a missing Service: %v", err)
	}
}
