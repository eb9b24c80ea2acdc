package svctest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// PostgresHint tells how to install the PostgreSQL server.
const PostgresHint = "install it with: apt-get install postgresql"

// postgresUser runs the server when the tests run as root (PostgreSQL
// refuses to): created with useradd when missing.
const postgresUser = "transcept-test"

// PostgresServer is a PostgreSQL server on 127.0.0.1 for one test (or
// benchmark), in a temporary directory, with trust authentication for the
// superuser "postgres" and fsync off.
type PostgresServer struct {
	BinDir string // the directory of initdb, postgres, pg_isready, createdb
	Port   int
	Dir    string // data directory and socket directory's parent
	// URL of the "postgres" maintenance database.
	URL string

	proc *proc
	cred *syscall.Credential // nil when not root
	n    atomic.Int32
}

// FindPostgres returns the directory holding the PostgreSQL server binaries
// (the newest /usr/lib/postgresql/*/bin, else initdb on PATH), or "".
func FindPostgres() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "postgres")) {
			return d
		}
	}
	return ""
}

// traversable reports whether every directory from / to dir lets others
// through (the x bit for others).
func traversable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" || d == "." {
			return true
		}
	}
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Postgres starts a PostgreSQL server for t and returns the URL of a new,
// empty database on it. Both go when the test ends.
func Postgres(t testing.TB) (url string) {
	t.Helper()
	return StartPostgres(t).CreateDatabase(t)
}

var pgUserOnce sync.Once

// StartPostgres starts a PostgreSQL server for t, waits until it accepts
// connections (30 s at most) and registers its cleanup. CreateDatabase
// makes databases on it.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	bin := FindPostgres()
	if bin == "" {
		missing(t, "the PostgreSQL server (initdb, postgres)", PostgresHint)
	}
	s := &PostgresServer{BinDir: bin}
	if os.Getuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			t.Fatalf("svctest: postgres refuses to run as root and no user to run it as: %v", err)
		}
		s.cred = cred
	}
	// Not t.TempDir: its parents are root's 0700 directories, which the
	// unprivileged user could not enter.
	tmp := os.TempDir()
	if s.cred != nil && !traversable(tmp) {
		tmp = "/tmp"
	}
	dir, err := os.MkdirTemp(tmp, "transcept-pg-")
	if err != nil {
		t.Fatalf("svctest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.Dir = dir
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatalf("svctest: %v", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	initdb.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	if out, err := initdb.CombinedOutput(); err != nil {
		// An image without the C.UTF-8 locale: the plain C locale.
		os.RemoveAll(data)
		initdb = exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
		initdb.Dir = dir
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		if out2, err2 := initdb.CombinedOutput(); err2 != nil {
			t.Fatalf("svctest: initdb: %v\n%s\n%s", err2, out, out2)
		}
	}
	for try := 0; try < 3; try++ { // the free port may be taken meanwhile
		s.Port = FreePort(t)
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("svctest: postgres: %v", err)
	}
	s.URL = s.dbURL("postgres")
	t.Cleanup(s.Stop)
	return s
}

// unprivileged returns the credentials of postgresUser, creating the user
// when missing; "nobody" when it cannot be created.
func unprivileged() (*syscall.Credential, error) {
	pgUserOnce.Do(func() {
		if _, err := user.Lookup(postgresUser); err != nil {
			exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", postgresUser).Run()
		}
	})
	u, err := user.Lookup(postgresUser)
	if err != nil {
		if u, err = user.Lookup("nobody"); err != nil {
			return nil, err
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

func (s *PostgresServer) dbURL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, name)
}

func (s *PostgresServer) start() error {
	cmd := exec.Command(filepath.Join(s.BinDir, "postgres"), "-D", filepath.Join(s.Dir, "data"),
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-k", s.Dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=128MB", "-c", "logging_collector=off")
	cmd.Dir = s.Dir
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.cred}
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	ready := func() error {
		c := exec.Command(filepath.Join(s.BinDir, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres", "-d", "postgres")
		return c.Run()
	}
	if err := p.waitReady(30*time.Second, ready); err != nil {
		p.kill(time.Second)
		return err
	}
	s.proc = p
	return nil
}

// CreateDatabase creates a new, empty database and returns its URL.
func (s *PostgresServer) CreateDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test%d", s.n.Add(1))
	cmd := exec.Command(filepath.Join(s.BinDir, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres", name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("svctest: createdb %s: %v\n%s", name, err, out)
	}
	return s.dbURL(name)
}

// Stop stops the server (a fast shutdown, then SIGKILL).
func (s *PostgresServer) Stop() {
	if s.proc != nil {
		// SIGINT is PostgreSQL's fast shutdown; kill sends SIGTERM (smart
		// shutdown, which waits for clients) and SIGKILL after the grace.
		_ = syscall.Kill(s.proc.cmd.Process.Pid, syscall.SIGINT)
		s.proc.kill(5 * time.Second)
		s.proc = nil
	}
}
