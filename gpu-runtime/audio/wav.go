package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"

	"github.com/transcept/transcept/shared/lecture"
)

// WAV format tags this decoder reads itself; anything else in a RIFF/WAVE
// file (ADPCM, µ-law, A-law, MPEG …) goes to ffmpeg.
const (
	wavPCM        = 1
	wavFloat      = 3
	wavExtensible = 0xFFFE
)

// wavFormat is what the fmt chunk says, and where the samples are.
type wavFormat struct {
	format        int // wavPCM or wavFloat after resolving WAVE_FORMAT_EXTENSIBLE
	channels      int
	sampleRate    int
	bitsPerSample int
	blockAlign    int
	dataSize      int64 // bytes in the data chunk as declared (−1: unknown, read to EOF)
}

// errNotPlainWAV marks a RIFF/WAVE file in a sample format we leave to ffmpeg.
var errNotPlainWAV = errors.New("not a PCM or float WAV")

// isWAV reports whether head (the first 12 bytes or more of a file) is RIFF/WAVE.
func isWAV(head []byte) bool {
	return len(head) >= 12 && bytes.Equal(head[0:4], []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WAVE"))
}

// readWAVHeader reads up to the start of the data chunk. It returns
// errNotPlainWAV for WAVs in formats we do not decode.
func readWAVHeader(r io.Reader) (wavFormat, error) {
	var f wavFormat
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return f, truncatedWAV("RIFF header", err)
	}
	if !isWAV(riff[:]) {
		return f, lecture.Errorf(lecture.EUNSUPPORTED, "not a RIFF/WAVE file")
	}
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if !haveFmt {
				return f, truncatedWAV("fmt chunk", err)
			}
			return f, truncatedWAV("data chunk", err)
		}
		id, size := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if size < 16 || size > 1<<16 {
				return f, lecture.Errorf(lecture.EINVALID, "WAV fmt chunk has an impossible size %d", size)
			}
			b := make([]byte, size+size&1)
			if _, err := io.ReadFull(r, b); err != nil {
				return f, truncatedWAV("fmt chunk", err)
			}
			f.format = int(binary.LittleEndian.Uint16(b[0:2]))
			f.channels = int(binary.LittleEndian.Uint16(b[2:4]))
			f.sampleRate = int(binary.LittleEndian.Uint32(b[4:8]))
			f.blockAlign = int(binary.LittleEndian.Uint16(b[12:14]))
			f.bitsPerSample = int(binary.LittleEndian.Uint16(b[14:16]))
			if f.format == wavExtensible && size >= 40 {
				// The first two bytes of the sub-format GUID are the format tag.
				f.format = int(binary.LittleEndian.Uint16(b[24:26]))
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return f, lecture.Errorf(lecture.EINVALID, "WAV data chunk before its fmt chunk")
			}
			f.dataSize = size
			if size == 0xFFFFFFFF || size == 0 {
				f.dataSize = -1 // streamed writers leave it unset: read to the end
			}
			return f, f.check()
		default:
			if _, err := io.CopyN(io.Discard, r, size+size&1); err != nil {
				return f, truncatedWAV(id+" chunk", err)
			}
		}
	}
}

func (f wavFormat) check() error {
	switch {
	case f.format != wavPCM && f.format != wavFloat:
		return errNotPlainWAV
	case f.format == wavPCM && f.bitsPerSample != 8 && f.bitsPerSample != 16 && f.bitsPerSample != 24 && f.bitsPerSample != 32:
		return errNotPlainWAV
	case f.format == wavFloat && f.bitsPerSample != 32 && f.bitsPerSample != 64:
		return errNotPlainWAV
	case f.channels < 1:
		return lecture.Errorf(lecture.EINVALID, "WAV header says %d channels", f.channels)
	case f.sampleRate < 1000 || f.sampleRate > 1_000_000:
		return lecture.Errorf(lecture.EINVALID, "WAV header says an unusable sample rate of %d Hz", f.sampleRate)
	case f.blockAlign != f.channels*f.bitsPerSample/8:
		return lecture.Errorf(lecture.EINVALID, "WAV header is inconsistent: block align %d for %d channels of %d bits",
			f.blockAlign, f.channels, f.bitsPerSample)
	}
	return nil
}

func truncatedWAV(where string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return lecture.Wrap(lecture.EINVALID, ErrTruncated, "truncated WAV file: it ends inside the %s", where)
	}
	return lecture.Wrap(lecture.EINVALID, err, "reading WAV %s", where)
}

// wavDecoder turns the data chunk into mono float32 at the file's rate.
type wavDecoder struct {
	r    io.Reader
	f    wavFormat
	left int64 // data bytes not yet read (−1: to EOF)
	raw  []byte
	part int // bytes of an incomplete frame kept at the start of raw
}

func newWAVDecoder(r io.Reader, f wavFormat) *wavDecoder {
	return &wavDecoder{r: r, f: f, left: f.dataSize, raw: make([]byte, 64*1024/f.blockAlign*f.blockAlign+f.blockAlign)}
}

// read appends up to about 64 KiB worth of mono samples to out. It returns
// io.EOF after the data chunk, and a truncation error when the file ends
// before the size the header declares.
func (d *wavDecoder) read(out []float32) ([]float32, error) {
	want := len(d.raw) - d.f.blockAlign - d.part
	if d.left >= 0 && int64(want) > d.left {
		want = int(d.left)
	}
	if want <= 0 && d.left == 0 {
		return out, io.EOF
	}
	n, err := io.ReadAtLeast(d.r, d.raw[d.part:d.part+want], 1)
	if d.left > 0 {
		d.left -= int64(n)
	}
	avail := d.part + n
	frames := avail / d.f.blockAlign
	out = d.convert(out, d.raw[:frames*d.f.blockAlign])
	d.part = copy(d.raw, d.raw[frames*d.f.blockAlign:avail])
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if d.left > 0 {
				return out, lecture.Wrap(lecture.EINVALID, ErrTruncated,
					"truncated WAV file: the header declares %d bytes of audio, %d are missing", d.f.dataSize, d.left)
			}
			return out, io.EOF
		}
		return out, lecture.Wrap(lecture.EINVALID, err, "reading WAV data")
	}
	if d.left == 0 {
		return out, io.EOF
	}
	return out, nil
}

// convert appends the frames in b, mixed down to mono. Stereo becomes
// (L+R)/√2, as `ffmpeg -ac 1` does it: that is how openai-whisper and
// transformers.js (which scales its own stereo mix by √2 to match) feed
// Whisper. Three or more channels are averaged: ffmpeg's matrices for them
// depend on the channel layout (centre 1, surrounds 0.5, LFE 0, …), which a
// plain WAV does not reliably declare.
func (d *wavDecoder) convert(out []float32, b []byte) []float32 {
	ch, bps := d.f.channels, d.f.bitsPerSample/8
	inv := 1 / float64(ch)
	if ch == 2 {
		inv = math.Sqrt2 / 2
	}
	for off := 0; off+d.f.blockAlign <= len(b); off += d.f.blockAlign {
		sum := 0.0
		for c := range ch {
			s := b[off+c*bps:]
			sum += d.sample(s)
		}
		out = append(out, float32(sum*inv))
	}
	return out
}

func (d *wavDecoder) sample(s []byte) float64 {
	if d.f.format == wavFloat {
		if d.f.bitsPerSample == 64 {
			return math.Float64frombits(binary.LittleEndian.Uint64(s))
		}
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(s)))
	}
	switch d.f.bitsPerSample {
	case 8: // unsigned, 128 is zero
		return (float64(s[0]) - 128) / 128
	case 16:
		return float64(int16(binary.LittleEndian.Uint16(s))) / (1 << 15)
	case 24:
		v := int32(uint32(s[0])<<8|uint32(s[1])<<16|uint32(s[2])<<24) >> 8
		return float64(v) / (1 << 23)
	default:
		return float64(int32(binary.LittleEndian.Uint32(s))) / (1 << 31)
	}
}
