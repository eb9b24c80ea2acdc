// Package procstat reads the process's own memory figures from /proc, for
// benchmarks and memory tests.
package procstat

import (
	"errors"
	"os"
	"strconv"
	"strings"
)

// PeakRSS is VmHWM, the process's peak resident set size, in bytes.
func PeakRSS() (int64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("/proc/self/status has no VmHWM")
}
