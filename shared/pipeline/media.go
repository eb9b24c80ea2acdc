package pipeline

import (
	"bytes"
	"path"
	"strings"
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
