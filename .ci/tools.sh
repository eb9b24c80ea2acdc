#!/usr/bin/env bash
# Install what the tests need on a fresh Debian machine: from apt (when root)
# redis-server, ffmpeg, the shell linter, wrk, the LibriVox test clips and the
# PostgreSQL server (its initdb in /usr/lib/postgresql/*/bin); and a
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
for pkg in redis-server:redis-server prometheus:prometheus ffmpeg:ffmpeg shellcheck:shellcheck redis-cli:redis-tools curl:curl wrk:wrk chromium:chromium /usr/share/pocketsphinx/test/data/librivox/transcription:pocketsphinx-testdata '/usr/lib/postgresql/*/bin/initdb:postgresql'; do
	what=${pkg%%:*}
	if [[ $what == /* ]]; then compgen -G "$what" >/dev/null && continue; else command -v "$what" >/dev/null 2>&1 && continue; fi
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

# Ory Hydra (the OpenID Connect provider of the sign-in tests). `go install`
# refuses it (its go.mod replaces github.com/ory/hydra-client-go/v2 with
# ./internal/httpclient, a nested module missing from the module zip), so the
# module source is downloaded and built as the main module with that replace
# dropped (the published hydra-client-go it then uses is only needed by the
# CLI's client commands), with SQLite (cgo: needs gcc) for DSN=memory.
# HYDRA_VERSION overrides the version.
HYDRA_VERSION="${HYDRA_VERSION:-v2.3.0}"
hydra="$TOOLS_DIR/hydra"
hydra_stamp="$HYDRA_VERSION+sqlite"
if [ -x "$hydra" ] && [ "$(cat "$hydra.version" 2>/dev/null)" = "$hydra_stamp" ]; then
	log "hydra $HYDRA_VERSION cached at $hydra"
elif ! command -v gcc >/dev/null 2>&1 && [ "$(id -u)" != 0 ]; then
	log "hydra needs gcc (cgo SQLite): run 'sudo apt-get install gcc libc6-dev' (the OIDC tests will skip)"
else
	if ! command -v gcc >/dev/null 2>&1; then
		log "installing gcc with apt (hydra's SQLite needs cgo)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
	fi
	log "building hydra $HYDRA_VERSION (about 3 minutes, once)"
	htmp=$(mktemp -d)
	(
		trap 'chmod -R u+w "$htmp" 2>/dev/null; rm -rf "$htmp"' EXIT
		src=$(cd "$htmp" && go mod download -json "github.com/ory/hydra/v2@$HYDRA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		if [ -z "$src" ] || [ ! -d "$src" ]; then
			log "hydra: go mod download gave no source directory"
			exit 1
		fi
		cp -r "$src" "$htmp/src"
		chmod -R u+w "$htmp/src"
		cd "$htmp/src"
		go mod edit -dropreplace=github.com/ory/hydra-client-go/v2
		CGO_ENABLED=1 GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -tags sqlite,sqlite_omit_load_extension -o "$htmp/hydra" \
			-ldflags "-X github.com/ory/hydra/v2/driver/config.Version=$HYDRA_VERSION" .
		mv "$htmp/hydra" "$hydra"
	)
	echo "$hydra_stamp" >"$hydra.version"
	log "hydra built at $hydra"
fi
