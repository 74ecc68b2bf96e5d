#!/usr/bin/env bash
# The request store (lib/state/store.c) against the test stack's Redis: builds
# tests/integration/store_check.c on the project library and runs it with a
# key prefix of its own.
set -uo pipefail
cd "$(dirname "$0")/../.."
[[ -f tests/integration/lib.sh ]] && . tests/integration/lib.sh
. tests/integration/gateway_env.sh

trap gwenv_exit EXIT
gwenv_infra_up || { fail store_infra "Redis not available"; exit 1; }
[[ -f $BUILD/libpki.a ]] || make -s BUILD="$BUILD" "$BUILD/libpki.a" >&2
bin=$PKI_VAR/store_check
mkdir -p "$PKI_VAR"
PKGS="rdkafka libmicrohttpd hiredis libcjson openssl"
# shellcheck disable=SC2046 # pkg-config prints several flags
if ! cc -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror $(printf -- "-I%s " lib/*/) $(pkg-config --cflags $PKGS) \
	-o "$bin" tests/integration/store_check.c "$BUILD/libpki.a" $(pkg-config --libs $PKGS) \
	-lpthread -lm 2>"$PKI_VAR/store_check.build.log"; then
	fail store_build "$(cat "$PKI_VAR/store_check.build.log")"
	exit 1
fi
prefix="storetest-$$-$RANDOM:"
# As pki-admin when the stack's Redis has users (the password file stack.sh keeps).
admin=()
[[ -f $PKI_VAR/run/redis-admin.pass ]] && admin=("$PKI_VAR/run/redis-admin.pass")
"$bin" "redis://127.0.0.1:$PKI_REDIS_PORT/0" "$prefix" "${admin[@]}" 2>"$PKI_VAR/store_check.log"
rc=$?
"${REDIS_CLI[@]}" --scan --pattern "$prefix*" | xargs -r "${REDIS_CLI[@]}" del >/dev/null
exit "$rc"
