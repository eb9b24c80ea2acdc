package config

import (
	"os"
	"strings"
	"testing"
)

// The README's settings table is this package's Table, kept in step.
func TestREADMEHasEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), Table()) {
		t.Errorf("README.md's settings table is out of date; replace it with:\n%s", Table())
	}
}
