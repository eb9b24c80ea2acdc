package wire

import (
	"context"
	"net/http"
	"time"

	"github.com/transcept/transcept/shared/api"
	"github.com/transcept/transcept/shared/auth"
	"github.com/transcept/transcept/shared/auth/oidc"
	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

// API builds the HTTP API over the suite with the accounts settings:
// sign-in (TRANSCEPT_AUTH; single-user mode without it), quotas, the
// identity provider, CORS, direct-to-bucket uploads when the store can
// sign them. publish starts processing an upload.
func (s *Suite) API(ctx context.Context, publish func(lecture.Event) error) (*api.Server, error) {
	c := s.Config
	srv := &api.Server{Svc: s.Service, Publish: publish, Metrics: s.Metrics, Log: s.Log, MaxBody: c.MaxUploadBytes,
		Ready:         func() error { return s.Ready(context.Background()) },
		BodyTimeout:   c.BodyTimeout,
		RequestBudget: c.RequestBudget,
		Cat:           s.Catalogue,
		CORSOrigins:   c.Accounts.CORSOrigins,
		UploadURLTTL:  c.Accounts.UploadURLTTL,
		SessionTTL:    c.Accounts.SessionTTL,
		HideMetrics:   c.Accounts.MetricsAddr != "",
	}
	if len(s.Models) > 0 {
		srv.Models = map[string]string{}
		for setting, v := range s.Models {
			srv.Models[setting] = v.String()
		}
	}
	if p, ok := s.Service.Store.(interface {
		PresignPut(ctx context.Context, bucket, key, contentType string, size int64, ttl time.Duration) (string, http.Header, error)
	}); ok {
		srv.Presign = p.PresignPut
	}
	if !c.AuthRequired() {
		return srv, nil
	}
	if s.Catalogue == nil {
		return nil, lecture.Errorf(lecture.EINVALID, "sign-in needs the catalogue database (TRANSCEPT_DATABASE_URL)")
	}
	a := &auth.Authenticator{Cat: s.Catalogue, SessionTTL: c.Accounts.SessionTTL, PasswordDisabled: c.Accounts.OIDC.Only}
	srv.Auth = a
	q := &auth.Quotas{Cat: s.Catalogue, MediaHours: c.Accounts.QuotaMediaHours, Uploads: c.Accounts.QuotaUploads,
		Jobs: c.Accounts.QuotaJobs, QAPerMinute: c.Accounts.QuotaQA}
	srv.Quotas = q
	s.Service.Admit = func(ctx context.Context, owner string, mediaSeconds float64) error {
		if owner == "" {
			return nil
		}
		return q.Upload(ctx, owner, mediaSeconds)
	}
	if c.Accounts.OIDC.Issuer != "" {
		p, err := oidc.New(ctx, c.Accounts.OIDC, s.Catalogue)
		if err != nil {
			return nil, err
		}
		srv.OIDC = p
	}
	return srv, nil
}

// CheckAuthConfigured refuses to serve with sign-in on and no way to sign
// in: no account yet and no identity provider.
func (s *Suite) CheckAuthConfigured(ctx context.Context) error {
	c := s.Config
	if !c.AuthRequired() || c.Accounts.OIDC.Issuer != "" {
		return nil
	}
	n, err := s.Catalogue.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	why := "TRANSCEPT_AUTH=on"
	if c.Accounts.Auth == "" {
		why = c.Addr + " is not a loopback address, so sign-in is required"
	}
	return lecture.Errorf(lecture.EINVALID, "%s, but there is no account to sign in with: create the first admin with `transcept users create EMAIL --admin` "+
		"(same TRANSCEPT_DATABASE_URL), or configure an identity provider (TRANSCEPT_OIDC_ISSUER); TRANSCEPT_AUTH=off serves without sign-in", why)
}

var _ catalogue.Catalogue = catalogue.Catalogue(nil)
