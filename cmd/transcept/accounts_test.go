package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/auth"
	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/pipeline"
)

// accountsEnv points the settings at a fresh store (and its default SQLite
// catalogue) for the whole test; it returns the store folder.
func accountsEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TRANSCEPT_STORE_DIR", dir)
	t.Setenv("TRANSCEPT_DATABASE_URL", "")
	return dir
}

// acct runs one command in process against the store of accountsEnv.
func acct(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// mustAcct runs a command that must succeed.
func mustAcct(t *testing.T, stdin string, args ...string) (string, string) {
	t.Helper()
	code, out, errs := acct(t, stdin, args...)
	if code != exitOK {
		t.Fatalf("%v: exit %d: %s", args, code, errs)
	}
	return out, errs
}

// openCat opens the catalogue the commands use; it is closed at the end of the test.
func openCat(t *testing.T, dir string) catalogue.Catalogue {
	t.Helper()
	cat, err := wire.OpenCatalogue(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

// terminal makes the commands see standard input as a terminal.
func terminal(t *testing.T) {
	old := stdinIsTerminal
	stdinIsTerminal = func(io.Reader) bool { return true }
	t.Cleanup(func() { stdinIsTerminal = old })
}

func TestUsersCreatePasswordFromStdin(t *testing.T) {
	dir := accountsEnv(t)
	out, errs := mustAcct(t, "correct horse battery\n", "users", "create", "Admin@Example.EDU", "--admin")
	if out != "" {
		t.Errorf("stdout %q: want nothing (the password came from stdin)", out)
	}
	m := regexp.MustCompile(`^created admin admin@example\.edu \(id ([0-9a-f]{32})\)\n$`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("stderr %q", errs)
	}
	cat := openCat(t, dir)
	u, err := cat.UserByEmail(context.Background(), "admin@example.edu")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != m[1] || u.Role != catalogue.RoleAdmin || u.Disabled {
		t.Errorf("user %+v", u)
	}
	if ok, err := auth.VerifyPassword(u.PasswordHash, "correct horse battery"); !ok || err != nil {
		t.Errorf("password does not verify: %v %v", ok, err)
	}
	if ok, _ := auth.VerifyPassword(u.PasswordHash, "correct horse battery\n"); ok {
		t.Error("the trailing newline was kept in the password")
	}

	// A member, CRLF line ending, only the first line read.
	mustAcct(t, "second password\r\nignored\n", "users", "create", "member@example.edu")
	m2, err := cat.UserByEmail(context.Background(), "member@example.edu")
	if err != nil || m2.Role != catalogue.RoleMember {
		t.Fatalf("member %+v %v", m2, err)
	}
	if ok, _ := auth.VerifyPassword(m2.PasswordHash, "second password"); !ok {
		t.Error("member password does not verify")
	}

	// Empty and short passwords are refused with CheckPassword's message.
	want := lecture.ErrorMessage(auth.CheckPassword("short"))
	for _, in := range []string{"", "\n", "short\n"} {
		code, out, errs := acct(t, in, "users", "create", "short@example.edu")
		if code != exitInvalid || out != "" || !strings.Contains(errs, want) {
			t.Errorf("password %q: exit %d, stdout %q, stderr %q (want %q)", in, code, out, errs, want)
		}
	}
	if _, err := cat.UserByEmail(context.Background(), "short@example.edu"); lecture.ErrorCode(err) != lecture.ENOTFOUND {
		t.Errorf("a refused user was created: %v", err)
	}
}

func TestUsersCreateGeneratedPassword(t *testing.T) {
	dir := accountsEnv(t)
	terminal(t)
	out, errs := mustAcct(t, "", "users", "create", "ta@example.edu")
	m := regexp.MustCompile(`^password: (\S+)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stdout %q: want one line \"password: <pw>\"", out)
	}
	pw := m[1]
	if strings.Count(out+errs, pw) != 1 {
		t.Errorf("the password is printed more than once: stdout %q, stderr %q", out, errs)
	}
	if !strings.Contains(errs, "Store this password now") || !strings.Contains(errs, "created member ta@example.edu (id ") {
		t.Errorf("stderr %q", errs)
	}
	u, err := openCat(t, dir).UserByEmail(context.Background(), "ta@example.edu")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := auth.VerifyPassword(u.PasswordHash, pw); !ok || err != nil {
		t.Errorf("generated password does not verify: %v %v", ok, err)
	}
}

func TestUsersCreateRefusals(t *testing.T) {
	accountsEnv(t)
	mustAcct(t, "password one\n", "users", "create", "dup@example.edu")
	code, out, errs := acct(t, "password two\n", "users", "create", "DUP@example.edu", "--admin")
	if code != exitFailure || out != "" || !strings.Contains(errs, "a user dup@example.edu already exists") {
		t.Errorf("duplicate: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	for _, e := range []string{"nobody", "@example.edu", "a@", "a@b@example.edu", "a b@example.edu", "a@.edu", ""} {
		code, out, errs := acct(t, "password one\n", "users", "create", e)
		if code != exitInvalid || out != "" || !strings.Contains(errs, "e-mail address") {
			t.Errorf("e-mail %q: exit %d, stdout %q, stderr %q", e, code, out, errs)
		}
	}
	_, out, _ = acct(t, "", "users", "list", "--json")
	if n := strings.Count(out, "\n"); n != 1 {
		t.Errorf("%d users after the refusals, want 1: %s", n, out)
	}
}

// keyID returns the id of the user's only key.
func keyID(t *testing.T, cat catalogue.Catalogue, email string) string {
	t.Helper()
	ctx := context.Background()
	u, err := cat.UserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := cat.ListKeys(ctx, u.ID)
	if err != nil || len(ks) != 1 {
		t.Fatalf("keys of %s: %+v %v", email, ks, err)
	}
	return ks[0].ID
}

func TestKeys(t *testing.T) {
	dir := accountsEnv(t)
	ctx := context.Background()
	mustAcct(t, "alice's password\n", "users", "create", "alice@example.edu")
	mustAcct(t, "bob's password\n", "users", "create", "bob@example.edu")
	cat := openCat(t, dir)
	alice, _ := cat.UserByEmail(ctx, "alice@example.edu")

	out, errs := mustAcct(t, "", "keys", "create", "--user", "Alice@example.edu", "--name", "laptop")
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("stdout %q: want the key alone on one line", out)
	}
	key := strings.TrimSuffix(out, "\n")
	if strings.Contains(errs, key) || !strings.Contains(errs, "not shown again") {
		t.Errorf("stderr %q", errs)
	}
	p, err := (&auth.Authenticator{Cat: cat}).AuthenticateKey(ctx, key)
	if err != nil || p.User == nil || p.User.ID != alice.ID {
		t.Fatalf("the new key does not authenticate alice: %+v %v", p, err)
	}
	id := keyID(t, cat, "alice@example.edu")
	ks, _ := cat.ListKeys(ctx, alice.ID)
	if exp := time.Until(ks[0].ExpiresAt); exp < 719*time.Hour || exp > 721*time.Hour || ks[0].Name != "laptop" {
		t.Errorf("key %+v: want name laptop, expiry in 720h", ks[0])
	}

	// Listed with its id, name and prefix, never the secret.
	out, _ = mustAcct(t, "", "keys", "list", "--user", "alice@example.edu")
	if !strings.HasPrefix(out, "ID") || !strings.Contains(out, id) || !strings.Contains(out, "laptop") || !strings.Contains(out, key[:auth.KeyShownLen]) || strings.Contains(out, key) {
		t.Errorf("keys list %q", out)
	}

	// Bob's key never expires, and alice's --user cannot revoke it.
	out, _ = mustAcct(t, "", "keys", "create", "--user", "bob@example.edu", "--name", "ci", "--expires", "0")
	bobKey := strings.TrimSpace(out)
	bobID := keyID(t, cat, "bob@example.edu")
	bob, _ := cat.UserByEmail(ctx, "bob@example.edu")
	if bk, _ := cat.ListKeys(ctx, bob.ID); !bk[0].ExpiresAt.IsZero() {
		t.Errorf("--expires 0 set an expiry: %+v", bk[0])
	}
	code, _, errs := acct(t, "", "keys", "revoke", "--user", "alice@example.edu", bobID)
	if code != exitNotFound || !strings.Contains(errs, "alice@example.edu has no key "+bobID) {
		t.Errorf("revoking bob's key as alice: exit %d, %q", code, errs)
	}
	if _, err := (&auth.Authenticator{Cat: cat}).AuthenticateKey(ctx, bobKey); err != nil {
		t.Errorf("bob's key stopped working: %v", err)
	}

	// Revoked: a fresh authenticator (no cache) refuses it.
	mustAcct(t, "", "keys", "revoke", "--user", "alice@example.edu", id)
	if _, err := (&auth.Authenticator{Cat: cat}).AuthenticateKey(ctx, key); lecture.ErrorCode(err) != auth.EUNAUTHENTICATED {
		t.Errorf("revoked key: %v", err)
	}
	out, _ = mustAcct(t, "", "keys", "list", "--user", "alice@example.edu", "--json")
	var k catalogue.APIKey
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.ID != id || k.RevokedAt.IsZero() {
		t.Errorf("keys list --json %q: %v", out, err)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"keys", "create", "--name", "x"}, exitUsage, "--user"},
		{[]string{"keys", "create", "--user", "alice@example.edu"}, exitUsage, "--name"},
		{[]string{"keys", "create", "--user", "alice@example.edu", "--name", "x", "--expires", "-1h"}, exitUsage, "--expires"},
		{[]string{"keys", "create", "--user", "nobody@example.edu", "--name", "x"}, exitNotFound, "no user nobody@example.edu"},
		{[]string{"keys", "revoke", "--user", "alice@example.edu"}, exitUsage, "key ID"},
		{[]string{"keys", "frob"}, exitUsage, "unknown subcommand"},
		{[]string{"keys"}, exitUsage, "subcommand"},
	} {
		code, out, errs := acct(t, "", c.args...)
		if code != c.code || out != "" || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d (want %d), stdout %q, stderr %q (want %q)", c.args, code, c.code, out, errs, c.msg)
		}
	}
}

func TestUsersListDisableEnable(t *testing.T) {
	dir := accountsEnv(t)
	ctx := context.Background()
	mustAcct(t, "admin password\n", "users", "create", "root@example.edu", "--admin")
	mustAcct(t, "member password\n", "users", "create", "ta@example.edu")
	out, _ := mustAcct(t, "", "keys", "create", "--user", "ta@example.edu", "--name", "k")
	key := strings.TrimSpace(out)
	cat := openCat(t, dir)
	ta, _ := cat.UserByEmail(ctx, "ta@example.edu")
	_, sess := auth.NewSession(ta.ID, "", time.Hour, time.Now())
	if err := cat.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}

	out, _ = mustAcct(t, "", "users", "list")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "EMAIL ROLE CREATED DISABLED" {
		t.Fatalf("users list %q", out)
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	if r := rows["root@example.edu"]; len(r) != 4 || r[1] != "admin" || r[3] != "no" {
		t.Errorf("root row %q", r)
	}
	if r := rows["ta@example.edu"]; len(r) != 4 || r[1] != "member" || r[3] != "no" {
		t.Errorf("ta row %q", r)
	} else if _, err := time.Parse(time.RFC3339, r[2]); err != nil {
		t.Errorf("created %q: %v", r[2], err)
	}

	_, errs := mustAcct(t, "", "users", "disable", "TA@example.edu")
	if !strings.Contains(errs, "disabled ta@example.edu") {
		t.Errorf("disable: %q", errs)
	}
	if _, _, err := cat.SessionByID(ctx, sess.ID); lecture.ErrorCode(err) != lecture.ENOTFOUND {
		t.Errorf("the disabled user's session is still there: %v", err)
	}
	if _, err := (&auth.Authenticator{Cat: cat}).AuthenticateKey(ctx, key); err == nil {
		t.Error("a disabled user's key authenticates")
	}
	out, _ = mustAcct(t, "", "users", "list", "--json")
	var got []userLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var u userLine
		if err := json.Unmarshal([]byte(l), &u); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, u)
	}
	if len(got) != 2 {
		t.Fatalf("users list --json %q", out)
	}
	for _, u := range got {
		if u.Disabled != (u.Email == "ta@example.edu") || u.ID == "" || u.CreatedAt.IsZero() {
			t.Errorf("user %+v", u)
		}
	}
	if strings.Contains(out, "argon2") {
		t.Error("password hashes are listed")
	}

	mustAcct(t, "", "users", "enable", "ta@example.edu")
	if _, err := (&auth.Authenticator{Cat: cat}).AuthenticateKey(ctx, key); err != nil {
		t.Errorf("the key of a re-enabled user: %v", err)
	}
	code, _, errs := acct(t, "", "users", "disable", "ghost@example.edu")
	if code != exitNotFound || !strings.Contains(errs, "no user ghost@example.edu") {
		t.Errorf("disable unknown: exit %d, %q", code, errs)
	}
}

func TestAudit(t *testing.T) {
	accountsEnv(t)
	mustAcct(t, "admin password\n", "users", "create", "root@example.edu", "--admin")
	mustAcct(t, "member password\n", "users", "create", "ta@example.edu")
	mustAcct(t, "", "keys", "create", "--user", "ta@example.edu", "--name", "k")
	out, _ := mustAcct(t, "", "keys", "list", "--user", "ta@example.edu", "--json")
	var k catalogue.APIKey
	_ = json.Unmarshal([]byte(out), &k)
	mustAcct(t, "", "keys", "revoke", "--user", "ta@example.edu", k.ID)
	mustAcct(t, "", "users", "disable", "ta@example.edu")
	mustAcct(t, "", "users", "enable", "ta@example.edu")

	out, _ = mustAcct(t, "", "audit", "--json")
	var actions, targets []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e catalogue.AuditEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if e.Actor != "cli" {
			t.Errorf("actor %q", e.Actor)
		}
		actions = append(actions, e.Action)
		targets = append(targets, e.Target)
	}
	want := []string{"user.enable", "user.disable", "key.revoke", "key.create", "user.create", "user.create"}
	if !reflect.DeepEqual(actions, want) {
		t.Errorf("actions %v, want %v (newest first)", actions, want)
	}
	if wantT := []string{"ta@example.edu", "ta@example.edu", k.ID, k.ID, "ta@example.edu", "root@example.edu"}; !reflect.DeepEqual(targets, wantT) {
		t.Errorf("targets %v, want %v", targets, wantT)
	}

	out, _ = mustAcct(t, "", "audit", "--action", "user.create", "--limit", "1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "AT") || !strings.Contains(lines[1], "ta@example.edu") {
		t.Errorf("audit --action user.create --limit 1: %q", out)
	}
	out, _ = mustAcct(t, "", "audit", "--actor", "system")
	if l := strings.Split(strings.TrimSpace(out), "\n"); len(l) != 1 || !strings.HasPrefix(l[0], "AT") {
		t.Errorf("audit --actor system: %q, want only the header", out)
	}
	if code, _, errs := acct(t, "", "audit", "--limit", "0"); code != exitUsage || !strings.Contains(errs, "--limit") {
		t.Errorf("--limit 0: exit %d, %q", code, errs)
	}
}

func TestCatalogueRebuild(t *testing.T) {
	dir := accountsEnv(t)
	ctx := context.Background()
	c, err := config.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	s, err := wire.New(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	bus := s.StartBus()
	bus.Backoff = time.Millisecond
	uploads := []pipeline.Upload{
		{Name: "thermo.srt", Title: "Thermodynamics", Data: []byte(srt), Owner: "owner-1"},
		{Name: "em.txt", Title: "Electromagnetism", Data: []byte("Prof: Maxwell's equations unify electricity and magnetism.\nProf: Light is an electromagnetic wave.\n"), Owner: "owner-2"},
	}
	for _, u := range uploads {
		_, ev, err := s.Service.CreateLecture(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if err := bus.Publish(ev); err != nil {
			t.Fatal(err)
		}
	}
	bus.Wait()
	list := func(cat catalogue.Catalogue, q string) []catalogue.Lecture {
		t.Helper()
		p, err := cat.ListLectures(ctx, catalogue.ListQuery{All: true, Q: q})
		if err != nil {
			t.Fatal(err)
		}
		return p.Lectures
	}
	before := list(s.Catalogue, "")
	if len(before) != 2 {
		t.Fatalf("%d rows before, want 2", len(before))
	}
	for _, l := range before {
		if l.Status != lecture.StatusReady {
			t.Fatalf("lecture %s is %s, want ready", l.ID, l.Status)
		}
	}
	s.Close()

	for _, f := range []string{"catalogue.db", "catalogue.db-wal", "catalogue.db-shm"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	out, errs := mustAcct(t, "", "catalogue", "rebuild")
	if out != "rebuilt 2 lectures\n" || !strings.Contains(errs, "rebuilding the catalogue") {
		t.Errorf("stdout %q, stderr %q", out, errs)
	}
	cat, err := wire.OpenCatalogue(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	after := list(cat, "")
	if len(after) != len(before) {
		t.Fatalf("%d rows after the rebuild, want %d", len(after), len(before))
	}
	for i, b := range before {
		a := after[i]
		if a.ID != b.ID || a.Title != b.Title || a.Status != b.Status || a.Owner != b.Owner || a.Words != b.Words || a.Seconds != b.Seconds || !a.CreatedAt.Equal(b.CreatedAt) {
			t.Errorf("row %d after the rebuild %+v, before %+v", i, a, b)
		}
	}
	hits := list(cat, "Carnot")
	if len(hits) != 1 || hits[0].Title != "Thermodynamics" {
		t.Errorf("search for a transcript word: %+v", hits)
	}
	cat.Close()

	out, _ = mustAcct(t, "", "catalogue", "rebuild")
	if out != "rebuilt 2 lectures\n" {
		t.Errorf("second rebuild: %q", out)
	}
	cat = openCat(t, dir)
	if again := list(cat, ""); !reflect.DeepEqual(again, after) {
		t.Errorf("a second rebuild changed the rows:\n%+v\nwas\n%+v", again, after)
	}
	if hits := list(cat, "Maxwell"); len(hits) != 1 || hits[0].Title != "Electromagnetism" {
		t.Errorf("search after the second rebuild: %+v", hits)
	}
}

func TestAccountsHelpAndUsage(t *testing.T) {
	accountsEnv(t)
	for _, args := range [][]string{
		{"users", "--help"}, {"users", "create", "--help"}, {"users", "list", "--help"}, {"users", "disable", "--help"}, {"users", "enable", "--help"},
		{"keys", "--help"}, {"keys", "create", "--help"}, {"keys", "list", "--help"}, {"keys", "revoke", "--help"},
		{"audit", "--help"}, {"catalogue", "--help"}, {"catalogue", "rebuild", "--help"},
	} {
		code, _, errs := acct(t, "", args...)
		want := "Usage: transcept " + strings.Join(args[:len(args)-1], " ")
		if code != exitOK || !strings.Contains(errs, want) {
			t.Errorf("%v: exit %d, %q (want %q)", args, code, errs, want)
		}
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"users"}, "subcommand"},
		{[]string{"users", "--json"}, "before the options"},
		{[]string{"users", "create"}, "EMAIL"},
		{[]string{"users", "list", "extra"}, "no arguments"},
		{[]string{"catalogue"}, "rebuild"},
		{[]string{"catalogue", "rebuild", "now"}, "no arguments"},
		{[]string{"audit", "x"}, "no arguments"},
	} {
		code, _, errs := acct(t, "", c.args...)
		if code != exitUsage || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d, %q (want %q)", c.args, code, errs, c.msg)
		}
	}
	if _, out, _ := acct(t, "", "help"); !strings.Contains(out, "transcept users create") || !strings.Contains(out, "transcept catalogue rebuild") {
		t.Errorf("usage %q", out)
	}
}
