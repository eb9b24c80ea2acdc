#!/usr/bin/env bash
# Load test: cached POST /summarize against `transcept serve` with Redis on
# loopback, 50 clients for 10 s. Prints the load generator's percentiles.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${CLIENTS:-50}
duration=${DURATION:-10s}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

command -v redis-server >/dev/null || { echo "bench: redis-server not found (apt-get install redis-server)" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 16399)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
pids+=($!)
go build -o "$tmp/transcept" ./cmd/transcept
go build -o "$tmp/loadgen" ./tests/loadgen
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

REDIS_URL="redis://127.0.0.1:$port/0" TRANSCEPT_STORE_DIR="$tmp/data" TRANSCEPT_LOG_LEVEL=warn \
	"$tmp/transcept" serve --addr 127.0.0.1:0 >"$tmp/serve.out" 2>"$tmp/serve.err" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^transcept listening on //p' "$tmp/serve.out")
[ -n "$base" ] || { cat "$tmp/serve.err" >&2; exit 1; }

# A lecture-sized request body: the first QMSum academic meeting if present
# (BODY=small: a 1.7 kB paragraph).
data=${TRANSCEPT_EVAL_DATA:-../shared/data}
if [ "${BODY:-meeting}" = small ]; then
	printf '{"text": "%s"}' "$(printf 'Entropy of an isolated system never decreases, so heat flows from hot to cold bodies. %.0s' $(seq 20))" >"$tmp/body.json"
elif [ -f "$data/qmsum/Academic/val/Bed002.json" ]; then
	python3 - "$data/qmsum/Academic/val/Bed002.json" >"$tmp/body.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
text = "\n".join(f"{t['speaker']}: {t['content']}" for t in m["meeting_transcripts"])
print(json.dumps({"text": text}))
PY
else
	printf '{"text": "%s"}' "$(printf 'Entropy grows in isolated systems. %.0s' $(seq 400))" >"$tmp/body.json"
fi
curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$tmp/body.json" "$base/summarize" # warm the cache
echo "cached POST /summarize, Redis on loopback, $clients clients, $duration, body $(wc -c <"$tmp/body.json") bytes:"
"$tmp/loadgen" -url "$base/summarize" -body "$tmp/body.json" -c "$clients" -d "$duration"
# wrk (Debian package), a C load generator, leaves more of the two cores to
# the server; its numbers sit beside ours when it is installed.
if command -v wrk >/dev/null; then
	cat >"$tmp/post.lua" <<LUA
local f = io.open("$tmp/body.json", "rb")
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA
	echo "same with wrk -t1 -c$clients -d$duration:"
	wrk -t1 -c"$clients" -d"$duration" --latency -s "$tmp/post.lua" "$base/summarize" | grep -E 'Requests/sec|Non-2xx|Socket errors|^ +(50|90|99)%'
fi
