package pipeline

import (
	"bytes"
	"errors"
	"net/http"
	"path"
	"strings"
	"syscall"

	"github.com/transcept/transcept/shared/lecture"
)

// mediaExts are the containers and codecs a recording arrives in.
var mediaExts = map[string]bool{
	".wav": true, ".mp3": true, ".m4a": true, ".aac": true, ".ogg": true, ".oga": true, ".opus": true, ".flac": true,
	".mp4": true, ".m4v": true, ".mov": true, ".mkv": true, ".webm": true, ".avi": true, ".wma": true, ".amr": true, ".3gp": true,
}

// IsMedia reports whether an upload is a recording rather than a
// transcript, by its name or by the magic bytes at its start.
func IsMedia(name string, head []byte) bool {
	if mediaExts[strings.ToLower(path.Ext(name))] {
		return true
	}
	switch {
	case len(head) >= 12 && bytes.Equal(head[:4], []byte("RIFF")) && (bytes.Equal(head[8:12], []byte("WAVE")) || bytes.Equal(head[8:12], []byte("AVI "))),
		bytes.HasPrefix(head, []byte("ID3")),
		bytes.HasPrefix(head, []byte("OggS")),
		bytes.HasPrefix(head, []byte("fLaC")),
		bytes.HasPrefix(head, []byte{0x1A, 0x45, 0xDF, 0xA3}),                          // EBML: Matroska, WebM
		len(head) >= 8 && bytes.Equal(head[4:8], []byte("ftyp")),                       // MP4, M4A, MOV
		len(head) >= 2 && head[0] == 0xFF && head[1]&0xE0 == 0xE0 && head[1]&0x06 != 0: // MPEG audio frame sync
		return true
	}
	return false
}

// NotMedia names what a file is when its first bytes show it is a known
// kind of document rather than a recording ("a PDF document"), "" when
// they do not. ffmpeg decodes some such files as noise (a PDF named .mp3
// passes as MPEG audio), which would only fail later as a lecture with no
// words; their signatures never start a recording.
func NotMedia(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")), bytes.HasPrefix(head, []byte("MZ")):
		return "a program"
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return "a PDF document"
	}
	ct := http.DetectContentType(head)
	switch {
	case strings.HasPrefix(ct, "application/zip"), strings.HasPrefix(ct, "application/x-gzip"), strings.HasPrefix(ct, "application/x-rar"):
		return "an archive or office document"
	case strings.HasPrefix(ct, "image/"):
		return "an image"
	case strings.HasPrefix(ct, "text/html"), strings.HasPrefix(ct, "text/xml"):
		return "a web page"
	case strings.HasPrefix(ct, "text/"):
		return "text (upload transcripts as .txt, .srt, .vtt or .json)"
	case strings.HasPrefix(ct, "application/postscript"):
		return "a PostScript document"
	}
	return ""
}

// MediaType is the content type a recording named name is served with.
func MediaType(name string) string { return mediaType(name) }

// mediaType guesses a content type for a stored recording.
func mediaType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".wav":
		return "audio/wav"
	case ".mp3":
		return "audio/mpeg"
	case ".m4a", ".aac":
		return "audio/mp4"
	case ".ogg", ".oga", ".opus":
		return "audio/ogg"
	case ".flac":
		return "audio/flac"
	case ".mp4", ".m4v", ".mov":
		return "video/mp4"
	case ".webm":
		return "video/webm"
	case ".mkv":
		return "video/x-matroska"
	}
	return "application/octet-stream"
}

// storageError explains a local disk failure to the client, not only in the
// log: a full or read-only disk is a 503 that names the cause.
func storageError(err error, what string) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s: the server's disk is full", what)
	case errors.Is(err, syscall.EROFS):
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s: the server's disk is read-only", what)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s: permission denied on the server's disk", what)
	}
	return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s: %v", what, err)
}

func isStorageErr(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS) ||
		errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}
