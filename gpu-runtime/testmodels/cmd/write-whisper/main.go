// Command write-whisper writes a random-weight Whisper model folder in
// Optimum's layout (see testmodels.WriteWhisper).
//
//	go run ./gpu-runtime/testmodels/cmd/write-whisper -o DIR [-seed N] [-mels 80|128]
//
// The defaults write exactly testmodels.TinyWhisper().
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/transcept/transcept/gpu-runtime/testmodels"
)

func main() {
	c := testmodels.TinyWhisper()
	out := flag.String("o", "", "output folder")
	seed := flag.Uint64("seed", 1, "random seed")
	mels := flag.Int("mels", 80, "mel bins (80 or 128)")
	eos := flag.Float64("eos-bias", float64(c.EOSBias), "added to <|endoftext|>'s logit")
	ts := flag.Float64("timestamp-bias", float64(c.TimestampBias), "added to every timestamp token's logit")
	embed := flag.Float64("embed-std", c.EmbedStd, "token embedding standard deviation")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	c.Seed, c.NMels, c.EOSBias, c.TimestampBias, c.EmbedStd = *seed, *mels, float32(*eos), float32(*ts), *embed
	if err := testmodels.WriteWhisper(*out, c); err != nil {
		fmt.Fprintln(os.Stderr, "write-whisper:", err)
		os.Exit(1)
	}
}
