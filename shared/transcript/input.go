package transcript

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/transcept/transcept/shared/lecture"
)

// MaxBytes is the largest transcript Parse accepts.
const MaxBytes = 50 << 20

// maxSeconds bounds every time: about three years, far beyond any recording,
// and far from where converting seconds to integer milliseconds overflows.
const maxSeconds = 1e8

// prepare checks the raw bytes and returns them as text with "\n" line ends
// and no byte-order mark.
func prepare(data []byte) (string, error) {
	if len(data) > MaxBytes {
		mb := float64(len(data)) / (1 << 20)
		return "", lecture.Errorf(lecture.ETOOLARGE, "transcript is %.1f MB; the limit is %d MB", ceil1(mb), MaxBytes>>20)
	}
	base := 0 // bytes removed from the front, so offsets point into data
	if u, ok := utf16Text(data); ok {
		if len(data)%2 != 0 {
			return "", lecture.Errorf(lecture.EINVALID, "transcript is UTF-16 with an odd number of bytes (%d); the file is truncated or not UTF-16: save it as UTF-8", len(data))
		}
		data = u
	} else if t := trimBOM(data); len(t) != len(data) {
		base = len(data) - len(t)
		data = t
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "", lecture.Errorf(lecture.EINVALID, "transcript is empty")
	}
	if err := checkBinary(data, base); err != nil {
		return "", err
	}
	if !utf8.Valid(data) {
		off := invalidUTF8(data)
		line := 1 + bytes.Count(data[:off], []byte{'\n'})
		return "", lecture.Errorf(lecture.EINVALID,
			"transcript is not valid UTF-8: byte 0x%02X at offset %d (line %d); save the file as UTF-8", data[off], base+off, line)
	}
	s := string(data)
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	return s, nil
}

func ceil1(x float64) float64 { // round up to one decimal: 50 MB + 1 byte is "50.1 MB"
	n := int64(x * 10)
	if float64(n) < x*10 {
		n++
	}
	return float64(n) / 10
}

func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF")) }

// utf16Text decodes data to UTF-8 when it starts with a UTF-16 byte-order
// mark (as Windows tools often write subtitles); a trailing odd byte is
// dropped, and prepare reports it.
func utf16Text(data []byte) ([]byte, bool) {
	if len(data) < 2 {
		return nil, false
	}
	var big bool
	switch {
	case data[0] == 0xFF && data[1] == 0xFE:
	case data[0] == 0xFE && data[1] == 0xFF:
		big = true
	default:
		return nil, false
	}
	u := make([]uint16, 0, len(data)/2-1)
	for i := 2; i+1 < len(data); i += 2 {
		if big {
			u = append(u, uint16(data[i])<<8|uint16(data[i+1]))
		} else {
			u = append(u, uint16(data[i+1])<<8|uint16(data[i]))
		}
	}
	return []byte(string(utf16.Decode(u))), true
}

// checkBinary rejects data with NUL bytes, or where control characters (or
// control characters and invalid UTF-8 together) make up a large share of
// the first 64 KiB.
func checkBinary(data []byte, base int) error {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return lecture.Errorf(lecture.EINVALID,
			"input looks like binary data, not a transcript (NUL byte at offset %d); upload a text, SRT, WebVTT or JSON file", base+i)
	}
	sample := data
	if len(sample) > 64<<10 {
		sample = sample[:64<<10]
	}
	ctrl, bad := 0, 0
	for i := 0; i < len(sample); {
		c := sample[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') || c == 0x7f {
				ctrl++
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(sample[i:])
		if r == utf8.RuneError && n == 1 {
			bad++
		}
		i += n
	}
	// A short input with a stray bad byte is better told where its UTF-8 breaks.
	if ctrl*10 > len(sample) || (len(sample) >= 64 && (ctrl+bad)*4 > len(sample)) {
		return lecture.Errorf(lecture.EINVALID,
			"input looks like binary data, not a transcript (%d of its first %d bytes are control characters or invalid UTF-8); upload a text, SRT, WebVTT or JSON file",
			ctrl+bad, len(sample))
	}
	return nil
}

// invalidUTF8 returns the offset of the first byte that is not valid UTF-8.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}
