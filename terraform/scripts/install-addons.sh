#!/usr/bin/env bash
# Installs the Transcept platform on a fresh k3s cluster, from the first server:
# Knative Serving with Kourier, Knative Eventing with the in-memory channel
# broker, then waits for what k3s deploys from its manifests directory (NVIDIA
# device plugin, MinIO, Redis, PostgreSQL, Prometheus and Grafana) and applies the
# project's infra/ kustomization when the repository has one at the git ref.
# Settings come from /etc/transcept/node.env. Safe to rerun (kubectl apply).
set -euo pipefail

ENV_FILE="${TRANSCEPT_ENV_FILE:-/etc/transcept/node.env}"
METADATA_URL="${TRANSCEPT_METADATA_URL:-http://169.254.169.254/latest/meta-data}"
# shellcheck source=/dev/null
. "$ENV_FILE"

: "${TRANSCEPT_KNATIVE_VERSION:?}" "${TRANSCEPT_DATA_NAMESPACE:?}"
TRANSCEPT_DEPLOY_INFRA="${TRANSCEPT_DEPLOY_INFRA:-true}"
export KUBECONFIG=/etc/rancher/k3s/k3s.yaml

log() { printf '[%s] install-addons: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

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

kubectl() { k3s kubectl "$@"; }

release() { # release ORG/REPO FILE: a Knative release asset URL
	printf 'https://github.com/%s/releases/download/knative-v%s/%s\n' "$1" "$TRANSCEPT_KNATIVE_VERSION" "$2"
}

apply_url() {
	log "applying $1"
	retry kubectl apply -f "$1"
}

wait_deployments() { # wait_deployments NAMESPACE...
	local ns
	for ns in "$@"; do
		retry kubectl -n "$ns" wait deployment --all --for=condition=Available --timeout=300s
	done
}

install_serving() {
	apply_url "$(release knative/serving serving-crds.yaml)"
	retry kubectl wait crd --all --for=condition=Established --timeout=120s
	apply_url "$(release knative/serving serving-core.yaml)"
	apply_url "$(release knative-extensions/net-kourier kourier.yaml)"
	retry kubectl -n knative-serving patch configmap/config-network --type merge \
		-p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
	# GPU stages need node selectors, tolerations and the nvidia RuntimeClass in
	# their pod specs (infra/ sets these too; patching keeps other keys).
	retry kubectl -n knative-serving patch configmap/config-features --type merge -p '{"data":{
		"kubernetes.podspec-nodeselector":"enabled",
		"kubernetes.podspec-tolerations":"enabled",
		"kubernetes.podspec-affinity":"enabled",
		"kubernetes.podspec-runtimeclassname":"enabled"}}'
	local pub
	pub=$(curl -fsS --max-time 5 "$METADATA_URL/public-ipv4" 2>/dev/null || true)
	if [[ "$pub" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
		# Wildcard DNS: <service>.<namespace>.<ip>.sslip.io resolves to the floating IP.
		retry kubectl -n knative-serving patch configmap/config-domain --type merge \
			-p "{\"data\":{\"$pub.sslip.io\":\"\"}}"
	fi
}

install_eventing() {
	apply_url "$(release knative/eventing eventing-crds.yaml)"
	retry kubectl wait crd --all --for=condition=Established --timeout=120s
	apply_url "$(release knative/eventing eventing-core.yaml)"
	apply_url "$(release knative/eventing in-memory-channel.yaml)"
	apply_url "$(release knative/eventing mt-channel-broker.yaml)"
}

apply_infra() {
	if [[ "$TRANSCEPT_DEPLOY_INFRA" != true ]]; then
		log "deploy_infra is false: skipping infra/"
		return 0
	fi
	local url="${TRANSCEPT_REPO_URL:?}//infra?ref=${TRANSCEPT_GIT_REF:-main}"
	local out=/var/lib/transcept/infra.yaml
	if ! kubectl kustomize "$url" >"$out" 2>/var/lib/transcept/infra.err; then
		log "WARNING: no infra/ kustomization at $url ($(tail -n 1 /var/lib/transcept/infra.err)); run 'make deploy' from a checkout instead"
		return 0
	fi
	log "applying infra/ at ${TRANSCEPT_GIT_REF:-main}"
	if ! retry kubectl apply -f "$out"; then
		log "WARNING: applying infra/ failed; fix it and run 'make deploy'"
	fi
}

main() {
	mkdir -p /var/lib/transcept
	log "waiting for the Kubernetes API"
	retry kubectl get --raw /readyz >/dev/null
	retry kubectl wait node --all --for=condition=Ready --timeout=300s

	install_serving
	install_eventing
	wait_deployments knative-serving kourier-system knative-eventing

	log "waiting for MinIO, Redis and PostgreSQL (k3s auto-deploy manifests)"
	retry kubectl -n "$TRANSCEPT_DATA_NAMESPACE" rollout status deployment/minio --timeout=300s
	retry kubectl -n "$TRANSCEPT_DATA_NAMESPACE" rollout status deployment/redis --timeout=300s
	retry kubectl -n "$TRANSCEPT_DATA_NAMESPACE" rollout status statefulset/postgres --timeout=300s
	log "waiting for Prometheus and Grafana (Helm chart)"
	retry kubectl -n kube-system wait job/helm-install-kube-prometheus-stack --for=condition=Complete --timeout=600s ||
		log "WARNING: kube-prometheus-stack is not installed yet: kubectl -n kube-system logs job/helm-install-kube-prometheus-stack"

	apply_infra
	touch /var/lib/transcept/addons.done
	log "platform ready"
}

main "$@"
