#!/usr/bin/env bash
# Installs what the build, the local stack and the tests need, and nothing
# when it is all there (then it costs well under a second: it only asks dpkg
# and compares stamp files). Safe to run any number of times.
#
#   Debian packages    apt-get (root, or sudo when available)
#   Kafka broker jars  .cache/kafka/libs   (Maven, pinned in scripts/kafka/pom.xml)
#   Python test tools  .cache/venv         (pinned below)
#   Browser test deps  tests/browser/node_modules (npm ci, package-lock.json)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, checked with dpkg-query.
APT_PACKAGES=(
	build-essential pkg-config ca-certificates openssl
	libssl-dev librdkafka-dev libmicrohttpd-dev libhiredis-dev libcjson-dev libcurl4-openssl-dev
	redis-server kcat gnutls-bin clang clang-format libclang-rt-14-dev chromium wrk
	golang-cfssl jq curl python3 python3-venv python3-aiosmtpd strace
)
# Commands that may come from elsewhere than Debian's package of that name.
declare -A CMD_PACKAGES=(
	[java]=openjdk-17-jre-headless
	[mvn]=maven
	[node]=nodejs
	[npm]=npm
)

KAFKA_POM=scripts/kafka/pom.xml
KAFKA_CACHE=.cache/kafka
KAFKA_LIBS=$KAFKA_CACHE/libs
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.6.1

VENV=.cache/venv
PY_PINS=(
	pkilint==0.13.3 cryptography==50.0.2 jsonschema==4.26.0
	jsonschema-specifications==2025.9.1 referencing==0.37.0
	pyasn1==0.6.5 pyasn1_alt_modules==0.4.10 validators==0.22.0 pyyaml==6.0.3
)

BROWSER_DIR=tests/browser

say() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

# stamp_ok FILE VALUE: true when FILE holds exactly VALUE.
stamp_ok() { [[ -f $1 && "$(<"$1")" == "$2" ]]; }

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root to run: $*"
	fi
}

install_apt() {
	local missing=() pkg status cmd
	local -A have=()
	# One dpkg-query for all; unknown packages print nothing (stderr dropped).
	while read -r pkg status; do
		if [[ $status == installed ]]; then have[$pkg]=1; fi
	done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)
	for pkg in "${APT_PACKAGES[@]}"; do
		[[ -n ${have[$pkg]:-} ]] || missing+=("$pkg")
	done
	for cmd in "${!CMD_PACKAGES[@]}"; do
		command -v "$cmd" >/dev/null || missing+=("${CMD_PACKAGES[$cmd]}")
	done
	((${#missing[@]} == 0)) && return 0
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	say "apt: installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
}

install_kafka() {
	local want tmp
	want=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
	stamp_ok "$KAFKA_LIBS/.stamp" "$want" && return 0
	say "kafka: fetching broker jars into $KAFKA_LIBS"
	tmp=$KAFKA_CACHE/libs.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	mvn -q -B -f "$KAFKA_POM" -Dmaven.repo.local="$PWD/$KAFKA_CACHE/m2" \
		"$DEP_PLUGIN:copy-dependencies" -DincludeScope=runtime \
		-DoutputDirectory="$PWD/$tmp" >"$KAFKA_CACHE/mvn.log" 2>&1 ||
		die "maven failed, see $KAFKA_CACHE/mvn.log"
	ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "no kafka jar in $tmp"
	printf '%s' "$want" >"$tmp/.stamp"
	rm -rf "$KAFKA_LIBS"
	mv "$tmp" "$KAFKA_LIBS"
}

install_venv() {
	local want="${PY_PINS[*]}"
	[[ -x $VENV/bin/python ]] && stamp_ok "$VENV/.stamp" "$want" && return 0
	say "python: creating $VENV (${PY_PINS[*]%%==*})"
	rm -rf "$VENV"
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PINS[@]}" ||
		die "pip install failed"
	printf '%s' "$want" >"$VENV/.stamp"
}

install_npm() {
	local want
	want=$(sha256sum "$BROWSER_DIR/package-lock.json" | cut -d' ' -f1)
	stamp_ok "$BROWSER_DIR/node_modules/.stamp" "$want" && return 0
	say "npm: installing $BROWSER_DIR/node_modules"
	(cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
		die "npm ci failed in $BROWSER_DIR"
	printf '%s' "$want" >"$BROWSER_DIR/node_modules/.stamp"
}

install_apt
install_kafka
install_venv
install_npm
