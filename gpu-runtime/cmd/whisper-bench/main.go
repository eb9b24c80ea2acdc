// Command whisper-bench writes the random-weight Whisper folders that the
// Whisper benchmarks use (tests/reference/whisper-bench-asr.sh,
// tests/whisper-rss.sh):
//
//	go run ./gpu-runtime/cmd/whisper-bench -o DIR [-size whisper-tiny|tiny] [-eos-bias B] [-nospeech-bias B]
//
// -nospeech-bias large makes every window silence to the long-form checks
// (one decoder step a window), -eos-bias large makes every decoding end at
// once: then a transcription measures reading the audio, the features and
// the encoder, not the decoder.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/transcept/transcept/gpu-runtime/testmodels"
)

func main() {
	out := flag.String("o", "", "output folder")
	size := flag.String("size", "whisper-tiny", "whisper-tiny (whisper-tiny's shape, about 150 MB) or tiny (d_model 32)")
	eos := flag.Float64("eos-bias", 0, "added to <|endoftext|>'s logit (0: the size's default)")
	noSpeech := flag.Float64("nospeech-bias", 0, "added to <|nospeech|>'s logit")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	var c testmodels.WhisperConfig
	switch *size {
	case "whisper-tiny":
		c = testmodels.WhisperTinySize()
	case "tiny":
		c = testmodels.TinyWhisper()
	default:
		fmt.Fprintf(os.Stderr, "whisper-bench: unknown size %q (whisper-tiny or tiny)\n", *size)
		os.Exit(2)
	}
	if *eos != 0 {
		c.EOSBias = float32(*eos)
	}
	c.NoSpeechBias = float32(*noSpeech)
	if err := testmodels.WriteWhisper(*out, c); err != nil {
		fmt.Fprintln(os.Stderr, "whisper-bench:", err)
		os.Exit(1)
	}
}
