// Package progress is the one renderer of long work's progress on a
// terminal line: engines and downloads report (done, total) through a
// callback, a Line redraws itself in place ("\r") at most every Every, with
// the text its Format makes: `transcept transcribe` (audio time) and
// `transcept models pull` (bytes) draw through it.
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Format renders one state of the work: done of total (total ≤ 0: not
// known), elapsed since the Line began; final is the last line.
type Format func(done, total float64, elapsed time.Duration, final bool) string

// Line is one progress line on W.
type Line struct {
	W      io.Writer
	Every  time.Duration // at most one redraw per Every; 0: every update
	Format Format
	Start  time.Time // when the work began (New sets now)

	mu    sync.Mutex
	last  time.Time
	drawn bool
}

// New starts a line on w.
func New(w io.Writer, every time.Duration, f Format) *Line {
	return &Line{W: w, Every: every, Format: f, Start: time.Now()}
}

// Update redraws the line for done of total, unless it was drawn less than
// Every ago.
func (l *Line) Update(done, total float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); l.Every <= 0 || now.Sub(l.last) >= l.Every {
		l.last = now
		fmt.Fprintf(l.W, "\r%s", l.Format(done, total, time.Since(l.Start), false))
		l.drawn = true
	}
}

// End ends the line when anything was drawn.
func (l *Line) End() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawn {
		fmt.Fprintln(l.W)
	}
}

// Final draws the last state and ends the line.
func (l *Line) Final(done, total float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.W, "\r%s\n", l.Format(done, total, time.Since(l.Start), true))
}
