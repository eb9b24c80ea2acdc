package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/tracing"
	"github.com/transcept/transcept/shared/transcript"
)

// newFlags makes a flag set whose --help prints the given text.
func newFlags(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, help)
		fmt.Fprintln(stderr, "\nOptions:")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags anywhere among the arguments (flags may follow FILE).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, usageError{help: true}
			}
			return nil, usageError{msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func readInput(name string, stdin io.Reader, limit int64) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			if os.IsNotExist(err) {
				return nil, lecture.Errorf(lecture.ENOTFOUND, "%s: no such file", name)
			}
			return nil, lecture.Wrap(lecture.EINVALID, err, "cannot open %s", name)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, lecture.Errorf(lecture.EINVALID, "%s is a directory: give a transcript file", name)
		}
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "reading %s", name)
	}
	if int64(len(b)) > limit {
		return nil, lecture.Errorf(lecture.ETOOLARGE, "%s is over the limit of %d MiB (TRANSCEPT_MAX_UPLOAD_BYTES)", name, limit>>20)
	}
	return b, nil
}

// offline wires a suite for one-shot CLI commands: configuration from the
// environment, logs only for warnings.
func offline(ctx context.Context) (*wire.Suite, error) {
	c, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	if c.LogLevel == "info" {
		c.LogLevel = "warn"
	}
	return wire.New(ctx, c, wire.Logger(c))
}

func loadTranscript(name, format string, stdin io.Reader, limit int64) (*lecture.Transcript, error) {
	f, err := transcript.ParseFormat(format)
	if err != nil {
		return nil, err
	}
	b, err := readInput(name, stdin, limit)
	if err != nil {
		return nil, err
	}
	return pipeline.ParseTranscript(b, name, f)
}

const summarizeHelp = `Usage: transcept summarize FILE [options]

Prints a bullet summary of a lecture transcript, about 70% shorter than the
lecture, one "- " line per bullet, each with its [mm:ss] time when the
transcript has timestamps. FILE may be - for standard input.

Examples:
  transcept summarize lecture.srt
  transcept summarize notes.txt --ratio 0.2
  cat lecture.vtt | transcept summarize - --max-words 150 --format json
`

func cmdSummarize(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("summarize", summarizeHelp, stderr)
	format := fs.String("format", "md", "output: md (bullets), text, or json")
	input := fs.String("input", "auto", "input format: auto, text, srt, vtt, json, turns")
	ratio := fs.Float64("ratio", 0, "share of the lecture's words to keep (default 0.3, from TRANSCEPT_SUMMARY_RATIO)")
	maxWords := fs.Int("max-words", 0, "summary length in words (overrides --ratio)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{msg: "give exactly one FILE (or - for standard input); see --help"}
	}
	if *ratio < 0 || *ratio > 1 {
		return usageError{msg: "--ratio must be between 0 and 1"}
	}
	if *format != "md" && *format != "text" && *format != "json" {
		return usageError{msg: fmt.Sprintf("--format %q: want md, text or json", *format)}
	}
	s, err := offline(ctx)
	if err != nil {
		return err
	}
	tr, err := loadTranscript(pos[0], *input, stdin, s.Config.MaxUploadBytes)
	if err != nil {
		return err
	}
	sum, _, err := s.Service.Summarize(ctx, tr, lecture.SummarizeOptions{Ratio: *ratio, MaxWords: *maxWords})
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	case "text":
		_, err = io.WriteString(stdout, sum.Text())
	default:
		_, err = io.WriteString(stdout, sum.Markdown())
	}
	return err
}

const askHelp = `Usage: transcept ask FILE "QUESTION" [options]

Answers a question from a lecture transcript with the sentences that support
it, each cited with its [mm:ss] time. When the lecture does not cover the
question, it says "This lecture does not cover that." instead of guessing.

Examples:
  transcept ask lecture.srt "What is the second law of thermodynamics?"
  transcept ask - "Which dataset did they use?" --format json < meeting.txt
`

func cmdAsk(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("ask", askHelp, stderr)
	format := fs.String("format", "text", "output: text or json")
	input := fs.String("input", "auto", "input format: auto, text, srt, vtt, json, turns")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{msg: "give FILE and \"QUESTION\"; see --help"}
	}
	s, err := offline(ctx)
	if err != nil {
		return err
	}
	tr, err := loadTranscript(pos[0], *input, stdin, s.Config.MaxUploadBytes)
	if err != nil {
		return err
	}
	ans, err := s.Service.AskText(ctx, tr, pos[1])
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ans)
	}
	_, err = io.WriteString(stdout, ans.Markdown())
	return err
}

const serveHelp = `Usage: transcept serve [options]

Runs the HTTP API and every pipeline stage in one process, with an
in-process broker. Settings come from the environment (see transcept config);
by default objects go to ./data and the cache is in memory.

  curl -s localhost:8080/summarize -d '{"text": "..."}'
  curl -s localhost:8080/lectures -F file=@lecture.srt
  curl -s -X POST localhost:8080/eval   # the nightly evaluation now (loopback only)
`

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", serveHelp, stderr)
	addr := fs.String("addr", "", "listen address (default TRANSCEPT_ADDR, 127.0.0.1:8080)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := config.FromEnv()
	if err != nil {
		return err
	}
	if *addr != "" {
		c.Addr = *addr
	}
	log := wire.Logger(c)
	stopTraces, err := tracing.Setup(ctx, "transcept-serve")
	if err != nil {
		return lecture.Wrap(lecture.EINVALID, err, "tracing (OTEL_* settings)")
	}
	defer flushTraces(stopTraces)
	s, err := wire.New(ctx, c, log)
	if err != nil {
		return err
	}
	if err := s.CheckAuthConfigured(ctx); err != nil {
		s.Close()
		return err
	}
	bus := s.StartBus()
	srv, err := s.API(ctx, bus.Publish)
	if err != nil {
		s.Close()
		return err
	}
	if !c.AuthRequired() && !config.IsLoopback(c.Addr) {
		log.Warn("serving without sign-in on a non-loopback address (TRANSCEPT_AUTH=off): anyone who reaches it can read every lecture", "addr", c.Addr)
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot listen on %s (TRANSCEPT_ADDR)", c.Addr)
	}
	if c.Accounts.MetricsAddr != "" {
		mln, err := net.Listen("tcp", c.Accounts.MetricsAddr)
		if err != nil {
			ln.Close()
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot listen on %s (TRANSCEPT_METRICS_ADDR)", c.Accounts.MetricsAddr)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.Metrics.Handler())
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = ms.Serve(mln) }()
		defer ms.Close()
		log.Info("metrics served on their own address", "addr", mln.Addr().String())
	}
	// Work accepted before the last stop (a crash, a SIGKILL) resumes now.
	if err := s.Recover(ctx); err != nil {
		ln.Close()
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot resume the pipeline's queued work: %s", lecture.ErrorMessage(err))
	}
	// The first line on stdout says where we listen (tests start us on port 0).
	fmt.Fprintf(stdout, "transcept listening on http://%s\n", ln.Addr())
	hs := &http.Server{Handler: withEval(srv.Handler(), s, log), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: c.IdleTimeout}
	if c.AuthRequired() {
		log.Info("sign-in required", "addr", c.Addr, "oidc", c.Accounts.OIDC.Issuer != "")
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Shutdown(c.ShutdownGrace)
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "server stopped")
	case <-ctx.Done():
	}
	// Stop accepting, let requests and stages finish within the grace
	// period, and leave the rest queued for the next start.
	log.Info("shutting down: finishing requests and running stages", "grace", c.ShutdownGrace)
	deadline := time.Now().Add(c.ShutdownGrace)
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	done := make(chan struct{})
	go func() { _ = hs.Shutdown(sctx); close(done) }()
	s.Shutdown(time.Until(deadline))
	<-done
	log.Info("stopped")
	return nil
}

// flushTraces sends the spans still buffered and stops tracing.
func flushTraces(stop func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = stop(ctx)
}

func cmdConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config", "Usage: transcept config\n\nLists every setting with its current value and default.\n", stderr)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if _, err := config.FromEnv(); err != nil {
		fmt.Fprintln(stderr, "warning:", lecture.ErrorMessage(err))
	}
	w := 0
	for _, s := range config.Settings {
		w = max(w, len(s.Name))
	}
	for _, s := range config.Settings {
		v, set := config.Lookup(s.Name)
		if !set {
			v = s.Default
		}
		v = config.Redact(s.Name, v)
		mark := " "
		if set {
			mark = "*"
		}
		fmt.Fprintf(stdout, "%-*s %s %-16s %s\n", w, s.Name, mark, quoteEmpty(v), s.Help)
	}
	fmt.Fprintln(stdout, "\n* set in the environment")
	return nil
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return strings.ReplaceAll(s, "\n", " ")
}
