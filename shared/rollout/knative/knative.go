// Package knative is the rollout's Knative adapter, the one package that
// imports knative.dev/serving's clientset and client-go: it reads a
// function's Knative Service, creates the challenger revision from its
// template and sets spec.traffic to two tagged targets (champion and
// challenger), and says which `kn` commands do the same.
package knative

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"knative.dev/serving/pkg/client/clientset/versioned"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/rollout"
)

// Platform moves traffic between revisions of the functions' Knative
// Services in one namespace.
type Platform struct {
	Client    versioned.Interface
	Namespace string
}

var _ rollout.Platform = (*Platform)(nil)

// New returns a platform over a serving clientset (the fake one in tests).
func New(c versioned.Interface, namespace string) *Platform {
	return &Platform{Client: c, Namespace: namespace}
}

// FromKubeconfig connects with client-go's standard loading rules: the
// kubeconfig files in kubeconfig (a KUBECONFIG-style list; empty:
// ~/.kube/config), else the in-cluster service account.
func FromKubeconfig(kubeconfig, namespace string) (*Platform, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.Precedence = filepath.SplitList(kubeconfig)
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "no Kubernetes cluster to reach (KUBECONFIG, ~/.kube/config or in-cluster): %v", err)
	}
	c, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "Knative serving client: %v", err)
	}
	return New(c, namespace), nil
}

func (p *Platform) wrap(err error, service, doing string) error {
	switch {
	case apierrors.IsNotFound(err):
		return lecture.Wrap(lecture.ENOTFOUND, err, "Knative Service %s not found in namespace %s (deploy it with `kubectl apply -k infra/`)", service, p.Namespace)
	case apierrors.IsConflict(err):
		return lecture.Wrap(lecture.ECONFLICT, err, "Knative Service %s changed while %s; run the command again", service, doing)
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		return lecture.Wrap(lecture.EINVALID, err, "Knative refused %s of %s: %v", doing, service, err)
	}
	return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s of Knative Service %s/%s: %v", doing, p.Namespace, service, err)
}

func (p *Platform) get(ctx context.Context, service string) (*servingv1.Service, error) {
	s, err := p.Client.ServingV1().Services(p.Namespace).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		return nil, p.wrap(err, service, "reading")
	}
	return s, nil
}

// serving returns the revision that serves all the traffic now: the
// target at 100% in spec.traffic, or the latest ready revision.
func serving(s *servingv1.Service) (string, error) {
	for _, t := range s.Spec.Traffic {
		if t.Percent != nil && *t.Percent == 100 && t.RevisionName != "" {
			return t.RevisionName, nil
		}
	}
	for _, t := range s.Spec.Traffic {
		if t.Percent != nil && *t.Percent > 0 && *t.Percent < 100 {
			return "", lecture.Errorf(lecture.ECONFLICT, "Knative Service %s splits its traffic (%s): give one revision 100%% first", s.Name, describe(s.Spec.Traffic))
		}
	}
	if s.Status.LatestReadyRevisionName == "" {
		return "", lecture.Errorf(lecture.EUNAVAILABLE, "Knative Service %s has no ready revision yet (kubectl get ksvc %s -n %s)", s.Name, s.Name, s.Namespace)
	}
	return s.Status.LatestReadyRevisionName, nil
}

func describe(ts []servingv1.TrafficTarget) string {
	var parts []string
	for _, t := range ts {
		name := t.RevisionName
		if name == "" {
			name = "@latest"
		}
		pct := int64(0)
		if t.Percent != nil {
			pct = *t.Percent
		}
		parts = append(parts, fmt.Sprintf("%s=%d%%", name, pct))
	}
	return strings.Join(parts, " ")
}

// envOf reads a setting from a revision's container (the first one).
func envOf(spec *corev1.PodSpec, name string) string {
	if len(spec.Containers) == 0 {
		return ""
	}
	for _, e := range spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// Start implements rollout.Platform.
func (p *Platform) Start(ctx context.Context, plan rollout.Plan) (string, string, []string, error) {
	s, err := p.get(ctx, plan.Service)
	if err != nil {
		return "", "", nil, err
	}
	champion, err := serving(s)
	if err != nil {
		return "", "", nil, err
	}
	if champion == plan.Revision {
		return "", "", nil, lecture.Errorf(lecture.ECONFLICT, "revision %s already serves all the traffic of %s", champion, plan.Service)
	}
	fn, _ := rollout.LookupFunction(plan.Function)
	// The champion's setting as its revision has it (the template may hold
	// an aborted challenger's); the template's when the revision is gone.
	championSetting := envOf(&s.Spec.Template.Spec.PodSpec, fn.Setting)
	if rev, err := p.Client.ServingV1().Revisions(p.Namespace).Get(ctx, champion, metav1.GetOptions{}); err == nil {
		championSetting = envOf(&rev.Spec.PodSpec, fn.Setting)
	}
	if len(s.Spec.Template.Spec.Containers) == 0 {
		return "", "", nil, lecture.Errorf(lecture.EINVALID, "Knative Service %s has no container", plan.Service)
	}
	s.Spec.Template.Name = plan.Revision
	c := &s.Spec.Template.Spec.Containers[0]
	names := sortedKeys(plan.Env)
	for _, k := range names {
		set := false
		for i := range c.Env {
			if c.Env[i].Name == k {
				c.Env[i] = corev1.EnvVar{Name: k, Value: plan.Env[k]}
				set = true
			}
		}
		if !set {
			c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: plan.Env[k]})
		}
	}
	var untag string // kn refuses a tag that is already in use
	for _, t := range s.Spec.Traffic {
		if t.Tag != "" {
			untag += " --untag " + t.Tag
		}
	}
	s.Spec.Traffic = split(champion, plan.Revision, plan.Percent)
	if _, err := p.Client.ServingV1().Services(p.Namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		return "", "", nil, p.wrap(err, plan.Service, "starting the rollout")
	}
	kn := fmt.Sprintf("kn service update %s --namespace %s --revision-name %s", plan.Service, p.Namespace, plan.Revision)
	kn += untag
	for _, k := range names {
		kn += fmt.Sprintf(" --env %s=%s", k, plan.Env[k])
	}
	kn += fmt.Sprintf(" --tag %s=%s --tag @latest=%s --traffic %s=%d --traffic %s=%d",
		champion, rollout.TagChampion, rollout.TagChallenger, rollout.TagChampion, 100-plan.Percent, rollout.TagChallenger, plan.Percent)
	return champion, championSetting, []string{kn}, nil
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// split is the two tagged traffic targets.
func split(champion, challenger string, percent int) []servingv1.TrafficTarget {
	no := false
	pc, pch := int64(100-percent), int64(percent)
	return []servingv1.TrafficTarget{
		{Tag: rollout.TagChampion, RevisionName: champion, LatestRevision: &no, Percent: &pc},
		{Tag: rollout.TagChallenger, RevisionName: challenger, LatestRevision: &no, Percent: &pch},
	}
}

// SetTraffic implements rollout.Platform.
func (p *Platform) SetTraffic(ctx context.Context, service, champion, challenger string, percent int) ([]string, error) {
	if percent < 0 || percent > 100 {
		return nil, lecture.Errorf(lecture.EINVALID, "challenger share %d%%: want 0 to 100", percent)
	}
	s, err := p.get(ctx, service)
	if err != nil {
		return nil, err
	}
	s.Spec.Traffic = split(champion, challenger, percent)
	if _, err := p.Client.ServingV1().Services(p.Namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		return nil, p.wrap(err, service, "moving traffic")
	}
	return []string{fmt.Sprintf("kn service update %s --namespace %s --traffic %s=%d --traffic %s=%d",
		service, p.Namespace, rollout.TagChampion, 100-percent, rollout.TagChallenger, percent)}, nil
}

// Traffic implements rollout.Platform.
func (p *Platform) Traffic(ctx context.Context, service string) ([]rollout.Target, error) {
	s, err := p.get(ctx, service)
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for _, t := range s.Status.Traffic {
		if t.Tag != "" && t.URL != nil {
			urls[t.Tag] = t.URL.String()
		}
	}
	var out []rollout.Target
	for _, t := range s.Spec.Traffic {
		tg := rollout.Target{Tag: t.Tag, Revision: t.RevisionName, Latest: t.LatestRevision != nil && *t.LatestRevision, URL: urls[t.Tag]}
		if t.RevisionName == "" && t.LatestRevision == nil {
			tg.Latest = true
		}
		if t.Percent != nil {
			tg.Percent = int(*t.Percent)
		}
		out = append(out, tg)
	}
	if len(out) == 0 { // Knative's default: all traffic to the latest revision
		out = append(out, rollout.Target{Latest: true, Revision: s.Status.LatestReadyRevisionName, Percent: 100})
	}
	return out, nil
}
