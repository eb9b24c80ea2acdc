#!/usr/bin/env bash
# The ONNX Runtime settings behind the functions' defaults, measured
# (`make bench-defaults`): for BART (DistilBART-CNN-6-6 size) and Whisper
# (whisper-tiny size), random-weight folders at fp32, q8 and q4 (written and
# quantised once by tests/bench-models.sh), each setting on its own against
# the default, in fresh processes:
#
#   default        prepacking on, the optimised-model cache on (warm)
#   no cache       prepacking on, sessions built from the .onnx files
#   no prepack     prepacking off (TRANSCEPT_ORT_PREPACK=false), cache on
#   neither        both off
#   no spinning    worker threads sleep between operators
#                  (session.intra_op.allow_spinning=0)
#   no arena       ONNX Runtime's CPU memory arena off
#   uint8 weights  q8 only: the files' uint8 weights as they are
#                  (TRANSCEPT_ORT_INT8_WEIGHTS=off)
#
# and prints, per model, dtype and setting: load time (process start to
# ready, median of DEFAULTS_LOADS), resident set after the load, then from
# one generation process the encoder's run per input (BART: 512 tokens;
# Whisper: a 30 s window), the cached decoder step and the peak resident
# set. The instruct LM (Qwen2.5-0.5B size, "lm") runs through its
# side-by-side benchmark (gpu-runtime/causal, a 517-token prompt, 32 new
# tokens, two runs, ids checked against transformers.js) with the settings
# it has (it loads a rewritten copy of its file, so no cache; spinning is
# TRANSCEPT_QA_SPIN, measured by tests/reference/causal-bench.sh): load
# time, time to first token in the encoder column, the decode step.
# DEFAULTS_THREADS intra-op threads (default: nproc, as a function with
# ONNX Runtime's default; the LM runs at DEFAULTS_LM_THREADS, default 1),
# DEFAULTS_MODELS (bart whisper lm), DEFAULTS_DTYPES (fp32 q8 q4). Run from the repository root after `make
# tools`; the folders live under ${TRANSCEPT_BENCH_DIR:-~/.cache/transcept-bench}.
set -euo pipefail
threads=${DEFAULTS_THREADS:-$(nproc)}
loads=${DEFAULTS_LOADS:-3}
read -r -a models <<<"${DEFAULTS_MODELS:-bart whisper lm}"
lm_threads=${DEFAULTS_LM_THREADS:-1}
read -r -a dtypes <<<"${DEFAULTS_DTYPES:-fp32 q8 q4}"
root=${TRANSCEPT_BENCH_DIR:-$HOME/.cache/transcept-bench}
bart=$root/distilbart-6-6 whisper=$root/whisper-tiny-size-random qwen=$root/qwen2.5-0.5b-random
data=$(realpath -m "${TRANSCEPT_EVAL_DATA:-../shared/data}")
for d in "${dtypes[@]}"; do
	for m in "${models[@]}"; do
		stem=decoder_model_merged dir=$bart
		[[ $m == whisper ]] && dir=$whisper
		[[ $m == lm ]] && stem=model dir=$qwen
		case $d in fp32) f=$stem.onnx ;; q8) f=${stem}_quantized.onnx ;; *) f=${stem}_$d.onnx ;; esac
		[[ -f $dir/onnx/$f ]] || { echo "bench-defaults: $dir has no $d files: run tests/bench-models.sh $d first" >&2; exit 1; }
	done
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bart-bench" ./tests/testkit/cmd/bart-bench
go test -c -o "$tmp/whisper.test" ./gpu-runtime/whisper
go test -c -o "$tmp/causal.test" ./gpu-runtime/causal
awk 'BEGIN { printf "[0"; for (i = 0; i < 510; i++) printf ",%d", 4 + (i * 7919 + 13) % 49996; print ",2]" }' >"$tmp/ids.json"
# 30 s of FLEURS speech for Whisper
for c in "$data"/audio/fleurs-en-*.ogg; do ffmpeg -nostdin -v error -i "$c" -ac 1 -ar 16000 -f f32le - >>"$tmp/once.f32"; done
while (($(stat -c %s "$tmp/audio.f32" 2>/dev/null || echo 0) < 30 * 64000)); do cat "$tmp/once.f32" >>"$tmp/audio.f32"; done
truncate -s $((30 * 64000)) "$tmp/audio.f32"

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
json() { sed -E "s/.*\"$1\":\[?([0-9.]+).*/\1/" <<<"$2"; }
jsonmean() { sed -E "s/.*\"$1\":\[([0-9.,]+)\].*/\1/" <<<"$2" | tr ',' '\n' | awk '{s += $1} END {printf "%.1f", s / NR}'; }
kv() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<"$2"; }

# setting NAME → bart-bench flags, and the Whisper benchmark's environment
declare -A bflags=([default]="" ["no cache"]="NOCACHE" ["no prepack"]="-no-prepack" [neither]="-no-prepack NOCACHE"
	["no spinning"]="-set session.intra_op.allow_spinning=0" ["no arena"]="-no-arena" ["uint8 weights"]="-int8 off")
declare -A wenv=([default]="" ["no cache"]="NOCACHE" ["no prepack"]="TRANSCEPT_BENCH_NO_PREPACK=1" [neither]="TRANSCEPT_BENCH_NO_PREPACK=1 NOCACHE"
	["no spinning"]="TRANSCEPT_BENCH_SPIN=0" ["no arena"]="TRANSCEPT_BENCH_NO_ARENA=1" ["uint8 weights"]="TRANSCEPT_BENCH_INT8=off")
settings=(default "no cache" "no prepack" neither "no spinning" "no arena" "uint8 weights")

echo "bench-defaults: ${models[*]} × ${dtypes[*]}, $threads intra-op threads, $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" >&2
echo "| model | dtype | setting | load ms (median of $loads) | RSS after load MB | encoder ms | cached decoder step ms | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
for m in "${models[@]}"; do
	for d in "${dtypes[@]}"; do
		cache=$tmp/cache-$m-$d
		for s in "${settings[@]}"; do
			[[ $s == "uint8 weights" && $d != q8 ]] && continue
			# q4 without prepacking takes over half a second a decoder step
			# (BART's rows show it): a Whisper window would run for minutes
			[[ $m == whisper && $d == q4 && ($s == "no prepack" || $s == neither) ]] && {
				echo "| Whisper | q4 | $s | (skipped: about 0.6 s a decoder step, as BART's q4 rows show) | | | | |"
				continue
			}
			if [[ $m == lm ]]; then
				[[ $s == default || $s == "no prepack" || $s == "uint8 weights" ]] || continue
				ref=$tmp/lm-ref-$d.json
				[[ -f $ref ]] || (cd tests/reference && CAUSAL_BENCH_NODE_THREADS=$lm_threads TRANSCEPT_BENCH_DTYPE=$d node causal-bench.mjs "$qwen" 32 1) >"$ref"
				e=()
				[[ $s == "no prepack" ]] && e+=(TRANSCEPT_BENCH_NO_PREPACK=1)
				[[ $s == "uint8 weights" ]] && e+=(TRANSCEPT_BENCH_INT8=off)
				o=$(env "${e[@]}" TRANSCEPT_BENCH_DTYPE="$d" TRANSCEPT_CAUSAL_BENCH_REF="$ref" TRANSCEPT_CAUSAL_BENCH_DIR="$qwen" TRANSCEPT_CAUSAL_BENCH_RUNS=2 \
					TRANSCEPT_CAUSAL_BENCH_THREADS="$lm_threads" "$tmp/causal.test" -test.run '^TestBenchAgainstTransformersJS$' -test.count 1 2>/dev/null |
					sed -n 's/^causal-bench-result //p' || true)
				[[ -n $o ]] || { echo "bench-defaults: LM $d $s failed" >&2; exit 1; }
				node -e '
const r = JSON.parse(process.argv[1]);
console.log(`| LM (${process.argv[4]} thread) | ${process.argv[2]} | ${process.argv[3]} | ${r.load_ms.toFixed(0)} | – | ${r.ttft_ms.median.toFixed(0)} (to the first token) | ${(1000 / r.decode_tok_s.median).toFixed(1)} | ${r.peak_rss_mb.toFixed(0)} |${r.ids_identical ? "" : " (ids differ from transformers.js)"}`);' "$o" "$d" "$s" "$lm_threads"
			elif [[ $m == bart ]]; then
				fl=${bflags[$s]}
				c=(-cache "$cache")
				[[ $fl == *NOCACHE* ]] && c=()
				read -r -a f <<<"${fl//NOCACHE/}"
				b=("$tmp/bart-bench" -model "$bart" -ids "$tmp/ids.json" -threads "$threads" -dtype "$d" "${c[@]}" "${f[@]}")
				"${b[@]}" -load-only >/dev/null 2>&1 # the cache's first build, not timed
				ls=() rs=()
				for _ in $(seq "$loads"); do
					o=$("${b[@]}" -load-only 2>/dev/null)
					ls+=("$(json load_ms "$o")") rs+=("$(json peak_rss_bytes "$o")")
				done
				o=$("${b[@]}" -new 32 -runs 2 2>/dev/null)
				printf '| BART | %s | %s | %.0f | %.0f | %s | %s | %.0f |\n' "$d" "$s" "$(echo "${ls[*]}" | median)" "$(echo "${rs[*]}" | median | awk '{print $1 / 1048576}')" \
					"$(jsonmean encoder_ms "$o")" "$(jsonmean cached_step_ms "$o")" "$(json peak_rss_bytes "$o" | awk '{print $1 / 1048576}')"
			else
				e=${wenv[$s]}
				envs=("TRANSCEPT_BENCH_ORT_CACHE=$cache")
				[[ $e == *NOCACHE* ]] && envs=()
				read -r -a more <<<"${e//NOCACHE/}"
				w=(env "${envs[@]}" "${more[@]}" TRANSCEPT_BENCH_MODEL="$whisper" TRANSCEPT_BENCH_F32="$tmp/audio.f32" TRANSCEPT_BENCH_THREADS="$threads" TRANSCEPT_BENCH_DTYPE="$d"
					"$tmp/whisper.test" -test.run '^TestLongFormBench$' -test.count 1)
				"${w[@]}" >/dev/null 2>&1 || true # the cache's first build
				ls=() rs=() o=
				for _ in $(seq "$loads"); do
					o=$("${w[@]}" 2>/dev/null | grep '^whisper-bench-asr go:') || { echo "bench-defaults: Whisper $d $s failed" >&2; exit 1; }
					ls+=("$(kv load_ms "$o")") rs+=("$(kv rss_after_load_mb "$o")")
				done
				printf '| Whisper | %s | %s | %.0f | %.0f | %.1f | %.2f | %s |\n' "$d" "$s" "$(echo "${ls[*]}" | median)" "$(echo "${rs[*]}" | median)" \
					"$(kv encoder_ms "$o" | awk -v n="$(kv encoder_runs "$o")" '{print $1 / n}')" "$(kv decoder_ms "$o" | awk -v n="$(kv decoder_runs "$o")" '{print $1 / n}')" "$(kv peak_rss_mb "$o")"
			fi
		done
	done
done
echo "bench-defaults: done, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" >&2
