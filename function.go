// Package function is the root function of the suite (the root func.yaml):
// the gateway, Transcept's HTTP API. The stage functions live in functions/.
package function

import "github.com/transcept/transcept/functions/gateway"

// New returns the gateway function instance (func-go's instanced interface).
func New() *gateway.Function { return gateway.New() }
