package ort

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
)

func TestFindLibrary(t *testing.T) {
	tools := t.TempDir()
	cached := filepath.Join(tools, "onnxruntime", "libonnxruntime.so.1")
	sys := t.TempDir()
	sysLib := filepath.Join(sys, "libonnxruntime.so")
	os.WriteFile(sysLib, []byte("x"), 0o644)
	explicit := filepath.Join(t.TempDir(), "custom.so")
	os.WriteFile(explicit, []byte("x"), 0o644)

	cases := []struct {
		name      string
		env       string // TRANSCEPT_ORT_LIB
		cache     bool   // library present in the tools cache
		dirs      []string
		want      string
		errSays   []string
		errNoPath bool
	}{
		{name: "env wins", env: explicit, cache: true, dirs: []string{sys}, want: explicit},
		{name: "env missing is an error, not a fallback", env: explicit + ".gone", cache: true, errSays: []string{"TRANSCEPT_ORT_LIB=" + explicit + ".gone", "make ort"}},
		{name: "env is a directory", env: sys, errSays: []string{"is a directory"}},
		{name: "tools cache before system", cache: true, dirs: []string{sys}, want: cached},
		{name: "system dir", dirs: []string{sys}, want: sysLib},
		{name: "nowhere", dirs: []string{t.TempDir()}, errSays: []string{"not found", cached, "make ort", "onnxruntime-node", "release archive", "TRANSCEPT_ORT_LIB", MinVersion}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(LibraryEnv, c.env)
			t.Setenv(ToolsDirEnv, tools)
			os.RemoveAll(filepath.Join(tools, "onnxruntime"))
			if c.cache {
				os.MkdirAll(filepath.Dir(cached), 0o755)
				os.WriteFile(cached, []byte("x"), 0o644)
			}
			old := systemDirs
			systemDirs = c.dirs
			defer func() { systemDirs = old }()

			got, err := FindLibrary()
			if c.want != "" {
				if err != nil || got != c.want {
					t.Fatalf("FindLibrary = %q, %v; want %q", got, err, c.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("FindLibrary = %q, want an error", got)
			}
			if lecture.ErrorCode(err) != lecture.EUNAVAILABLE {
				t.Errorf("code %s, want %s", lecture.ErrorCode(err), lecture.EUNAVAILABLE)
			}
			for _, w := range c.errSays {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestParseOptimization(t *testing.T) {
	for in, want := range map[string]Optimization{"": OptimizeAll, "all": OptimizeAll, "extended": OptimizeExtended, "basic": OptimizeBasic, "none": OptimizeNone} {
		if got, err := ParseOptimization(in); err != nil || got != want {
			t.Errorf("ParseOptimization(%q) = %v, %v", in, got, err)
		}
		if in != "" && want.String() != in {
			t.Errorf("%v.String() = %q", want, want.String())
		}
	}
	if _, err := ParseOptimization("max"); err == nil {
		t.Error("ParseOptimization(max) accepted")
	}
}
