// Package tests holds Transcept's integration and end-to-end tests: the real
// `transcept serve` binary against a real Redis and a real MinIO server,
// started on loopback ports by the tests themselves.
package tests
