package transcript

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/transcept/transcept/shared/lecture"
)

// MaxBytes is the largest transcript Parse accepts.
const MaxBytes = 50 << 20

// maxSeconds bounds every time: about three years, far beyond any recording,
// and far from where converting seconds to integer milliseconds overflows.
const maxSeconds = 1e8

// prepare checks the raw bytes and returns them without a byte-order mark
// (UTF-16 decoded to UTF-8), with base, the number of bytes removed from
// the front, so that offsets into the result plus base point into data. It
// does not check the encoding: text formats decode what is not UTF-8 as
// Windows-1252 (textOf), and JSON refuses it (checkJSONUTF8).
func prepare(data []byte) (b []byte, base int, err error) {
	if len(data) > MaxBytes {
		mb := float64(len(data)) / (1 << 20)
		return nil, 0, lecture.Errorf(lecture.ETOOLARGE, "transcript is %.1f MB; the limit is %d MB", ceil1(mb), MaxBytes>>20)
	}
	if u, ok := utf16Text(data); ok {
		if len(data)%2 != 0 {
			return nil, 0, lecture.Errorf(lecture.EINVALID, "transcript is UTF-16 with an odd number of bytes (%d); the file is truncated or not UTF-16: save it as UTF-8", len(data))
		}
		data = trimBOM(u) // a second mark after the UTF-16 one, as Detect reads it
	} else if t := trimBOM(data); len(t) != len(data) {
		base = len(data) - len(t)
		data = t
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, 0, lecture.Errorf(lecture.EINVALID, "transcript is empty")
	}
	if err := checkBinary(data, base); err != nil {
		return nil, 0, err
	}
	return data, base, nil
}

// textOf returns b as text with "\n" line ends. Bytes that are not valid
// UTF-8 are read as Windows-1252, which is what old subtitle and text files
// are written in; valid UTF-8 sequences around them stay as they are, so a
// UTF-8 file with a stray Windows-1252 byte reads right too.
func textOf(b []byte) string {
	var s string
	if utf8.Valid(b) {
		s = string(b)
	} else {
		var sb strings.Builder
		sb.Grow(len(b) + len(b)/8)
		for i := 0; i < len(b); {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				r = charmap.Windows1252.DecodeByte(b[i])
			}
			sb.WriteRune(r)
			i += n
		}
		s = sb.String()
	}
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	return s
}

// checkJSONUTF8 refuses JSON that is not UTF-8, as RFC 8259 requires,
// naming the first bad byte's offset in the original input.
func checkJSONUTF8(b []byte, base int) error {
	if utf8.Valid(b) {
		return nil
	}
	off := invalidUTF8(b)
	line := 1 + bytes.Count(b[:off], []byte{'\n'})
	return lecture.Errorf(lecture.EINVALID,
		"json: transcript is not valid UTF-8: byte 0x%02X at offset %d (line %d); JSON must be UTF-8 (RFC 8259): save the file as UTF-8",
		b[off], base+off, line)
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
// control characters and bytes that are not UTF-8 together) make up a large
// share of the first 64 KiB.
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
	// A short input with a few bytes that are not UTF-8 is text in another
	// encoding (Windows-1252), or JSON that is told where its UTF-8 breaks.
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
