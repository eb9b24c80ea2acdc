#!/usr/bin/env bash
# make observe: Prometheus on this machine, scraping `transcept serve` with
# the project's recording and alert rules (infra/monitoring/local/rules.yaml,
# the groups of prometheusrule.yaml). Starts the server too when nothing
# answers on TRANSCEPT_ADDR. Ctrl-C stops both.
#
#   TRANSCEPT_ADDR    the server (default 127.0.0.1:8080)
#   PROMETHEUS_ADDR   Prometheus's own address (default 127.0.0.1:9090)
set -euo pipefail
cd "$(dirname "$0")/../.."
addr="${TRANSCEPT_ADDR:-127.0.0.1:8080}"
prom_addr="${PROMETHEUS_ADDR:-127.0.0.1:9090}"
if ! command -v prometheus >/dev/null 2>&1; then
	echo "observe: prometheus is not installed: apt-get install prometheus" >&2
	exit 1
fi
work="${TRANSCEPT_STORE_DIR:-./data}/prometheus"
mkdir -p "$work"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT INT TERM
if ! curl -fsS "http://$addr/healthz" >/dev/null 2>&1; then
	go build -o bin/transcept ./cmd/transcept
	TRANSCEPT_ADDR="$addr" ./bin/transcept serve &
	pids+=($!)
	for _ in $(seq 50); do curl -fsS "http://$addr/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
fi
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $PWD/infra/monitoring/local/rules.yaml
scrape_configs:
  - job_name: transcept
    static_configs:
      - targets: ['$addr']
YAML
echo "observe: Prometheus on http://$prom_addr (alerts: http://$prom_addr/alerts), scraping http://$addr/metrics" >&2
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" --web.listen-address="$prom_addr" --log.level=warn &
pids+=($!)
wait -n "${pids[@]}"
