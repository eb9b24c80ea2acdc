package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/auth"
	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/progress"
)

// The account commands (users, keys, audit) work on the catalogue database
// that TRANSCEPT_DATABASE_URL names (default: catalogue.db in
// TRANSCEPT_STORE_DIR); `catalogue rebuild` also reads the object store.
// What operators script is on stdout (a password, a key, tables, JSON
// lines); notes for people are on stderr.

const cliActor = "cli" // the audit log's actor for these commands

const usersHelp = `Usage: transcept users create EMAIL [--admin]
       transcept users list [--json]
       transcept users disable EMAIL
       transcept users enable EMAIL

Manages the accounts in the catalogue database (TRANSCEPT_DATABASE_URL, by
default catalogue.db in TRANSCEPT_STORE_DIR). Run "transcept users
SUBCOMMAND --help" for one subcommand.

Examples:
  transcept users create admin@example.edu --admin      # prints a generated password once
  printf '%s\n' "$PW" | transcept users create ta@example.edu
  transcept users list --json
  transcept users disable ta@example.edu
`

const usersCreateHelp = `Usage: transcept users create EMAIL [--admin]

Creates a member account (or an admin one with --admin). When standard input
is not a terminal, the password is its first line (the trailing newline
removed; at least 8 characters). From a terminal, a random password is
generated and printed once on standard output as "password: <pw>": store it
then, it is not shown again. The result ("created member EMAIL (id ...)")
is on standard error.

Examples:
  transcept users create admin@example.edu --admin
  printf '%s\n' "$PW" | transcept users create ta@example.edu
`

const usersListHelp = `Usage: transcept users list [--json]

Lists the accounts: e-mail, role, creation time (UTC) and whether the account
is disabled; --json prints one JSON object a line instead.
`

const usersDisableHelp = `Usage: transcept users disable EMAIL

Disables an account: its sessions are deleted at once and its API keys are
refused (a running server notices within 10 seconds). Its lectures stay.
Undo with "transcept users enable EMAIL".
`

const usersEnableHelp = `Usage: transcept users enable EMAIL

Enables a disabled account again: its password and unrevoked API keys sign
in again.
`

const keysHelp = `Usage: transcept keys create --user EMAIL --name NAME [--expires 720h]
       transcept keys list --user EMAIL [--json]
       transcept keys revoke --user EMAIL ID

Manages a user's API keys (sent as "Authorization: Bearer <key>"). Run
"transcept keys SUBCOMMAND --help" for one subcommand.

Examples:
  KEY=$(transcept keys create --user ta@example.edu --name laptop)
  transcept keys list --user ta@example.edu
  transcept keys revoke --user ta@example.edu 3f9a1c2e0b7d4e5f6a7b8c9d
`

const keysCreateHelp = `Usage: transcept keys create --user EMAIL --name NAME [--expires 720h]

Creates an API key for the user and prints it alone on standard output, one
line: it is shown once, store it then. --expires is how long it lasts
(a Go duration such as 720h or 8760h; 0: it never expires).

Example:
  KEY=$(transcept keys create --user ta@example.edu --name ci --expires 0)
`

const keysListHelp = `Usage: transcept keys list --user EMAIL [--json]

Lists the user's API keys: id, name, public prefix, creation, expiry,
revocation and last use (UTC); --json prints one JSON object a line instead.
`

const keysRevokeHelp = `Usage: transcept keys revoke --user EMAIL ID

Revokes the user's API key ID (from "transcept keys list"); a running server
refuses it within 10 seconds. A key of another user is not found.
`

const auditHelp = `Usage: transcept audit [--limit N] [--actor ID] [--action A] [--json]

Prints the audit log, newest first: time (UTC), actor (a user id, "cli",
"system", or "-" for anonymous), action, target, client address and detail.
--actor also takes an e-mail address.

Examples:
  transcept audit --limit 20
  transcept audit --action signin.failed --json
  transcept audit --actor ta@example.edu
`

const catalogueHelp = `Usage: transcept catalogue rebuild

Fills the catalogue database (TRANSCEPT_DATABASE_URL) from the object store
(TRANSCEPT_STORE_DIR or MinIO): a row for every lecture with its owner,
title, status and transcript text, for the library and its search. The
object store is the source of truth, so this mends a lost or stale database;
running it again gives the same rows. Accounts, keys and share links are not
in the object store and are not rebuilt. Progress is on standard error; at
the end it prints "rebuilt N lectures".
`

// openCatalogue opens the catalogue database from the settings.
func openCatalogue(ctx context.Context) (catalogue.Catalogue, error) {
	c, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	return wire.OpenCatalogue(ctx, c.Accounts.DatabaseURL, c.StoreDir)
}

// subcommand splits off the subcommand; "" with a help error when --help
// comes first, a usage error when none is given.
func subcommand(args []string, help string, stderr io.Writer, want ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, usageError{msg: "give a subcommand: " + strings.Join(want, ", ") + "; see --help"}
	}
	switch a := args[0]; {
	case a == "-h" || a == "-help" || a == "--help" || a == "help":
		fmt.Fprint(stderr, help)
		return "", nil, usageError{help: true}
	case strings.HasPrefix(a, "-"):
		return "", nil, usageError{msg: fmt.Sprintf("give the subcommand (%s) before the options; see --help", strings.Join(want, ", "))}
	}
	for _, w := range want {
		if args[0] == w {
			return w, args[1:], nil
		}
	}
	return "", nil, usageError{msg: fmt.Sprintf("unknown subcommand %q: want %s", args[0], strings.Join(want, ", "))}
}

// normalizeEmail checks an e-mail address (one @, a local part and a
// domain, no spaces or control characters) and lower-cases it.
func normalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	local, domain, ok := strings.Cut(e, "@")
	switch {
	case e == "":
		return "", lecture.Errorf(lecture.EINVALID, "give the user's e-mail address")
	case !ok || strings.Contains(domain, "@"):
		return "", lecture.Errorf(lecture.EINVALID, "%q is not an e-mail address: want exactly one @, as in name@example.edu", s)
	case local == "":
		return "", lecture.Errorf(lecture.EINVALID, "%q is not an e-mail address: nothing before the @", s)
	case domain == "" || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, ".."):
		return "", lecture.Errorf(lecture.EINVALID, "%q is not an e-mail address: want a domain after the @, as in name@example.edu", s)
	case len(e) > 254:
		return "", lecture.Errorf(lecture.EINVALID, "%q is too long for an e-mail address (at most 254 characters)", s)
	}
	for _, r := range e {
		if r <= ' ' || r == 0x7f {
			return "", lecture.Errorf(lecture.EINVALID, "%q is not an e-mail address: no spaces or control characters", s)
		}
	}
	return e, nil
}

// userByEmail finds an account, saying how to list them when there is none.
func userByEmail(ctx context.Context, cat catalogue.Catalogue, email string) (catalogue.User, error) {
	e, err := normalizeEmail(email)
	if err != nil {
		return catalogue.User{}, err
	}
	u, err := cat.UserByEmail(ctx, e)
	if lecture.ErrorCode(err) == lecture.ENOTFOUND {
		return u, lecture.Wrap(lecture.ENOTFOUND, err, "no user %s; see transcept users list", e)
	}
	return u, err
}

// newUserID returns a random user id: 16 bytes from crypto/rand in hex.
func newUserID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// stdinIsTerminal reports whether r is an interactive terminal (tests
// replace it).
var stdinIsTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, auth.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", lecture.Wrap(lecture.EINVALID, err, "reading the password from standard input")
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if err := auth.CheckPassword(line); err != nil {
		return "", lecture.Wrap(lecture.EINVALID, err, "the password on standard input: %s (or run from a terminal to have one generated)", lecture.ErrorMessage(err))
	}
	return line, nil
}

func audit(ctx context.Context, cat catalogue.Catalogue, action, target, detail string) error {
	err := cat.Audit(ctx, catalogue.AuditEntry{At: time.Now().UTC(), Actor: cliActor, Action: action, Target: target, Detail: detail})
	if err != nil {
		return lecture.Wrap(lecture.ErrorCode(err), err, "%s done, but the audit entry was not written: %s", action, lecture.ErrorMessage(err))
	}
	return nil
}

func timeCell(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func cmdUsers(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub, rest, err := subcommand(args, usersHelp, stderr, "create", "list", "disable", "enable")
	if err != nil {
		return err
	}
	help := map[string]string{"create": usersCreateHelp, "list": usersListHelp, "disable": usersDisableHelp, "enable": usersEnableHelp}[sub]
	fs := newFlags("users "+sub, help, stderr)
	var admin, asJSON *bool
	switch sub {
	case "create":
		admin = fs.Bool("admin", false, "make the user an admin (default: member)")
	case "list":
		asJSON = fs.Bool("json", false, "one JSON object a line")
	}
	pos, err := parse(fs, rest)
	if err != nil {
		return err
	}
	if sub == "list" {
		if len(pos) != 0 {
			return usageError{msg: "list takes no arguments"}
		}
	} else if len(pos) != 1 {
		return usageError{msg: sub + " needs exactly one EMAIL; see transcept users " + sub + " --help"}
	}
	var email string
	if sub == "create" {
		if email, err = normalizeEmail(pos[0]); err != nil {
			return err
		}
	}
	cat, err := openCatalogue(ctx)
	if err != nil {
		return err
	}
	defer cat.Close()
	switch sub {
	case "create":
		return usersCreate(ctx, cat, email, *admin, stdin, stdout, stderr)
	case "list":
		return usersList(ctx, cat, *asJSON, stdout)
	}
	return usersSetDisabled(ctx, cat, pos[0], sub == "disable", stderr)
}

func usersCreate(ctx context.Context, cat catalogue.Catalogue, email string, admin bool, stdin io.Reader, stdout, stderr io.Writer) error {
	dup := func(err error) error {
		return lecture.Wrap(lecture.ECONFLICT, err, "a user %s already exists; choose another e-mail, or see transcept users list", email)
	}
	if _, err := cat.UserByEmail(ctx, email); err == nil {
		return dup(nil)
	} else if lecture.ErrorCode(err) != lecture.ENOTFOUND {
		return err
	}
	var pw string
	generated := stdinIsTerminal(stdin)
	if generated {
		pw = auth.GeneratePassword()
	} else {
		var err error
		if pw, err = readPassword(stdin); err != nil {
			return err
		}
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	role := catalogue.RoleMember
	if admin {
		role = catalogue.RoleAdmin
	}
	u := catalogue.User{ID: newUserID(), Email: email, Role: role, PasswordHash: hash, CreatedAt: time.Now().UTC()}
	if err := cat.CreateUser(ctx, u); err != nil {
		if lecture.ErrorCode(err) == lecture.ECONFLICT {
			return dup(err)
		}
		return err
	}
	if generated {
		fmt.Fprintf(stdout, "password: %s\n", pw)
		fmt.Fprintln(stderr, "Store this password now: it is not shown again.")
	}
	fmt.Fprintf(stderr, "created %s %s (id %s)\n", role, email, u.ID)
	return audit(ctx, cat, "user.create", email, "role "+string(role))
}

// userLine is a user as `users list --json` prints it.
type userLine struct {
	ID          string         `json:"id"`
	Email       string         `json:"email"`
	Role        catalogue.Role `json:"role"`
	CreatedAt   time.Time      `json:"created_at"`
	Disabled    bool           `json:"disabled"`
	OIDCSubject string         `json:"oidc_subject,omitempty"`
}

func usersList(ctx context.Context, cat catalogue.Catalogue, asJSON bool, stdout io.Writer) error {
	users, err := cat.ListUsers(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, u := range users {
			if err := enc.Encode(userLine{ID: u.ID, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt.UTC(), Disabled: u.Disabled, OIDCSubject: u.OIDCSubject}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tROLE\tCREATED\tDISABLED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Email, u.Role, timeCell(u.CreatedAt, "-"), yesNo(u.Disabled))
	}
	return tw.Flush()
}

func usersSetDisabled(ctx context.Context, cat catalogue.Catalogue, email string, disable bool, stderr io.Writer) error {
	u, err := userByEmail(ctx, cat, email)
	if err != nil {
		return err
	}
	was := u.Disabled
	u.Disabled = disable
	if err := cat.UpdateUser(ctx, u); err != nil {
		return err
	}
	action := "user.enable"
	if disable {
		action = "user.disable"
		if err := cat.DeleteUserSessions(ctx, u.ID); err != nil && lecture.ErrorCode(err) != lecture.ENOTFOUND {
			return lecture.Wrap(lecture.ErrorCode(err), err, "%s is disabled, but its sessions were not deleted: %s; run the command again", u.Email, lecture.ErrorMessage(err))
		}
	}
	switch {
	case disable && was:
		fmt.Fprintf(stderr, "%s was already disabled (sessions deleted again)\n", u.Email)
	case disable:
		fmt.Fprintf(stderr, "disabled %s (id %s): sessions deleted, API keys refused\n", u.Email, u.ID)
	case was:
		fmt.Fprintf(stderr, "enabled %s (id %s)\n", u.Email, u.ID)
	default:
		fmt.Fprintf(stderr, "%s was already enabled\n", u.Email)
	}
	return audit(ctx, cat, action, u.Email, "")
}

func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, rest, err := subcommand(args, keysHelp, stderr, "create", "list", "revoke")
	if err != nil {
		return err
	}
	help := map[string]string{"create": keysCreateHelp, "list": keysListHelp, "revoke": keysRevokeHelp}[sub]
	fs := newFlags("keys "+sub, help, stderr)
	user := fs.String("user", "", "the key owner's e-mail address (required)")
	var name *string
	var expires *time.Duration
	var asJSON *bool
	switch sub {
	case "create":
		name = fs.String("name", "", "what the key is for, 1 to 100 characters (required)")
		expires = fs.Duration("expires", 720*time.Hour, "how long the key lasts; 0: never")
	case "list":
		asJSON = fs.Bool("json", false, "one JSON object a line")
	}
	pos, err := parse(fs, rest)
	if err != nil {
		return err
	}
	if *user == "" {
		return usageError{msg: "give the user with --user EMAIL"}
	}
	switch sub {
	case "create", "list":
		if len(pos) != 0 {
			return usageError{msg: sub + " takes no arguments, only options; see transcept keys " + sub + " --help"}
		}
	case "revoke":
		if len(pos) != 1 {
			return usageError{msg: "revoke needs exactly one key ID (see transcept keys list --user EMAIL)"}
		}
	}
	if sub == "create" {
		*name = strings.TrimSpace(*name)
		if *name == "" || len(*name) > 100 {
			return usageError{msg: "give the key a --name of 1 to 100 characters"}
		}
		if *expires < 0 {
			return usageError{msg: "--expires must be a positive duration such as 720h, or 0 for never"}
		}
	}
	if _, err := normalizeEmail(*user); err != nil {
		return err
	}
	cat, err := openCatalogue(ctx)
	if err != nil {
		return err
	}
	defer cat.Close()
	u, err := userByEmail(ctx, cat, *user)
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		return keysCreate(ctx, cat, u, *name, *expires, stdout, stderr)
	case "list":
		return keysList(ctx, cat, u, *asJSON, stdout)
	}
	return keysRevoke(ctx, cat, u, pos[0], stderr)
}

func keysCreate(ctx context.Context, cat catalogue.Catalogue, u catalogue.User, name string, ttl time.Duration, stdout, stderr io.Writer) error {
	if u.Disabled {
		return lecture.Errorf(lecture.ECONFLICT, "%s is disabled, so its keys would not sign in; run transcept users enable %s first", u.Email, u.Email)
	}
	now := time.Now().UTC()
	var exp time.Time
	if ttl > 0 {
		exp = now.Add(ttl)
	}
	secret, k := auth.NewAPIKey(u.ID, name, exp, now)
	if err := cat.CreateKey(ctx, k); err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	fmt.Fprintf(stderr, "created key %s %q for %s, expires %s; store it now: it is not shown again\n", k.ID, name, u.Email, timeCell(k.ExpiresAt, "never"))
	return audit(ctx, cat, "key.create", k.ID, name)
}

func keysList(ctx context.Context, cat catalogue.Catalogue, u catalogue.User, asJSON bool, stdout io.Writer) error {
	keys, err := cat.ListKeys(ctx, u.ID)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, k := range keys {
			if err := enc.Encode(k); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tEXPIRES\tREVOKED\tLAST USED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, timeCell(k.CreatedAt, "-"),
			timeCell(k.ExpiresAt, "never"), timeCell(k.RevokedAt, "-"), timeCell(k.LastUsedAt, "never"))
	}
	return tw.Flush()
}

func keysRevoke(ctx context.Context, cat catalogue.Catalogue, u catalogue.User, id string, stderr io.Writer) error {
	if err := cat.RevokeKey(ctx, u.ID, id, time.Now().UTC()); err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return lecture.Wrap(lecture.ENOTFOUND, err, "%s has no key %s; see transcept keys list --user %s", u.Email, id, u.Email)
		}
		return err
	}
	fmt.Fprintf(stderr, "revoked key %s of %s\n", id, u.Email)
	return audit(ctx, cat, "key.revoke", id, "")
}

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit", auditHelp, stderr)
	limit := fs.Int("limit", 100, "at most this many entries (up to 1000)")
	actor := fs.String("actor", "", "only this actor: a user id, an e-mail address, cli or system")
	action := fs.String("action", "", "only this action, e.g. signin.failed, key.create, user.disable")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{msg: "audit takes no arguments, only options; see --help"}
	}
	if *limit < 1 || *limit > 1000 {
		return usageError{msg: "--limit must be from 1 to 1000"}
	}
	cat, err := openCatalogue(ctx)
	if err != nil {
		return err
	}
	defer cat.Close()
	q := catalogue.AuditQuery{Actor: *actor, Action: *action, Limit: *limit}
	if strings.Contains(q.Actor, "@") {
		u, err := userByEmail(ctx, cat, q.Actor)
		if err != nil {
			return err
		}
		q.Actor = u.ID
	}
	entries, err := cat.ListAudit(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			e.At = e.At.UTC()
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tACTOR\tACTION\tTARGET\tREMOTE\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", timeCell(e.At, "-"), dash(e.Actor), e.Action, dash(e.Target), dash(e.Remote), dash(e.Detail))
	}
	return tw.Flush()
}

func cmdCatalogue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if _, _, err := subcommand(args, catalogueHelp, stderr, "rebuild"); err != nil {
		return err
	}
	fs := newFlags("catalogue rebuild", catalogueHelp, stderr)
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{msg: "rebuild takes no arguments"}
	}
	s, err := offline(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	line := progress.New(stderr, 250*time.Millisecond, func(done, _ float64, elapsed time.Duration, final bool) string {
		return fmt.Sprintf("rebuilding the catalogue: %d lectures  elapsed %s", int(done), elapsed.Round(time.Second))
	})
	n, err := s.Service.Rebuild(ctx, func(done int, _ string) { line.Update(float64(done), 0) })
	line.End()
	if err != nil {
		return lecture.Wrap(lecture.ErrorCode(err), err, "rebuilding the catalogue stopped after %d lectures: %s; run it again (it is safe to repeat)", n, lecture.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "rebuilt %d lectures\n", n)
	return nil
}
