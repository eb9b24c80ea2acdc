package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/transcept/transcept/shared/auth"
	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/pipeline"
)

// needCatalogue is the error of an accounts route on a server without a
// catalogue database.
func (s *Server) needCatalogue() error {
	if s.Cat == nil {
		return lecture.Errorf(ENOTIMPLEMENTED, "this server has no catalogue database (TRANSCEPT_DATABASE_URL)")
	}
	return nil
}

// GET /lectures?limit=&cursor=&q=: the caller's lectures, newest first.
func (s *Server) listLectures(w http.ResponseWriter, r *http.Request) error {
	if err := s.needCatalogue(); err != nil {
		return err
	}
	q := r.URL.Query()
	lq := catalogue.ListQuery{Q: strings.TrimSpace(q.Get("q")), Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return lecture.Errorf(lecture.EINVALID, "limit=%q: want a number from 1 to 200", v)
		}
		lq.Limit = n
	}
	if len(lq.Q) > 500 {
		return lecture.Errorf(lecture.EINVALID, "the search is %d characters; at most 500", len(lq.Q))
	}
	p := principal(r)
	if p.Via == auth.ViaLocal {
		lq.All = true
	} else {
		lq.Owner = p.UserID()
	}
	page, err := s.Cat.ListLectures(r.Context(), lq)
	if err != nil {
		return err
	}
	if page.Lectures == nil {
		page.Lectures = []catalogue.Lecture{}
	}
	return writeJSON(w, http.StatusOK, page)
}

// DELETE /lectures/{id}: the lecture and everything made from it.
func (s *Server) deleteLecture(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.Svc.DeleteLecture(r.Context(), id); err != nil {
		return err
	}
	s.forgetOwner(id)
	s.audit(r, "lecture.delete", id, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /lectures/{id}/media: the recording, with Range requests for seeking.
func (s *Server) getMedia(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	objs, err := s.Svc.Store.List(r.Context(), lecture.BucketRaw, id+"/")
	if err != nil {
		return err
	}
	for _, o := range objs {
		name := path.Base(o.Key)
		if !pipeline.IsMedia(name, nil) {
			continue
		}
		rc, err := s.Svc.Store.Get(r.Context(), lecture.BucketRaw, o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		ct := o.ContentType
		if ct == "" || ct == "application/octet-stream" {
			ct = pipeline.MediaType(name)
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", "private, max-age=3600")
		w.Header().Set("Content-Disposition", "inline; filename=\""+name+"\"")
		if rs, ok := rc.(io.ReadSeeker); ok {
			http.ServeContent(w, r, name, o.Modified, rs)
			return nil
		}
		w.Header().Set("Content-Length", strconv.FormatInt(o.Size, 10))
		_, err = io.Copy(w, rc)
		return err
	}
	return lecture.Errorf(lecture.ENOTFOUND, "lecture %s has no recording (it was uploaded as a transcript)", id)
}

// GET /lectures/{id}/events: the lecture's status as server-sent events
// ("status"), one when it changes, until it is ready or failed.
func (s *Server) lectureEvents(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	l, err := s.lecture(r.Context(), id)
	if err != nil {
		return err
	}
	sse := &sseWriter{w: w}
	last := ""
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	beat := time.Now()
	for {
		b, _ := json.Marshal(l)
		if string(b) != last {
			last = string(b)
			sse.event("status", l)
			beat = time.Now()
		} else if time.Since(beat) > 15*time.Second {
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			beat = time.Now()
		}
		if sse.failed || l.Status == lecture.StatusReady || l.Status == lecture.StatusFailed {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
		}
		if l, err = s.lecture(r.Context(), id); err != nil {
			sse.event("error", map[string]string{"code": lecture.ErrorCode(err), "message": lecture.ErrorMessage(err)})
			return nil
		}
	}
}

// lecture is a lecture's status; a direct upload whose object has not
// arrived yet answers from its catalogue row ("awaiting_upload").
func (s *Server) lecture(ctx context.Context, id string) (*lecture.Lecture, error) {
	l, err := s.Svc.Lecture(ctx, id)
	if lecture.ErrorCode(err) == lecture.ENOTFOUND && s.Cat != nil {
		if row, rerr := s.Cat.GetLecture(ctx, id); rerr == nil && row.Status == lecture.StatusAwaitingUpload {
			return &lecture.Lecture{ID: row.ID, Title: row.Title, Owner: row.Owner, Status: row.Status, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt}, nil
		}
	}
	return l, err
}

// GET /lectures/{id}/qa?q=QUESTION[&stream=1]: a question about one
// lecture, the way a share link can ask it (share links only GET).
func (s *Server) lectureQA(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query().Get("q")
	if strings.TrimSpace(q) == "" {
		return lecture.Errorf(lecture.EINVALID, "give the question as ?q=")
	}
	if len(q) > 2000 {
		return lecture.Errorf(lecture.EINVALID, "the question is %d characters; at most 2000", len(q))
	}
	return s.answer(w, r, QARequest{LectureID: r.PathValue("id"), Question: q}, len(q))
}

// ShareRequest is POST /lectures/{id}/shares.
type ShareRequest struct {
	ExpiresIn string `json:"expires_in,omitempty"` // Go duration; default 168h, at most 2160h (90 days)
}

func (s *Server) createShare(w http.ResponseWriter, r *http.Request) error {
	if err := s.needCatalogue(); err != nil {
		return err
	}
	var req ShareRequest
	if err := s.optionalJSON(w, r, &req); err != nil {
		return err
	}
	ttl, err := parseTTL(req.ExpiresIn, 7*24*time.Hour, 90*24*time.Hour)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := s.Cat.GetLecture(r.Context(), id); err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return lecture.Errorf(lecture.ECONFLICT, "lecture %s is not in the catalogue yet; run `transcept catalogue rebuild`", id)
		}
		return err
	}
	now := time.Now().UTC()
	token, sh := auth.NewShare(id, ownerActor(r), now.Add(ttl), now)
	if err := s.Cat.CreateShare(r.Context(), sh); err != nil {
		return err
	}
	s.audit(r, "share.create", id, "share "+sh.ID+", expires "+sh.ExpiresAt.Format(time.RFC3339))
	return writeJSON(w, http.StatusCreated, map[string]any{
		"id": sh.ID, "lecture_id": id, "token": token, "expires_at": sh.ExpiresAt,
		"url": "/lectures/" + id + "?" + auth.ShareParam + "=" + url.QueryEscape(token),
	})
}

func ownerActor(r *http.Request) string {
	if p := principal(r); p.Via != auth.ViaLocal {
		return p.UserID()
	}
	return "local"
}

func (s *Server) listShares(w http.ResponseWriter, r *http.Request) error {
	if err := s.needCatalogue(); err != nil {
		return err
	}
	shares, err := s.Cat.ListShares(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if shares == nil {
		shares = []catalogue.Share{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"shares": shares})
}

func (s *Server) revokeShare(w http.ResponseWriter, r *http.Request) error {
	if err := s.needCatalogue(); err != nil {
		return err
	}
	id, sid := r.PathValue("id"), r.PathValue("share")
	if err := s.Cat.RevokeShare(r.Context(), id, sid, time.Now().UTC()); err != nil {
		return err
	}
	s.audit(r, "share.revoke", id, "share "+sid)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// KeyRequest is POST /keys.
type KeyRequest struct {
	Name      string `json:"name"`
	ExpiresIn string `json:"expires_in,omitempty"` // Go duration; default 720h, at most 8760h; "never"
}

// accountOnly refuses routes that need an account (keys, sessions) in
// single-user mode.
func accountOnly(r *http.Request) (auth.Principal, error) {
	p := principal(r)
	if p.User == nil {
		return p, lecture.Errorf(lecture.EINVALID, "sign-in is off on this server (single-user mode): there are no accounts or API keys; see TRANSCEPT_AUTH")
	}
	return p, nil
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.needCatalogue(); err != nil {
		return err
	}
	p, err := accountOnly(r)
	if err != nil {
		return err
	}
	var req KeyRequest
	if err := s.optionalJSON(w, r, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 100 {
		return lecture.Errorf(lecture.EINVALID, "give the key a \"name\" of 1 to 100 characters")
	}
	now := time.Now().UTC()
	var exp time.Time
	if req.ExpiresIn != "never" {
		ttl, err := parseTTL(req.ExpiresIn, 720*time.Hour, 8760*time.Hour)
		if err != nil {
			return err
		}
		exp = now.Add(ttl)
	}
	secret, k := auth.NewAPIKey(p.UserID(), req.Name, exp, now)
	if err := s.Cat.CreateKey(r.Context(), k); err != nil {
		return err
	}
	s.audit(r, "key.create", k.ID, req.Name)
	return writeJSON(w, http.StatusCreated, map[string]any{"key": secret, "id": k.ID, "name": k.Name, "prefix": k.Prefix,
		"expires_at": k.ExpiresAt, "note": "shown once: store it now; send it as \"Authorization: Bearer <key>\""})
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	if err := s.needCatalogue(); err != nil {
		return err
	}
	p, err := accountOnly(r)
	if err != nil {
		return err
	}
	keys, err := s.Cat.ListKeys(r.Context(), p.UserID())
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []catalogue.APIKey{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.needCatalogue(); err != nil {
		return err
	}
	p, err := accountOnly(r)
	if err != nil {
		return err
	}
	id := r.PathValue("key")
	if err := s.Auth.Revoke(r.Context(), p, id); err != nil {
		return err
	}
	s.audit(r, "key.revoke", id, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// usageReport is a user's counters against the limits.
func (s *Server) usageReport(r *http.Request, userID string) (map[string]any, error) {
	now := time.Now().UTC()
	us, err := s.Cat.UsageSince(r.Context(), userID, catalogue.Window(catalogue.CounterMediaSeconds, now))
	if err != nil {
		return nil, err
	}
	cur := map[string]float64{}
	for _, u := range us {
		if u.Window.Equal(catalogue.Window(u.Counter, now)) {
			cur[u.Counter] = u.Value
		}
	}
	jobs, err := s.Cat.CountActive(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	rep := map[string]any{
		"media_hours_today":     cur[catalogue.CounterMediaSeconds] / 3600,
		"uploads_this_hour":     cur[catalogue.CounterUploads],
		"questions_this_minute": cur[catalogue.CounterQA],
		"jobs_running":          jobs,
	}
	if q := s.Quotas; q != nil {
		rep["limits"] = map[string]float64{"media_hours_per_day": q.MediaHours, "uploads_per_hour": q.Uploads, "jobs": q.Jobs, "questions_per_minute": q.QAPerMinute}
	}
	return rep, nil
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	if err := s.needCatalogue(); err != nil {
		return err
	}
	p, err := accountOnly(r)
	if err != nil {
		return err
	}
	rep, err := s.usageReport(r, p.UserID())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// GET /admin/users: every account with its usage (never lecture content).
func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request) error {
	if err := s.needCatalogue(); err != nil {
		return err
	}
	users, err := s.Cat.ListUsers(r.Context())
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(users))
	for _, u := range users {
		rep, err := s.usageReport(r, u.ID)
		if err != nil {
			return err
		}
		out = append(out, map[string]any{"user": u, "usage": rep})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request) error {
	if err := s.needCatalogue(); err != nil {
		return err
	}
	q := r.URL.Query()
	aq := catalogue.AuditQuery{Actor: q.Get("actor"), Action: q.Get("action")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return lecture.Errorf(lecture.EINVALID, "limit=%q: want a number from 1 to 1000", v)
		}
		aq.Limit = n
	}
	es, err := s.Cat.ListAudit(r.Context(), aq)
	if err != nil {
		return err
	}
	if es == nil {
		es = []catalogue.AuditEntry{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"entries": es})
}

// SignInRequest is POST /auth/signin (JSON or a form).
type SignInRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Next     string `json:"next,omitempty"`
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	if s.Auth == nil {
		return lecture.Errorf(lecture.EINVALID, "sign-in is off on this server (single-user mode); see TRANSCEPT_AUTH")
	}
	var req SignInRequest
	form := false
	mt, _, err := mediaType(r)
	if err != nil {
		return err
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		form = true
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			return lecture.Errorf(lecture.EINVALID, "malformed form: %v", err)
		}
		req = SignInRequest{Email: r.PostForm.Get("email"), Password: r.PostForm.Get("password"), Next: r.PostForm.Get("next")}
	case "application/json":
		b, err := s.readBody(w, r)
		if err != nil {
			return err
		}
		if err := decodeJSON(b, &req); err != nil {
			return err
		}
	default:
		return lecture.Errorf(lecture.EUNSUPPORTED, "send JSON {\"email\", \"password\"} or a form")
	}
	token, sess, err := s.Auth.SignIn(r.Context(), req.Email, req.Password, clientAddr(r))
	if err != nil {
		return err
	}
	http.SetCookie(w, auth.SessionCookie(token, time.Until(sess.ExpiresAt), s.secure(r)))
	if form {
		http.Redirect(w, r, auth.SafeRedirect(req.Next), http.StatusSeeOther)
		return nil
	}
	return writeJSON(w, http.StatusOK, map[string]any{"user_id": sess.UserID, "csrf_token": sess.CSRF, "expires_at": sess.ExpiresAt})
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	if s.Auth == nil {
		return lecture.Errorf(lecture.EINVALID, "sign-in is off on this server (single-user mode)")
	}
	p := principal(r)
	if p.Via == auth.ViaSession {
		if err := s.Auth.SignOut(r.Context(), p); err != nil {
			return err
		}
	}
	http.SetCookie(w, auth.ClearCookie(s.secure(r)))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	out := map[string]any{"via": p.Via, "admin": p.IsAdmin()}
	if p.User != nil {
		out["user"] = p.User
	}
	if p.Session != nil {
		out["csrf_token"] = p.Session.CSRF
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) error {
	if s.OIDC == nil || s.Auth == nil {
		return lecture.Errorf(ENOTIMPLEMENTED, "no identity provider is configured (TRANSCEPT_OIDC_ISSUER)")
	}
	s.OIDC.Start(w, r, auth.SafeRedirect(r.URL.Query().Get("next")))
	return nil
}

func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	if s.OIDC == nil || s.Auth == nil {
		return lecture.Errorf(ENOTIMPLEMENTED, "no identity provider is configured (TRANSCEPT_OIDC_ISSUER)")
	}
	u, next, err := s.OIDC.Callback(r.Context(), r)
	s.OIDC.ClearStateCookie(w)
	if err != nil {
		return err
	}
	if u.Disabled {
		return lecture.Errorf(auth.EFORBIDDEN, "this account is disabled")
	}
	ttl := s.SessionTTL
	if ttl <= 0 {
		ttl = auth.DefaultSessionTTL
	}
	token, sess := auth.NewSession(u.ID, clientAddr(r), ttl, time.Now())
	if err := s.Cat.CreateSession(r.Context(), sess); err != nil {
		return err
	}
	http.SetCookie(w, auth.SessionCookie(token, time.Until(sess.ExpiresAt), s.secure(r)))
	http.Redirect(w, r, auth.SafeRedirect(next), http.StatusSeeOther)
	return nil
}

// UploadRequest is POST /lectures/uploads: what the client will PUT.
type UploadRequest struct {
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

// POST /lectures/uploads: a presigned PUT URL for raw-inputs/<id>/<name>;
// the bucket notification starts processing when the object lands. The
// owner is the signed-in caller, recorded now in the catalogue.
func (s *Server) presignUpload(w http.ResponseWriter, r *http.Request) error {
	if s.Presign == nil {
		return lecture.Errorf(ENOTIMPLEMENTED, "direct-to-bucket uploads need the MinIO object store (MINIO_ENDPOINT); POST /lectures takes the upload instead")
	}
	if err := s.needCatalogue(); err != nil {
		return err
	}
	var req UploadRequest
	b, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	if err := decodeJSON(b, &req); err != nil {
		return err
	}
	switch {
	case req.Size <= 0:
		return lecture.Errorf(lecture.EINVALID, "give the file's \"size\" in bytes")
	case req.Size > s.Svc.MaxMediaBytes:
		return lecture.Errorf(lecture.ETOOLARGE, "the file is %s; the limit is %s (TRANSCEPT_MAX_MEDIA_BYTES)", pipeline.Bytes(req.Size), pipeline.Bytes(s.Svc.MaxMediaBytes))
	}
	ct, _, err := mimeType(req.ContentType)
	if err != nil {
		return err
	}
	media := strings.HasPrefix(ct, "audio/") || strings.HasPrefix(ct, "video/")
	if !media && !pipeline.IsMedia(req.Name, nil) {
		return lecture.Errorf(lecture.EUNSUPPORTED, "direct uploads are for recordings (audio/*, video/*); send transcripts to POST /lectures")
	}
	if media && s.Svc.Transcriber == nil {
		return pipeline.NoTranscriber()
	}
	name := pipeline.MediaName(req.Name)
	owner := principal(r).UserID()
	if owner != "" && s.Quotas != nil {
		if err := s.Quotas.Upload(r.Context(), owner, 0); err != nil {
			return err
		}
	}
	id := lecture.NewLectureID()
	ttl := s.UploadURLTTL
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	now := time.Now().UTC()
	title := strings.TrimSpace(req.Title)
	if title == "" {
		title = strings.TrimSuffix(name, path.Ext(name))
	}
	row := catalogue.Lecture{ID: id, Owner: owner, Title: title, Status: lecture.StatusAwaitingUpload, MediaType: ct, Bytes: req.Size, CreatedAt: now, UpdatedAt: now}
	if err := s.Cat.PutLecture(r.Context(), row); err != nil {
		return err
	}
	u, hdr, err := s.Presign(r.Context(), lecture.BucketRaw, lecture.Key(id, name), ct, req.Size, ttl)
	if err != nil {
		_ = s.Cat.DeleteLecture(r.Context(), id)
		return err
	}
	s.audit(r, "upload.presign", id, fmt.Sprintf("%s, %d bytes", name, req.Size))
	headers := map[string]string{}
	for k := range hdr {
		headers[k] = hdr.Get(k)
	}
	w.Header().Set("Location", "/lectures/"+id)
	return writeJSON(w, http.StatusCreated, map[string]any{"lecture_id": id, "method": http.MethodPut, "url": u, "headers": headers,
		"expires_at": now.Add(ttl), "links": map[string]string{"self": "/lectures/" + id, "events": "/lectures/" + id + "/events"}})
}

// mimeType parses a content type given in a JSON field.
func mimeType(v string) (string, map[string]string, error) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return "", nil, lecture.Errorf(lecture.EINVALID, "content_type=%q: want a media type such as audio/mpeg", v)
	}
	return mt, params, nil
}

// optionalJSON decodes a JSON body into v when there is one.
func (s *Server) optionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b, err := s.readBody(w, r)
	if err != nil {
		if r.ContentLength < 0 && lecture.ErrorCode(err) == lecture.EINVALID && strings.Contains(err.Error(), "empty") {
			return nil
		}
		return err
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	return decodeJSON(b, v)
}

// parseTTL reads a Go duration within (0, max], def when empty.
func parseTTL(v string, def, max time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > max {
		return 0, lecture.Errorf(lecture.EINVALID, "expires_in=%q: want a duration from 1m to %s, such as %s", v, max, def)
	}
	return d, nil
}
