package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// fakeTranscriber stands in for Whisper: it checks it got the uploaded
// file, reports progress and returns fixed segments.
type fakeTranscriber struct{ seen []byte }

func (f *fakeTranscriber) Name() string  { return "fake" }
func (f *fakeTranscriber) Model() string { return "test" }
func (f *fakeTranscriber) Transcribe(ctx context.Context, path string, opts lecture.TranscribeOptions, progress lecture.Progress) (*lecture.Transcript, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f.seen = b
	progress(5, 10)
	progress(10, 10)
	return &lecture.Transcript{Language: "en", Segments: []lecture.Segment{
		{Start: 0, End: 4.5, Text: "Entropy of an isolated system never decreases."},
		{Start: 4.5, End: 9, Text: "Heat flows from hot bodies to cold ones."},
	}}, nil
}

// wav makes a 16 kHz mono 16-bit WAV of n samples of silence.
func wav(n int) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(16000), uint32(32000), uint16(2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(2*n))
	b.Write(make([]byte, 2*n))
	return b.Bytes()
}

func form(t *testing.T, fields map[string]string, filename string, file []byte) (string, *bytes.Buffer) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	if filename != "" {
		fw, _ := mw.CreateFormFile("file", filename)
		_, _ = fw.Write(file)
	}
	_ = mw.Close()
	return mw.FormDataContentType(), &buf
}

func TestTranscribeWithoutModelSaysHowToGetOne(t *testing.T) {
	e := newEnv(t, nil)
	ct, body := form(t, map[string]string{"model": "whisper-1"}, "talk.wav", wav(1600))
	code, m, raw := e.do("POST", "/v1/audio/transcriptions", ct, body)
	if code != 503 || !strings.Contains(raw, "TRANSCEPT_WHISPER_MODEL") || m["error"] == nil {
		t.Errorf("%d %s", code, raw)
	}
}

func TestOpenAICompatibleTranscription(t *testing.T) {
	e := newEnv(t, nil)
	fake := &fakeTranscriber{}
	e.s.Service.Transcriber = fake
	audio := wav(16000)
	for format, want := range map[string]string{
		"srt":          "1\n00:00:00,000 --> 00:00:04,500\nEntropy of an isolated system never decreases.\n",
		"vtt":          "WEBVTT",
		"text":         "Entropy of an isolated system never decreases. Heat flows from hot bodies to cold ones.\n",
		"json":         `"text":"Entropy of an isolated system never decreases. Heat flows from hot bodies to cold ones."`,
		"verbose_json": `"task":"transcribe"`,
	} {
		ct, body := form(t, map[string]string{"model": "whisper-1", "response_format": format, "language": "en", "temperature": "0"}, "talk.wav", audio)
		code, _, raw := e.do("POST", "/v1/audio/transcriptions", ct, body)
		if code != 200 || !strings.Contains(raw, want) {
			t.Errorf("%s: %d %q", format, code, raw)
		}
	}
	if !bytes.Equal(fake.seen, audio) {
		t.Error("the transcriber did not get the uploaded bytes")
	}
	bad := []struct {
		fields map[string]string
		file   []byte
		status int
		msg    string
	}{
		{map[string]string{"response_format": "docx"}, audio, 400, "response_format"},
		{map[string]string{"language": "klingon"}, audio, 400, "language"},
		{map[string]string{"temperature": "hot"}, audio, 400, "temperature"},
		{map[string]string{}, nil, 400, "file"},
	}
	for _, c := range bad {
		name := "talk.wav"
		if c.file == nil {
			name = ""
		}
		ct, body := form(t, c.fields, name, c.file)
		code, _, raw := e.do("POST", "/transcribe", ct, body)
		if code != c.status || !strings.Contains(raw, c.msg) {
			t.Errorf("%v: %d %s", c.fields, code, raw)
		}
	}
	code, _, _ := e.do("POST", "/transcribe", "application/json", strings.NewReader(`{}`))
	if code != 415 {
		t.Errorf("JSON body: %d", code)
	}
}

func TestRecordingUploadIsTranscribedByThePipeline(t *testing.T) {
	e := newEnv(t, nil)
	e.s.Service.Transcriber = &fakeTranscriber{}
	ct, body := form(t, map[string]string{"title": "Thermo"}, "lecture 1.wav", wav(32000))
	code, m, raw := e.do("POST", "/lectures", ct, body)
	if code != 202 {
		t.Fatalf("upload: %d %s", code, raw)
	}
	id := m["id"].(string)
	e.s.Bus.Wait()
	var l lecture.Lecture
	_, _, raw = e.do("GET", "/lectures/"+id, "", nil)
	_ = json.Unmarshal([]byte(raw), &l)
	if l.Status != lecture.StatusReady || l.Title != "Thermo" {
		t.Fatalf("status %s", raw)
	}
	_, _, srt := e.do("GET", "/lectures/"+id+"/transcript?format=srt", "", nil)
	if !strings.Contains(srt, "00:00:04,500 --> 00:00:09,000") {
		t.Errorf("transcript: %q", srt)
	}
	if _, err := os.Stat(e.root + "/raw-inputs/" + id + "/lecture 1.wav"); err != nil {
		t.Errorf("raw recording not stored under its name: %v", err)
	}
	// A raw audio/* body works too.
	code, _, raw = e.do("POST", "/lectures?name=talk.wav", "audio/wav", bytes.NewReader(wav(800)))
	if code != 202 {
		t.Errorf("audio/wav body: %d %s", code, raw)
	}
	// Not a recording under an audio type: refused, nothing stored.
	e.s.Bus.Wait()
	before := len(e.files())
	code, _, _ = e.do("POST", "/lectures?name=x.bin", "application/octet-stream", strings.NewReader("plain words, not audio"))
	if code != 415 || len(e.files()) != before {
		t.Errorf("non-media octet-stream: %d, files %d -> %d", code, before, len(e.files()))
	}
}

// Without a Whisper model a recording is refused at once, with the reason
// and nothing stored (not accepted and failed later).
func TestRecordingWithoutModelFailsClearly(t *testing.T) {
	e := newEnv(t, nil)
	before := len(e.files())
	ct, body := form(t, nil, "talk.mp3", append([]byte("ID3"), make([]byte, 100)...))
	code, _, raw := e.do("POST", "/lectures", ct, body)
	if code != 503 || !strings.Contains(raw, "TRANSCEPT_WHISPER_MODEL") {
		t.Fatalf("upload: %d %s", code, raw)
	}
	code, _, raw = e.do("POST", "/lectures?name=talk.mp3", "audio/mpeg", bytes.NewReader(append([]byte("ID3"), make([]byte, 100)...)))
	if code != 503 || !strings.Contains(raw, "TRANSCEPT_WHISPER_MODEL") {
		t.Fatalf("audio body: %d %s", code, raw)
	}
	code, _, raw = e.do("POST", "/v1/audio/transcriptions", ct, bytes.NewReader(nil))
	if code != 503 || !strings.Contains(raw, "TRANSCEPT_WHISPER_MODEL") {
		t.Fatalf("/v1/audio/transcriptions: %d %s", code, raw)
	}
	if after := e.files(); len(after) != before {
		t.Errorf("files left behind: %v", after)
	}
}

// Bytes that are not a recording are refused before the 202, whatever
// their name says (ffprobe decides), and nothing stays on disk.
func TestFakeRecordingsRefusedBeforeAcceptance(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		svctest.Missing(t, "ffprobe (apt-get install ffmpeg)")
	}
	e := newEnv(t, nil)
	e.s.Service.Transcriber = &fakeTranscriber{}
	random := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(random)
	elf := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 4096)...)
	before := len(e.files())
	for _, c := range []struct {
		name  string
		ctype string
		body  []byte
	}{
		{"random.mp3", "application/octet-stream", random},
		{"notes.mp3", "audio/mpeg", []byte("These are lecture notes, not audio at all.")},
		{"program.mp3", "audio/mpeg", elf},
		{"clip.wav", "audio/wav", []byte("RIFF\x00\x00\x00\x00WAVEjunk")},
	} {
		code, _, raw := e.do("POST", "/lectures?name="+c.name, c.ctype, bytes.NewReader(c.body))
		if code != 415 || !strings.Contains(raw, c.name) {
			t.Errorf("%s as %s: %d %s", c.name, c.ctype, code, raw)
		}
		ct, body := form(t, nil, c.name, c.body)
		if code, _, raw := e.do("POST", "/lectures", ct, body); code != 415 {
			t.Errorf("%s in a form: %d %s", c.name, code, raw)
		}
	}
	if after := e.files(); len(after) != before {
		t.Errorf("files left behind: %v", after)
	}
}

func TestOversizedRecordingLeavesNothing(t *testing.T) {
	e := newEnv(t, map[string]string{"TRANSCEPT_MAX_MEDIA_BYTES": "4096"})
	e.s.Service.Transcriber = &fakeTranscriber{}
	before := len(e.files())
	ct, body := form(t, nil, "big.wav", wav(8000))
	code, _, raw := e.do("POST", "/lectures", ct, body)
	if code != 413 || !strings.Contains(raw, "TRANSCEPT_MAX_MEDIA_BYTES") {
		t.Errorf("oversized recording: %d %s", code, raw)
	}
	if after := e.files(); len(after) != before {
		t.Errorf("files left behind: %v", after)
	}
	_ = io.Discard
}

// Without ffmpeg a recording cannot be checked: 503 naming what to
// install, nothing stored.
func TestRecordingWithoutFFmpeg(t *testing.T) {
	t.Setenv("TRANSCEPT_FFPROBE", "/nonexistent/ffprobe")
	e := newEnv(t, nil)
	e.s.Service.Transcriber = &fakeTranscriber{}
	before := len(e.files())
	mp3 := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), make([]byte, 4096)...)
	code, _, raw := e.do("POST", "/lectures?name=talk.mp3", "audio/mpeg", bytes.NewReader(mp3))
	if code != 503 || !strings.Contains(raw, "ffprobe") || !strings.Contains(raw, "apt-get install ffmpeg") {
		t.Errorf("upload without ffprobe: %d %s", code, raw)
	}
	if after := e.files(); len(after) != before {
		t.Errorf("files left behind: %v", after)
	}
}
