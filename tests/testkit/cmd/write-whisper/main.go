// Command write-whisper writes a random-weight Whisper model folder in
// Optimum's layout (see testmodels.WriteWhisper).
//
//	go run ./tests/testkit/cmd/write-whisper -o DIR [-size tiny|whisper-tiny] [-seed N] [-mels 80|128] [-eos-bias B] [-nospeech-bias B]
//
// The defaults write exactly testmodels.TinyWhisper(). The Whisper
// benchmarks (tests/reference/whisper-bench-asr.sh, tests/whisper-rss.sh)
// write -size whisper-tiny; there -nospeech-bias large makes every window
// silence to the long-form checks (one decoder step a window), -eos-bias
// large makes every decoding end at once: then a transcription measures
// reading the audio, the features and the encoder, not the decoder.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/transcept/transcept/tests/testkit/testmodels"
)

func main() {
	size := "tiny"
	for i, a := range os.Args[1:] { // -size picks the defaults the other flags start from
		if v, ok := strings.CutPrefix(a, "-size="); ok {
			size = v
		} else if a == "-size" && i+2 < len(os.Args) {
			size = os.Args[i+2]
		}
	}
	c := testmodels.TinyWhisper()
	switch size {
	case "tiny":
	case "whisper-tiny":
		c = testmodels.WhisperTinySize()
	default:
		fmt.Fprintf(os.Stderr, "write-whisper: unknown size %q (tiny or whisper-tiny)\n", size)
		os.Exit(2)
	}
	flag.String("size", "tiny", "tiny (tests) or whisper-tiny (whisper-tiny's shape, about 150 MB, for benchmarks)")
	out := flag.String("o", "", "output folder")
	seed := flag.Uint64("seed", 1, "random seed")
	mels := flag.Int("mels", 80, "mel bins (80 or 128)")
	eos := flag.Float64("eos-bias", float64(c.EOSBias), "added to <|endoftext|>'s logit")
	ts := flag.Float64("timestamp-bias", float64(c.TimestampBias), "added to every timestamp token's logit")
	embed := flag.Float64("embed-std", c.EmbedStd, "token embedding standard deviation")
	noSpeech := flag.Float64("nospeech-bias", float64(c.NoSpeechBias), "added to <|nospeech|>'s logit")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	c.Seed, c.NMels, c.EOSBias, c.TimestampBias, c.EmbedStd = *seed, *mels, float32(*eos), float32(*ts), *embed
	c.NoSpeechBias = float32(*noSpeech)
	if err := testmodels.WriteWhisper(*out, c); err != nil {
		fmt.Fprintln(os.Stderr, "write-whisper:", err)
		os.Exit(1)
	}
}
