package audio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
)

// tools are the two programs of Debian's ffmpeg package.
type tools struct{ ffmpeg, ffprobe string }

const installHint = "install the Debian package ffmpeg (apt-get install ffmpeg), or set TRANSCEPT_FFMPEG and TRANSCEPT_FFPROBE"

func findTools(opt *Options) (tools, error) {
	var t tools
	for _, p := range []struct {
		dst        *string
		given, env string
		name       string
	}{
		{&t.ffmpeg, opt.FFmpeg, "TRANSCEPT_FFMPEG", "ffmpeg"},
		{&t.ffprobe, opt.FFprobe, "TRANSCEPT_FFPROBE", "ffprobe"},
	} {
		name := p.given
		if name == "" {
			name = config.Get(p.env)
		}
		if name == "" {
			name = p.name
		}
		path, err := exec.LookPath(name)
		if err != nil {
			return t, lecture.Wrap(lecture.EUNAVAILABLE, err,
				"decoding this file needs %s, which was not found: %s", p.name, installHint)
		}
		*p.dst = path
	}
	return t, nil
}

// probeOutput is the part of `ffprobe -of json` we read.
type probeOutput struct {
	Streams []struct {
		CodecType  string `json:"codec_type"`
		CodecName  string `json:"codec_name"`
		SampleRate string `json:"sample_rate"`
		Channels   int    `json:"channels"`
		Duration   string `json:"duration"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

// probe runs ffprobe and describes path's first audio track.
func probe(ctx context.Context, t tools, path string) (Info, error) {
	cmd := exec.CommandContext(ctx, t.ffprobe, "-v", "error", "-show_entries",
		"stream=codec_type,codec_name,sample_rate,channels,duration:format=format_name,duration",
		"-of", "json", "--", path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return Info{}, ctx.Err()
		}
		return Info{}, probeError(path, lastLines(stderr.String()), err)
	}
	var po probeOutput
	if err := json.Unmarshal(stdout.Bytes(), &po); err != nil {
		return Info{}, lecture.Wrap(lecture.EINTERNAL, err, "reading ffprobe's description of %s", path)
	}
	info := Info{Format: po.Format.FormatName, Decoder: "ffmpeg"}
	var others []string
	found := false
	for _, s := range po.Streams {
		if s.CodecType != "audio" {
			others = append(others, s.CodecType+" ("+s.CodecName+")")
			continue
		}
		if found {
			continue
		}
		found = true
		info.Codec, info.Channels = s.CodecName, s.Channels
		info.SampleRate, _ = strconv.Atoi(s.SampleRate)
		info.Duration = seconds(s.Duration)
	}
	if !found {
		what := "no streams at all"
		if len(others) > 0 {
			what = "only " + strings.Join(others, ", ")
		}
		return Info{}, lecture.Errorf(lecture.EINVALID, "%s has no audio track (%s container with %s)", path, info.Format, what)
	}
	if d := seconds(po.Format.Duration); info.Duration == 0 || (d > 0 && d < info.Duration) {
		info.Duration = d
	}
	return info, nil
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// probeError explains why ffprobe could not read path.
func probeError(path, msg string, err error) error {
	switch {
	case strings.Contains(msg, "moov atom not found"):
		return lecture.Wrap(lecture.EINVALID, ErrTruncated,
			"%s is a truncated or unfinished MP4/MOV file (its index, the moov atom, is missing): %s", path, msg)
	case strings.Contains(msg, "Invalid data found"):
		return lecture.Errorf(lecture.EUNSUPPORTED, "%s is not an audio or video file ffmpeg can read: %s", path, msg)
	case msg == "":
		return lecture.Wrap(lecture.EUNSUPPORTED, err, "%s is not an audio or video file ffmpeg can read", path)
	}
	return lecture.Errorf(lecture.EUNSUPPORTED, "%s is not an audio or video file ffmpeg can read: %s", path, msg)
}

// lastLines returns the last few lines of an ffmpeg log, file-name prefixes
// and all, on one line.
func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 4 {
		lines = lines[len(lines)-4:]
	}
	return strings.Join(lines, "; ")
}

// ffmpegSource reads ffmpeg's f32le output.
type ffmpegSource struct {
	path   string
	cmd    *exec.Cmd
	out    io.ReadCloser
	br     *bufio.Reader
	stderr *tailBuffer
	info   Info
	raw    []byte
	got    int64 // samples decoded
	done   bool
	cancel context.CancelFunc
}

// openFFmpeg starts ffmpeg on path, or, when stdin is not nil, on what it
// reads from stdin (path then only names the input in messages, and there
// is no probe: Info holds only the decoder).
func openFFmpeg(ctx context.Context, path string, stdin io.Reader, opt *Options) (source, Info, error) {
	t, err := findTools(opt)
	if err != nil {
		return nil, Info{}, err
	}
	info, input := Info{Decoder: "ffmpeg"}, "pipe:0"
	if stdin == nil {
		if info, err = probe(ctx, t, path); err != nil {
			return nil, Info{}, err
		}
		input = path
	}
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, t.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
		"-i", input, "-map", "0:a:0", "-vn", "-sn", "-dn",
		"-f", "f32le", "-acodec", "pcm_f32le", "-ac", "1", "-ar", strconv.Itoa(SampleRate), "-")
	if stdin != nil {
		cmd.Args = slices.DeleteFunc(cmd.Args, func(a string) bool { return a == "-nostdin" })
		cmd.Stdin = stdin
	}
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, Info{}, lecture.Wrap(lecture.EINTERNAL, err, "starting ffmpeg")
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, Info{}, lecture.Wrap(lecture.EUNAVAILABLE, err, "starting ffmpeg (%s)", installHint)
	}
	return &ffmpegSource{
		path: path, cmd: cmd, out: out, br: bufio.NewReaderSize(out, 256<<10), stderr: stderr,
		info: info, raw: make([]byte, 64<<10), cancel: cancel,
	}, info, nil
}

func (f *ffmpegSource) read(out []float32) ([]float32, error) {
	if f.done {
		return out, io.EOF
	}
	n, err := io.ReadFull(f.br, f.raw)
	n -= n % 4
	for i := 0; i < n; i += 4 {
		out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(f.raw[i:])))
	}
	f.got += int64(n / 4)
	if err == nil {
		return out, nil
	}
	f.done = true
	if err != io.EOF && err != io.ErrUnexpectedEOF {
		f.kill()
		return out, lecture.Wrap(lecture.EINTERNAL, err, "reading ffmpeg's output for %s", f.path)
	}
	return out, f.finish()
}

// finish waits for ffmpeg and turns its exit and its log into an error:
// io.EOF when the whole file decoded cleanly.
func (f *ffmpegSource) finish() error {
	werr := f.cmd.Wait()
	f.cancel()
	log := lastLines(f.stderr.String())
	if werr != nil {
		switch {
		case strings.Contains(log, "matches no streams"):
			return lecture.Errorf(lecture.EINVALID, "%s has no audio track", f.path)
		case f.got == 0 && strings.Contains(log, "moov atom not found"):
			return probeError(f.path, log, werr)
		case f.got == 0 && strings.Contains(log, "Invalid data found"):
			return probeError(f.path, log, werr)
		case log == "":
			log = werr.Error()
		}
		return lecture.Errorf(lecture.EINVALID, "ffmpeg failed to decode %s: %s", f.path, log)
	}
	want := f.info.Samples()
	short := want > 0 && float64(f.got) < 0.9*float64(want)-0.5*SampleRate
	switch {
	case short && log != "":
		return lecture.Wrap(lecture.EINVALID, ErrTruncated,
			"%s is truncated or damaged: decoding stopped at %s of %s (%s)", f.path, dur(f.got), f.info.Duration.Round(time.Millisecond), log)
	case short:
		return lecture.Wrap(lecture.EINVALID, ErrTruncated,
			"%s is truncated: it holds %s of audio where its header declares %s", f.path, dur(f.got), f.info.Duration.Round(time.Millisecond))
	case log != "" && f.got == 0:
		return lecture.Errorf(lecture.EINVALID, "ffmpeg decoded no audio from %s: %s", f.path, log)
	}
	// Errors ffmpeg recovered from (a damaged frame in the middle) are not fatal.
	return io.EOF
}

func dur(samples int64) time.Duration {
	return (time.Duration(samples) * time.Second / SampleRate).Round(time.Millisecond)
}

func (f *ffmpegSource) kill() {
	f.cancel()
	if !f.done {
		f.done = true
	}
	_ = f.cmd.Wait()
}

func (f *ffmpegSource) close() error {
	if f.cmd.ProcessState == nil {
		f.cancel()
		f.out.Close()
		_ = f.cmd.Wait()
	}
	return nil
}

// tailBuffer keeps the last bytes written to it, about max at most.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max/2:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cut {
		return fmt.Sprintf("…%s", t.buf)
	}
	return string(t.buf)
}
