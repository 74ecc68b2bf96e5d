#!/usr/bin/env bash
# Checks the library's layering: usage: tests/tools/check_layers.sh [ROOT]
#
# The layers are the folders lib/LAYER, in the order of the Makefile's
# LAYERS line (lowest first; the only place the order is written). For
# every file lib/LAYER/*.[ch]:
#   each #include "NAME" names a header of its own layer or of a layer
#   before it (never one of a later layer, a binary's or a missing one)
#                                                   -> PASS/FAIL: layers LAYER
#   each third-party header of EXTERNAL below is included only from its
#   layer on (the issuance core has no JSON, Redis, Kafka or HTTP library)
#                                                   -> PASS/FAIL: layers LAYER external
# and every header name is held by one layer only (the build finds headers by
# name, one -I per layer folder)                    -> PASS/FAIL: layers unique header names
# Exit status 0 when everything passed.
set -uo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2

# Third-party header -> the lowest layer that may include it.
declare -A EXTERNAL=(
	[cJSON.h]=config
	[hiredis/hiredis.h]=io
	[librdkafka/rdkafka.h]=io
	[microhttpd.h]=io
	[curl/curl.h]=io
)

read -r -a layers <<<"$(sed -n 's/^LAYERS *:= *//p' Makefile)"
if ((${#layers[@]} == 0)); then
	echo "FAIL: layers (no LAYERS line in the Makefile)"
	exit 1
fi
declare -A rank owner
for i in "${!layers[@]}"; do
	rank[${layers[$i]}]=$i
done

failed=0
fail() { echo "FAIL: $1"; failed=1; }

# Header name -> layer; a name in two layers is reported once.
dup=
for l in "${layers[@]}"; do
	[[ -d lib/$l ]] || { fail "layers: lib/$l (in LAYERS) is missing"; continue; }
	for h in lib/"$l"/*.h; do
		[[ -e $h ]] || continue
		n=${h##*/}
		if [[ -n ${owner[$n]:-} ]]; then
			echo "    $n in lib/${owner[$n]} and lib/$l"
			dup=1
		fi
		owner[$n]=$l
	done
done
for d in lib/*/; do
	d=${d%/}
	[[ -n ${rank[${d#lib/}]:-} ]] || fail "layers: $d is not in the Makefile's LAYERS"
done
if [[ -z $dup ]]; then echo "PASS: layers unique header names"; else fail "layers unique header names"; fi

for l in "${layers[@]}"; do
	bad=() badext=()
	for f in lib/"$l"/*.[ch]; do
		[[ -e $f ]] || continue
		while IFS= read -r inc; do
			to=${owner[$inc]:-}
			if [[ -z $to ]]; then
				bad+=("$f includes \"$inc\", not a library header")
			elif ((rank[$to] > rank[$l])); then
				bad+=("$f includes \"$inc\" of the higher layer $to")
			fi
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
		while IFS= read -r inc; do
			from=${EXTERNAL[$inc]:-}
			[[ -n $from ]] || continue
			((rank[$from] > rank[$l])) && badext+=("$f includes <$inc>, allowed from layer $from on")
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/\1/p' "$f")
	done
	if ((${#bad[@]} == 0)); then
		echo "PASS: layers $l"
	else
		fail "layers $l"
		printf '    %s\n' "${bad[@]}"
	fi
	if ((${#badext[@]} == 0)); then
		echo "PASS: layers $l external"
	else
		fail "layers $l external"
		printf '    %s\n' "${badext[@]}"
	fi
done
exit $failed
