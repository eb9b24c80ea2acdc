#!/bin/sh
# Creates the per-function MinIO credentials Secrets, transcept-minio-<fn>
# (keys accessKey, secretKey), when they do not exist yet: access key
# transcept-<fn>, a random 40-hex-digit secret key. Existing Secrets are left
# alone, so re-running never rotates a key under a running function. Talks to
# the Kubernetes API with the Job's service account (curl only; no kubectl).
set -eu

API="https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}"
SA=/var/run/secrets/kubernetes.io/serviceaccount
NS=$(cat "$SA/namespace")
TOKEN=$(cat "$SA/token")

for fn in $FUNCTIONS; do
	name="transcept-minio-$fn"
	secret=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
	body=$(printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"%s","labels":{"app.kubernetes.io/part-of":"transcept","app.kubernetes.io/component":"minio"}},"type":"Opaque","stringData":{"accessKey":"transcept-%s","secretKey":"%s"}}' "$name" "$fn" "$secret")
	code=$(curl -sS -o /tmp/resp -w '%{http_code}' --cacert "$SA/ca.crt" \
		-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		-X POST --data "$body" "$API/api/v1/namespaces/$NS/secrets")
	case "$code" in
	201) echo "credentials: created Secret $name" ;;
	409) echo "credentials: Secret $name exists; kept" ;;
	*)
		echo "credentials: creating Secret $name failed: HTTP $code" >&2
		cat /tmp/resp >&2
		exit 1
		;;
	esac
done
