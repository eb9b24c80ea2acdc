// Package infra holds the cluster's manifests (kustomize). Go code reads one
// part of them, embedded here: the Broker and Triggers of eventing/, the one
// source of the pipeline's wiring for the cluster, the HTTP broker of the
// functions test and the in-process broker of `transcept serve`.
package infra

import (
	"embed"
	"io/fs"
	"path"
)

//go:embed eventing/*.yaml
var eventing embed.FS

// Eventing returns the YAML files of infra/eventing: name → contents.
func Eventing() map[string][]byte {
	out := map[string][]byte{}
	names, _ := fs.Glob(eventing, "eventing/*.yaml")
	for _, n := range names {
		b, err := eventing.ReadFile(n)
		if err == nil {
			out[path.Base(n)] = b
		}
	}
	return out
}
