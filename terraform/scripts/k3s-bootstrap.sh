#!/usr/bin/env bash
# Bootstraps one Transcept k3s node. cloud-init runs it once at first boot with
# the node's settings in /etc/transcept/node.env (see terraform/cloud-init.tf):
#   1. GPU nodes: NVIDIA container toolkit, so k3s registers the `nvidia` runtime.
#   2. k3s server or agent, with the node's labels and taints.
#   3. First server: the platform (install-addons.sh).
# Safe to rerun: every step checks what is already there.
set -euo pipefail

ENV_FILE="${TRANSCEPT_ENV_FILE:-/etc/transcept/node.env}"
STATE_DIR="${TRANSCEPT_STATE_DIR:-/var/lib/transcept}"
METADATA_URL="${TRANSCEPT_METADATA_URL:-http://169.254.169.254/latest/meta-data}"

# shellcheck source=/dev/null
. "$ENV_FILE"

: "${TRANSCEPT_ROLE:?}" "${TRANSCEPT_NODE_NAME:?}" "${K3S_TOKEN:?}" "${TRANSCEPT_SERVER_URL:?}"
TRANSCEPT_GPU="${TRANSCEPT_GPU:-false}"
TRANSCEPT_JOIN="${TRANSCEPT_JOIN:-false}"
TRANSCEPT_CLUSTER_INIT="${TRANSCEPT_CLUSTER_INIT:-false}"
TRANSCEPT_INSTALL_ADDONS="${TRANSCEPT_INSTALL_ADDONS:-false}"

log() { printf '[%s] %s k3s-bootstrap: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$TRANSCEPT_NODE_NAME" "$*"; }

# retry CMD...: up to 10 tries with a growing pause (mirrors and the API server
# are often not ready at first boot).
retry() {
	local n=0
	until "$@"; do
		n=$((n + 1))
		if ((n >= 10)); then
			log "giving up after $n tries: $*"
			return 1
		fi
		sleep $((n * 6))
	done
}

# The address of the interface that holds the default route.
private_ip() {
	ip -4 route get 1.1.1.1 | awk '{for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit }}'
}

# The floating IP, which Terraform binds to the port before the node boots.
public_ip() {
	local ip
	ip=$(curl -fsS --max-time 5 "$METADATA_URL/public-ipv4" 2>/dev/null || true)
	if [[ "$ip" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
		printf '%s\n' "$ip"
	fi
}

setup_gpu() {
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L; then
		log "NVIDIA driver present"
	else
		log "WARNING: nvidia-smi does not list a GPU; is the image CC-Ubuntu22.04-CUDA on a GPU host?"
	fi
	if command -v nvidia-container-runtime >/dev/null 2>&1; then
		log "NVIDIA container toolkit already installed"
		return 0
	fi
	log "installing the NVIDIA container toolkit"
	local keyring=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
	retry curl -fsSL -o /tmp/nvidia-gpgkey https://nvidia.github.io/libnvidia-container/gpgkey
	gpg --batch --yes --dearmor -o "$keyring" /tmp/nvidia-gpgkey
	retry curl -fsSL -o /tmp/nvidia-container-toolkit.list \
		https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list
	sed "s#deb https://#deb [signed-by=$keyring] https://#g" /tmp/nvidia-container-toolkit.list \
		>/etc/apt/sources.list.d/nvidia-container-toolkit.list
	retry apt-get update -q
	DEBIAN_FRONTEND=noninteractive retry apt-get install -y -q nvidia-container-toolkit
}

# Chameleon images may ship an active host firewall; open what k3s needs.
open_host_firewall() {
	if command -v ufw >/dev/null 2>&1 && ufw status | grep -q 'Status: active'; then
		log "ufw is active: allowing k3s traffic"
		ufw allow 22/tcp
		ufw allow 80/tcp
		ufw allow 443/tcp
		ufw allow 6443/tcp
		ufw allow 10250/tcp
		ufw allow 8472/udp
		ufw allow from 10.42.0.0/16
		ufw allow from 10.43.0.0/16
		if [[ -n "${TRANSCEPT_SUBNET_CIDR:-}" ]]; then
			ufw allow from "$TRANSCEPT_SUBNET_CIDR"
		fi
	fi
}

install_k3s() {
	if systemctl is-active --quiet k3s || systemctl is-active --quiet k3s-agent; then
		log "k3s already running"
		return 0
	fi
	local priv pub
	priv=$(private_ip)
	pub=$(public_ip)
	local -a args
	if [[ "$TRANSCEPT_ROLE" == server ]]; then
		args=(server --disable traefik --write-kubeconfig-mode 0600 --tls-san "$priv")
		if [[ -n "$pub" ]]; then
			args+=(--tls-san "$pub" --tls-san "$pub.sslip.io")
		fi
		if [[ "$TRANSCEPT_CLUSTER_INIT" == true ]]; then
			args+=(--cluster-init)
		elif [[ "$TRANSCEPT_JOIN" == true ]]; then
			args+=(--server "$TRANSCEPT_SERVER_URL")
		fi
	else
		args=(agent --server "$TRANSCEPT_SERVER_URL")
	fi
	args+=(--node-name "$TRANSCEPT_NODE_NAME" --node-ip "$priv")
	if [[ -n "$pub" ]]; then
		args+=(--node-external-ip "$pub")
	fi
	local label taint
	for label in ${TRANSCEPT_NODE_LABELS:-}; do
		args+=(--node-label "$label")
	done
	for taint in ${TRANSCEPT_NODE_TAINTS:-}; do
		args+=(--node-taint "$taint")
	done

	retry curl -sfL -o /tmp/k3s-install.sh https://get.k3s.io
	local -a install_env=(K3S_TOKEN="$K3S_TOKEN")
	if [[ -n "${TRANSCEPT_K3S_VERSION:-}" ]]; then
		install_env+=(INSTALL_K3S_VERSION="$TRANSCEPT_K3S_VERSION")
	else
		install_env+=(INSTALL_K3S_CHANNEL="${TRANSCEPT_K3S_CHANNEL:-stable}")
	fi
	log "installing k3s: ${args[*]}"
	retry env "${install_env[@]}" sh /tmp/k3s-install.sh "${args[@]}"
}

main() {
	mkdir -p "$STATE_DIR"
	log "role=$TRANSCEPT_ROLE gpu=$TRANSCEPT_GPU server=$TRANSCEPT_SERVER_URL"
	if [[ "$TRANSCEPT_GPU" == true ]]; then
		setup_gpu
	fi
	open_host_firewall
	install_k3s
	if [[ "$TRANSCEPT_INSTALL_ADDONS" == true ]]; then
		/opt/transcept/install-addons.sh
	fi
	touch "$STATE_DIR/bootstrap.done"
	log "done"
}

main "$@"
