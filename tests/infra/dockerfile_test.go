package infra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// No container engine runs here, so the images cannot be built in tests;
// instead the Dockerfiles are parsed and held to what the images must be.

type instruction struct {
	Cmd  string // upper-case keyword
	Args string
	Line int
}

type stage struct {
	Name   string
	Image  string
	Instrs []instruction
}

// parseDockerfile splits a Dockerfile into global ARGs and stages, joining
// continuation lines and dropping comments.
func parseDockerfile(t *testing.T, path string) (args map[string]string, stages []*stage) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	args = map[string]string{}
	var cur strings.Builder
	start := 0
	var instrs []instruction
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		full := cur.String()
		cur.Reset()
		kw, rest, _ := strings.Cut(full, " ")
		instrs = append(instrs, instruction{Cmd: strings.ToUpper(kw), Args: strings.TrimSpace(rest), Line: start})
	}
	for _, in := range instrs {
		switch {
		case in.Cmd == "FROM":
			f := strings.Fields(in.Args)
			s := &stage{Image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.Name = f[2]
			}
			stages = append(stages, s)
		case len(stages) == 0 && in.Cmd == "ARG":
			k, v, _ := strings.Cut(in.Args, "=")
			args[k] = v
		case len(stages) == 0:
			t.Fatalf("%s:%d: %s before the first FROM", path, in.Line, in.Cmd)
		default:
			s := stages[len(stages)-1]
			s.Instrs = append(s.Instrs, in)
		}
	}
	return args, stages
}

// expand resolves ${VAR} and $VAR from the global ARG defaults.
func expand(s string, args map[string]string) string {
	return os.Expand(s, func(k string) string { return args[k] })
}

func (s *stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.Instrs {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func (s *stage) text() string {
	var b strings.Builder
	for _, in := range s.Instrs {
		b.WriteString(in.Cmd + " " + in.Args + "\n")
	}
	return b.String()
}

func (s *stage) argDefault(name string) (string, bool) {
	for _, in := range s.all("ARG") {
		k, v, hasDefault := strings.Cut(in.Args, "=")
		if k == name {
			return v, hasDefault
		}
	}
	return "", false
}

var pinnedImage = regexp.MustCompile(`^[a-z0-9./_-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$`)

func TestDockerfiles(t *testing.T) {
	root := repoRoot(t)
	cases := []struct {
		file        string
		wantBase    string // the final stage's base image prefix
		checkSHA    func(t *testing.T, ort *stage)
		wantLibPath string
	}{
		{
			file:     "gpu-runtime/Dockerfile",
			wantBase: "debian:",
			checkSHA: func(t *testing.T, ort *stage) {
				// The npm onnxruntime-node@1.30.0 Linux x64 library; the same hash as gpu-runtime/scripts/fetch-ort.sh.
				const want = "ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"
				if v, _ := ort.argDefault("ORT_SHA256"); v != want {
					t.Errorf("ORT_SHA256 default %q, want %s", v, want)
				}
				if v, _ := ort.argDefault("ORT_NPM_VERSION"); v != "1.30.0" {
					t.Errorf("ORT_NPM_VERSION %q, want 1.30.0", v)
				}
				txt := ort.text()
				for _, s := range []string{"npm pack", "--ignore-scripts", "package/bin/napi-v6/linux/x64/libonnxruntime.so.1", "sha256sum -c"} {
					if !strings.Contains(txt, s) {
						t.Errorf("ort stage lacks %q", s)
					}
				}
				if script, err := os.ReadFile(filepath.Join(root, "gpu-runtime/scripts/fetch-ort.sh")); err == nil && !strings.Contains(string(script), want) {
					t.Errorf("gpu-runtime/scripts/fetch-ort.sh pins another ONNX Runtime hash than the Dockerfile")
				}
			},
			wantLibPath: "/usr/local/lib/onnxruntime/libonnxruntime.so.1",
		},
		{
			file:     "gpu-runtime/Dockerfile.cuda",
			wantBase: "nvidia/cuda:",
			checkSHA: func(t *testing.T, ort *stage) {
				declared := false
				for _, in := range ort.all("ARG") {
					if in.Args == "ORT_GPU_SHA256" {
						declared = true // without a default: the build must be told the hash
					}
				}
				if !declared {
					t.Errorf("ort stage should declare ARG ORT_GPU_SHA256 without a default")
				}
				txt := ort.text()
				for _, s := range []string{"onnxruntime-linux-x64-gpu-", `test -n "${ORT_GPU_SHA256}"`, `${ORT_GPU_SHA256}  /tmp/ort.tgz" | sha256sum -c`, "libonnxruntime_providers_cuda.so"} {
					if !strings.Contains(txt, s) {
						t.Errorf("ort stage lacks %q", s)
					}
				}
			},
			wantLibPath: "/usr/local/lib/onnxruntime/libonnxruntime.so.1",
		},
	}
	for _, tc := range cases {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			path := filepath.Join(root, tc.file)
			args, stages := parseDockerfile(t, path)
			byName := map[string]*stage{}
			for _, s := range stages {
				if s.Name != "" {
					byName[s.Name] = s
				}
			}
			for _, want := range []string{"ort", "build", "runtime"} {
				if byName[want] == nil {
					t.Fatalf("no stage %q (stages: %d)", want, len(stages))
				}
			}
			// Every base image pinned by tag (or digest), never latest.
			for _, s := range stages {
				img := expand(s.Image, args)
				if byName[img] != nil {
					continue
				}
				if !pinnedImage.MatchString(img) || strings.HasSuffix(img, ":latest") {
					t.Errorf("FROM %s (%s): not pinned by tag or digest", s.Image, img)
				}
			}
			final := stages[len(stages)-1]
			if final != byName["runtime"] {
				t.Errorf("the last stage should be runtime")
			}
			if img := expand(final.Image, args); !strings.HasPrefix(img, tc.wantBase) {
				t.Errorf("runtime base %s, want %s...", img, tc.wantBase)
			}

			// cgo build of ./cmd/transcept to /out/transcept.
			build := byName["build"].text()
			if !regexp.MustCompile(`CGO_ENABLED=1\s[^\n]*go build [^\n]*-o /out/transcept \./cmd/transcept`).MatchString(build) {
				t.Errorf("build stage does not run CGO_ENABLED=1 go build -o /out/transcept ./cmd/transcept:\n%s", build)
			}
			if !strings.Contains(expand(byName["build"].Image, args), "golang:") {
				t.Errorf("build stage is not a golang image")
			}
			tc.checkSHA(t, byName["ort"])

			// Runtime: binary and library copied from the stages, env, user, entrypoint.
			rt := final.text()
			if !strings.Contains(rt, "COPY --from=build /out/transcept /usr/local/bin/transcept") {
				t.Errorf("runtime does not copy the binary to /usr/local/bin/transcept")
			}
			if !strings.Contains(rt, "COPY --from=ort ") {
				t.Errorf("runtime does not copy the ONNX Runtime library from the ort stage")
			}
			if !strings.Contains(rt, "TRANSCEPT_ORT_LIB="+tc.wantLibPath) {
				t.Errorf("runtime does not set TRANSCEPT_ORT_LIB=%s", tc.wantLibPath)
			}
			users := final.all("USER")
			if len(users) == 0 {
				t.Fatalf("runtime stage sets no USER")
			}
			user := users[len(users)-1].Args
			uid, _, _ := strings.Cut(user, ":")
			if uid == "root" || uid == "0" || !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(uid) {
				// Numeric, so that Kubernetes can enforce runAsNonRoot (infra/serving).
				t.Errorf("USER %s: want a numeric non-root uid", user)
			}
			eps := final.all("ENTRYPOINT")
			if len(eps) != 1 {
				t.Fatalf("runtime stage has %d ENTRYPOINTs", len(eps))
			}
			var ep []string
			if err := json.Unmarshal([]byte(eps[0].Args), &ep); err != nil || len(ep) != 1 || ep[0] != "/usr/local/bin/transcept" {
				t.Errorf(`ENTRYPOINT %s, want ["/usr/local/bin/transcept"] (exec form)`, eps[0].Args)
			}
		})
	}
}

// TestDockerignore: the build context (the repository root) leaves out the
// bulky and secret-bearing paths but keeps the Go sources.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{".git", "bin", "data", "**/node_modules", "**/*.tfstate*"} {
		if !lines[want] {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	for _, keep := range []string{"cmd", "shared", "functions", "gpu-runtime", "go.mod", "go.sum", "*.go", "**/*.go"} {
		if lines[keep] {
			t.Errorf(".dockerignore excludes %s, which the build needs", keep)
		}
	}
}
