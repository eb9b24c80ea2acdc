package oidc

import (
	"context"
	"strings"
	"sync"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

// fakeCatalogue keeps users and the audit log in memory; the other methods
// of catalogue.Catalogue are not used by this package (they panic).
type fakeCatalogue struct {
	catalogue.Catalogue

	mu    sync.Mutex
	users map[string]catalogue.User // by id
	audit []catalogue.AuditEntry
}

func newFakeCatalogue() *fakeCatalogue {
	return &fakeCatalogue{users: map[string]catalogue.User{}}
}

func (c *fakeCatalogue) CreateUser(_ context.Context, u catalogue.User) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	u.Email = strings.ToLower(u.Email)
	for _, o := range c.users {
		if o.ID == u.ID || o.Email == u.Email || (u.OIDCSubject != "" && o.OIDCSubject == u.OIDCSubject) {
			return lecture.Errorf(lecture.ECONFLICT, "user exists")
		}
	}
	c.users[u.ID] = u
	return nil
}

func (c *fakeCatalogue) UserByID(_ context.Context, id string) (catalogue.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.users[id]; ok {
		return u, nil
	}
	return catalogue.User{}, lecture.Errorf(lecture.ENOTFOUND, "no user %s", id)
}

func (c *fakeCatalogue) UserByEmail(_ context.Context, email string) (catalogue.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range c.users {
		if u.Email == strings.ToLower(email) {
			return u, nil
		}
	}
	return catalogue.User{}, lecture.Errorf(lecture.ENOTFOUND, "no user %s", email)
}

func (c *fakeCatalogue) UserBySubject(_ context.Context, subject string) (catalogue.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range c.users {
		if u.OIDCSubject != "" && u.OIDCSubject == subject {
			return u, nil
		}
	}
	return catalogue.User{}, lecture.Errorf(lecture.ENOTFOUND, "no user %s", subject)
}

func (c *fakeCatalogue) UpdateUser(_ context.Context, u catalogue.User) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.users[u.ID]; !ok {
		return lecture.Errorf(lecture.ENOTFOUND, "no user %s", u.ID)
	}
	for _, o := range c.users {
		if o.ID != u.ID && (o.Email == u.Email || (u.OIDCSubject != "" && o.OIDCSubject == u.OIDCSubject)) {
			return lecture.Errorf(lecture.ECONFLICT, "duplicate")
		}
	}
	c.users[u.ID] = u
	return nil
}

func (c *fakeCatalogue) CountUsers(context.Context) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.users), nil
}

func (c *fakeCatalogue) Audit(_ context.Context, e catalogue.AuditEntry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.ID = int64(len(c.audit) + 1)
	c.audit = append(c.audit, e)
	return nil
}

// lastAudit returns the newest audit entry (zero when there is none).
func (c *fakeCatalogue) lastAudit() catalogue.AuditEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.audit) == 0 {
		return catalogue.AuditEntry{}
	}
	return c.audit[len(c.audit)-1]
}
