package auth

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

// fakeCat is an in-memory catalogue.Catalogue for the tests, with call
// counters for the cache tests.
type fakeCat struct {
	mu       sync.Mutex
	users    map[string]catalogue.User
	keys     map[string]catalogue.APIKey // by id
	sessions map[string]catalogue.Session
	shares   map[string]catalogue.Share // by id
	lectures map[string]catalogue.Lecture
	usage    map[string]float64
	audit    []catalogue.AuditEntry
	active   map[string]int

	keyLookups, touches int
}

var _ catalogue.Catalogue = (*fakeCat)(nil)

func newFakeCat() *fakeCat {
	return &fakeCat{
		users: map[string]catalogue.User{}, keys: map[string]catalogue.APIKey{},
		sessions: map[string]catalogue.Session{}, shares: map[string]catalogue.Share{},
		lectures: map[string]catalogue.Lecture{}, usage: map[string]float64{}, active: map[string]int{},
	}
}

func notFound(what string) error { return lecture.Errorf(lecture.ENOTFOUND, "no such %s", what) }

func (c *fakeCat) CreateUser(_ context.Context, u catalogue.User) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.users {
		if o.ID == u.ID || o.Email == u.Email {
			return lecture.Errorf(lecture.ECONFLICT, "user exists")
		}
	}
	c.users[u.ID] = u
	return nil
}

func (c *fakeCat) UserByID(_ context.Context, id string) (catalogue.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.users[id]; ok {
		return u, nil
	}
	return catalogue.User{}, notFound("user")
}

func (c *fakeCat) UserByEmail(_ context.Context, email string) (catalogue.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range c.users {
		if u.Email == email {
			return u, nil
		}
	}
	return catalogue.User{}, notFound("user")
}

func (c *fakeCat) UserBySubject(_ context.Context, sub string) (catalogue.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range c.users {
		if u.OIDCSubject != "" && u.OIDCSubject == sub {
			return u, nil
		}
	}
	return catalogue.User{}, notFound("user")
}

func (c *fakeCat) UpdateUser(_ context.Context, u catalogue.User) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.users[u.ID]; !ok {
		return notFound("user")
	}
	c.users[u.ID] = u
	return nil
}

func (c *fakeCat) ListUsers(context.Context) ([]catalogue.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []catalogue.User
	for _, u := range c.users {
		out = append(out, u)
	}
	return out, nil
}

func (c *fakeCat) CountUsers(context.Context) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.users), nil
}

func (c *fakeCat) CreateKey(_ context.Context, k catalogue.APIKey) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[k.ID] = k
	return nil
}

func (c *fakeCat) KeyByHash(_ context.Context, hash string) (catalogue.APIKey, catalogue.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keyLookups++
	for _, k := range c.keys {
		if k.Hash == hash {
			return k, c.users[k.UserID], nil
		}
	}
	return catalogue.APIKey{}, catalogue.User{}, notFound("key")
}

func (c *fakeCat) ListKeys(_ context.Context, userID string) ([]catalogue.APIKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []catalogue.APIKey
	for _, k := range c.keys {
		if k.UserID == userID {
			out = append(out, k)
		}
	}
	return out, nil
}

func (c *fakeCat) RevokeKey(_ context.Context, userID, keyID string, at time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keys[keyID]
	if !ok || k.UserID != userID {
		return notFound("key")
	}
	k.RevokedAt = at
	c.keys[keyID] = k
	return nil
}

func (c *fakeCat) TouchKey(_ context.Context, keyID string, at time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.touches++
	k, ok := c.keys[keyID]
	if !ok {
		return notFound("key")
	}
	k.LastUsedAt = at
	c.keys[keyID] = k
	return nil
}

func (c *fakeCat) CreateSession(_ context.Context, s catalogue.Session) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessions[s.ID] = s
	return nil
}

func (c *fakeCat) SessionByID(_ context.Context, id string) (catalogue.Session, catalogue.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[id]
	if !ok {
		return catalogue.Session{}, catalogue.User{}, notFound("session")
	}
	return s, c.users[s.UserID], nil
}

func (c *fakeCat) DeleteSession(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sessions, id)
	return nil
}

func (c *fakeCat) DeleteUserSessions(_ context.Context, userID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, s := range c.sessions {
		if s.UserID == userID {
			delete(c.sessions, id)
		}
	}
	return nil
}

func (c *fakeCat) CreateShare(_ context.Context, s catalogue.Share) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shares[s.ID] = s
	return nil
}

func (c *fakeCat) ShareByHash(_ context.Context, hash string) (catalogue.Share, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.shares {
		if s.Hash == hash {
			return s, nil
		}
	}
	return catalogue.Share{}, notFound("share")
}

func (c *fakeCat) ListShares(_ context.Context, lectureID string) ([]catalogue.Share, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []catalogue.Share
	for _, s := range c.shares {
		if s.LectureID == lectureID {
			out = append(out, s)
		}
	}
	return out, nil
}

func (c *fakeCat) RevokeShare(_ context.Context, lectureID, shareID string, at time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.shares[shareID]
	if !ok || s.LectureID != lectureID {
		return notFound("share")
	}
	s.RevokedAt = at
	c.shares[shareID] = s
	return nil
}

func (c *fakeCat) PutLecture(_ context.Context, l catalogue.Lecture) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lectures[l.ID] = l
	return nil
}

func (c *fakeCat) GetLecture(_ context.Context, id string) (catalogue.Lecture, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.lectures[id]; ok {
		return l, nil
	}
	return catalogue.Lecture{}, notFound("lecture")
}

func (c *fakeCat) ListLectures(context.Context, catalogue.ListQuery) (catalogue.Page, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var p catalogue.Page
	for _, l := range c.lectures {
		p.Lectures = append(p.Lectures, l)
	}
	sort.Slice(p.Lectures, func(i, j int) bool { return p.Lectures[i].ID < p.Lectures[j].ID })
	return p, nil
}

func (c *fakeCat) SetTranscript(context.Context, string, string) error { return nil }

func (c *fakeCat) DeleteLecture(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.lectures, id)
	for sid, s := range c.shares {
		if s.LectureID == id {
			delete(c.shares, sid)
		}
	}
	return nil
}

func (c *fakeCat) CountActive(_ context.Context, owner string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active[owner], nil
}

func (c *fakeCat) AddUsage(_ context.Context, userID, counter string, window time.Time, delta, limit float64) (float64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := userID + "|" + counter + "|" + window.UTC().Format(time.RFC3339)
	v := c.usage[k] + delta
	if limit > 0 && v > limit {
		return c.usage[k], catalogue.ErrQuota
	}
	c.usage[k] = v
	return v, nil
}

func (c *fakeCat) UsageSince(context.Context, string, time.Time) ([]catalogue.Usage, error) {
	return nil, nil
}

func (c *fakeCat) Audit(_ context.Context, e catalogue.AuditEntry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.ID = int64(len(c.audit) + 1)
	c.audit = append(c.audit, e)
	return nil
}

func (c *fakeCat) ListAudit(context.Context, catalogue.AuditQuery) ([]catalogue.AuditEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]catalogue.AuditEntry(nil), c.audit...), nil
}

func (c *fakeCat) Close() error { return nil }
