package api

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/transcript"
)

// transcribeRequest is the multipart form of POST /transcribe and the
// OpenAI-compatible POST /v1/audio/transcriptions.
type transcribeRequest struct {
	file   string // temporary copy of the upload
	size   int64
	name   string
	format string
	opts   lecture.TranscribeOptions
}

// transcribe answers synchronously with the transcript in the asked format.
// OpenAI clients send file, model, language, response_format, temperature
// (and prompt, which is accepted and ignored).
func (s *Server) transcribe(w http.ResponseWriter, r *http.Request) error {
	if s.Svc.Transcriber == nil {
		return pipeline.NoTranscriber() // before reading a byte of the upload
	}
	req, err := s.readTranscribeForm(w, r)
	if req.file != "" {
		defer os.Remove(req.file)
	}
	if err != nil {
		return err
	}
	ctx, cancel := s.budget(r, int(req.size))
	defer cancel()
	tr, err := s.Svc.TranscribeFile(ctx, req.file, req.opts, nil)
	if err != nil {
		return budgetError(ctx, err)
	}
	return writeTranscript(w, tr, req.format, req.opts.Task)
}

func (s *Server) readTranscribeForm(w http.ResponseWriter, r *http.Request) (transcribeRequest, error) {
	req := transcribeRequest{format: "json"}
	mt, params, err := mediaType(r)
	if err != nil {
		return req, err
	}
	if mt != "multipart/form-data" || params["boundary"] == "" {
		return req, lecture.Errorf(lecture.EUNSUPPORTED, "send a multipart/form-data body with the recording in a \"file\" field")
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, s.Svc.MaxMediaBytes+1<<20), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return req, bodyError(err, s.Svc.MaxMediaBytes)
		}
		switch p.FormName() {
		case "file":
			f, err := os.CreateTemp(s.Svc.TempDir, pipeline.TempPrefix()+"upload-*"+path.Ext(p.FileName()))
			if err != nil {
				return req, lecture.Wrap(lecture.EUNAVAILABLE, err, "no room for the upload: %v", err)
			}
			req.file, req.name = f.Name(), p.FileName()
			n, err := io.Copy(f, p)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return req, bodyError(err, s.Svc.MaxMediaBytes)
			}
			if n == 0 {
				return req, lecture.Errorf(lecture.EINVALID, "the \"file\" field is empty")
			}
			req.size = n
		default:
			v, _ := io.ReadAll(io.LimitReader(p, 4096))
			val := strings.TrimSpace(string(v))
			switch p.FormName() {
			case "response_format":
				req.format = val
			case "language":
				req.opts.Language = strings.ToLower(val)
			case "temperature":
				t, err := strconv.ParseFloat(val, 64)
				if err != nil || t < 0 || t > 1 {
					return req, lecture.Errorf(lecture.EINVALID, "temperature %q: want a number from 0 to 1", val)
				}
				req.opts.Temperature = t
			case "task":
				req.opts.Task = val
			}
		}
	}
	if req.file == "" {
		return req, lecture.Errorf(lecture.EINVALID, "no \"file\" field: send the recording as multipart field \"file\"")
	}
	switch req.format {
	case "json", "text", "srt", "vtt", "verbose_json":
	default:
		return req, lecture.Errorf(lecture.EINVALID, "response_format %q: want json, text, srt, vtt or verbose_json", req.format)
	}
	if l := req.opts.Language; l != "" && (len(l) < 2 || len(l) > 3 || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz") != "") {
		return req, lecture.Errorf(lecture.EINVALID, "language %q: want an ISO 639-1 code such as en, de, fr", l)
	}
	return req, nil
}

func bodyError(err error, limit int64) error {
	var le *lecture.Error
	switch {
	case strings.Contains(err.Error(), "request body too large"):
		return lecture.Errorf(lecture.ETOOLARGE, "the recording is over the limit of %s (TRANSCEPT_MAX_MEDIA_BYTES)", pipeline.Bytes(limit))
	case errors.As(err, &le):
		return err // a stalled body, a full disk: already said
	}
	return lecture.Wrap(lecture.EINVALID, err, "malformed multipart body")
}

// writeTranscript renders a transcript the way OpenAI's endpoint does.
func writeTranscript(w http.ResponseWriter, tr *lecture.Transcript, format, task string) error {
	switch format {
	case "json":
		return writeJSON(w, http.StatusOK, map[string]any{"text": tr.Text(), "segments": tr.Segments})
	case "verbose_json":
		type seg struct {
			ID    int     `json:"id"`
			Start float64 `json:"start"`
			End   float64 `json:"end"`
			Text  string  `json:"text"`
		}
		segs := make([]seg, len(tr.Segments))
		dur := 0.0
		for i, s := range tr.Segments {
			segs[i] = seg{i, s.Start, s.End, s.Text}
			dur = max(dur, s.End)
		}
		if task == "" {
			task = "transcribe"
		}
		return writeJSON(w, http.StatusOK, map[string]any{"task": task, "language": tr.Language, "duration": dur, "text": tr.Text(), "segments": segs})
	}
	var buf bytes.Buffer
	if err := transcript.Render(&buf, tr, transcript.Format(format)); err != nil {
		return err
	}
	ct := map[string]string{"srt": "application/x-subrip", "vtt": "text/vtt", "text": "text/plain"}[format]
	w.Header().Set("Content-Type", ct+"; charset=utf-8")
	if format == "text" {
		buf.Reset()
		buf.WriteString(tr.Text() + "\n")
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// createMediaLecture streams a recording upload into the pipeline.
func (s *Server) createMediaLecture(w http.ResponseWriter, r *http.Request, name, title string, body io.Reader) error {
	l, ev, err := s.Svc.CreateMediaLecture(r.Context(), name, title, principal(r).UserID(), body)
	if err != nil {
		return err
	}
	if err := s.publish(r, ev); err != nil {
		return err
	}
	return s.accepted(w, l)
}

// publish queues an upload's first event; when the queue cannot take it the
// upload is removed again and the client told: nothing is half-accepted.
func (s *Server) publish(r *http.Request, ev lecture.Event) error {
	if err := s.Publish(ev); err != nil {
		s.Svc.Forget(r.Context(), ev)
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "the upload could not be queued for processing (%s); nothing was kept, try again", lecture.ErrorMessage(err))
	}
	return nil
}

func (s *Server) accepted(w http.ResponseWriter, l *lecture.Lecture) error {
	w.Header().Set("Location", "/lectures/"+l.ID)
	return writeJSON(w, http.StatusAccepted, map[string]any{
		"id": l.ID, "status": l.Status, "title": l.Title, "content_hash": l.ContentHash,
		"links": map[string]string{"self": "/lectures/" + l.ID, "summary": "/lectures/" + l.ID + "/summary", "transcript": "/lectures/" + l.ID + "/transcript"},
	})
}
