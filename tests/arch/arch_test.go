// Package arch checks the layout's rules (README, "Code map"; the
// architecture document's section Layout) on the import graph that
// `go list -json ./...` reports: each rule names the package and the import
// that break it. Test files are not production: only a package's own
// imports count, not its tests'.
package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/transcept/transcept"

// adapters: each client library is imported by its one adapter package;
// the longest matching prefix names it (client_golang's api/ belongs to the
// rollout's Prometheus adapter, the rest of client_golang to shared/metrics).
var adapters = map[string]string{
	"github.com/minio/minio-go":               "shared/store/minio",
	"github.com/redis/go-redis":               "shared/cache/redis",
	"github.com/yalue/onnxruntime_go":         "gpu-runtime/ort",
	"github.com/prometheus/client_golang":     "shared/metrics",
	"github.com/prometheus/client_model":      "shared/metrics",
	"github.com/cloudevents/sdk-go":           "shared/eventing",
	"modernc.org/sqlite":                      "shared/catalogue/sqlite",
	"github.com/jackc/pgx":                    "shared/catalogue/postgres",
	"go.opentelemetry.io":                     "shared/tracing",
	"github.com/prometheus/client_golang/api": "shared/rollout/prometheus",
	"github.com/prometheus/common":            "shared/rollout/prometheus",
	"knative.dev/serving":                     "shared/rollout/knative",
	"k8s.io/client-go":                        "shared/rollout/knative",
	"github.com/expr-lang/expr":               "shared/rollout",
}

// adapterOf returns the library an import belongs to and its adapter
// package, by the longest matching prefix ("" when none).
func adapterOf(imp string) (lib, owner string) {
	for l, o := range adapters {
		if (imp == l || strings.HasPrefix(imp, l+"/")) && len(l) > len(lib) {
			lib, owner = l, o
		}
	}
	return lib, owner
}

type pkg struct {
	ImportPath string
	Name       string
	Imports    []string
}

// rel is a path inside the module ("" for the module root), or the path
// itself outside it.
func rel(path string) string {
	if path == module {
		return ""
	}
	return strings.TrimPrefix(path, module+"/")
}

func inModule(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// Check returns one line per broken rule: "<package> imports <import>: <rule>".
func Check(pkgs []pkg) []string {
	var bad []string
	for _, p := range pkgs {
		from := rel(p.ImportPath)
		for _, imp := range p.Imports {
			to := rel(imp)
			fail := func(rule string) { bad = append(bad, from+" imports "+imp+": "+rule) }
			if inModule(imp) {
				switch {
				case under(from, "shared/lecture"):
					fail("shared/lecture (the domain) imports nothing of the project")
				case under(from, "shared") && (under(to, "gpu-runtime") || under(to, "functions") || under(to, "cmd")):
					fail("shared/ imports neither gpu-runtime/ nor functions/ nor cmd/")
				case under(from, "functions") && under(to, "functions") && stage(from) != stage(to) && stage(to) != "wire":
					fail("no function imports another (functions/wire, the composition root, is the only shared package)")
				case !under(from, "tests") && under(to, "tests"):
					fail("nothing in production imports tests/")
				}
			}
			if lib, owner := adapterOf(imp); lib != "" && from != owner {
				fail(lib + " is imported by its one adapter package, " + owner)
			}
			if imp == "testing" {
				switch {
				case !under(from, "tests"):
					fail("only tests and the helpers under tests/testkit import testing")
				case p.Name != "main" && under(from, "tests/testkit") && !strings.HasSuffix(p.Name, "test"):
					fail("a test helper package that imports testing is named *test")
				}
			}
		}
	}
	return bad
}

// stage is the function of a path under functions/: functions/<stage>/...
func stage(p string) string {
	parts := strings.Split(p, "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

func list(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = filepath.Join("..", "..")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errb.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(&out); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages: not the module", len(pkgs))
	}
	return pkgs
}

func TestLayoutRules(t *testing.T) {
	for _, line := range Check(list(t)) {
		t.Error(line)
	}
}

// Every rule fires on an import that breaks it, and names it.
func TestRulesCatchForbiddenImports(t *testing.T) {
	for _, c := range []struct {
		from, name, imp string
	}{
		{"shared/lecture", "lecture", module + "/shared/text"},
		{"shared/pipeline", "pipeline", module + "/gpu-runtime/bart"},
		{"shared/api", "api", module + "/functions/wire"},
		{"shared/store", "store", module + "/cmd/transcept"},
		{"functions/index", "index", module + "/functions/segment"},
		{"shared/pipeline", "pipeline", module + "/tests/testkit/testmodels"},
		{"shared/pipeline", "pipeline", "github.com/minio/minio-go/v7"},
		{"functions/ingest", "ingest", "github.com/cloudevents/sdk-go/v2"},
		{"shared/api", "api", "github.com/prometheus/client_golang/prometheus"},
		{"gpu-runtime/whisper", "whisper", "github.com/yalue/onnxruntime_go"},
		{"shared/cache", "cache", "github.com/redis/go-redis/v9"},
		{"shared/text", "text", "testing"},
		{"tests/testkit/helpers", "helpers", "testing"},
		{"shared/metrics", "metrics", "github.com/prometheus/client_golang/api/prometheus/v1"},
		{"shared/rollout", "rollout", "knative.dev/serving/pkg/client/clientset/versioned"},
		{"cmd/transcept", "main", "k8s.io/client-go/tools/clientcmd"},
	} {
		bad := Check([]pkg{{ImportPath: module + "/" + c.from, Name: c.name, Imports: []string{c.imp}}})
		if len(bad) != 1 || !strings.Contains(bad[0], c.imp) || !strings.HasPrefix(bad[0], c.from+" ") {
			t.Errorf("%s importing %s: %q", c.from, c.imp, bad)
		}
	}
	for _, ok := range []struct{ from, name, imp string }{
		{"functions/index", "index", module + "/functions/wire"},
		{"functions/wire", "wire", module + "/gpu-runtime/whisper"},
		{"shared/eventing", "eventing", "github.com/cloudevents/sdk-go/v2/event"},
		{"tests/testkit/storetest", "storetest", "testing"},
		{"cmd/transcept", "main", module + "/functions/gateway"},
		{"shared/rollout/prometheus", "prometheus", "github.com/prometheus/client_golang/api/prometheus/v1"},
		{"shared/metrics", "metrics", "github.com/prometheus/client_golang/prometheus/promhttp"},
		{"shared/rollout/knative", "knative", "knative.dev/serving/pkg/client/clientset/versioned"},
	} {
		if bad := Check([]pkg{{ImportPath: module + "/" + ok.from, Name: ok.name, Imports: []string{ok.imp}}}); len(bad) != 0 {
			t.Errorf("allowed import refused: %q", bad)
		}
	}
}
