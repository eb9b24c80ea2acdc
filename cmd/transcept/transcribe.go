package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/transcript"
)

const transcribeHelp = `Usage: transcept transcribe FILE [options]

Transcribes a lecture recording (wav, mp3, m4a, ogg/opus, flac, mp4, mkv,
webm: anything ffmpeg reads) into a timestamped transcript on stdout, with a
progress bar on stderr. Needs a Whisper model: TRANSCEPT_WHISPER_MODEL.

Examples:
  transcept transcribe lecture.mp4 --format srt > lecture.srt
  transcept transcribe talk.m4a --language de --format vtt
`

func cmdTranscribe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("transcribe", transcribeHelp, stderr)
	format := fs.String("format", "text", "output: text, srt, vtt, json or md")
	language := fs.String("language", "", "language code such as en (default TRANSCEPT_LANGUAGE, or detect)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{msg: "give exactly one recording FILE; see --help"}
	}
	f, err := transcript.ParseFormat(*format)
	if err != nil || f == transcript.Auto {
		return usageError{msg: fmt.Sprintf("--format %q: want text, srt, vtt, json or md", *format)}
	}
	st, err := os.Stat(pos[0])
	if err != nil {
		return lecture.Errorf(lecture.ENOTFOUND, "%s: no such file", pos[0])
	}
	if st.IsDir() || st.Size() == 0 {
		return lecture.Errorf(lecture.EINVALID, "%s is empty or a directory: give a recording", pos[0])
	}
	s, err := offline(ctx)
	if err != nil {
		return err
	}
	opts := lecture.TranscribeOptions{Language: strings.ToLower(*language)}
	if opts.Language == "" {
		opts.Language = s.Config.Language
	}
	var bar *progressBar
	var progress lecture.Progress
	if !*quiet {
		bar = &progressBar{w: stderr, start: time.Now()}
		progress = bar.update
	}
	tr, err := s.Service.TranscribeFile(ctx, pos[0], opts, progress)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	return transcript.Render(stdout, tr, f)
}

// progressBar draws "[#####.....]  42%  12:03 / 28:40  elapsed 1m02s  left ~1m25s".
type progressBar struct {
	w     io.Writer
	start time.Time
	mu    sync.Mutex
	drawn bool
}

func (p *progressBar) update(done, total float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	elapsed := time.Since(p.start).Round(time.Second)
	if total <= 0 {
		fmt.Fprintf(p.w, "\r%s of audio transcribed, elapsed %v", lecture.Clock(done), elapsed)
		p.drawn = true
		return
	}
	frac := min(1, max(0, done/total))
	const width = 24
	n := int(frac * width)
	left := "?"
	if frac > 0 {
		left = "~" + (time.Duration(float64(time.Since(p.start)) * (1 - frac) / frac)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  %s / %s  elapsed %v  left %s ", strings.Repeat("#", n), strings.Repeat(".", width-n),
		100*frac, lecture.Clock(done), lecture.Clock(total), elapsed, left)
	p.drawn = true
}

func (p *progressBar) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
