// Command transcept turns lecture transcripts into bullet summaries and
// cited answers, and runs the whole pipeline as one local server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/transcept/transcept/shared/lecture"
)

const usage = `transcept: lecture transcripts into summaries and cited answers

Usage:
  transcept serve                      run the HTTP API and the pipeline in one process
  transcept summarize FILE             print a bullet summary of a transcript
  transcept ask FILE "QUESTION"        answer a question from a transcript, with citations
  transcept transcribe RECORDING       timestamped transcript of a recording (needs a Whisper model)
  transcept eval summarize|qmsum|retrieval|qa|wer
                                       score the engines on the evaluation data
  transcept models list|pull [NAME...] pinned ONNX model exports (download with resume and verification)
  transcept rollout start|analyze|promote|abort|status --function F
                                       canary rollout of a registry model on a Knative Service,
                                       promoted or aborted by a Prometheus metric analysis
  transcept config                     list every setting, its value and default
  transcept function NAME              run one Knative function (gateway, ingest, transcribe,
                                       segment, summarize, index, answer)
  transcept lambda NAME                run gateway, answer or ingest as an AWS Lambda handler
  transcept broker --route S=URL ...   local Broker applying the Triggers in infra/
  transcept users create|list|disable|enable
                                       accounts in the catalogue database
  transcept keys create|list|revoke --user EMAIL
                                       a user's API keys
  transcept audit                      the audit log, newest first
  transcept catalogue rebuild          refill the lecture catalogue from the object store
  transcept version

FILE is a transcript (plain text, SRT, WebVTT, JSON, or "Speaker: text" lines),
or - for standard input. Run "transcept COMMAND --help" for a command's options.
`

var version = "dev"

// exit codes
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
	exitInvalid  = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program, testable with its streams.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, rest, stdout, stderr)
	case "summarize", "summarise":
		err = cmdSummarize(ctx, rest, stdin, stdout, stderr)
	case "ask":
		err = cmdAsk(ctx, rest, stdin, stdout, stderr)
	case "transcribe":
		err = cmdTranscribe(ctx, rest, stdout, stderr)
	case "eval":
		err = cmdEval(ctx, rest, stdout, stderr)
	case "config":
		err = cmdConfig(rest, stdout, stderr)
	case "function":
		err = cmdFunction(ctx, rest, stdout, stderr)
	case "lambda":
		err = cmdLambda(ctx, rest, stderr)
	case "broker":
		err = cmdBroker(ctx, rest, stdout, stderr)
	case "models":
		err = cmdModels(ctx, rest, stdout, stderr)
	case "rollout":
		err = cmdRollout(ctx, rest, stdout, stderr)
	case "users":
		err = cmdUsers(ctx, rest, stdin, stdout, stderr)
	case "keys":
		err = cmdKeys(ctx, rest, stdout, stderr)
	case "audit":
		err = cmdAudit(ctx, rest, stdout, stderr)
	case "catalogue", "catalog":
		err = cmdCatalogue(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "transcept", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "transcept: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		if ue.help {
			return exitOK
		}
		if ue.msg != "" {
			fmt.Fprintf(stderr, "transcept %s: %s\n", cmd, ue.msg)
		}
		return exitUsage
	}
	fmt.Fprintf(stderr, "transcept %s: %s\n", cmd, lecture.ErrorMessage(err))
	if c := lecture.ErrorCode(err); c == lecture.EINTERNAL {
		fmt.Fprintf(stderr, "  cause: %v\n", err)
	}
	switch lecture.ErrorCode(err) {
	case lecture.ENOTFOUND:
		return exitNotFound
	case lecture.EINVALID, lecture.ETOOLARGE, lecture.EUNSUPPORTED:
		return exitInvalid
	}
	return exitFailure
}

// usageError reports bad command-line use; the message is printed with the
// command name and the program exits 2.
type usageError struct {
	msg  string
	help bool // --help was asked for: not an error
}

func (e usageError) Error() string { return e.msg }
