#!/usr/bin/env bash
# Install what the tests need on a fresh Debian machine: from apt (when root)
# redis-server, ffmpeg, the shell linter, wrk and the LibriVox test clips; and a
# MinIO server built from the Go module proxy into the tools cache (built once).
#
# Environment:
#   TRANSCEPT_TOOLS_DIR  cache directory (default: $HOME/.cache/transcept-bin)
#   MINIO_VERSION        MinIO module version (default below)
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
TOOLS_DIR="${TRANSCEPT_TOOLS_DIR:-$HOME/.cache/transcept-bin}"
log() { printf 'tools: %s\n' "$*" >&2; }

missing=()
for pkg in redis-server:redis-server ffmpeg:ffmpeg shellcheck:shellcheck redis-cli:redis-tools curl:curl wrk:wrk /usr/share/pocketsphinx/test/data/librivox/transcription:pocketsphinx-testdata; do
	what=${pkg%%:*}
	if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null 2>&1 && continue; fi
	missing+=("${pkg#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		log "installing ${missing[*]} with apt"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	else
		log "missing ${missing[*]}: run 'sudo apt-get install ${missing[*]}' (tests that need them will skip)"
	fi
fi

mkdir -p "$TOOLS_DIR"
minio="$TOOLS_DIR/minio"
if [ -x "$minio" ] && [ "$(cat "$minio.version" 2>/dev/null)" = "$MINIO_VERSION" ]; then
	log "minio $MINIO_VERSION cached at $minio"
elif [ -x "$minio" ] && [ ! -f "$minio.version" ] && "$minio" --version >/dev/null 2>&1; then
	echo "$MINIO_VERSION" >"$minio.version"
	log "minio cached at $minio"
else
	log "building minio $MINIO_VERSION (about 9 minutes, once)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && GOBIN="$tmp/bin" GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$MINIO_VERSION")
	mv "$tmp/bin/minio" "$minio"
	echo "$MINIO_VERSION" >"$minio.version"
	log "minio built at $minio"
fi
