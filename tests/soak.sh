#!/usr/bin/env bash
# Soak test (not in CI): `transcept serve` with Redis on loopback under a
# steady mix of uploads, status polls, summaries and questions for
# SOAK_DURATION (30m), watching RSS, goroutines and open files (tests/soak).
# Fails on any request error or an upload that does not reach "ready".
#
# Environment: SOAK_DURATION (30m), SOAK_RATE (10 requests/s),
# SOAK_SAMPLE (1m), SOAK_READY_DEADLINE (2m), TRANSCEPT_BIN (a built
# transcept to use instead of building ./cmd/transcept).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${SOAK_DURATION:-30m}
rate=${SOAK_RATE:-10}
tmp=$(mktemp -d)
pids=()
# shellcheck disable=SC2317 # run by the trap
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

command -v redis-server >/dev/null || { echo "soak: redis-server not found (apt-get install redis-server)" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 16397)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
pids+=($!)
if [ -n "${TRANSCEPT_BIN:-}" ]; then cp "$TRANSCEPT_BIN" "$tmp/transcept"; else go build -o "$tmp/transcept" ./cmd/transcept; fi
go build -o "$tmp/soak" ./tests/soak
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

REDIS_URL="redis://127.0.0.1:$port/0" TRANSCEPT_STORE_DIR="$tmp/data" TRANSCEPT_LOG_LEVEL=warn \
	"$tmp/transcept" serve --addr 127.0.0.1:0 >"$tmp/serve.out" 2>"$tmp/serve.err" &
server=$!
pids+=("$server")
for _ in $(seq 100); do grep -q listening "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^transcept listening on //p' "$tmp/serve.out")
[ -n "$base" ] || { cat "$tmp/serve.err" >&2; exit 1; }

echo "soak: $base (pid $server), Redis on loopback, $duration at $rate req/s"
status=0
"$tmp/soak" -base "$base" -pid "$server" -d "$duration" -rate "$rate" \
	-sample "${SOAK_SAMPLE:-1m}" -ready-deadline "${SOAK_READY_DEADLINE:-2m}" || status=$?
if [ -s "$tmp/serve.err" ]; then
	echo "server log (warnings and errors), last lines:"
	tail -n 20 "$tmp/serve.err"
fi
kill -0 "$server" 2>/dev/null || { echo "soak: the server exited" >&2; status=1; }
exit "$status"
