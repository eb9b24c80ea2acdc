// Package catalogtest is the contract every catalogue.Catalogue adapter
// passes. Call Run from an adapter's tests; open returns a fresh, empty
// catalogue for each subtest (and closes it in t.Cleanup).
package catalogtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

// Open returns a fresh, empty catalogue for t.
type Open func(t *testing.T) catalogue.Catalogue

// Run runs the contract against catalogues from open.
func Run(t *testing.T, open func(t *testing.T) catalogue.Catalogue) {
	for _, c := range []struct {
		name string
		f    func(*testing.T, catalogue.Catalogue)
	}{
		{"Users", testUsers},
		{"UserConflicts", testUserConflicts},
		{"Keys", testKeys},
		{"Sessions", testSessions},
		{"Shares", testShares},
		{"PutLecture", testPutLecture},
		{"ListLectures", testListLectures},
		{"ListLecturesOwner", testListOwner},
		{"Search", testSearch},
		{"DeleteLecture", testDeleteLecture},
		{"CountActive", testCountActive},
		{"Usage", testUsage},
		{"UsageConcurrent", testUsageConcurrent},
		{"Audit", testAudit},
		{"Times", testTimes},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, open(t)) })
	}
}

// Ctx is a context for one test, cancelled when it ends.
func Ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return c
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := lecture.ErrorCode(err); got != code {
		t.Errorf("%s: error %v has code %q, want %q", what, err, got, code)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// base is a time with microseconds (the precision every adapter keeps) in
// a zone other than UTC.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.FixedZone("X", 5*3600+1800))

func at(d time.Duration) time.Time { return base.Add(d) }

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", what, got.Location())
	}
}

func sameUser(t *testing.T, what string, got, want catalogue.User) {
	t.Helper()
	sameTime(t, what+".CreatedAt", got.CreatedAt, want.CreatedAt)
	got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func user(id string) catalogue.User {
	return catalogue.User{ID: id, Email: id + "@example.org", Role: catalogue.RoleMember, CreatedAt: at(0)}
}

func testUsers(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	if n, err := c.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers on an empty catalogue = %d, %v", n, err)
	}
	if us, err := c.ListUsers(ctx); err != nil || len(us) != 0 {
		t.Fatalf("ListUsers on an empty catalogue = %v, %v", us, err)
	}
	a := catalogue.User{ID: "u1", Email: "Ada.Lovelace@Example.ORG", Role: catalogue.RoleAdmin, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", CreatedAt: at(0)}
	must(t, "CreateUser", c.CreateUser(ctx, a))
	a.Email = "ada.lovelace@example.org"
	b := catalogue.User{ID: "u2", Email: "grace@example.org", Role: catalogue.RoleMember, OIDCSubject: "sub-123", Disabled: true, CreatedAt: at(time.Second)}
	must(t, "CreateUser", c.CreateUser(ctx, b))

	got, err := c.UserByID(ctx, "u1")
	must(t, "UserByID", err)
	sameUser(t, "UserByID", got, a)
	got, err = c.UserByEmail(ctx, "ADA.lovelace@example.org")
	must(t, "UserByEmail (other case)", err)
	sameUser(t, "UserByEmail", got, a)
	got, err = c.UserBySubject(ctx, "sub-123")
	must(t, "UserBySubject", err)
	sameUser(t, "UserBySubject", got, b)

	_, err = c.UserByID(ctx, "nobody")
	wantCode(t, "UserByID(missing)", err, lecture.ENOTFOUND)
	_, err = c.UserByEmail(ctx, "nobody@example.org")
	wantCode(t, "UserByEmail(missing)", err, lecture.ENOTFOUND)
	_, err = c.UserBySubject(ctx, "sub-none")
	wantCode(t, "UserBySubject(missing)", err, lecture.ENOTFOUND)
	_, err = c.UserBySubject(ctx, "")
	wantCode(t, "UserBySubject(\"\")", err, lecture.ENOTFOUND)

	// Update every field but the id and creation time.
	a2 := a
	a2.Email, a2.Role, a2.PasswordHash, a2.OIDCSubject, a2.Disabled = "Ada@Example.org", catalogue.RoleMember, "", "sub-ada", true
	must(t, "UpdateUser", c.UpdateUser(ctx, a2))
	a2.Email = "ada@example.org"
	got, err = c.UserByID(ctx, "u1")
	must(t, "UserByID after UpdateUser", err)
	sameUser(t, "UserByID after UpdateUser", got, a2)
	got, err = c.UserBySubject(ctx, "sub-ada")
	must(t, "UserBySubject after UpdateUser", err)
	sameUser(t, "UserBySubject after UpdateUser", got, a2)
	_, err = c.UserByEmail(ctx, "ada.lovelace@example.org")
	wantCode(t, "UserByEmail(old e-mail)", err, lecture.ENOTFOUND)
	// Clearing the subject.
	a2.OIDCSubject = ""
	must(t, "UpdateUser (clear subject)", c.UpdateUser(ctx, a2))
	_, err = c.UserBySubject(ctx, "sub-ada")
	wantCode(t, "UserBySubject(cleared)", err, lecture.ENOTFOUND)

	wantCode(t, "UpdateUser(missing)", c.UpdateUser(ctx, user("ghost")), lecture.ENOTFOUND)

	n, err := c.CountUsers(ctx)
	if err != nil || n != 2 {
		t.Errorf("CountUsers = %d, %v; want 2", n, err)
	}
	us, err := c.ListUsers(ctx)
	must(t, "ListUsers", err)
	if len(us) != 2 || us[0].ID != "u1" || us[1].ID != "u2" {
		t.Errorf("ListUsers = %+v, want u1, u2 (oldest first)", us)
	}
}

func testUserConflicts(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	must(t, "CreateUser", c.CreateUser(ctx, catalogue.User{ID: "u1", Email: "a@example.org", Role: catalogue.RoleMember, OIDCSubject: "s1", CreatedAt: at(0)}))
	must(t, "CreateUser", c.CreateUser(ctx, catalogue.User{ID: "u2", Email: "b@example.org", Role: catalogue.RoleMember, CreatedAt: at(0)}))
	must(t, "CreateUser (no subject)", c.CreateUser(ctx, catalogue.User{ID: "u3", Email: "c@example.org", Role: catalogue.RoleMember, CreatedAt: at(0)}))
	wantCode(t, "CreateUser(same e-mail, other case)", c.CreateUser(ctx, catalogue.User{ID: "u4", Email: "A@EXAMPLE.org", Role: catalogue.RoleMember}), lecture.ECONFLICT)
	wantCode(t, "CreateUser(same id)", c.CreateUser(ctx, catalogue.User{ID: "u1", Email: "d@example.org", Role: catalogue.RoleMember}), lecture.ECONFLICT)
	wantCode(t, "CreateUser(same subject)", c.CreateUser(ctx, catalogue.User{ID: "u5", Email: "e@example.org", Role: catalogue.RoleMember, OIDCSubject: "s1"}), lecture.ECONFLICT)
	wantCode(t, "UpdateUser(to a taken e-mail)", c.UpdateUser(ctx, catalogue.User{ID: "u2", Email: "A@example.org", Role: catalogue.RoleMember}), lecture.ECONFLICT)
	wantCode(t, "UpdateUser(to a taken subject)", c.UpdateUser(ctx, catalogue.User{ID: "u2", Email: "b@example.org", Role: catalogue.RoleMember, OIDCSubject: "s1"}), lecture.ECONFLICT)
	if n, err := c.CountUsers(ctx); err != nil || n != 3 {
		t.Errorf("CountUsers = %d, %v; want 3", n, err)
	}
	got, err := c.UserByID(ctx, "u2")
	must(t, "UserByID", err)
	if got.Email != "b@example.org" || got.OIDCSubject != "" {
		t.Errorf("a refused update changed the user: %+v", got)
	}
}

func testKeys(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	must(t, "CreateUser", c.CreateUser(ctx, user("u1")))
	must(t, "CreateUser", c.CreateUser(ctx, user("u2")))
	k1 := catalogue.APIKey{ID: "k1", UserID: "u1", Name: "laptop", Prefix: "tsk_ab12", Hash: strings.Repeat("a", 64), CreatedAt: at(0), ExpiresAt: at(24 * time.Hour)}
	k2 := catalogue.APIKey{ID: "k2", UserID: "u1", Name: "ci", Prefix: "tsk_cd34", Hash: strings.Repeat("b", 64), CreatedAt: at(time.Minute)}
	k3 := catalogue.APIKey{ID: "k3", UserID: "u2", Name: "other", Prefix: "tsk_ef56", Hash: strings.Repeat("c", 64), CreatedAt: at(0)}
	for _, k := range []catalogue.APIKey{k1, k2, k3} {
		must(t, "CreateKey "+k.ID, c.CreateKey(ctx, k))
	}
	wantCode(t, "CreateKey(same hash)", c.CreateKey(ctx, catalogue.APIKey{ID: "k4", UserID: "u1", Hash: k1.Hash, CreatedAt: at(0)}), lecture.ECONFLICT)
	wantCode(t, "CreateKey(same id)", c.CreateKey(ctx, catalogue.APIKey{ID: "k1", UserID: "u1", Hash: strings.Repeat("d", 64), CreatedAt: at(0)}), lecture.ECONFLICT)

	k, u, err := c.KeyByHash(ctx, k1.Hash)
	must(t, "KeyByHash", err)
	sameKey(t, "KeyByHash", k, k1)
	if u.ID != "u1" || u.Email != "u1@example.org" {
		t.Errorf("KeyByHash user = %+v, want u1", u)
	}
	_, _, err = c.KeyByHash(ctx, strings.Repeat("f", 64))
	wantCode(t, "KeyByHash(missing)", err, lecture.ENOTFOUND)

	ks, err := c.ListKeys(ctx, "u1")
	must(t, "ListKeys", err)
	if len(ks) != 2 || ks[0].ID != "k2" || ks[1].ID != "k1" {
		t.Fatalf("ListKeys(u1) = %+v, want k2, k1 (newest first)", ks)
	}
	sameKey(t, "ListKeys[1]", ks[1], k1)
	if ks, err := c.ListKeys(ctx, "nobody"); err != nil || len(ks) != 0 {
		t.Errorf("ListKeys(nobody) = %v, %v; want none", ks, err)
	}

	// Another user's key is not found, and stays live.
	wantCode(t, "RevokeKey(another user's key)", c.RevokeKey(ctx, "u2", "k1", at(time.Hour)), lecture.ENOTFOUND)
	wantCode(t, "RevokeKey(missing)", c.RevokeKey(ctx, "u1", "k9", at(time.Hour)), lecture.ENOTFOUND)
	k, _, _ = c.KeyByHash(ctx, k1.Hash)
	if !k.RevokedAt.IsZero() {
		t.Errorf("a refused RevokeKey revoked the key at %v", k.RevokedAt)
	}
	must(t, "RevokeKey", c.RevokeKey(ctx, "u1", "k1", at(time.Hour)))
	must(t, "TouchKey", c.TouchKey(ctx, "k1", at(2*time.Hour)))
	wantCode(t, "TouchKey(missing)", c.TouchKey(ctx, "k9", at(time.Hour)), lecture.ENOTFOUND)
	// A revoked key is still returned with its user: the caller checks.
	k, u, err = c.KeyByHash(ctx, k1.Hash)
	must(t, "KeyByHash(revoked)", err)
	want := k1
	want.RevokedAt, want.LastUsedAt = at(time.Hour).UTC(), at(2*time.Hour).UTC()
	sameKey(t, "KeyByHash(revoked)", k, want)
	if u.ID != "u1" {
		t.Errorf("KeyByHash(revoked) user = %q, want u1", u.ID)
	}
	// An expired key too.
	k4 := catalogue.APIKey{ID: "k4", UserID: "u2", Name: "old", Prefix: "tsk_old", Hash: strings.Repeat("e", 64), CreatedAt: at(-48 * time.Hour), ExpiresAt: at(-24 * time.Hour)}
	must(t, "CreateKey(expired)", c.CreateKey(ctx, k4))
	k, u, err = c.KeyByHash(ctx, k4.Hash)
	must(t, "KeyByHash(expired)", err)
	sameKey(t, "KeyByHash(expired)", k, k4)
	if u.ID != "u2" {
		t.Errorf("KeyByHash(expired) user = %q, want u2", u.ID)
	}
	// A key of a missing user is refused.
	if err := c.CreateKey(ctx, catalogue.APIKey{ID: "k5", UserID: "ghost", Hash: strings.Repeat("9", 64), CreatedAt: at(0)}); err == nil {
		t.Errorf("CreateKey for a missing user succeeded")
	}
}

func sameKey(t *testing.T, what string, got, want catalogue.APIKey) {
	t.Helper()
	sameTime(t, what+".CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, what+".ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTime(t, what+".RevokedAt", got.RevokedAt, want.RevokedAt)
	sameTime(t, what+".LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	got.CreatedAt, got.ExpiresAt, got.RevokedAt, got.LastUsedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	want.CreatedAt, want.ExpiresAt, want.RevokedAt, want.LastUsedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func testSessions(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	must(t, "CreateUser", c.CreateUser(ctx, user("u1")))
	must(t, "CreateUser", c.CreateUser(ctx, user("u2")))
	s1 := catalogue.Session{ID: strings.Repeat("1", 64), UserID: "u1", CSRF: "csrf-1", CreatedAt: at(0), ExpiresAt: at(12 * time.Hour), Remote: "192.0.2.1"}
	s2 := catalogue.Session{ID: strings.Repeat("2", 64), UserID: "u1", CSRF: "csrf-2", CreatedAt: at(0), ExpiresAt: at(12 * time.Hour)}
	s3 := catalogue.Session{ID: strings.Repeat("3", 64), UserID: "u2", CSRF: "csrf-3", CreatedAt: at(0), ExpiresAt: at(-time.Hour)}
	for _, s := range []catalogue.Session{s1, s2, s3} {
		must(t, "CreateSession", c.CreateSession(ctx, s))
	}
	wantCode(t, "CreateSession(same id)", c.CreateSession(ctx, s1), lecture.ECONFLICT)
	s, u, err := c.SessionByID(ctx, s1.ID)
	must(t, "SessionByID", err)
	sameTime(t, "Session.CreatedAt", s.CreatedAt, s1.CreatedAt)
	sameTime(t, "Session.ExpiresAt", s.ExpiresAt, s1.ExpiresAt)
	if s.ID != s1.ID || s.UserID != "u1" || s.CSRF != "csrf-1" || s.Remote != "192.0.2.1" || u.ID != "u1" {
		t.Errorf("SessionByID = %+v, %+v; want %+v of u1", s, u, s1)
	}
	// An expired session is returned: the caller checks.
	if _, _, err := c.SessionByID(ctx, s3.ID); err != nil {
		t.Errorf("SessionByID(expired): %v", err)
	}
	_, _, err = c.SessionByID(ctx, strings.Repeat("9", 64))
	wantCode(t, "SessionByID(missing)", err, lecture.ENOTFOUND)

	must(t, "DeleteSession", c.DeleteSession(ctx, s2.ID))
	_, _, err = c.SessionByID(ctx, s2.ID)
	wantCode(t, "SessionByID(deleted)", err, lecture.ENOTFOUND)
	must(t, "DeleteSession(again)", c.DeleteSession(ctx, s2.ID))

	must(t, "CreateSession", c.CreateSession(ctx, s2))
	must(t, "DeleteUserSessions", c.DeleteUserSessions(ctx, "u1"))
	for _, id := range []string{s1.ID, s2.ID} {
		_, _, err = c.SessionByID(ctx, id)
		wantCode(t, "SessionByID(after DeleteUserSessions)", err, lecture.ENOTFOUND)
	}
	if _, _, err := c.SessionByID(ctx, s3.ID); err != nil {
		t.Errorf("DeleteUserSessions(u1) deleted u2's session: %v", err)
	}
}

func lec(id, owner string, created time.Time) catalogue.Lecture {
	return catalogue.Lecture{ID: id, Owner: owner, Title: "Lecture " + id, Status: lecture.StatusReady, CreatedAt: created, UpdatedAt: created}
}

func testShares(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	must(t, "PutLecture", c.PutLecture(ctx, lec("L1", "u1", at(0))))
	must(t, "PutLecture", c.PutLecture(ctx, lec("L2", "u1", at(0))))
	sh1 := catalogue.Share{ID: "s1", LectureID: "L1", CreatedBy: "u1", Hash: strings.Repeat("a", 64), CreatedAt: at(0), ExpiresAt: at(7 * 24 * time.Hour)}
	sh2 := catalogue.Share{ID: "s2", LectureID: "L1", CreatedBy: "u1", Hash: strings.Repeat("b", 64), CreatedAt: at(time.Second)}
	sh3 := catalogue.Share{ID: "s3", LectureID: "L2", CreatedBy: "u1", Hash: strings.Repeat("c", 64), CreatedAt: at(0)}
	for _, s := range []catalogue.Share{sh1, sh2, sh3} {
		must(t, "CreateShare", c.CreateShare(ctx, s))
	}
	wantCode(t, "CreateShare(same hash)", c.CreateShare(ctx, catalogue.Share{ID: "s4", LectureID: "L1", Hash: sh1.Hash, CreatedAt: at(0)}), lecture.ECONFLICT)
	s, err := c.ShareByHash(ctx, sh1.Hash)
	must(t, "ShareByHash", err)
	sameShare(t, "ShareByHash", s, sh1)
	_, err = c.ShareByHash(ctx, strings.Repeat("f", 64))
	wantCode(t, "ShareByHash(missing)", err, lecture.ENOTFOUND)

	ss, err := c.ListShares(ctx, "L1")
	must(t, "ListShares", err)
	if len(ss) != 2 || ss[0].ID != "s2" || ss[1].ID != "s1" {
		t.Fatalf("ListShares(L1) = %+v, want s2, s1 (newest first)", ss)
	}
	sameShare(t, "ListShares[1]", ss[1], sh1)

	wantCode(t, "RevokeShare(share of another lecture)", c.RevokeShare(ctx, "L2", "s1", at(time.Hour)), lecture.ENOTFOUND)
	wantCode(t, "RevokeShare(missing)", c.RevokeShare(ctx, "L1", "s9", at(time.Hour)), lecture.ENOTFOUND)
	s, _ = c.ShareByHash(ctx, sh1.Hash)
	if !s.RevokedAt.IsZero() {
		t.Errorf("a refused RevokeShare revoked the share")
	}
	must(t, "RevokeShare", c.RevokeShare(ctx, "L1", "s1", at(time.Hour)))
	s, err = c.ShareByHash(ctx, sh1.Hash)
	must(t, "ShareByHash(revoked)", err)
	sh1.RevokedAt = at(time.Hour)
	sameShare(t, "ShareByHash(revoked)", s, sh1)
}

func sameShare(t *testing.T, what string, got, want catalogue.Share) {
	t.Helper()
	sameTime(t, what+".CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, what+".ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTime(t, what+".RevokedAt", got.RevokedAt, want.RevokedAt)
	got.CreatedAt, got.ExpiresAt, got.RevokedAt = time.Time{}, time.Time{}, time.Time{}
	want.CreatedAt, want.ExpiresAt, want.RevokedAt = time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func sameLecture(t *testing.T, what string, got, want catalogue.Lecture) {
	t.Helper()
	sameTime(t, what+".CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, what+".UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}
	want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func testPutLecture(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	l := catalogue.Lecture{ID: "L1", Owner: "u1", Title: "Thermodynamics I", Status: lecture.StatusUploaded, MediaType: "audio/mpeg",
		Bytes: 12345678, Seconds: 3600.5, MediaSeconds: 3600.25, CreatedAt: at(0), UpdatedAt: at(0)}
	must(t, "PutLecture", c.PutLecture(ctx, l))
	got, err := c.GetLecture(ctx, "L1")
	must(t, "GetLecture", err)
	sameLecture(t, "GetLecture", got, l)
	_, err = c.GetLecture(ctx, "L9")
	wantCode(t, "GetLecture(missing)", err, lecture.ENOTFOUND)

	// An update that leaves Owner and CreatedAt empty keeps them.
	u := catalogue.Lecture{ID: "L1", Title: "Thermodynamics I (revised)", Status: lecture.StatusFailed, Stage: "transcribe", Error: "decoder crashed",
		MediaType: "audio/mpeg", Bytes: 12345678, Seconds: 3600.5, MediaSeconds: 3600.25, Words: 9000, UpdatedAt: at(time.Hour)}
	must(t, "PutLecture(update)", c.PutLecture(ctx, u))
	got, err = c.GetLecture(ctx, "L1")
	must(t, "GetLecture(after update)", err)
	want := u
	want.Owner, want.CreatedAt = "u1", l.CreatedAt
	sameLecture(t, "GetLecture(after update)", got, want)

	// An update that sets them changes them.
	u.Owner, u.CreatedAt = "u2", at(-time.Hour)
	must(t, "PutLecture(new owner)", c.PutLecture(ctx, u))
	got, _ = c.GetLecture(ctx, "L1")
	sameLecture(t, "GetLecture(new owner)", got, u)

	// A new row without times gets them.
	before := time.Now().Add(-time.Second)
	must(t, "PutLecture(no times)", c.PutLecture(ctx, catalogue.Lecture{ID: "L2", Title: "x", Status: lecture.StatusUploaded}))
	got, err = c.GetLecture(ctx, "L2")
	must(t, "GetLecture(L2)", err)
	if got.CreatedAt.Before(before) || got.CreatedAt.After(time.Now().Add(time.Second)) || got.Owner != "" {
		t.Errorf("PutLecture without CreatedAt: got %+v, want created now with no owner", got)
	}
	wantCode(t, "PutLecture(no id)", c.PutLecture(ctx, catalogue.Lecture{Title: "x"}), lecture.EINVALID)
}

// putN stores n lectures of owner created one second apart from start
// (ids "<prefix>0000"...); some share a creation time to test the id
// tie-break.
func putN(t *testing.T, c catalogue.Catalogue, prefix, owner string, n int, start time.Time) {
	t.Helper()
	ctx := Ctx(t)
	for i := 0; i < n; i++ {
		created := start.Add(time.Duration(i/3) * time.Second) // three lectures per second
		must(t, "PutLecture", c.PutLecture(ctx, lec(fmt.Sprintf("%s%04d", prefix, i), owner, created)))
	}
}

// listAll pages through q and returns the ids.
func listAll(t *testing.T, c catalogue.Catalogue, q catalogue.ListQuery) (ids []string, pages int) {
	t.Helper()
	ctx := Ctx(t)
	for {
		p, err := c.ListLectures(ctx, q)
		must(t, "ListLectures", err)
		pages++
		if q.Limit > 0 && len(p.Lectures) > q.Limit {
			t.Fatalf("ListLectures returned %d lectures, limit %d", len(p.Lectures), q.Limit)
		}
		for _, l := range p.Lectures {
			ids = append(ids, l.ID)
		}
		if p.Next == "" {
			return ids, pages
		}
		if pages > 1000 {
			t.Fatalf("ListLectures does not end")
		}
		q.Cursor = p.Next
	}
}

func testListLectures(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	p, err := c.ListLectures(ctx, catalogue.ListQuery{Owner: "u1"})
	must(t, "ListLectures(empty)", err)
	if len(p.Lectures) != 0 || p.Next != "" {
		t.Errorf("ListLectures on an empty catalogue = %+v", p)
	}
	putN(t, c, "A", "u1", 250, at(0))
	// want: newest first, the id breaking ties (descending).
	var want []string
	for i := 249; i >= 0; i-- {
		want = append(want, fmt.Sprintf("A%04d", i))
	}
	// Ties: within a second, ids descend; the order above already is that.
	p, err = c.ListLectures(ctx, catalogue.ListQuery{Owner: "u1"})
	must(t, "ListLectures", err)
	if len(p.Lectures) != 50 || p.Next == "" {
		t.Fatalf("default page has %d lectures, next %q; want 50 and a cursor", len(p.Lectures), p.Next)
	}
	if p.Lectures[0].ID != want[0] || p.Lectures[49].ID != want[49] {
		t.Errorf("first page runs %s..%s, want %s..%s", p.Lectures[0].ID, p.Lectures[49].ID, want[0], want[49])
	}
	sameLecture(t, "ListLectures[0]", p.Lectures[0], lec(want[0], "u1", at(83*time.Second)))
	p, err = c.ListLectures(ctx, catalogue.ListQuery{Owner: "u1", Limit: 1000})
	must(t, "ListLectures(limit 1000)", err)
	if len(p.Lectures) != 200 {
		t.Errorf("Limit 1000 returned %d lectures, want the maximum 200", len(p.Lectures))
	}
	for _, limit := range []int{1, 7, 50, 200} {
		ids, pages := listAll(t, c, catalogue.ListQuery{Owner: "u1", Limit: limit})
		if strings.Join(ids, ",") != strings.Join(want, ",") {
			t.Errorf("paging by %d: got %d ids %v..., want %d", limit, len(ids), head(ids), len(want))
		}
		if wantPages := (250 + limit - 1) / limit; pages != wantPages && pages != wantPages+1 {
			t.Errorf("paging by %d took %d pages, want %d", limit, pages, wantPages)
		}
	}
	// New lectures added between pages do not shift the pages (keyset).
	p1, err := c.ListLectures(ctx, catalogue.ListQuery{Owner: "u1", Limit: 10})
	must(t, "ListLectures", err)
	putN(t, c, "B", "u1", 5, at(time.Hour))
	p2, err := c.ListLectures(ctx, catalogue.ListQuery{Owner: "u1", Limit: 10, Cursor: p1.Next})
	must(t, "ListLectures(next)", err)
	if len(p2.Lectures) != 10 || p2.Lectures[0].ID != want[10] {
		t.Errorf("after inserts, the second page starts at %v, want %s", p2.Lectures, want[10])
	}
	_, err = c.ListLectures(ctx, catalogue.ListQuery{Owner: "u1", Cursor: "!!not a cursor!!"})
	wantCode(t, "ListLectures(bad cursor)", err, lecture.EINVALID)
}

func head(ids []string) []string {
	if len(ids) > 5 {
		return ids[:5]
	}
	return ids
}

func testListOwner(t *testing.T, c catalogue.Catalogue) {
	putN(t, c, "A", "u1", 5, at(0))
	putN(t, c, "B", "u2", 4, at(time.Minute))
	putN(t, c, "C", "", 3, at(2*time.Minute))
	for _, tc := range []struct {
		q    catalogue.ListQuery
		want int
	}{
		{catalogue.ListQuery{Owner: "u1"}, 5},
		{catalogue.ListQuery{Owner: "u2"}, 4},
		{catalogue.ListQuery{Owner: ""}, 3},
		{catalogue.ListQuery{Owner: "u3"}, 0},
		{catalogue.ListQuery{All: true}, 12},
		{catalogue.ListQuery{All: true, Limit: 5}, 12},
	} {
		ids, _ := listAll(t, c, tc.q)
		if len(ids) != tc.want {
			t.Errorf("%+v listed %d lectures (%v), want %d", tc.q, len(ids), ids, tc.want)
		}
		if !tc.q.All {
			prefix := map[string]string{"u1": "A", "u2": "B", "": "C"}[tc.q.Owner]
			for _, id := range ids {
				if !strings.HasPrefix(id, prefix) {
					t.Errorf("%+v listed %s of another owner", tc.q, id)
				}
			}
		}
	}
	ids, _ := listAll(t, c, catalogue.ListQuery{All: true, Limit: 5})
	if ids[0] != "C0002" || ids[11] != "A0000" {
		t.Errorf("All lists %v, want newest (C0002) first and oldest (A0000) last", ids)
	}
}

func testSearch(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	put := func(id, owner, title string, created time.Duration) {
		l := lec(id, owner, at(created))
		l.Title = title
		must(t, "PutLecture", c.PutLecture(ctx, l))
	}
	put("L1", "u1", "Introduction to Thermodynamics", 0)
	put("L2", "u1", "Quantum Mechanics", time.Minute)
	put("L3", "u2", "Thermodynamics for engineers", 2*time.Minute)
	put("L4", "u1", "Linear Algebra", 3*time.Minute)
	must(t, "SetTranscript", c.SetTranscript(ctx, "L2", "Today we discuss the Schrödinger equation and entropy of a black hole."))
	must(t, "SetTranscript", c.SetTranscript(ctx, "L4", "Eigenvalues, eigenvectors and the spectral theorem. Entropy does not appear."))
	wantCode(t, "SetTranscript(missing)", c.SetTranscript(ctx, "L9", "text"), lecture.ENOTFOUND)

	search := func(q catalogue.ListQuery) []string {
		t.Helper()
		ids, _ := listAll(t, c, q)
		return ids
	}
	for _, tc := range []struct {
		q    catalogue.ListQuery
		want string
	}{
		{catalogue.ListQuery{Owner: "u1", Q: "thermodynamics"}, "L1"},
		{catalogue.ListQuery{Owner: "u1", Q: "THERMODYNAMICS"}, "L1"},
		{catalogue.ListQuery{All: true, Q: "thermodynamics"}, "L3,L1"},
		{catalogue.ListQuery{Owner: "u1", Q: "entropy"}, "L4,L2"},
		{catalogue.ListQuery{Owner: "u1", Q: "schrödinger"}, "L2"},
		{catalogue.ListQuery{Owner: "u1", Q: "entropy hole"}, "L2"},
		{catalogue.ListQuery{Owner: "u1", Q: "quantum entropy"}, "L2"}, // title and transcript together
		{catalogue.ListQuery{Owner: "u1", Q: "spectral"}, "L4"},
		{catalogue.ListQuery{Owner: "u1", Q: `"hole black"`}, "L2"}, // words, in any order (no phrases)
		{catalogue.ListQuery{Owner: "u1", Q: "Entropy, hole!"}, "L2"},
		{catalogue.ListQuery{Owner: "u1", Q: "!!! ... ???"}, ""}, // no words: nothing
		{catalogue.ListQuery{Owner: "u1", Q: "nothing-like-this"}, ""},
		{catalogue.ListQuery{Owner: "u1", Q: "  "}, "L4,L2,L1"},
		{catalogue.ListQuery{Owner: "u1", Q: "entropy", Limit: 1}, "L4,L2"},
		{catalogue.ListQuery{Owner: "u1", Q: `"OR" AND ( * ' \ ; -- NEAR`}, ""},
	} {
		if got := strings.Join(search(tc.q), ","); got != tc.want {
			t.Errorf("search %+v = %q, want %q", tc.q, got, tc.want)
		}
	}
	// Replacing the transcript replaces what is found; a title change too.
	must(t, "SetTranscript(replace)", c.SetTranscript(ctx, "L2", "Only harmonic oscillators today."))
	if got := search(catalogue.ListQuery{Owner: "u1", Q: "entropy"}); strings.Join(got, ",") != "L4" {
		t.Errorf("after replacing L2's transcript, entropy finds %v, want L4", got)
	}
	l := lec("L2", "", at(time.Minute))
	l.Title, l.Status = "Quantum Field Theory", lecture.StatusReady
	must(t, "PutLecture(retitle)", c.PutLecture(ctx, l))
	if got := search(catalogue.ListQuery{Owner: "u1", Q: "field oscillators"}); strings.Join(got, ",") != "L2" {
		t.Errorf("after retitling, 'field oscillators' finds %v, want L2", got)
	}
	if got := search(catalogue.ListQuery{Owner: "u1", Q: "mechanics"}); len(got) != 0 {
		t.Errorf("after retitling, the old title still finds %v", got)
	}
}

func testDeleteLecture(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	must(t, "PutLecture", c.PutLecture(ctx, lec("L1", "u1", at(0))))
	must(t, "PutLecture", c.PutLecture(ctx, lec("L2", "u1", at(time.Second))))
	must(t, "SetTranscript", c.SetTranscript(ctx, "L1", "photosynthesis chlorophyll"))
	must(t, "SetTranscript", c.SetTranscript(ctx, "L2", "photosynthesis"))
	must(t, "CreateShare", c.CreateShare(ctx, catalogue.Share{ID: "s1", LectureID: "L1", CreatedBy: "u1", Hash: strings.Repeat("a", 64), CreatedAt: at(0)}))
	must(t, "CreateShare", c.CreateShare(ctx, catalogue.Share{ID: "s2", LectureID: "L2", CreatedBy: "u1", Hash: strings.Repeat("b", 64), CreatedAt: at(0)}))
	must(t, "DeleteLecture", c.DeleteLecture(ctx, "L1"))
	_, err := c.GetLecture(ctx, "L1")
	wantCode(t, "GetLecture(deleted)", err, lecture.ENOTFOUND)
	_, err = c.ShareByHash(ctx, strings.Repeat("a", 64))
	wantCode(t, "ShareByHash(deleted lecture)", err, lecture.ENOTFOUND)
	if ss, err := c.ListShares(ctx, "L1"); err != nil || len(ss) != 0 {
		t.Errorf("ListShares(deleted) = %v, %v", ss, err)
	}
	ids, _ := listAll(t, c, catalogue.ListQuery{Owner: "u1", Q: "photosynthesis"})
	if strings.Join(ids, ",") != "L2" {
		t.Errorf("search after delete = %v, want L2", ids)
	}
	ids, _ = listAll(t, c, catalogue.ListQuery{Owner: "u1", Q: "chlorophyll"})
	if len(ids) != 0 {
		t.Errorf("the deleted lecture's transcript is still found: %v", ids)
	}
	wantCode(t, "DeleteLecture(again)", c.DeleteLecture(ctx, "L1"), lecture.ENOTFOUND)
	// The id can be used again, without the old text.
	must(t, "PutLecture(reuse id)", c.PutLecture(ctx, lec("L1", "u1", at(0))))
	ids, _ = listAll(t, c, catalogue.ListQuery{Owner: "u1", Q: "chlorophyll"})
	if len(ids) != 0 {
		t.Errorf("a re-created lecture finds the old transcript: %v", ids)
	}
	if _, err := c.ShareByHash(ctx, strings.Repeat("b", 64)); err != nil {
		t.Errorf("another lecture's share is gone: %v", err)
	}
}

func testCountActive(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	for i, s := range []lecture.Status{lecture.StatusUploaded, lecture.StatusProcessing, lecture.StatusProcessing, lecture.StatusReady, lecture.StatusFailed} {
		l := lec(fmt.Sprintf("L%d", i), "u1", at(0))
		l.Status = s
		must(t, "PutLecture", c.PutLecture(ctx, l))
	}
	l := lec("M1", "u2", at(0))
	l.Status = lecture.StatusProcessing
	must(t, "PutLecture", c.PutLecture(ctx, l))
	for owner, want := range map[string]int{"u1": 3, "u2": 1, "u3": 0, "": 0} {
		if n, err := c.CountActive(ctx, owner); err != nil || n != want {
			t.Errorf("CountActive(%q) = %d, %v; want %d", owner, n, err, want)
		}
	}
	l = lec("L0", "u1", at(0))
	l.Status = lecture.StatusReady
	must(t, "PutLecture", c.PutLecture(ctx, l))
	if n, _ := c.CountActive(ctx, "u1"); n != 2 {
		t.Errorf("CountActive after one finished = %d, want 2", n)
	}
}

func testUsage(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	day := catalogue.Window(catalogue.CounterMediaSeconds, at(0))
	v, err := c.AddUsage(ctx, "u1", catalogue.CounterMediaSeconds, day, 1800.5, 3600)
	if err != nil || v != 1800.5 {
		t.Fatalf("AddUsage = %v, %v; want 1800.5", v, err)
	}
	v, err = c.AddUsage(ctx, "u1", catalogue.CounterMediaSeconds, day, 1799.5, 3600)
	if err != nil || v != 3600 {
		t.Fatalf("AddUsage up to the limit = %v, %v; want 3600", v, err)
	}
	_, err = c.AddUsage(ctx, "u1", catalogue.CounterMediaSeconds, day, 0.5, 3600)
	wantCode(t, "AddUsage past the limit", err, catalogue.EQUOTA)
	_, err = c.AddUsage(ctx, "u1", catalogue.CounterUploads, catalogue.Window(catalogue.CounterUploads, at(0)), 5, 4)
	wantCode(t, "AddUsage of a first delta past the limit", err, catalogue.EQUOTA)
	// No limit.
	v, err = c.AddUsage(ctx, "u1", catalogue.CounterMediaSeconds, day, 100, 0)
	if err != nil || v != 3700 {
		t.Errorf("AddUsage without a limit = %v, %v; want 3700", v, err)
	}
	// A refund is never refused.
	v, err = c.AddUsage(ctx, "u1", catalogue.CounterMediaSeconds, day, -200, 3600)
	if err != nil || v != 3500 {
		t.Errorf("AddUsage(-200) = %v, %v; want 3500", v, err)
	}
	// Another window, counter and user are apart.
	next := catalogue.Window(catalogue.CounterMediaSeconds, at(24*time.Hour))
	if v, err := c.AddUsage(ctx, "u1", catalogue.CounterMediaSeconds, next, 10, 3600); err != nil || v != 10 {
		t.Errorf("AddUsage in the next window = %v, %v; want 10", v, err)
	}
	if v, err := c.AddUsage(ctx, "u2", catalogue.CounterMediaSeconds, day, 10, 3600); err != nil || v != 10 {
		t.Errorf("AddUsage of u2 = %v, %v; want 10", v, err)
	}
	qa := catalogue.Window(catalogue.CounterQA, at(0))
	if v, err := c.AddUsage(ctx, "u1", catalogue.CounterQA, qa, 1, 30); err != nil || v != 1 {
		t.Errorf("AddUsage qa = %v, %v; want 1", v, err)
	}

	us, err := c.UsageSince(ctx, "u1", day)
	must(t, "UsageSince", err)
	if len(us) != 3 {
		t.Fatalf("UsageSince = %+v, want 3 counters", us)
	}
	want := []catalogue.Usage{
		{UserID: "u1", Counter: catalogue.CounterMediaSeconds, Window: day, Value: 3500},
		{UserID: "u1", Counter: catalogue.CounterQA, Window: qa, Value: 1},
		{UserID: "u1", Counter: catalogue.CounterMediaSeconds, Window: next, Value: 10},
	}
	for i := range want {
		sameTime(t, "Usage.Window", us[i].Window, want[i].Window)
		us[i].Window = want[i].Window
		if us[i] != want[i] {
			t.Errorf("UsageSince[%d] = %+v, want %+v", i, us[i], want[i])
		}
	}
	us, err = c.UsageSince(ctx, "u1", next)
	if err != nil || len(us) != 1 || us[0].Value != 10 {
		t.Errorf("UsageSince(next day) = %+v, %v; want the one counter", us, err)
	}
	if us, err := c.UsageSince(ctx, "u9", day); err != nil || len(us) != 0 {
		t.Errorf("UsageSince(nobody) = %+v, %v", us, err)
	}
}

func testUsageConcurrent(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	w := catalogue.Window(catalogue.CounterUploads, at(0))
	var ok, quota atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	start := make(chan struct{})
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := c.AddUsage(ctx, "u1", catalogue.CounterUploads, w, 1, 10)
			switch lecture.ErrorCode(err) {
			case "":
				ok.Add(1)
			case catalogue.EQUOTA:
				quota.Add(1)
			default:
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("AddUsage: %v", err)
	}
	if ok.Load() != 10 || quota.Load() != 40 {
		t.Errorf("50 concurrent AddUsage(1, limit 10): %d succeeded, %d refused; want 10 and 40", ok.Load(), quota.Load())
	}
	us, err := c.UsageSince(ctx, "u1", w)
	must(t, "UsageSince", err)
	if len(us) != 1 || us[0].Value != 10 {
		t.Errorf("stored usage = %+v, want 10", us)
	}
}

func testAudit(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	if es, err := c.ListAudit(ctx, catalogue.AuditQuery{}); err != nil || len(es) != 0 {
		t.Fatalf("ListAudit on an empty log = %v, %v", es, err)
	}
	entries := []catalogue.AuditEntry{
		{At: at(0), Actor: "u1", Action: "signin", Remote: "192.0.2.1"},
		{At: at(time.Second), Actor: "", Action: "signin.failed", Target: "x@example.org", Remote: "192.0.2.2", Detail: "bad password"},
		{At: at(2 * time.Second), Actor: "u1", Action: "key.create", Target: "k1"},
		{At: at(2 * time.Second), Actor: "u2", Action: "signin"},
		{At: at(3 * time.Second), Actor: "system", Action: "lecture.delete", Target: "L1"},
	}
	for _, e := range entries {
		must(t, "Audit", c.Audit(ctx, e))
	}
	es, err := c.ListAudit(ctx, catalogue.AuditQuery{})
	must(t, "ListAudit", err)
	if len(es) != 5 {
		t.Fatalf("ListAudit = %d entries, want 5", len(es))
	}
	// Newest first; the same time in insertion order reversed.
	for i, want := range []int{4, 3, 2, 1, 0} {
		e := es[i]
		if e.ID == 0 {
			t.Errorf("entry %d has no id", i)
		}
		sameTime(t, "AuditEntry.At", e.At, entries[want].At)
		e.ID, e.At = 0, entries[want].At
		if e != entries[want] {
			t.Errorf("ListAudit[%d] = %+v, want %+v", i, e, entries[want])
		}
	}
	if es[0].ID <= es[1].ID {
		t.Errorf("ids do not grow: %d then %d", es[1].ID, es[0].ID)
	}
	count := func(q catalogue.AuditQuery) int {
		es, err := c.ListAudit(ctx, q)
		must(t, "ListAudit", err)
		return len(es)
	}
	for _, tc := range []struct {
		q    catalogue.AuditQuery
		want int
	}{
		{catalogue.AuditQuery{Actor: "u1"}, 2},
		{catalogue.AuditQuery{Action: "signin"}, 2},
		{catalogue.AuditQuery{Actor: "u1", Action: "signin"}, 1},
		{catalogue.AuditQuery{Since: at(2 * time.Second)}, 3},
		{catalogue.AuditQuery{Limit: 2}, 2},
		{catalogue.AuditQuery{Actor: "nobody"}, 0},
	} {
		if n := count(tc.q); n != tc.want {
			t.Errorf("ListAudit(%+v) = %d entries, want %d", tc.q, n, tc.want)
		}
	}
	// A zero time is now.
	before := time.Now().Add(-time.Second)
	must(t, "Audit(no time)", c.Audit(ctx, catalogue.AuditEntry{Actor: "cli", Action: "user.create"}))
	es, _ = c.ListAudit(ctx, catalogue.AuditQuery{Actor: "cli"})
	if len(es) != 1 || es[0].At.Before(before) {
		t.Errorf("Audit without a time: %+v", es)
	}
	// The default limit is 100.
	for i := 0; i < 105; i++ {
		must(t, "Audit", c.Audit(ctx, catalogue.AuditEntry{At: at(time.Duration(i) * time.Millisecond), Actor: "bulk", Action: "x"}))
	}
	if n := count(catalogue.AuditQuery{Actor: "bulk"}); n != 100 {
		t.Errorf("ListAudit without a limit = %d entries, want 100", n)
	}
}

func testTimes(t *testing.T, c catalogue.Catalogue) {
	ctx := Ctx(t)
	// Microseconds survive, in UTC, from any zone; a zero time stays zero.
	for i, when := range []time.Time{
		time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 8, 1000, time.FixedZone("Y", -7*3600)),
		time.Date(2026, 6, 1, 0, 0, 0, 0, time.Local),
		time.Unix(0, 0).Add(time.Microsecond),
	} {
		id := fmt.Sprintf("T%d", i)
		must(t, "CreateUser", c.CreateUser(ctx, catalogue.User{ID: id, Email: id + "@example.org", Role: catalogue.RoleMember, CreatedAt: when}))
		u, err := c.UserByID(ctx, id)
		must(t, "UserByID", err)
		sameTime(t, "User.CreatedAt", u.CreatedAt, when)
		must(t, "CreateKey", c.CreateKey(ctx, catalogue.APIKey{ID: id, UserID: id, Hash: id, CreatedAt: when, ExpiresAt: when.Add(time.Hour)}))
		k, _, err := c.KeyByHash(ctx, id)
		must(t, "KeyByHash", err)
		sameTime(t, "APIKey.CreatedAt", k.CreatedAt, when)
		sameTime(t, "APIKey.ExpiresAt", k.ExpiresAt, when.Add(time.Hour))
		sameTime(t, "APIKey.RevokedAt (zero)", k.RevokedAt, time.Time{})
		sameTime(t, "APIKey.LastUsedAt (zero)", k.LastUsedAt, time.Time{})
		if !k.RevokedAt.IsZero() || !k.LastUsedAt.IsZero() {
			t.Errorf("zero times came back as %v, %v", k.RevokedAt, k.LastUsedAt)
		}
	}
	must(t, "CreateSession", c.CreateSession(ctx, catalogue.Session{ID: "s", UserID: "T0", CreatedAt: at(0)}))
	s, _, err := c.SessionByID(ctx, "s")
	must(t, "SessionByID", err)
	if !s.ExpiresAt.IsZero() {
		t.Errorf("a zero ExpiresAt came back as %v", s.ExpiresAt)
	}
}

// Vocabulary returns n distinct made-up words ("kavo", "trelimu", ...),
// deterministic for a seed.
func Vocabulary(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 1))
	cons := []string{"b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "tr", "st", "pl", "gr", "ch", "sh"}
	vows := []string{"a", "e", "i", "o", "u", "ai", "ou"}
	seen := make(map[string]bool, n)
	words := make([]string, 0, n)
	for len(words) < n {
		var b strings.Builder
		for s := 1 + r.IntN(4); s > 0; s-- {
			b.WriteString(cons[r.IntN(len(cons))])
			b.WriteString(vows[r.IntN(len(vows))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// Text is a generator of transcript-like text: words drawn from a
// vocabulary with a Zipf distribution (s = 1.1), as natural language has.
type Text struct {
	Words []string
	zipf  *rand.Zipf
}

// NewText returns a generator over vocab.
func NewText(vocab []string, seed uint64) *Text {
	r := rand.New(rand.NewPCG(seed, 2))
	return &Text{Words: vocab, zipf: rand.NewZipf(r, 1.1, 1, uint64(len(vocab)-1))}
}

// Generate returns n words separated by spaces, with a full stop every
// dozen or so.
func (g *Text) Generate(n int) string {
	var b strings.Builder
	b.Grow(n * 8)
	for i := 0; i < n; i++ {
		if i > 0 {
			if i%13 == 0 {
				b.WriteString(". ")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(g.Words[g.zipf.Uint64()])
	}
	return b.String()
}

// BenchmarkList measures the first page (50) of one user's lectures among
// 10,000 lectures of 20 users.
func BenchmarkList(b *testing.B, c catalogue.Catalogue) {
	ctx := Ctx(b)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10000; i++ {
		l := catalogue.Lecture{ID: fmt.Sprintf("L%05d", i), Owner: fmt.Sprintf("u%d", i%20), Title: fmt.Sprintf("Lecture %d", i),
			Status: lecture.StatusReady, Seconds: 3600, CreatedAt: start.Add(time.Duration(i) * time.Minute)}
		if err := c.PutLecture(ctx, l); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		p, err := c.ListLectures(ctx, catalogue.ListQuery{Owner: "u7", Limit: 50})
		if err != nil || len(p.Lectures) != 50 {
			b.Fatalf("ListLectures: %d lectures, %v", len(p.Lectures), err)
		}
	}
}

// BenchmarkSearch measures full-text queries (first page of 50) over 1,000
// lecture transcripts of one user totalling 10 M words (a Zipf-distributed
// vocabulary of 20,000 words). Filling the catalogue takes a while.
func BenchmarkSearch(b *testing.B, c catalogue.Catalogue) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	vocab := Vocabulary(20000, 7)
	gen := NewText(vocab, 7)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Now()
	for i := 0; i < 1000; i++ {
		id := fmt.Sprintf("L%05d", i)
		l := catalogue.Lecture{ID: id, Owner: "u1", Title: gen.Generate(6), Status: lecture.StatusReady, CreatedAt: start.Add(time.Duration(i) * time.Minute)}
		if err := c.PutLecture(ctx, l); err != nil {
			b.Fatal(err)
		}
		if err := c.SetTranscript(ctx, id, gen.Generate(10000)); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("stored 1,000 transcripts (10 M words) in %v", time.Since(t0).Round(time.Millisecond))
	for _, q := range []struct{ name, q string }{
		{"common", vocab[0]},                    // in every lecture
		{"rank100", vocab[100]},                 // in most lectures
		{"rank5000", vocab[5000]},               // in some lectures
		{"two", vocab[100] + " " + vocab[3000]}, // AND of two
		{"absent", "zzzzzz"},
	} {
		b.Run(q.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				p, err := c.ListLectures(ctx, catalogue.ListQuery{Owner: "u1", Q: q.q, Limit: 50})
				if err != nil {
					b.Fatal(err)
				}
				n = len(p.Lectures)
			}
			b.ReportMetric(float64(n), "hits")
		})
	}
}
