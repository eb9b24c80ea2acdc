package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/shared/auth"
	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/catalogue/postgres"
	"github.com/transcept/transcept/shared/eval"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/svctest"
	"github.com/transcept/transcept/tests/testkit/testmodels"
)

// uploadMaxMedia is the gateway's TRANSCEPT_MAX_MEDIA_BYTES in
// TestPresignedUploadEndToEnd: above the clip, so one byte more is refused.
const uploadMaxMedia = 4 << 20

// TestPresignedUploadEndToEnd runs direct-to-bucket uploads through the
// function suite with sign-in on, a PostgreSQL catalogue and a real MinIO:
// the gateway signs a PUT URL for a signed-in member, the client PUTs the
// recording straight to MinIO (which holds the URL to the signed path,
// Content-Type and Content-Length), the bucket notification starts the
// pipeline, and the lecture is its requester's alone. An object written
// straight into the bucket belongs to nobody, whatever its metadata says.
func TestPresignedUploadEndToEnd(t *testing.T) {
	if _, err := ort.Init(); err != nil {
		if os.Getenv(svctest.RequireEnv) == "1" {
			t.Fatalf("ONNX Runtime: %v", err)
		}
		t.Skipf("ONNX Runtime not available (make ort): %v", err)
	}
	clip := filepath.Join(eval.DataDir(), "audio", "jfk.flac")
	audio, err := os.ReadFile(clip)
	if err != nil {
		if os.Getenv(svctest.RequireEnv) == "1" {
			t.Fatalf("evaluation data: %v", err)
		}
		t.Skipf("evaluation data missing: %v", err)
	}
	if len(audio) >= uploadMaxMedia {
		t.Fatalf("%s is %d bytes; the test's media limit is %d", clip, len(audio), uploadMaxMedia)
	}
	model := filepath.Join(t.TempDir(), "whisper-tiny")
	if err := testmodels.WriteWhisper(model, testmodels.TinyWhisper()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// 1-2. The catalogue, with two members and a key each, before the
	// functions start (sign-in on needs an account to sign in with).
	dbURL := svctest.Postgres(t)
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("catalogue: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	member := func(email string) (catalogue.User, string) {
		hash, err := auth.HashPassword("correct horse battery staple 42")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		u := catalogue.User{ID: hex.EncodeToString(id), Email: email, Role: catalogue.RoleMember, PasswordHash: hash, CreatedAt: now}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatalf("create user %s: %v", email, err)
		}
		secret, k := auth.NewAPIKey(u.ID, "e2e", time.Time{}, now)
		if err := db.CreateKey(ctx, k); err != nil {
			t.Fatalf("create key for %s: %v", email, err)
		}
		return u, secret
	}
	owner, ownerKey := member("owner@example.edu")
	other, otherKey := member("other@example.edu")

	whisper := []string{"TRANSCEPT_WHISPER_MODEL=" + model, "TRANSCEPT_LANGUAGE=en"}
	c := startClusterEnv(t, []string{"TRANSCEPT_DATABASE_URL=" + dbURL}, map[string][]string{
		"gateway":    append([]string{"TRANSCEPT_AUTH=on", "TRANSCEPT_MAX_MEDIA_BYTES=" + strconv.Itoa(uploadMaxMedia)}, whisper...),
		"transcribe": whisper,
	})
	gw := c.urls["gateway"]
	hc := &http.Client{Timeout: 15 * time.Second}

	// api calls the gateway with an API key ("" for none) and decodes the
	// JSON answer into out (when not nil).
	api := func(method, path, key string, in, out any) (int, string) {
		t.Helper()
		var body io.Reader
		if in != nil {
			b, _ := json.Marshal(in)
			body = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, gw+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil && resp.StatusCode < 300 {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %d, undecodable answer %q: %v", method, path, resp.StatusCode, b, err)
			}
		}
		return resp.StatusCode, string(b)
	}
	type presigned struct {
		LectureID string            `json:"lecture_id"`
		Method    string            `json:"method"`
		URL       string            `json:"url"`
		Headers   map[string]string `json:"headers"`
		ExpiresAt time.Time         `json:"expires_at"`
	}
	// put sends data to a presigned URL with these headers; Content-Length
	// is the body's length.
	put := func(u string, hdr map[string]string, data []byte) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			if !strings.EqualFold(k, "Content-Length") {
				req.Header.Set(k, v)
			}
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("PUT %s: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	absent := func(key, why string) {
		t.Helper()
		if info, err := c.store.Stat(ctx, lecture.BucketRaw, key); err == nil {
			t.Errorf("%s: %s/%s landed anyway (%d bytes)", why, lecture.BucketRaw, key, info.Size)
		} else if lecture.ErrorCode(err) != lecture.ENOTFOUND {
			t.Fatalf("stat %s/%s: %v", lecture.BucketRaw, key, err)
		}
	}

	// 4. Refusals at the gateway: anonymous, too large, not a recording.
	req := map[string]any{"name": "jfk.flac", "title": "Ask not", "size": len(audio), "content_type": "audio/flac"}
	if code, body := api("POST", "/lectures/uploads", "", req, nil); code != http.StatusUnauthorized {
		t.Errorf("anonymous POST /lectures/uploads: %d %s, want 401", code, body)
	}
	big := map[string]any{"name": "long.flac", "size": uploadMaxMedia + 1, "content_type": "audio/flac"}
	if code, body := api("POST", "/lectures/uploads", ownerKey, big, nil); code != http.StatusRequestEntityTooLarge {
		t.Errorf("upload over TRANSCEPT_MAX_MEDIA_BYTES: %d %s, want 413", code, body)
	}
	txt := map[string]any{"name": "notes.txt", "size": 100, "content_type": "text/plain"}
	if code, body := api("POST", "/lectures/uploads", ownerKey, txt, nil); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain direct upload: %d %s, want 415", code, body)
	}

	// 3. The owner asks for an upload URL.
	var up presigned
	if code, body := api("POST", "/lectures/uploads", ownerKey, req, &up); code != http.StatusCreated {
		t.Fatalf("POST /lectures/uploads: %d %s, want 201", code, body)
	}
	key := up.LectureID + "/jfk.flac"
	if up.Method != http.MethodPut || up.URL == "" || up.Headers["Content-Type"] != "audio/flac" ||
		up.Headers["Content-Length"] != strconv.Itoa(len(audio)) || time.Until(up.ExpiresAt) <= 0 {
		t.Fatalf("presigned upload: %+v", up)
	}
	if u, err := url.Parse(up.URL); err != nil || !strings.HasSuffix(u.Path, "/"+lecture.BucketRaw+"/"+key) {
		t.Fatalf("upload URL %q is not for %s/%s", up.URL, lecture.BucketRaw, key)
	}
	if row, err := db.GetLecture(ctx, up.LectureID); err != nil || row.Owner != owner.ID || row.Status != lecture.StatusAwaitingUpload || row.Title != "Ask not" {
		t.Fatalf("catalogue row after presign: %+v %v", row, err)
	}
	var waiting lecture.Lecture
	if code, body := api("GET", "/lectures/"+up.LectureID, ownerKey, nil, &waiting); code != http.StatusOK || waiting.Status != lecture.StatusAwaitingUpload {
		t.Fatalf("GET /lectures/%s as owner before the upload: %d %s, want 200 awaiting_upload", up.LectureID, code, body)
	}

	// 4. MinIO holds the URL to what was signed.
	longer := append(slices.Clone(audio), 0)
	if code, body := put(up.URL, map[string]string{"Content-Type": "audio/flac"}, longer); code != http.StatusForbidden {
		t.Errorf("PUT of %d bytes to a URL signed for %d: %d %s, want 403", len(longer), len(audio), code, body)
	}
	absent(key, "a PUT with another Content-Length")
	if code, body := put(up.URL, map[string]string{"Content-Type": "audio/mpeg"}, audio); code != http.StatusForbidden {
		t.Errorf("PUT with Content-Type audio/mpeg to a URL signed for audio/flac: %d %s, want 403", code, body)
	}
	absent(key, "a PUT with another Content-Type")
	elsewhere := lecture.NewLectureID()
	moved := strings.Replace(up.URL, "/"+up.LectureID+"/", "/"+elsewhere+"/", 1)
	if moved == up.URL {
		t.Fatalf("upload URL %q does not hold the lecture id", up.URL)
	}
	if code, body := put(moved, up.Headers, audio); code != http.StatusForbidden {
		t.Errorf("PUT to another key with a signed URL: %d %s, want 403", code, body)
	}
	absent(elsewhere+"/jfk.flac", "a signed URL moved to another key")

	// 3. The upload itself, with exactly the headers returned.
	if code, body := put(up.URL, up.Headers, audio); code != http.StatusOK {
		t.Fatalf("PUT to the presigned URL: %d %s, want 200", code, body)
	}
	if info, err := c.store.Stat(ctx, lecture.BucketRaw, key); err != nil || info.Size != int64(len(audio)) {
		t.Fatalf("uploaded object: %+v %v", info, err)
	}

	// 7. An object written straight into the bucket with the admin
	// credentials, its metadata claiming the other member: no row signed
	// for it, so it has no owner.
	stray := lecture.NewLectureID()
	if _, err := c.store.Client().PutObject(ctx, lecture.BucketRaw, stray+"/x.flac", bytes.NewReader(audio), int64(len(audio)),
		miniogo.PutObjectOptions{ContentType: "audio/flac", UserMetadata: map[string]string{"owner": other.ID}}); err != nil {
		t.Fatalf("admin PUT: %v", err)
	}

	// 5. Both are processed: the catalogue rows leave the upload states.
	done := func(s lecture.Status) bool { return s == lecture.StatusReady || s == lecture.StatusFailed }
	deadline := time.Now().Add(90 * time.Second)
	var l lecture.Lecture
	for {
		// Before ingest has written the lecture record, the status comes
		// from the catalogue row (awaiting_upload): never a 404.
		code, body := api("GET", "/lectures/"+up.LectureID, ownerKey, nil, &l)
		if code != http.StatusOK {
			t.Fatalf("GET /lectures/%s as owner: %d %s", up.LectureID, code, body)
		}
		if code == http.StatusOK && done(l.Status) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lecture %s still %d %s after 90 s: stages %+v", up.LectureID, code, l.Status, l.Stages)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("presigned upload %s: %s, stages %+v, error %+v", up.LectureID, l.Status, l.Stages, l.Error)
	if st := l.Stages["transcribe"]; st.Status != lecture.StatusReady && (l.Error == nil || !strings.Contains(l.Error.Message, "no words")) {
		t.Errorf("the recording was not transcribed: stages %+v, error %+v", l.Stages, l.Error)
	}
	if l.Owner != owner.ID || l.Title != "Ask not" {
		t.Errorf("lecture record: owner %q title %q, want %q %q", l.Owner, l.Title, owner.ID, "Ask not")
	}
	var row catalogue.Lecture
	for {
		if row, err = db.GetLecture(ctx, up.LectureID); err != nil {
			t.Fatalf("catalogue row: %v", err)
		}
		if done(row.Status) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the row follows the record
	}
	if row.Owner != owner.ID || row.Title != "Ask not" || row.Status != l.Status {
		t.Errorf("catalogue row: owner %q title %q status %s, want %q %q %s", row.Owner, row.Title, row.Status, owner.ID, "Ask not", l.Status)
	}

	// 6. It is the owner's alone.
	library := func(key string) []catalogue.Lecture {
		t.Helper()
		var page catalogue.Page
		if code, body := api("GET", "/lectures", key, nil, &page); code != http.StatusOK {
			t.Fatalf("GET /lectures: %d %s", code, body)
		}
		return page.Lectures
	}
	find := func(ls []catalogue.Lecture, id string) *catalogue.Lecture {
		for i := range ls {
			if ls[i].ID == id {
				return &ls[i]
			}
		}
		return nil
	}
	mine, theirs := library(ownerKey), library(otherKey)
	if got := find(mine, up.LectureID); got == nil || got.Title != "Ask not" {
		t.Errorf("owner's library lacks %s titled %q: %+v", up.LectureID, "Ask not", mine)
	}
	if find(theirs, up.LectureID) != nil {
		t.Errorf("the other member's library lists %s", up.LectureID)
	}
	if code, body := api("GET", "/lectures/"+up.LectureID, otherKey, nil, nil); code != http.StatusNotFound {
		t.Errorf("GET /lectures/%s as the other member: %d %s, want 404", up.LectureID, code, body)
	}

	// 7. The stray object was processed with no owner, and is nobody's.
	var strayRow catalogue.Lecture
	for {
		strayRow, err = db.GetLecture(ctx, stray)
		if err == nil && done(strayRow.Status) {
			break
		}
		if err != nil && lecture.ErrorCode(err) != lecture.ENOTFOUND {
			t.Fatalf("catalogue row of %s: %v", stray, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("object written with the admin credentials (%s) not processed within 90 s: %+v %v", stray, strayRow, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strayRow.Owner != "" {
		t.Errorf("an object written straight into the bucket got owner %q (its metadata claimed %q); want none", strayRow.Owner, other.ID)
	}
	mine, theirs = library(ownerKey), library(otherKey)
	if find(mine, stray) != nil || find(theirs, stray) != nil {
		t.Errorf("the ownerless lecture %s is listed in a member's library", stray)
	}
	for who, k := range map[string]string{"owner": ownerKey, "other member": otherKey} {
		if code, body := api("GET", "/lectures/"+stray, k, nil, nil); code != http.StatusNotFound {
			t.Errorf("GET /lectures/%s (no owner) as the %s: %d %s, want 404", stray, who, code, body)
		}
	}
}
