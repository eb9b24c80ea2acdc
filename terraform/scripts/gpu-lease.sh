#!/usr/bin/env bash
# Reserve Chameleon hosts with a Blazar lease and hand the reservation ids to
# Terraform. The OpenStack provider has no lease resource, so this wraps
# `openstack reservation lease create` (python-blazarclient plugin of the
# openstack CLI) and writes terraform/lease.auto.tfvars, which Terraform and
# OpenTofu load by themselves.
#
# Usage: gpu-lease.sh [create|status|extend|delete|tfvars]   (default: create)
#   create   create the lease (unless it exists), wait until ACTIVE, write tfvars
#   status   show the lease
#   extend   push the end date DURATION_HOURS further (Chameleon allows up to 7 days)
#   delete   delete the lease (after `terraform destroy`: it frees the hosts)
#   tfvars   (re)write the tfvars file from an existing lease
#
# Settings (environment):
#   LEASE_NAME      lease name                     (default: transcept-$USER)
#   SITE            Chameleon site / region        (default: $OS_REGION_NAME or CHI@UC)
#   GPU_NODE_TYPE   Blazar node_type of GPU hosts  (default: gpu_rtx_6000; or gpu_a100_pcie, ...)
#   GPU_NODES       GPU hosts to reserve           (default: 2)
#   CPU_NODE_TYPE   node_type of plain hosts       (default: compute_cascadelake_r)
#   CPU_NODES       plain hosts to reserve         (default: 0: the k3s server runs on a GPU host)
#   DURATION_HOURS  lease length from now          (default: 24)
#   START_DATE      "YYYY-MM-DD HH:MM" UTC         (default: now)
#   EXTERNAL_NETWORK  floating IP network          (default: public)
#   TFVARS          output file                    (default: terraform/lease.auto.tfvars next to this script)
#   WAIT_SECONDS    how long to wait for ACTIVE    (default: 1800)
#   DRY_RUN=1       print the openstack commands that would change things, run none of them
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LEASE_NAME="${LEASE_NAME:-transcept-${USER:-operator}}"
SITE="${SITE:-${OS_REGION_NAME:-CHI@UC}}"
GPU_NODE_TYPE="${GPU_NODE_TYPE:-gpu_rtx_6000}"
GPU_NODES="${GPU_NODES:-2}"
CPU_NODE_TYPE="${CPU_NODE_TYPE:-compute_cascadelake_r}"
CPU_NODES="${CPU_NODES:-0}"
DURATION_HOURS="${DURATION_HOURS:-24}"
START_DATE="${START_DATE:-}"
EXTERNAL_NETWORK="${EXTERNAL_NETWORK:-public}"
TFVARS="${TFVARS:-$SCRIPT_DIR/../lease.auto.tfvars}"
WAIT_SECONDS="${WAIT_SECONDS:-1800}"
DRY_RUN="${DRY_RUN:-0}"

log() { printf 'gpu-lease: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# Runs openstack, or prints it under DRY_RUN=1 (for commands that change things).
run() {
	if [[ "$DRY_RUN" == 1 ]]; then
		printf 'DRY_RUN:'
		printf ' %q' "$@"
		printf '\n'
		return 0
	fi
	"$@"
}

check_inputs() {
	command -v openstack >/dev/null 2>&1 || die "the openstack CLI is missing (pip install python-openstackclient python-blazarclient)"
	command -v python3 >/dev/null 2>&1 || die "python3 is missing"
	[[ "$GPU_NODES" =~ ^[0-9]+$ && "$CPU_NODES" =~ ^[0-9]+$ ]] || die "GPU_NODES and CPU_NODES must be whole numbers"
	((GPU_NODES + CPU_NODES > 0)) || die "reserve at least one host"
	if ! [[ "$DURATION_HOURS" =~ ^[0-9]+$ ]] || ((DURATION_HOURS < 1 || DURATION_HOURS > 168)); then
		die "DURATION_HOURS must be 1..168 (Chameleon leases last at most 7 days)"
	fi
	[[ "$LEASE_NAME" =~ ^[A-Za-z0-9_.-]+$ ]] || die "LEASE_NAME may hold letters, digits, '.', '_' and '-'"
	if [[ -z "${OS_CLOUD:-}" && -z "${OS_AUTH_URL:-}" ]]; then
		die "no credentials: source your Chameleon openrc file or set OS_CLOUD (clouds.yaml)"
	fi
}

# The --reservation argument for COUNT hosts of NODE_TYPE.
host_reservation() {
	# shellcheck disable=SC2016 # $node_type is Blazar's host property, not a shell variable
	printf 'min=%s,max=%s,resource_type=physical:host,resource_properties=["=", "$node_type", "%s"]' "$1" "$1" "$2"
}

lease_json() {
	openstack reservation lease show "$LEASE_NAME" -f json
}

lease_exists() {
	openstack reservation lease show "$LEASE_NAME" -f value -c id >/dev/null 2>&1
}

# Prints "STATUS END_DATE GPU_RESERVATION_ID CPU_RESERVATION_ID" of the lease
# (ids "-" when absent). Blazar clients differ in how they print reservations:
# a list, one JSON string, or JSON objects one a line; all are accepted.
lease_fields() {
	lease_json | GPU_NODE_TYPE="$GPU_NODE_TYPE" CPU_NODE_TYPE="$CPU_NODE_TYPE" python3 -c '
import json, os, sys
lease = json.load(sys.stdin)
res = lease.get("reservations") or []
if isinstance(res, str):
    try:
        res = json.loads(res)
    except ValueError:
        res = [json.loads(line) for line in res.splitlines() if line.strip()]
if isinstance(res, dict):
    res = [res]
ids = {"gpu": "-", "cpu": "-"}
for r in res:
    if isinstance(r, str):
        r = json.loads(r)
    props = r.get("resource_properties") or ""
    if os.environ["GPU_NODE_TYPE"] in props:
        ids["gpu"] = r["id"]
    elif os.environ["CPU_NODE_TYPE"] in props:
        ids["cpu"] = r["id"]
print(lease.get("status") or "-", (lease.get("end_date") or "-").replace(" ", "T"), ids["gpu"], ids["cpu"])
'
}

create_lease() {
	if lease_exists; then
		log "lease $LEASE_NAME exists: reusing it"
		return 0
	fi
	local end
	if [[ -n "$START_DATE" ]]; then
		end=$(date -u -d "$START_DATE UTC + $DURATION_HOURS hours" '+%Y-%m-%d %H:%M')
	else
		end=$(date -u -d "+$DURATION_HOURS hours" '+%Y-%m-%d %H:%M')
	fi
	local -a cmd=(openstack reservation lease create)
	if ((GPU_NODES > 0)); then
		cmd+=(--reservation "$(host_reservation "$GPU_NODES" "$GPU_NODE_TYPE")")
	fi
	if ((CPU_NODES > 0)); then
		cmd+=(--reservation "$(host_reservation "$CPU_NODES" "$CPU_NODE_TYPE")")
	fi
	if [[ -n "$START_DATE" ]]; then
		cmd+=(--start-date "$START_DATE")
	fi
	cmd+=(--end-date "$end" "$LEASE_NAME")
	log "creating lease $LEASE_NAME at $SITE: $GPU_NODES x $GPU_NODE_TYPE, $CPU_NODES x $CPU_NODE_TYPE, until $end UTC"
	run "${cmd[@]}"
}

wait_active() {
	local deadline=$((SECONDS + WAIT_SECONDS)) status
	while :; do
		read -r status _ <<<"$(lease_fields)"
		case "$status" in
		ACTIVE) return 0 ;;
		ERROR | TERMINATED | DELETED) die "lease $LEASE_NAME is $status: openstack reservation lease show $LEASE_NAME" ;;
		esac
		((SECONDS < deadline)) || die "lease $LEASE_NAME still $status after ${WAIT_SECONDS}s (hosts busy? try another START_DATE or node type)"
		log "lease $LEASE_NAME is $status; waiting"
		sleep 30
	done
}

write_tfvars() {
	local status end gpu cpu token="" ext
	read -r status end gpu cpu <<<"$(lease_fields)"
	[[ "$gpu" != - || "$cpu" != - ]] || die "lease $LEASE_NAME has no $GPU_NODE_TYPE or $CPU_NODE_TYPE reservation"
	[[ "$gpu" == - ]] && gpu=""
	[[ "$cpu" == - ]] && cpu=""
	ext=$(openstack network show "$EXTERNAL_NETWORK" -f value -c id)

	# The server takes one host: of the CPU reservation if there is one, else of the GPU one.
	local gpu_agents=$GPU_NODES cpu_agents=0
	if [[ -n "$cpu" ]]; then
		cpu_agents=$((CPU_NODES - 1))
	else
		gpu_agents=$((GPU_NODES - 1))
	fi
	[[ -n "$gpu" ]] || gpu_agents=0

	# Keep the join token of an earlier run: the cluster depends on it.
	if [[ -f "$TFVARS" ]]; then
		token=$(sed -n 's/^k3s_token *= *"\([A-Za-z0-9]*\)"$/\1/p' "$TFVARS")
	fi
	if [[ -z "$token" ]]; then
		token=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
	fi

	(
		umask 077
		cat >"$TFVARS" <<TFVARS
# Written by terraform/scripts/gpu-lease.sh for lease $LEASE_NAME ($status, ends $end UTC).
# Holds the k3s join token: keep it out of version control.
site                = "$SITE"
gpu_reservation_id  = "$gpu"
cpu_reservation_id  = "$cpu"
server_count        = 1
gpu_node_count      = $gpu_agents
cpu_node_count      = $cpu_agents
external_network_id = "$ext"
k3s_token           = "$token"
TFVARS
	)
	log "wrote $TFVARS (gpu_reservation_id=${gpu:-none} cpu_reservation_id=${cpu:-none}, lease ends $end UTC)"
}

main() {
	local action="${1:-create}"
	case "$action" in
	-h | --help | help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
		return 0
		;;
	esac
	check_inputs
	case "$action" in
	create)
		create_lease
		if [[ "$DRY_RUN" == 1 ]]; then
			return 0
		fi
		wait_active
		write_tfvars
		;;
	status) openstack reservation lease show "$LEASE_NAME" ;;
	extend)
		local end
		read -r _ end _ <<<"$(lease_fields)"
		end=$(date -u -d "${end/T/ } UTC + $DURATION_HOURS hours" '+%Y-%m-%d %H:%M')
		run openstack reservation lease update --end-date "$end" "$LEASE_NAME"
		;;
	delete) run openstack reservation lease delete "$LEASE_NAME" ;;
	tfvars) write_tfvars ;;
	*) die "unknown action '$action' (create|status|extend|delete|tfvars)" ;;
	esac
}

main "$@"
