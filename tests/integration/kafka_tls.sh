# shellcheck shell=bash
# Sourced by lib.sh and gateway_env.sh: Kafka clients of the tests speak
# mutual TLS with certificates of the test stack's infrastructure CA
# ($PKI_VAR/demo/kafka, made by scripts/demo-init.sh).
#
#   KAFKA_TLS_DIR      the stack's kafka/ folder (absolute)
#   KCAT_ADMIN_CONF    kcat properties of pki-admin, the tests' super user;
#                      also exported as KCAT_CONFIG, so that every kcat of a
#                      suite (in bash -c too) connects as pki-admin
#   kcat_conf NAME FILE [CA]  writes kcat properties for the certificate
#                      kafka/NAME.crt (or NAME as a path prefix: NAME.crt,
#                      NAME.key) trusting CA (default: the stack's bundle)

KAFKA_TLS_DIR=$(realpath -m "${PKI_KAFKA_TLS_DIR:-$PKI_VAR/demo/kafka}")

kcat_conf() {
	local base=$1 file=$2 ca=${3:-$KAFKA_TLS_DIR/ca.pem}
	[[ $base == */* ]] || base=$KAFKA_TLS_DIR/$base
	mkdir -p "$(dirname "$file")"
	printf '%s\n' security.protocol=ssl "ssl.ca.location=$ca" \
		"ssl.certificate.location=$base.crt" "ssl.key.location=$base.key" >"$file"
}

KCAT_ADMIN_CONF=$(realpath -m "$PKI_VAR/kcat-admin.conf")
kcat_conf pki-admin "$KCAT_ADMIN_CONF"
export KCAT_CONFIG=$KCAT_ADMIN_CONF
