package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/progress"
	"github.com/transcept/transcept/shared/transcript"
)

const transcribeHelp = `Usage: transcept transcribe FILE [options]

Transcribes a lecture recording (wav, mp3, m4a, ogg/opus, flac, mp4, mkv,
webm: anything ffmpeg reads) into a timestamped transcript on stdout, with a
progress bar on stderr. Needs a Whisper model: TRANSCEPT_WHISPER_MODEL.

Examples:
  transcept transcribe lecture.mp4 --format srt > lecture.srt
  transcept transcribe talk.m4a --language de --format vtt
  transcept transcribe lecture.mp4 --batch 1      # the sequential long-form path
`

func cmdTranscribe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("transcribe", transcribeHelp, stderr)
	format := fs.String("format", "text", "output: text, srt, vtt, json or md")
	language := fs.String("language", "", "language code such as en (default TRANSCEPT_LANGUAGE, or detect)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	batch := fs.Int("batch", 0, "30-second chunks decoded together (default TRANSCEPT_WHISPER_BATCH; 1: the sequential long-form path)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{msg: "give exactly one recording FILE; see --help"}
	}
	if *batch < 0 || *batch > 256 {
		return usageError{msg: fmt.Sprintf("--batch %d: want 1 to 256", *batch)}
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
	opts := lecture.TranscribeOptions{Language: strings.ToLower(*language), Batch: *batch}
	if opts.Language == "" {
		opts.Language = s.Config.Language
	}
	var bar *progress.Line
	var report lecture.Progress
	if !*quiet {
		bar = progress.New(stderr, 0, audioProgress)
		report = bar.Update
	}
	tr, err := s.Service.TranscribeFile(ctx, pos[0], opts, report)
	if bar != nil {
		bar.End()
	}
	if err != nil {
		return err
	}
	return transcript.Render(stdout, tr, f)
}

// audioProgress renders transcription progress as
// "[#####.....]  42%  12:03 / 28:40  elapsed 1m02s  left ~1m25s".
func audioProgress(done, total float64, elapsed time.Duration, _ bool) string {
	el := elapsed.Round(time.Second)
	if total <= 0 {
		return fmt.Sprintf("%s of audio transcribed, elapsed %v", lecture.Clock(done), el)
	}
	frac := min(1, max(0, done/total))
	const width = 24
	n := int(frac * width)
	left := "?"
	if frac > 0 {
		left = "~" + (time.Duration(float64(elapsed) * (1 - frac) / frac)).Round(time.Second).String()
	}
	return fmt.Sprintf("[%s%s] %3.0f%%  %s / %s  elapsed %v  left %s ", strings.Repeat("#", n), strings.Repeat(".", width-n),
		100*frac, lecture.Clock(done), lecture.Clock(total), el, left)
}
