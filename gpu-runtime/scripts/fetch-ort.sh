#!/usr/bin/env bash
# Install the ONNX Runtime shared library (CPU, Linux x64) that gpu-runtime/ort
# loads, taken from the npm package onnxruntime-node: `npm pack` fetches the
# archive without running its install scripts, and only libonnxruntime.so.1 is
# kept, after its sha256 is checked. Does nothing when the library is already
# installed with the right hash.
#
# Environment:
#   TRANSCEPT_TOOLS_DIR   cache directory (default: $HOME/.cache/transcept-bin)
#   ORT_NPM_VERSION       onnxruntime-node version (default below; the hash must match)
#   ORT_SHA256            expected sha256 of libonnxruntime.so.1 (default below)
#
# Result: $TRANSCEPT_TOOLS_DIR/onnxruntime/libonnxruntime.so.1 (+ .version), the
# second place gpu-runtime/ort looks, after TRANSCEPT_ORT_LIB.
set -euo pipefail

ORT_NPM_VERSION="${ORT_NPM_VERSION:-1.30.0}"
ORT_SHA256="${ORT_SHA256:-ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23}"
TOOLS_DIR="${TRANSCEPT_TOOLS_DIR:-$HOME/.cache/transcept-bin}"
DEST_DIR="$TOOLS_DIR/onnxruntime"
DEST="$DEST_DIR/libonnxruntime.so.1"
MEMBER="package/bin/napi-v6/linux/x64/libonnxruntime.so.1"

log() { printf 'fetch-ort: %s\n' "$*" >&2; }

# shellcheck source=gpu-runtime/scripts/npm-file.sh
source "$(dirname "${BASH_SOURCE[0]}")/npm-file.sh"

if [[ -f "$DEST" && "$(sha "$DEST")" == "$ORT_SHA256" ]]; then
	log "ONNX Runtime (onnxruntime-node $ORT_NPM_VERSION) cached at $DEST"
	exit 0
fi

command -v npm >/dev/null 2>&1 || {
	log "npm is not on PATH; install Node.js, or download the official ONNX Runtime"
	log "release archive (onnxruntime-linux-x64-<version>.tgz, lib/libonnxruntime.so.*)"
	log "and set TRANSCEPT_ORT_LIB to the library"
	exit 1
}

npm_file "onnxruntime-node@$ORT_NPM_VERSION" "$MEMBER" "$ORT_SHA256" "$DEST" "about 113 MB"
