package audio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, p := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(p); err != nil {
			svctest.Missing(t, "%s not found: install the Debian package ffmpeg", p)
		}
	}
}

// gen runs ffmpeg with args and returns the output file, made in dir.
func gen(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("ffmpeg", append(append([]string{"-nostdin", "-v", "error", "-y"}, args...), out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return out
}

// tone is an lavfi source of a sine of amplitude amp (per channel, "|" separated).
func tone(freq float64, rate int, secs float64, amps ...float64) []string {
	var ch []string
	for _, a := range amps {
		ch = append(ch, fmt.Sprintf("%g*sin(2*PI*%g*t)", a, freq))
	}
	return []string{"-f", "lavfi", "-i", fmt.Sprintf("aevalsrc=%s:s=%d:d=%g", strings.Join(ch, "|"), rate, secs)}
}

// measure estimates the frequency (zero crossings) and amplitude (RMS·√2)
// of a sine over the middle of x, away from the edges.
func measure(x []float32) (freq, amp float64) {
	lo, hi := len(x)/10, len(x)*9/10
	var sum float64
	cross := 0
	first, last := -1, -1
	for i := lo; i < hi; i++ {
		sum += float64(x[i]) * float64(x[i])
		if i > lo && x[i-1] < 0 && x[i] >= 0 {
			if first < 0 {
				first = i
			}
			last = i
			cross++
		}
	}
	if cross > 1 {
		freq = float64(cross-1) * SampleRate / float64(last-first)
	}
	return freq, math.Sqrt(2 * sum / float64(hi-lo))
}

func decode(t *testing.T, path string, opt *Options) ([]float32, Info) {
	t.Helper()
	s, err := Open(context.Background(), path, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info := s.Info()
	var all []float32
	for {
		w, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, w...)
	}
	return all, info
}

func TestWAVFormats(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	cases := []struct {
		codec string
		rate  int
		amps  []float64
		want  float64 // amplitude of the mono mix
		tol   float64
	}{
		{"pcm_s16le", 16000, []float64{0.5}, 0.5, 1e-3},
		{"pcm_s16le", 44100, []float64{0.5, 0.3}, 0.8 / math.Sqrt2, 2e-3},
		{"pcm_s16le", 48000, []float64{0.5}, 0.5, 2e-3},
		{"pcm_s16le", 8000, []float64{0.5}, 0.5, 2e-3},
		{"pcm_u8", 22050, []float64{0.5}, 0.5, 1e-2},
		{"pcm_s24le", 44100, []float64{0.6, 0.2, 0.4}, 0.4, 2e-3},
		{"pcm_s32le", 32000, []float64{0.5}, 0.5, 2e-3},
		{"pcm_f32le", 48000, []float64{0.7, 0.3, 0.5, 0.5, 0.5, 0.5}, 0.5, 2e-3},
		{"pcm_f64le", 11025, []float64{0.25, 0.25}, 0.5 / math.Sqrt2, 2e-3},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s-%d-%dch", c.codec, c.rate, len(c.amps))
		t.Run(name, func(t *testing.T) {
			const secs = 3
			f := gen(t, dir, name+".wav", append(tone(440, c.rate, secs, c.amps...), "-c:a", c.codec)...)
			x, info := decode(t, f, nil)
			if info.Decoder != "go" || info.SampleRate != c.rate || info.Channels != len(c.amps) {
				t.Errorf("info = %+v", info)
			}
			if info.Duration != secs*time.Second {
				t.Errorf("duration %v, want %ds", info.Duration, secs)
			}
			if want := secs * SampleRate; len(x) != want {
				t.Errorf("%d samples, want %d", len(x), want)
			}
			freq, amp := measure(x)
			if math.Abs(freq-440) > 0.5 || math.Abs(amp-c.want) > c.tol {
				t.Errorf("decoded %.2f Hz amplitude %.4f, want 440 Hz amplitude %.4f", freq, amp, c.want)
			}
		})
	}
}

// TestWAVMatchesFFmpeg decodes the same WAVs in Go and through ffmpeg.
func TestWAVMatchesFFmpeg(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	// Several tones and a chirp (200 to 1800 Hz), all below 3.8 kHz, where
	// both resamplers pass the signal unchanged even from 8 kHz: near the
	// Nyquist frequency the two filters' transition bands differ.
	src := "aevalsrc=0.3*sin(2*PI*440*t)+0.2*sin(2*PI*3000*t)+0.1*sin(2*PI*(200+200*t)*t)|0.3*sin(2*PI*440*t)-0.2*sin(2*PI*1250*t):s=%d:d=4"
	for _, rate := range []int{16000, 44100, 48000, 8000} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			f := gen(t, dir, fmt.Sprintf("mix%d.wav", rate), "-f", "lavfi", "-i", fmt.Sprintf(src, rate), "-c:a", "pcm_f32le")
			ours, _ := decode(t, f, nil)
			theirs, info := decode(t, f, &Options{ForceFFmpeg: true})
			if info.Decoder != "ffmpeg" {
				t.Fatalf("decoder %q", info.Decoder)
			}
			if len(ours) != len(theirs) {
				t.Fatalf("go %d samples, ffmpeg %d", len(ours), len(theirs))
			}
			// Compare away from the ends, where the two filters see different padding.
			var diff, ref, maxd float64
			for i := 200; i < len(ours)-200; i++ {
				d := float64(ours[i] - theirs[i])
				diff += d * d
				ref += float64(theirs[i]) * float64(theirs[i])
				maxd = max(maxd, math.Abs(d))
			}
			snr := 10 * math.Log10(ref/diff)
			t.Logf("%d Hz: go vs ffmpeg SNR %.1f dB, max abs diff %.2g", rate, snr, maxd)
			if snr < 40 {
				t.Errorf("go and ffmpeg decodings differ: SNR %.1f dB (max abs diff %.3g)", snr, maxd)
			}
		})
	}
}

func TestFFmpegFormats(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	in := tone(440, 44100, 4, 0.5, 0.5)
	video := []string{"-f", "lavfi", "-i", "testsrc=duration=4:size=64x48:rate=5"}
	cases := []struct {
		name string
		args []string
		tol  float64
	}{
		{"tone.mp3", append(in, "-c:a", "libmp3lame", "-b:a", "128k"), 0.05}, // LAME's joint stereo costs about 0.4 dB here
		{"tone.m4a", append(in, "-c:a", "aac", "-b:a", "128k"), 0.02},
		{"tone.ogg", append(tone(440, 48000, 4, 0.5, 0.5), "-c:a", "libopus", "-b:a", "96k"), 0.02},
		{"tone.flac", append(in, "-c:a", "flac"), 2e-3},
		{"tone.mp4", append(append(video, in...), "-c:v", "mpeg4", "-c:a", "aac", "-shortest"), 0.02},
		{"tone.mkv", append(append(video, in...), "-c:v", "mpeg4", "-c:a", "libvorbis", "-shortest"), 0.02},
		{"tone.webm", append(append(video, tone(440, 48000, 4, 0.5, 0.5)...), "-c:v", "libvpx", "-c:a", "libopus", "-shortest"), 0.02},
		{"adpcm.wav", append(in, "-c:a", "adpcm_ms"), 0.02},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := gen(t, dir, c.name, c.args...)
			x, info := decode(t, f, nil)
			if info.Decoder != "ffmpeg" {
				t.Errorf("decoder %q", info.Decoder)
			}
			if d := info.Duration - 4*time.Second; d < -100*time.Millisecond || d > 200*time.Millisecond {
				t.Errorf("probed duration %v, want 4s", info.Duration)
			}
			if n := len(x); n < 4*SampleRate-1600 || n > 4*SampleRate+3200 {
				t.Errorf("%d samples, want about %d", n, 4*SampleRate)
			}
			freq, amp := measure(x)
			// ffmpeg mixes stereo down as (L+R)/√2.
			if math.Abs(freq-440) > 1 || math.Abs(amp-math.Sqrt2/2) > c.tol {
				t.Errorf("decoded %.2f Hz amplitude %.4f, want 440 Hz amplitude %.4f", freq, amp, math.Sqrt2/2)
			}
		})
	}
}

func TestWindows(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	for _, name := range []string{"w.wav", "w.flac"} {
		f := gen(t, dir, name, tone(300, 44100, 7.25, 0.5)...)
		var sizes []int
		var total int
		for w, err := range Windows(context.Background(), f, &Options{Window: 2 * time.Second}) {
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(w))
			total += len(w)
		}
		want := []int{32000, 32000, 32000, 20000}
		if fmt.Sprint(sizes) != fmt.Sprint(want) {
			t.Errorf("%s: windows %v, want %v", name, sizes, want)
		}
	}
}

func TestResamplerStreaming(t *testing.T) {
	// Any split of the input gives the same output as one call.
	in := make([]float32, 44100)
	for i := range in {
		in[i] = float32(math.Sin(float64(i)*0.05) + 0.3*math.Sin(float64(i)*1.3))
	}
	for _, rates := range [][2]int{{44100, 16000}, {8000, 16000}, {44101, 16000}} {
		r := NewResampler(rates[0], rates[1])
		whole := r.Flush(r.Process(in, nil))
		var parts []float32
		for i := 0; i < len(in); i += 777 {
			parts = r.Process(in[i:min(i+777, len(in))], parts)
		}
		parts = r.Flush(parts)
		want := (len(in)*rates[1] + rates[0] - 1) / rates[0]
		if len(whole) != want || len(parts) != want {
			t.Fatalf("%v: %d and %d samples, want %d", rates, len(whole), len(parts), want)
		}
		for i := range whole {
			if whole[i] != parts[i] {
				t.Fatalf("%v: sample %d differs: %v vs %v", rates, i, whole[i], parts[i])
			}
		}
	}
}

func wantErr(t *testing.T, err error, code string, truncated bool, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := lecture.ErrorCode(err); got != code {
		t.Errorf("code %q, want %q (%v)", got, code, err)
	}
	if errors.Is(err, ErrTruncated) != truncated {
		t.Errorf("errors.Is(ErrTruncated) = %v, want %v (%v)", !truncated, truncated, err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// drain reads s to its end and returns the samples and the final error.
func drain(s *Stream) (int, error) {
	n := 0
	for {
		w, err := s.Next()
		n += len(w)
		if err != nil {
			return n, err
		}
	}
}

func TestBadInput(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	ctx := context.Background()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncate := func(p string, frac float64) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return write("trunc-"+filepath.Base(p), b[:int(float64(len(b))*frac)])
	}

	t.Run("empty", func(t *testing.T) {
		for _, name := range []string{"empty.wav", "empty.mp3"} {
			_, err := Open(ctx, write(name, nil), nil)
			wantErr(t, err, lecture.EINVALID, false, "empty")
		}
		_, err := OpenReader(ctx, "upload", strings.NewReader(""), nil)
		wantErr(t, err, lecture.EINVALID, false, "empty")
	})
	t.Run("not found", func(t *testing.T) {
		_, err := Open(ctx, filepath.Join(dir, "nope.wav"), nil)
		wantErr(t, err, lecture.ENOTFOUND, false, "not found")
	})
	t.Run("video without audio", func(t *testing.T) {
		f := gen(t, dir, "video.mp4", "-f", "lavfi", "-i", "testsrc=duration=2:size=64x48:rate=5", "-c:v", "mpeg4")
		_, err := Open(ctx, f, nil)
		wantErr(t, err, lecture.EINVALID, false, "no audio track", "video (mpeg4)")
		_, err = Probe(ctx, f, nil)
		wantErr(t, err, lecture.EINVALID, false, "no audio track")
		// Piped, there is no probe: ffmpeg's own failure says the same.
		r, _ := os.Open(f)
		defer r.Close()
		s, err := OpenReader(ctx, "video.mp4", r, nil)
		if err == nil {
			_, err = drain(s)
			s.Close()
		}
		wantErr(t, err, lecture.EINVALID, false, "no audio track")
	})
	t.Run("not media", func(t *testing.T) {
		exe, err := os.ReadFile("/bin/sh")
		if err != nil || len(exe) < 4096 {
			exe = append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 4096)...)
		}
		for name, b := range map[string][]byte{
			"notes.txt":   []byte("These are lecture notes, not a recording.\n"),
			"program.mp3": exe[:4096],
		} {
			_, err := Open(ctx, write(name, b), nil)
			wantErr(t, err, lecture.EUNSUPPORTED, false, "not an audio or video file")
		}
		_, err = Open(ctx, write("fake.wav", []byte("RIFF\x10\x00\x00\x00WAVEjunk")), nil)
		wantErr(t, err, lecture.EINVALID, true, "truncated WAV")
	})
	t.Run("truncated mp4", func(t *testing.T) {
		f := gen(t, dir, "t.m4a", append(tone(440, 44100, 10, 0.5), "-c:a", "aac")...)
		_, err := Open(ctx, truncate(f, 0.5), nil)
		wantErr(t, err, lecture.EINVALID, true, "truncated", "moov")
	})
	for _, c := range []struct{ name, codec string }{{"t.flac", "flac"}, {"t.mp3", "libmp3lame"}, {"t.wav", "pcm_s16le"}} {
		t.Run("truncated "+c.name, func(t *testing.T) {
			f := gen(t, dir, c.name, append(tone(440, 44100, 10, 0.5), "-c:a", c.codec)...)
			s, err := Open(ctx, truncate(f, 0.5), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			n, err := drain(s)
			// Every decodable sample comes first, then the error.
			if n < 4*SampleRate || n > 6*SampleRate {
				t.Errorf("%d samples before the error, want about 5 s", n)
			}
			wantErr(t, err, lecture.EINVALID, true, "truncated")
			t.Logf("%v", err)
		})
	}
	t.Run("ffmpeg missing", func(t *testing.T) {
		f := gen(t, dir, "ok.ogg", append(tone(440, 48000, 1, 0.5), "-c:a", "libopus")...)
		_, err := Open(ctx, f, &Options{FFmpeg: filepath.Join(dir, "no-such-ffmpeg")})
		wantErr(t, err, lecture.EUNAVAILABLE, false, "ffmpeg", "Debian package ffmpeg")
		t.Setenv("PATH", dir)
		_, err = Open(ctx, f, nil)
		wantErr(t, err, lecture.EUNAVAILABLE, false, "apt-get install ffmpeg")
		// WAV needs no ffmpeg.
		w := filepath.Join(dir, "plain.wav")
		if err := os.WriteFile(w, wavBytes(16000, 1, []int16{0, 1000, -1000, 0}), 0o644); err != nil {
			t.Fatal(err)
		}
		if x, err := Decode(ctx, w, nil); err != nil || len(x) != 4 {
			t.Errorf("WAV without ffmpeg: %d samples, %v", len(x), err)
		}
	})
}

// wavBytes is a minimal 16-bit PCM WAV.
func wavBytes(rate, channels int, s []int16) []byte {
	le := func(b []byte, v uint32, n int) []byte {
		for i := range n {
			b = append(b, byte(v>>(8*i)))
		}
		return b
	}
	data := len(s) * 2
	b := []byte("RIFF")
	b = le(b, uint32(36+data), 4)
	b = append(b, "WAVEfmt "...)
	b = le(b, 16, 4)
	b = le(b, 1, 2)
	b = le(b, uint32(channels), 2)
	b = le(b, uint32(rate), 4)
	b = le(b, uint32(rate*channels*2), 4)
	b = le(b, uint32(channels*2), 2)
	b = le(b, 16, 2)
	b = append(b, "data"...)
	b = le(b, uint32(data), 4)
	for _, v := range s {
		b = le(b, uint32(uint16(v)), 2)
	}
	return b
}

// TestLongStreamBoundedMemory streams 30 minutes, generated by ffmpeg and
// piped in, through both decoders, and checks the heap never holds more
// than a small multiple of one window (30 minutes of samples are 115 MB).
func TestLongStreamBoundedMemory(t *testing.T) {
	needFFmpeg(t)
	if testing.Short() {
		t.Skip("-short")
	}
	const minutes = 30
	for _, c := range []struct{ name, format, codec string }{
		{"wav via go", "wav", "pcm_s16le"},
		{"matroska via ffmpeg", "matroska", "pcm_s16le"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi",
				"-i", fmt.Sprintf("sine=frequency=440:sample_rate=44100:duration=%d", minutes*60),
				"-f", "lavfi", "-i", fmt.Sprintf("anoisesrc=color=pink:amplitude=0.05:sample_rate=44100:duration=%d", minutes*60),
				"-filter_complex", "amix=inputs=2:normalize=0", "-c:a", c.codec, "-f", c.format, "-")
			pipe, err := src.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := src.Start(); err != nil {
				t.Fatal(err)
			}
			defer src.Wait()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base, peak := ms.HeapAlloc, ms.HeapAlloc
			s, err := OpenReader(ctx, c.name, pipe, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var total int64
			windows := 0
			start := time.Now()
			for {
				w, err := s.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				total += int64(len(w))
				windows++
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
			if want := int64(minutes * 60 * SampleRate); total < want-SampleRate || total > want+SampleRate {
				t.Errorf("%d samples, want %d", total, want)
			}
			const bound = 32 << 20
			t.Logf("%s: %d min in %d windows in %v; peak heap %.1f MiB above the start (whole decode would be %.0f MiB; bound %d MiB)",
				c.name, minutes, windows, time.Since(start).Round(time.Millisecond), float64(peak-base)/(1<<20), float64(total*4)/(1<<20), bound>>20)
			if peak-base > bound {
				t.Errorf("peak heap %d MiB above the start, want under %d MiB", (peak-base)>>20, bound>>20)
			}
		})
	}
}
