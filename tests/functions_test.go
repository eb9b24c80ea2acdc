package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/store/minio"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// proc is a function or broker process that a test can kill and restart.
type proc struct {
	t    *testing.T
	name string
	args []string
	env  []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

func startProc(t *testing.T, name string, args, env []string) *proc {
	p := &proc{t: t, name: name, args: args, env: env}
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s log ---\n%s", p.name, p.output())
		}
	})
	return p
}

func (p *proc) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	if p.log == nil {
		p.log = &bytes.Buffer{}
	}
	w := &lockedWriter{mu: &p.mu, b: p.log}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	p.cmd = cmd
	go func() { _ = cmd.Wait() }()
}

func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		p.cmd = nil
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	// The process's output arrives while start may hold the lock only briefly.
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

func waitReady(t *testing.T, url string, within time.Duration) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within %v", url, within)
}

// suite is the function suite running as separate processes around a real
// MinIO whose bucket notification points at ingest, and a local broker that
// applies the Triggers of infra/.
type cluster struct {
	t      *testing.T
	minio  *svctest.MinIOServer
	store  *minio.Store
	urls   map[string]string
	procs  map[string]*proc
	broker string
}

func startCluster(t *testing.T) *cluster { return startClusterEnv(t, nil, nil) }

// startClusterEnv is startCluster with extra environment: common for every
// function, per[name] for the named function only (after common, so it wins);
// per["broker"] for the broker.
func startClusterEnv(t *testing.T, common []string, per map[string][]string) *cluster {
	bin := buildBinary(t)
	rd := svctest.StartRedis(t)
	c := &cluster{t: t, urls: map[string]string{}, procs: map[string]*proc{}}
	names := []string{"ingest", "transcribe", "segment", "summarize", "index", "gateway", "answer"}
	addrs := map[string]string{}
	for _, n := range names {
		addrs[n] = svctest.FreeAddr(t)
		c.urls[n] = "http://" + addrs[n]
	}
	// MinIO queues notifications on disk while ingest is not up yet.
	c.minio = svctest.StartMinIOEnv(t,
		"MINIO_NOTIFY_WEBHOOK_ENABLE_TRANSCEPT=on",
		"MINIO_NOTIFY_WEBHOOK_ENDPOINT_TRANSCEPT="+c.urls["ingest"]+"/",
		"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_TRANSCEPT="+t.TempDir())
	env := []string{"MINIO_ENDPOINT=" + c.minio.Endpoint, "MINIO_ACCESS_KEY=" + c.minio.AccessKey, "MINIO_SECRET_KEY=" + c.minio.SecretKey,
		"REDIS_URL=" + rd.URL, "TRANSCEPT_LOG_LEVEL=info",
		// The default SQLite catalogue (catalogue.db), shared by the functions, not in ./data of the source tree.
		"TRANSCEPT_STORE_DIR=" + t.TempDir()}
	env = append(env, common...)

	brokerAddr := svctest.FreeAddr(t)
	c.broker = "http://" + brokerAddr
	args := []string{bin, "broker", "--infra", "../infra", "--addr", brokerAddr, "--backoff-scale", "0.2"}
	for _, n := range names[1:] {
		args = append(args, "--route", "transcept-"+n+"="+c.urls[n])
	}
	c.procs["broker"] = startProc(t, "broker", args, per["broker"])
	for _, n := range names {
		e := append([]string{"LISTEN_ADDRESS=" + addrs[n]}, env...)
		if n == "ingest" {
			e = append(e, "K_SINK="+c.broker)
		}
		e = append(e, per[n]...)
		c.procs[n] = startProc(t, n, []string{bin, "function", n}, e)
	}
	for _, n := range names {
		waitReady(t, c.urls[n]+"/health/readiness", 30*time.Second)
	}
	st, err := minio.New(context.Background(), minio.Config{Endpoint: c.minio.Endpoint, AccessKey: c.minio.AccessKey, SecretKey: c.minio.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	c.store = st
	// The bucket notification, as `mc event add raw-inputs arn:minio:sqs::TRANSCEPT:webhook --event put` sets it.
	arn := notification.NewArn("minio", "sqs", "", "TRANSCEPT", "webhook")
	qc := notification.NewConfig(arn)
	qc.AddEvents(notification.ObjectCreatedAll)
	var cfg notification.Configuration
	cfg.AddQueue(qc)
	if err := st.Client().SetBucketNotification(context.Background(), lecture.BucketRaw, cfg); err != nil {
		t.Fatalf("bucket notification: %v", err)
	}
	return c
}

func (c *cluster) upload(id, name string, data []byte) {
	if err := c.store.Put(context.Background(), lecture.BucketRaw, id+"/"+name, bytes.NewReader(data), int64(len(data)), "text/plain"); err != nil {
		c.t.Fatal(err)
	}
}

// waitArtifact waits for preprocessed/<id>/<name> and returns its info.
func (c *cluster) waitArtifact(id, name string, within time.Duration) lecture.ObjectInfo {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if info, err := c.store.Stat(context.Background(), lecture.BucketPreprocessed, id+"/"+name); err == nil {
			return info
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("preprocessed/%s/%s did not appear within %v", id, name, within)
	return lecture.ObjectInfo{}
}

func TestFunctionsEndToEnd(t *testing.T) {
	text, meeting := meetingText(t, "Bed002.json")
	c := startCluster(t)

	// 1. Upload: MinIO → ingest → broker → transcribe → segment → summarize + index.
	c.upload("bed002", "meeting.txt", []byte(text))
	sumInfo := c.waitArtifact("bed002", "summary.json", 60*time.Second)
	c.waitArtifact("bed002", "index.json", 30*time.Second)

	var l lecture.Lecture
	if code := getJSON(t, c.urls["gateway"]+"/lectures/bed002", &l); code != 200 || l.Status != lecture.StatusReady {
		t.Fatalf("gateway status: %d %+v", code, l)
	}
	var ans lecture.Answer
	if code := postJSON(t, c.urls["answer"]+"/qa", map[string]string{"lecture_id": "bed002", "question": meeting.Specific[3].Query}, &ans); code != 200 {
		t.Fatalf("answer: %d %+v", code, ans)
	}
	if !ans.Covered || len(ans.Citations) == 0 {
		t.Errorf("answer function: %+v", ans)
	}

	// 2. Duplicate notifications give one summary: MinIO's event replayed to ingest twice.
	raw, err := c.store.Stat(context.Background(), lecture.BucketRaw, "bed002/meeting.txt")
	if err != nil {
		t.Fatal(err)
	}
	note := fmt.Sprintf(`{"EventName":"s3:ObjectCreated:Put","Key":"raw-inputs/bed002/meeting.txt","Records":[{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2026-11-27T01:00:00.000Z","eventName":"s3:ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"raw-inputs","arn":"arn:aws:s3:::raw-inputs"},"object":{"key":"bed002%%2Fmeeting.txt","size":%d,"eTag":"%s","contentType":"text/plain","sequencer":"1"}}}]}`, raw.Size, raw.ETag)
	for range 2 {
		resp, err := http.Post(c.urls["ingest"], "application/json", strings.NewReader(note))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("replayed notification: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	time.Sleep(3 * time.Second) // let the replayed events run through every stage
	again, _ := c.store.Stat(context.Background(), lecture.BucketPreprocessed, "bed002/summary.json")
	if !again.Modified.Equal(sumInfo.Modified) || again.ETag != sumInfo.ETag {
		t.Errorf("duplicate notifications rewrote the summary: %v -> %v", sumInfo.Modified, again.Modified)
	}

	// 3. A stage killed mid-run: the broker's retries complete the work once it is back.
	c.procs["summarize"].kill()
	c.upload("bed002-again", "meeting.srt", []byte("1\n00:00:01,000 --> 00:00:05,000\nEntropy of an isolated system never decreases.\n\n2\n00:00:05,000 --> 00:00:09,000\nHeat engines always reject heat to a cold reservoir.\n"))
	c.waitArtifact("bed002-again", "chunks.json", 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	c.procs["summarize"].start()
	c.waitArtifact("bed002-again", "summary.json", 30*time.Second)

	// 4. A poisoned input ends in the dead-letter record, visible in the status.
	c.upload("poison", "lecture.txt", []byte("\x00\x01\x02\x03 this is not a transcript \x00\x00\x00\x00"))
	c.waitArtifact("poison", "failed.json", 60*time.Second)
	getJSON(t, c.urls["gateway"]+"/lectures/poison", &l)
	if l.Status != lecture.StatusFailed || l.Error == nil || !strings.Contains(l.Error.Message, "binary") {
		t.Errorf("poisoned lecture status: %+v %+v", l.Status, l.Error)
	}

	// Each function serves Prometheus metrics.
	resp, err := http.Get(c.urls["summarize"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte("transcept_stage_duration_seconds")) {
		t.Errorf("summarize /metrics lacks stage durations")
	}
}
