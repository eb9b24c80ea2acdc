#!/usr/bin/env bash
# Memory of a whole-lecture transcription: `transcept transcribe` on a long
# compressed recording, the real path (ffmpeg stream → 30-second windows →
# log-mel → ONNX encoder → decoder), with peak RSS, RSS over time and wall
# time. Run from the repository root:
#
#   tests/whisper-rss.sh [HOURS [MODEL]]
#
# HOURS (default 6; fractions such as 0.1 are fine): the shared FLEURS clips (../shared/data/audio, or
# $TRANSCEPT_EVAL_DATA) with 3 s of silence after each, repeated to that
# length and encoded as 16 kb/s Opus (about 7 MB an hour), made once under
# ~/.cache/transcept-bench/ (never commit it).
#
# MODEL (default: a whisper-tiny-shaped random folder written once to
# ~/.cache/transcept-bench/whisper-tiny-size-silent): that folder's
# <|nospeech|> and <|endoftext|> logits carry +50, so every window is
# silence to openai-whisper's checks after one decoding pass of one step.
# A random model otherwise decodes every window to max_length six times
# (temperature fallback), days of CPU for 6 hours; with this one the run
# measures what grows with the recording: decoding and resampling the file,
# the features and the encoder for every 30 s window (720 for 6 hours), the
# decoder's first step (cross-attention cache) per window, and the
# transcript. TRANSCEPT_RSS_LOG=FILE also appends the samples ("seconds
# KiB") to FILE as they are taken.
set -euo pipefail
hours=${1:-6}
model=${2:-}
data=$(realpath -m "${TRANSCEPT_EVAL_DATA:-../shared/data}")
cache=${TRANSCEPT_BENCH_CACHE:-$HOME/.cache/transcept-bench}
mkdir -p "$cache"
command -v ffmpeg >/dev/null || { echo "whisper-rss: ffmpeg not found" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "whisper-rss: /usr/bin/time not found (Debian package time)" >&2; exit 1; }
if [[ -z $model ]]; then
	model=$cache/whisper-tiny-size-silent
	if [[ ! -f $model/onnx/decoder_model_merged.onnx ]]; then
		echo "whisper-rss: writing $model (about 150 MB, once)" >&2
		go run ./tests/testkit/cmd/write-whisper -o "$model" -size whisper-tiny -nospeech-bias 50 -eos-bias 50
	fi
fi
tmp=$(mktemp -d)
pid=
child=
trap 'if [[ -n $pid ]]; then kill $child "$pid" 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT

rec=$cache/lecture-${hours}h.opus
if [[ ! -s $rec ]]; then
	clips=("$data"/audio/fleurs-en-*.ogg)
	[[ -f ${clips[0]} ]] || { echo "whisper-rss: no FLEURS clips in $data/audio (set TRANSCEPT_EVAL_DATA)" >&2; exit 1; }
	for c in "${clips[@]}"; do
		ffmpeg -nostdin -v error -i "$c" -ac 1 -ar 16000 -f s16le - >>"$tmp/unit.raw"
		head -c $((3 * 16000 * 2)) /dev/zero >>"$tmp/unit.raw"
	done
	echo "whisper-rss: encoding $hours h of audio to $rec (once)" >&2
	# one pass of the clips encoded, then copied end to end (no re-encoding)
	ffmpeg -nostdin -v error -f s16le -ar 16000 -ac 1 -i "$tmp/unit.raw" -c:a libopus -b:a 16k -application voip "$tmp/unit.opus"
	unit=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$tmp/unit.opus")
	n=$(awk -v h="$hours" -v u="$unit" 'BEGIN {printf "%d", h * 3600 / u + 1}')
	for ((i = 0; i < n; i++)); do echo "file '$tmp/unit.opus'"; done >"$tmp/list.txt"
	ffmpeg -nostdin -v error -f concat -safe 0 -i "$tmp/list.txt" -t "$(awk -v h="$hours" 'BEGIN {printf "%d", h * 3600}')" \
		-c copy "$rec.part.opus"
	mv "$rec.part.opus" "$rec"
fi
dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$rec")
echo "whisper-rss: $rec: $(awk -v d="$dur" 'BEGIN {printf "%.2f h", d / 3600}'), $(du -h "$rec" | cut -f1); model $model; $(nproc) cores" >&2

go build -o "$tmp/transcept" ./cmd/transcept
start=$(date +%s.%N)
TRANSCEPT_WHISPER_MODEL=$model /usr/bin/time -v -o "$tmp/time.txt" "$tmp/transcept" transcribe "$rec" --quiet --format json >"$tmp/out.json" 2>"$tmp/err.txt" &
pid=$!
# RSS of the transcept process every 5 s: elapsed seconds and KiB
sleep 1
child=$(pgrep -P "$pid" | head -1 || true)
while kill -0 "$pid" 2>/dev/null; do
	if [[ -n $child && -r /proc/$child/status ]]; then
		awk -v t="$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.0f", e - s}')" '/^VmRSS/ {print t, $2}' "/proc/$child/status" >>"$tmp/rss.txt" || true
		[[ -n ${TRANSCEPT_RSS_LOG:-} ]] && tail -1 "$tmp/rss.txt" >>"$TRANSCEPT_RSS_LOG"
	fi
	sleep 5
done
wait "$pid" || { cat "$tmp/err.txt" >&2; echo "whisper-rss: FAILED: transcept transcribe exited with an error" >&2; exit 1; }
pid=
wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
peak=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")
cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$tmp/time.txt")
segs=$( (grep -o '"start"' "$tmp/out.json" || true) | wc -l)
end=$( (grep -o '"end": *[0-9.]*' "$tmp/out.json" || true) | tail -1 | grep -o '[0-9.]*$' || true)
echo "whisper-rss: transcribed $(awk -v d="$dur" 'BEGIN {printf "%.2f", d / 3600}') h in $wall s wall ($cpu s CPU, $(awk -v d="$dur" -v w="$wall" 'BEGIN {printf "%.0f", d / w}')x real time); $segs segments, last ends at ${end:-0} s"
echo "whisper-rss: peak RSS $((peak / 1024)) MiB"
if [[ -s $tmp/rss.txt ]]; then
	# RSS after each sixth of the run: flat means bounded
	awk '{t[NR] = $1; r[NR] = $2} END {
		printf "whisper-rss: RSS over the run (s: MiB):"
		for (k = 1; k <= 6; k++) { i = int(NR * k / 6); if (i < 1) i = 1; printf " %s: %.0f", t[i], r[i] / 1024 }
		lo = 1e18; hi = 0
		for (i = int(NR / 6) + 1; i <= NR; i++) { lo = (r[i] < lo ? r[i] : lo); hi = (r[i] > hi ? r[i] : hi) }
		if (hi > 0) printf "\nwhisper-rss: after the first sixth RSS stays within %.0f … %.0f MiB\n", lo / 1024, hi / 1024
	}' "$tmp/rss.txt"
fi
