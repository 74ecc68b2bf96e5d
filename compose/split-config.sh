#!/usr/bin/env bash
# split-config.sh SRC DST: copies from the config folder SRC (config.json
# and the files it names, as `pkictl init` lays them out) into DST/gateway,
# DST/worker and DST/approver only what each service reads (config_load with
# its flags, its own Kafka and Redis credentials):
#
#   every service  config.json; every CA's certificate and CRL; the Kafka CA
#                  bundle, its own Kafka certificate and key, its own Redis
#                  password file
#   worker         the keys of the CAs it signs for (intermediates with
#                  api_issuance), the grant key, the bulk keys' secrets
#   approver       the grant key
#
# No root CA key, no infrastructure CA key, no other service's credentials
# and no credentials.json is copied anywhere. Paths in config.json must be
# relative to SRC (as pkictl writes them). Modes are kept (secrets 0600).
set -euo pipefail

src=${1:?usage: split-config.sh SRC DST}
dst=${2:?usage: split-config.sh SRC DST}
cfg=$src/config.json

# copy SERVICE PATH...: SRC/PATH into DST/SERVICE/PATH (absent names skipped).
copy() {
	local svc=$1 p
	shift
	for p in "$@"; do
		[[ -n $p && $p != null ]] || continue
		case $p in
		/* | *..*)
			echo "split-config.sh: $p: must be a path inside $src" >&2
			exit 1
			;;
		esac
		mkdir -p "$dst/$svc/$(dirname "$p")"
		cp -p "$src/$p" "$dst/$svc/$p"
	done
}

for svc in gateway worker approver; do
	rm -rf "${dst:?}/$svc"
	mkdir -p "$dst/$svc"
	chmod 700 "$dst/$svc"
	copy "$svc" config.json
	# shellcheck disable=SC2046 # one path per word
	copy "$svc" $(jq -r '.cas[] | .cert, (.crl // empty)' "$cfg")
	copy "$svc" $(jq -r --arg s "$svc" '.kafka.tls // {} | .ca, (.[$s] // {} | .cert, .key) | values' "$cfg")
	copy "$svc" $(jq -r --arg s "$svc" '.redis.users[$s].password_file // empty' "$cfg")
done
copy worker $(jq -r '.cas[] | select(.type == "intermediate" and .api_issuance == true) | .key' "$cfg")
copy worker $(jq -r '.grant_key, (.bulk_keys // [] | .[].secret_file)' "$cfg")
copy approver $(jq -r .grant_key "$cfg")
