package whisper

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"github.com/transcept/transcept/gpu-runtime/audio"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/lecture"
)

// Transcriber is a lecture.Transcriber over a Whisper folder: long-form
// transcription by 30-second windows with seeking as openai-whisper does.
// With a VAD, the recording is first scanned for speech and only the speech
// (segments end to end) is decoded: silence costs no decoding and gives no
// text, and the transcript's times are mapped back to the recording.
type Transcriber struct {
	M     *Model
	Audio *audio.Options // nil: defaults
	// VAD finds the speech; nil decodes every window.
	VAD *VAD
	// VADOptions for VAD; the zero value is WhisperVADOptions.
	VADOptions VADOptions
	// Batch is how many 30-second chunks are decoded together
	// (TranscribeBatched, after the VAD merged the speech into chunks);
	// 0 or 1 is the sequential long-form path (TranscribeStream: openai-
	// whisper's seeking, token ids identical to transformers.js). A
	// request's lecture.TranscribeOptions.Batch overrides it.
	Batch int
}

var _ lecture.Transcriber = (*Transcriber)(nil)

// VADMode chooses whether a Transcriber uses voice-activity detection.
type VADMode string

const (
	// VADAuto uses Silero VAD when its model is found (FindVADModel), and
	// transcribes without it, with a log line saying so, when the tools
	// cache has none (a TRANSCEPT_VAD_MODEL that does not exist is an error).
	VADAuto VADMode = ""
	// VADOn requires the model: without it loading fails.
	VADOn VADMode = "on"
	// VADOff decodes every window.
	VADOff VADMode = "off"
)

// ParseVADMode reads "on", "off", "auto" or "" (auto), for configuration.
func ParseVADMode(s string) (VADMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return VADAuto, nil
	case "on", "true", "1":
		return VADOn, nil
	case "off", "false", "0":
		return VADOff, nil
	}
	return "", lecture.Errorf(lecture.EINVALID, "VAD setting %q: want on, off or auto", s)
}

// TranscriberOptions configure LoadWith.
type TranscriberOptions struct {
	VAD VADMode
	// VADModel is the Silero VAD .onnx file; "" finds it (TRANSCEPT_VAD_MODEL,
	// then the tools cache where gpu-runtime/scripts/fetch-vad.sh puts it).
	VADModel string
	// VADThreshold is the speech probability threshold; 0 keeps
	// WhisperVADOptions's 0.5.
	VADThreshold float64
	// Logger receives the VAD decision; nil is slog.Default().
	Logger *slog.Logger
	// Batch is the Transcriber's Batch (TRANSCEPT_WHISPER_BATCH).
	Batch int
}

// Load loads the Whisper folder dir for transcription, with Silero VAD when
// its model is found (TranscriberOptions' defaults).
func Load(dir string, o ort.Options) (*Transcriber, error) {
	return LoadWith(dir, o, TranscriberOptions{})
}

// LoadWith loads the Whisper folder dir and, as to says, the VAD model.
func LoadWith(dir string, o ort.Options, to TranscriberOptions) (*Transcriber, error) {
	vo := WhisperVADOptions()
	if to.VADThreshold != 0 {
		vo.Threshold = to.VADThreshold
	}
	if err := vo.Check(); err != nil {
		return nil, err
	}
	log := to.Logger
	if log == nil {
		log = slog.Default()
	}
	var vad *VAD
	switch to.VAD {
	case VADOn, VADAuto:
		path := to.VADModel
		if path == "" {
			var named bool
			var err error
			if path, named, err = findVADModel(); err != nil {
				if to.VAD == VADOn || named {
					return nil, err // asked for, or named, but missing
				}
				log.Info("transcribing without voice-activity detection", "reason", lecture.ErrorMessage(err))
				break
			}
		}
		var err error
		if vad, err = LoadVAD(path, ort.Options{Logger: o.Logger}); err != nil {
			return nil, err
		}
	case VADOff:
	default:
		return nil, lecture.Errorf(lecture.EINVALID, "VAD mode %q: want on, off or auto", string(to.VAD))
	}
	m, err := LoadModel(dir, o)
	if err != nil {
		vad.Close()
		return nil, err
	}
	return &Transcriber{M: m, VAD: vad, VADOptions: vo, Batch: to.Batch}, nil
}

// Close frees the model and the VAD.
func (t *Transcriber) Close() error { return errors.Join(t.M.Close(), t.VAD.Close()) }

// Name is the engine's name.
func (t *Transcriber) Name() string { return "whisper-onnx" }

// Model is the model folder's name.
func (t *Transcriber) Model() string { return filepath.Base(filepath.Clean(t.M.Dir)) }

// Transcribe decodes path (any container ffmpeg reads) as a stream and
// transcribes it window by window; progress gets seconds done and the
// total (0 while unknown). With a VAD the file is read twice: once to find
// the speech, once to decode it (no progress is reported during the first
// pass: 6–12 s per 10 minutes of audio on one busy core). An empty
// language is detected by a multilingual model on the first window with
// speech; the transcript records the language used.
func (t *Transcriber) Transcribe(ctx context.Context, path string, opts lecture.TranscribeOptions, progress lecture.Progress) (*lecture.Transcript, error) {
	lang, err := t.M.ResolveLanguage(opts.Language)
	if err != nil {
		return nil, err
	}
	report := func(done, total float64) {
		if progress != nil {
			progress(done, total)
		}
	}
	batch := t.Batch
	if opts.Batch > 0 {
		batch = opts.Batch
	}
	var tl *speechTimeline
	var speech []SpeechSegment
	var probs []float32
	if t.VAD != nil {
		vo := t.VADOptions
		if vo == (VADOptions{}) {
			vo = WhisperVADOptions()
		}
		if err := vo.Check(); err != nil {
			return nil, err
		}
		s, err := audio.Open(ctx, path, t.Audio)
		if err != nil {
			return nil, err
		}
		var n int
		probs, n, err = t.VAD.Probabilities(ctx, s.Next)
		s.Close()
		if err != nil {
			return nil, err
		}
		speech = SpeechSegments(probs, n, vo)
		if len(speech) == 0 {
			total := s.Info().Duration.Seconds()
			report(total, total)
			return &lecture.Transcript{Language: lang, Segments: []lecture.Segment{}}, nil
		}
		tl = newSpeechTimeline(speech)
	}
	s, err := audio.Open(ctx, path, t.Audio)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	total := s.Info().Duration.Seconds()
	next := func() ([]float32, error) { return s.Next() }
	if tl != nil {
		next = tl.filter(next)
	}
	lf := DefaultLongForm()
	lf.Language, lf.Task = lang, opts.Task
	if opts.Temperature > 0 { // start the fallback ladder there
		ts := []float64{opts.Temperature}
		for _, x := range lf.Temperatures {
			if x > opts.Temperature {
				ts = append(ts, x)
			}
		}
		lf.Temperatures = ts
	}
	last := 0.0
	doneFn := func(done float64) {
		if tl != nil {
			done = tl.original(done, true)
			if total > 0 {
				done = min(done, total)
			}
		}
		last = max(last, done)
		report(last, total)
	}
	var res *StreamResult
	if batch > 1 {
		var plan []Chunk
		if tl != nil {
			plan = PlanChunks(speech, probs)
		}
		res, err = t.M.TranscribeBatched(ctx, next, plan, lf, batch, doneFn)
	} else {
		res, err = t.M.TranscribeStream(ctx, next, lf, doneFn)
	}
	if err != nil {
		return nil, err
	}
	if tl != nil {
		mapSegmentTimes(tl, res.Segments)
		if total > last {
			report(total, total) // the silence after the last speech
		}
	}
	tr := &lecture.Transcript{Language: res.Language, Segments: []lecture.Segment{}}
	for _, sg := range res.Segments {
		tr.Segments = append(tr.Segments, lecture.Segment{Start: sg.Start, End: sg.End, Text: sg.Text})
	}
	return tr, nil
}

// LongFormOptions steer LongForm. DefaultLongForm gives openai-whisper's
// transcribe defaults.
type LongFormOptions struct {
	DecodeOptions
	// Temperatures are tried in order for a window until its decoding
	// passes the checks below (0 is greedy, above that sampling); the last
	// try is kept when none passes.
	Temperatures []float64
	// CompressionRatioThreshold: a window whose text compresses (zlib)
	// better than this is a repetition loop and is decoded again at the
	// next temperature; ≤ 0 disables the check.
	CompressionRatioThreshold float64
	// LogprobThreshold: a window whose average token log-probability is
	// below it is decoded again; -Inf disables the check.
	LogprobThreshold float64
	// NoSpeechThreshold: a window whose <|nospeech|> probability is above
	// it and whose average log-probability is below LogprobThreshold is
	// silence: skipped, no text; ≤ 0 disables the check.
	NoSpeechThreshold float64
	// Seed makes the sampling reproducible (each window draws from its own
	// generator seeded by Seed and the window's position).
	Seed uint64
}

// DefaultLongForm is openai-whisper's transcribe: temperatures 0, 0.2 …
// 1.0, compression ratio 2.4, log-probability −1, no-speech 0.6.
func DefaultLongForm() LongFormOptions {
	return LongFormOptions{Temperatures: []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, CompressionRatioThreshold: 2.4,
		LogprobThreshold: -1, NoSpeechThreshold: 0.6}
}

// Greedy is LongFormOptions with one greedy decoding per window and no
// checks.
func Greedy(o DecodeOptions) LongFormOptions {
	return LongFormOptions{DecodeOptions: o, Temperatures: []float64{0}, LogprobThreshold: math.Inf(-1)}
}

// compressionRatio is len(text)/len(zlib(text)), openai-whisper's
// repetition measure.
func compressionRatio(text string) float64 {
	if text == "" {
		return 0
	}
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(text))
	w.Close()
	return float64(len(text)) / float64(b.Len())
}

// StreamResult is TranscribeStream's: the segments and the language
// decoded with (given, or detected with its probability among the
// languages).
type StreamResult struct {
	Segments     []Segment
	Language     string
	LanguageProb float64 // 0 when the language was given
}

// LongForm is TranscribeStream's segments.
func (m *Model) LongForm(ctx context.Context, next func() ([]float32, error), lf LongFormOptions, done func(float64)) ([]Segment, error) {
	r, err := m.TranscribeStream(ctx, next, lf, done)
	if err != nil {
		return nil, err
	}
	return r.Segments, nil
}

// TranscribeStream transcribes the samples that next yields (16 kHz mono, any
// amounts, io.EOF at the end) by 30-second windows, seeking as
// openai-whisper's transcribe does: each window is decoded once with
// timestamps; when it ends in a complete segment (a lone final timestamp)
// or has no timestamp pairs, the next window starts after it; otherwise at
// the last pair's timestamp, so an unfinished segment is decoded again in
// the next window. Segments with no text are dropped. Only up to two
// windows of samples are held at a time. done gets the seconds finished.
// An empty lf.Language on a multilingual model is detected
// (DetectLanguage) on the first window with speech: on each window until
// one is not skipped as silence by the no-speech check, then kept for the
// rest; when every window is silence the result's Language stays "".
func (m *Model) TranscribeStream(ctx context.Context, next func() ([]float32, error), lf LongFormOptions, done func(float64)) (*StreamResult, error) {
	o := lf.DecodeOptions
	o.Timestamps = true
	temps := lf.Temperatures
	if len(temps) == 0 {
		temps = []float64{0}
	}
	lang, err := m.ResolveLanguage(o.Language)
	if err != nil {
		return nil, err
	}
	res := &StreamResult{Language: lang}
	o.Language = lang
	probe := o
	if probe.Language == "" {
		probe.Language = "en" // the task is checked before any decoding
	}
	prompt, err := m.Prompt(probe)
	if err != nil {
		return nil, err
	}
	detect := lang == "" // until a window with speech confirms it
	var prob float64
	const inputStride = 2
	precision := 30.0 / float64(m.Config.MaxSourcePositions)
	tb, eos := m.TimestampBegin, m.Generation.EOSTokenID
	var buf []float32 // samples from base on
	base := 0         // sample index of buf[0]
	eof := false
	seek := 0 // in frames (HopLength samples)
	feats := make([]float32, m.Features.NMels()*ChunkFrames)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// drop what lies before the seek point, read up to a full window past it
		if drop := seek*HopLength - base; drop > 0 {
			drop = min(drop, len(buf))
			buf = append(buf[:0], buf[drop:]...)
			base += drop
		}
		for !eof && len(buf) < ChunkSamples {
			x, err := next()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return nil, err
			}
			buf = append(buf, x...)
		}
		window := buf[:min(len(buf), ChunkSamples)]
		frames := len(window) / HopLength
		if frames == 0 || (eof && len(window) < NFFT/2) {
			break
		}
		if m.onWindow != nil {
			m.onWindow()
		}
		m.Features.LogMelInto(feats, window)
		if detect {
			if o.Language, prob, err = m.DetectLanguage(feats); err != nil {
				return nil, err
			}
			if prompt, err = m.Prompt(o); err != nil {
				return nil, err
			}
		}
		rng := rand.New(rand.NewPCG(lf.Seed, uint64(seek)))
		var p pass
		var toks []int
		var avg float64
		for _, temp := range temps {
			if p, err = m.decodeOnce(feats, prompt, o, temp, rng); err != nil {
				return nil, err
			}
			toks = p.ids[len(prompt):]
			lecture.CountTokens(ctx, len(toks)) // every decoded token, fallbacks included
			if len(toks) > 0 && toks[len(toks)-1] == eos {
				toks = toks[:len(toks)-1]
			}
			avg = p.sumLogprob / float64(len(toks)+1)
			var text []int
			for _, id := range toks {
				if id < eos {
					text = append(text, id)
				}
			}
			fallback := lf.CompressionRatioThreshold > 0 && compressionRatio(m.Tokenizer.Decode(text)) > lf.CompressionRatioThreshold
			fallback = fallback || avg < lf.LogprobThreshold
			if lf.NoSpeechThreshold > 0 && p.noSpeech > lf.NoSpeechThreshold {
				fallback = false
			}
			if !fallback {
				break
			}
		}
		if lf.NoSpeechThreshold > 0 && p.noSpeech > lf.NoSpeechThreshold && !(avg > lf.LogprobThreshold) {
			seek += frames // silence (and its language unconfirmed)
			if done != nil {
				done(float64(seek*HopLength) / SampleRate)
			}
			if eof && seek*HopLength >= base+len(buf) {
				break
			}
			continue
		}
		if detect {
			res.Language, res.LanguageProb, detect = o.Language, prob, false
		}
		offset := float64(seek*HopLength) / SampleRate
		isTS := func(i int) bool { return toks[i] >= tb }
		single := len(toks) >= 2 && isTS(len(toks)-1) && !isTS(len(toks)-2)
		var cons []int
		for i := 0; i+1 < len(toks); i++ {
			if isTS(i) && isTS(i+1) {
				cons = append(cons, i+1)
			}
		}
		advance := frames
		add := func(start, end float64, part []int) {
			var text []int
			for _, id := range part {
				if id < eos {
					text = append(text, id)
				}
			}
			s := m.Tokenizer.Decode(text)
			if strings.TrimSpace(s) == "" {
				return
			}
			res.Segments = append(res.Segments, Segment{Start: round2(offset + start), End: round2(offset + end), Text: s, Tokens: text})
		}
		if len(cons) > 0 {
			ends := cons
			if single {
				ends = append(ends, len(toks))
			}
			last := 0
			for _, cur := range ends {
				part := toks[last:cur]
				add(float64(part[0]-tb)*precision, float64(part[len(part)-1]-tb)*precision, part)
				last = cur
			}
			if !single {
				advance = (toks[last-1] - tb) * inputStride
			}
		} else {
			dur := float64(frames) * HopLength / SampleRate
			for i := len(toks) - 1; i >= 0; i-- {
				if isTS(i) {
					if toks[i] != tb {
						dur = float64(toks[i]-tb) * precision
					}
					break
				}
			}
			add(0, dur, toks)
		}
		if advance <= 0 || advance > frames {
			advance = frames // never stand still, never skip unseen audio
		}
		seek += advance
		if done != nil {
			done(float64(seek*HopLength) / SampleRate)
		}
		if eof && seek*HopLength >= base+len(buf) {
			break
		}
	}
	return res, nil
}
