// Package audio turns any recording into 16 kHz mono float32 samples, the
// input of the speech models, streamed in windows so that memory stays
// bounded whatever the length of the recording.
//
// WAV files (8, 16, 24 or 32-bit integer PCM, 32 or 64-bit float, any
// channel count and sample rate) are decoded in pure Go: channels are
// averaged and the rate converted by a windowed-sinc polyphase resampler.
// Every other container and codec (mp3, m4a/aac, ogg/opus, flac, mp4, mkv,
// webm, WAVs in compressed formats …) goes through ffmpeg as a subprocess
// (`ffmpeg -i FILE -map 0:a:0 -f f32le -ac 1 -ar 16000 -`), read from its
// standard output as it decodes; ffprobe, from the same Debian package,
// gives the duration and the streams first.
//
// Errors are *lecture.Error values with codes a person can act on: EINVALID
// for an empty file, a file without an audio track, or a truncated one
// (errors.Is(err, ErrTruncated) then holds, after every decodable sample
// has been delivered); EUNSUPPORTED for a file that is not media at all;
// EUNAVAILABLE when ffmpeg is not installed.
package audio

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// SampleRate is the rate of every sample this package returns.
const SampleRate = 16000

// DefaultWindow is the window length Next returns by default: Whisper's 30 s.
const DefaultWindow = 30 * time.Second

// ErrTruncated is in the chain of the error returned for a file that ends
// before its header or container says it should.
var ErrTruncated = errors.New("truncated media")

// Options tune Open. The zero value (or nil) is ready to use.
type Options struct {
	// Window is the length of the windows Next returns; DefaultWindow if 0.
	Window time.Duration
	// FFmpeg and FFprobe are the programs to run; found on PATH if empty
	// (or from TRANSCEPT_FFMPEG / TRANSCEPT_FFPROBE).
	FFmpeg, FFprobe string
	// ForceFFmpeg decodes WAV files through ffmpeg too.
	ForceFFmpeg bool
}

func (o *Options) windowSamples() int {
	w := DefaultWindow
	if o != nil && o.Window > 0 {
		w = o.Window
	}
	n := int(w.Seconds()*SampleRate + 0.5)
	return max(n, 1)
}

// Info describes a source file.
type Info struct {
	Duration   time.Duration // as the container or header declares it; 0 if unknown
	SampleRate int           // of the source audio track
	Channels   int
	Codec      string // "pcm_s16le", "opus", "mp3", …
	Format     string // "wav", "ogg", "mov,mp4,m4a,3gp,3g2,mj2", …
	Decoder    string // "go" (pure-Go WAV) or "ffmpeg"
}

// Samples is the number of 16 kHz samples Duration amounts to.
func (i Info) Samples() int64 { return int64(i.Duration.Seconds()*SampleRate + 0.5) }

// Stream yields a file's audio as consecutive windows of 16 kHz mono
// samples. It is not safe for concurrent use.
type Stream struct {
	info   Info
	window int
	offset int64 // samples returned so far
	src    source
	err    error // sticky: returned once pending audio is gone
}

// source produces 16 kHz mono samples in arbitrary amounts.
type source interface {
	// read appends samples to out; io.EOF (or another error) at the end.
	read(out []float32) ([]float32, error)
	close() error
}

// Open starts decoding path. Close the stream when done.
func Open(ctx context.Context, path string, opt *Options) (*Stream, error) {
	if opt == nil {
		opt = &Options{}
	}
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	s := &Stream{window: opt.windowSamples()}
	var head [12]byte
	n, _ := io.ReadFull(f, head[:])
	if !opt.ForceFFmpeg && isWAV(head[:n]) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			return nil, lecture.Wrap(lecture.EINVALID, err, "reading %s", path)
		}
		src, info, err := openWAV(f)
		if err == nil {
			s.src, s.info = src, info
			return s, nil
		}
		f.Close()
		if !errors.Is(err, errNotPlainWAV) {
			return nil, fileErr(path, err)
		}
	} else {
		f.Close()
	}
	src, info, err := openFFmpeg(ctx, path, nil, opt)
	if err != nil {
		return nil, err
	}
	s.src, s.info = src, info
	return s, nil
}

// OpenReader decodes what r yields: a WAV stream is decoded in Go, anything
// else is piped into ffmpeg. name is only used in messages. There is no
// probe, so Info has only the decoder (and, for WAV, the header's fields),
// and a truncated stream is noticed only if the decoder notices it.
func OpenReader(ctx context.Context, name string, r io.Reader, opt *Options) (*Stream, error) {
	if opt == nil {
		opt = &Options{}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(12)
	if len(head) == 0 {
		if err == nil || err == io.EOF {
			return nil, lecture.Errorf(lecture.EINVALID, "%s is empty (0 bytes): there is no audio to decode", name)
		}
		return nil, lecture.Wrap(lecture.EINVALID, err, "reading %s", name)
	}
	s := &Stream{window: opt.windowSamples()}
	if !opt.ForceFFmpeg && isWAV(head) {
		// Parse the header from peeked bytes, so that a WAV in a format
		// left to ffmpeg can still be handed over whole.
		peek, _ := br.Peek(br.Size())
		hr := bytes.NewReader(peek)
		wf, err := readWAVHeader(hr)
		if err == nil {
			_, _ = br.Discard(len(peek) - hr.Len())
			s.info = wavInfo(wf, nil)
			s.src = &wavSource{dec: newWAVDecoder(br, wf), rs: NewResampler(wf.sampleRate, SampleRate)}
			return s, nil
		}
		if !errors.Is(err, errNotPlainWAV) && (len(peek) < br.Size() || !errors.Is(err, ErrTruncated)) {
			return nil, fileErr(name, err)
		}
		// A compressed WAV, or a header longer than the peek: ffmpeg.
	}
	src, info, err := openFFmpeg(ctx, name, br, opt)
	if err != nil {
		return nil, err
	}
	s.src, s.info = src, info
	return s, nil
}

// openFile opens path for reading, refusing what cannot be audio at all.
func openFile(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, lecture.Wrap(lecture.ENOTFOUND, err, "audio file %s not found", path)
		}
		return nil, lecture.Wrap(lecture.EINVALID, err, "cannot read %s", path)
	}
	if st.IsDir() {
		return nil, lecture.Errorf(lecture.EINVALID, "%s is a directory, not an audio file", path)
	}
	if st.Size() == 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "%s is empty (0 bytes): there is no audio to decode", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "cannot read %s", path)
	}
	return f, nil
}

// fileErr prefixes a *lecture.Error's message with the file name.
func fileErr(path string, err error) error {
	var le *lecture.Error
	if errors.As(err, &le) {
		return &lecture.Error{Code: le.Code, Message: path + ": " + le.Message, Err: le.Err}
	}
	return lecture.Wrap(lecture.EINVALID, err, "%s", path)
}

// Info describes the source.
func (s *Stream) Info() Info { return s.info }

// Offset is the number of samples returned so far: the start, in samples,
// of the next window.
func (s *Stream) Offset() int64 { return s.offset }

// Next returns the next window: Options.Window worth of samples, fewer only
// for the last one. After the last window it returns io.EOF, or the error
// that ended decoding (a truncated file's error comes after all the audio
// that could be decoded). Each call returns a new slice.
func (s *Stream) Next() ([]float32, error) {
	if s.err != nil {
		return nil, s.err
	}
	out := make([]float32, 0, s.window)
	for len(out) < s.window && s.err == nil {
		var err error
		out, err = s.src.read(out)
		if err != nil {
			s.err = err
		}
	}
	if len(out) > s.window { // sources may overshoot; keep the rest for later
		p, ok := s.src.(*prefixed)
		if !ok {
			p = &prefixed{source: s.src}
			s.src = p
		}
		p.rest = append(p.rest[:0], out[s.window:]...)
		p.err = s.err
		out, s.err = out[:s.window], nil
	}
	if len(out) == 0 {
		return nil, s.err
	}
	s.offset += int64(len(out))
	return out, nil
}

// prefixed returns rest before reading on from source (or returning err).
type prefixed struct {
	rest []float32
	source
	err error
}

func (p *prefixed) read(out []float32) ([]float32, error) {
	if len(p.rest) > 0 {
		out = append(out, p.rest...)
		p.rest = p.rest[:0]
		if p.err != nil {
			return out, p.err
		}
		return out, nil
	}
	if p.err != nil {
		return out, p.err
	}
	return p.source.read(out)
}

// Close stops decoding and releases the file or the ffmpeg process.
func (s *Stream) Close() error {
	if s.src == nil {
		return nil
	}
	err := s.src.close()
	s.src = nil
	if s.err == nil {
		s.err = errors.New("audio: stream closed")
	}
	return err
}

// Windows opens path and yields its windows; iteration stops at the first
// error, which is yielded (io.EOF is not).
func Windows(ctx context.Context, path string, opt *Options) iter.Seq2[[]float32, error] {
	return func(yield func([]float32, error) bool) {
		s, err := Open(ctx, path, opt)
		if err != nil {
			yield(nil, err)
			return
		}
		defer s.Close()
		for {
			w, err := s.Next()
			if err == io.EOF {
				return
			}
			if !yield(w, err) || err != nil {
				return
			}
		}
	}
}

// Decode returns the whole of path's audio. Prefer Open for long files.
func Decode(ctx context.Context, path string, opt *Options) ([]float32, error) {
	s, err := Open(ctx, path, opt)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var all []float32
	if n := s.info.Samples(); n > 0 && n < 1<<28 {
		all = make([]float32, 0, n+SampleRate)
	}
	for {
		w, err := s.Next()
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return all, err
		}
		all = append(all, w...)
	}
}

// Probe returns path's Info without decoding it.
func Probe(ctx context.Context, path string, opt *Options) (Info, error) {
	if opt == nil {
		opt = &Options{}
	}
	f, err := openFile(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	var head [12]byte
	n, _ := io.ReadFull(f, head[:])
	if !opt.ForceFFmpeg && isWAV(head[:n]) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return Info{}, lecture.Wrap(lecture.EINVALID, err, "reading %s", path)
		}
		wf, err := readWAVHeader(f)
		if err == nil {
			return wavInfo(wf, f), nil
		}
		if !errors.Is(err, errNotPlainWAV) {
			return Info{}, fileErr(path, err)
		}
	}
	tools, err := findTools(opt)
	if err != nil {
		return Info{}, err
	}
	return probe(ctx, tools, path)
}

// wavSource decodes a plain WAV in Go and resamples it to 16 kHz.
type wavSource struct {
	f    *os.File
	dec  *wavDecoder
	rs   *Resampler
	mono []float32
	done bool
}

func openWAV(f *os.File) (source, Info, error) {
	wf, err := readWAVHeader(f)
	if err != nil {
		return nil, Info{}, err
	}
	info := wavInfo(wf, f)
	return &wavSource{f: f, dec: newWAVDecoder(f, wf), rs: NewResampler(wf.sampleRate, SampleRate)}, info, nil
}

func wavInfo(wf wavFormat, f *os.File) Info {
	size := wf.dataSize
	if size < 0 && f != nil {
		if st, err := f.Stat(); err == nil {
			if pos, err := f.Seek(0, io.SeekCurrent); err == nil {
				size = st.Size() - pos
			}
		}
	}
	codec := fmt.Sprintf("pcm_s%dle", wf.bitsPerSample)
	switch {
	case wf.format == wavFloat:
		codec = fmt.Sprintf("pcm_f%dle", wf.bitsPerSample)
	case wf.bitsPerSample == 8:
		codec = "pcm_u8"
	}
	frames := max(size, 0) / int64(wf.blockAlign)
	return Info{
		Duration:   time.Duration(float64(frames) / float64(wf.sampleRate) * float64(time.Second)),
		SampleRate: wf.sampleRate, Channels: wf.channels,
		Codec: codec, Format: "wav", Decoder: "go",
	}
}

func (w *wavSource) read(out []float32) ([]float32, error) {
	if w.done {
		return out, io.EOF
	}
	var err error
	w.mono, err = w.dec.read(w.mono[:0])
	out = w.rs.Process(w.mono, out)
	if err != nil {
		out = w.rs.Flush(out)
		w.done = true
	}
	return out, err
}

func (w *wavSource) close() error {
	if w.f == nil {
		return nil
	}
	return w.f.Close()
}
