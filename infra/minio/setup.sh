#!/bin/sh
# Configures the transcept MinIO (run by the transcept-minio-setup Job, with mc):
# buckets, one least-privilege user per function with its policy, and the
# raw-inputs -> ingest webhook subscription. Idempotent: safe to run again.
#
# Environment: MC_HOST_local (admin alias, from the minio-root Secret),
# FUNCTIONS (names), <FN>_ACCESS_KEY / <FN>_SECRET_KEY per function, and the
# policies in $POLICY_DIR/<fn>.json.
set -eu

POLICY_DIR="${POLICY_DIR:-/policies}"
ARN="${NOTIFY_ARN:-arn:minio:sqs::TRANSCEPT:webhook}"

log() { echo "minio-setup: $*"; }

retry() { # retry TRIES CMD...: MinIO and its webhook target may still be starting
	n=$1; shift
	i=1
	until "$@"; do
		if [ "$i" -ge "$n" ]; then
			log "giving up after $n tries: $*"
			return 1
		fi
		i=$((i + 1))
		sleep 5
	done
}

log "waiting for MinIO"
retry 60 mc ready local

for b in raw-inputs preprocessed models eval; do
	mc mb --ignore-existing "local/$b"
done

for fn in $FUNCTIONS; do
	up=$(echo "$fn" | tr '[:lower:]' '[:upper:]')
	ak='' sk=''
	eval "ak=\${${up}_ACCESS_KEY:?missing ${up}_ACCESS_KEY}"
	eval "sk=\${${up}_SECRET_KEY:?missing ${up}_SECRET_KEY}"
	policy="transcept-$fn"
	log "policy $policy, user $ak"
	mc admin policy create local "$policy" "$POLICY_DIR/$fn.json"
	mc admin user add local "$ak" "$sk"
	# Attaching an already attached policy is an error in mc; check first
	# (no grep: the mc image is a minimal one with only the shell and coreutils).
	case "$(mc admin user info local "$ak" --json)" in
	*"\"$policy\""*) ;;
	*) mc admin policy attach local "$policy" --user "$ak" ;;
	esac
done

# The target exists once MinIO runs with transcept-minio-notify's environment
# (make deploy sets it); until then `mc event add` fails, so keep trying.
case "$(mc event list local/raw-inputs "$ARN" 2>/dev/null || true)" in
*"$ARN"*) log "raw-inputs already notifies $ARN" ;;
*)
	log "subscribing raw-inputs put events to $ARN"
	retry 60 mc event add local/raw-inputs "$ARN" --event put
	;;
esac
log "done"
