#!/bin/sh
# How nginx starts in the container files (compose, Swarm, Kubernetes): its TLS
# certificate is put in place, then the command (nginx in the foreground) runs.
#
# The certificate, the first of:
#   TLS_CERT_FILE and TLS_KEY_FILE    files the operator gives (Docker or
#                                     Kubernetes secrets): the certificate
#                                     chain in PEM and its private key
#   $TLS_DIR/tls.crt, $TLS_DIR/tls.key  the same, in the certificate directory
#                                     (/etc/nginx/tls: a volume, or the
#                                     operator's directory mounted there)
#   made here, once                   none given: a certificate authority of its
#                                     own ($TLS_DIR/ca.crt, what clients trust;
#                                     its key is not kept) signs a certificate
#                                     for TLS_HOSTNAMES (default
#                                     "localhost nginx 127.0.0.1"), both kept
#                                     in $TLS_DIR for the next start
# HTTPS_PORT: the port clients reach HTTPS on (default 443), for the redirect
# of plain HTTP to HTTPS (nginx.conf includes what is written here).
set -eu

TLS_DIR="${TLS_DIR:-/etc/nginx/tls}"
RUN_DIR="${CHAT_NGINX_RUN_DIR:-/run/chat-nginx}"
HTTPS_PORT="${HTTPS_PORT:-443}"

say() { echo "tls-entrypoint: $*" >&2; }

make_certificate() {
    if ! command -v openssl >/dev/null 2>&1; then
        say "no certificate given and no openssl command in this image to make one:"
        say "give TLS_CERT_FILE and TLS_KEY_FILE, or tls.crt and tls.key in $TLS_DIR"
        exit 1
    fi
    if ! mkdir -p "$TLS_DIR" 2>/dev/null || ! [ -w "$TLS_DIR" ]; then
        say "no certificate given and $TLS_DIR is not writable to make one there"
        exit 1
    fi
    names="${TLS_HOSTNAMES:-localhost nginx 127.0.0.1}"
    sans=""
    for name in $names; do
        case "$name" in
            *[!0-9.]*) case "$name" in *:*) entry="IP:$name" ;; *) entry="DNS:$name" ;; esac ;;
            *) entry="IP:$name" ;;
        esac
        sans="${sans:+$sans,}$entry"
    done
    first="${names%% *}"
    work="$(mktemp -d)"
    (
        umask 077
        cd "$work"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -subj "/CN=chat nginx local CA" -keyout ca.key -out ca.crt \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=$first" -keyout tls.key -out tls.csr 2>/dev/null
        printf '%s\n' "subjectAltName=$sans" "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
            "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >ext.cnf
        openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
            -extfile ext.cnf -out tls.crt 2>/dev/null
    )
    chmod 644 "$work/ca.crt" "$work/tls.crt"
    # The key last: a directory with tls.key is one with a whole certificate.
    mv "$work/ca.crt" "$work/tls.crt" "$TLS_DIR/"
    mv "$work/tls.key" "$TLS_DIR/tls.key"
    rm -rf "$work"
    say "made a self-signed certificate for $sans in $TLS_DIR (clients trust $TLS_DIR/ca.crt)"
}

if [ -n "${TLS_CERT_FILE:-}" ] || [ -n "${TLS_KEY_FILE:-}" ]; then
    cert="${TLS_CERT_FILE:?TLS_KEY_FILE is set without TLS_CERT_FILE}"
    key="${TLS_KEY_FILE:?TLS_CERT_FILE is set without TLS_KEY_FILE}"
    say "using the certificate in $cert"
elif [ -s "$TLS_DIR/tls.crt" ] && [ -s "$TLS_DIR/tls.key" ]; then
    cert="$TLS_DIR/tls.crt"
    key="$TLS_DIR/tls.key"
    say "using the certificate in $cert"
else
    make_certificate
    cert="$TLS_DIR/tls.crt"
    key="$TLS_DIR/tls.key"
fi

case "$HTTPS_PORT" in
    '' | *[!0-9]*) say "HTTPS_PORT must be a port number, not '$HTTPS_PORT'"; exit 1 ;;
esac
mkdir -p "$RUN_DIR"
ln -sf "$cert" "$RUN_DIR/tls.crt"
ln -sf "$key" "$RUN_DIR/tls.key"
suffix=""
[ "$HTTPS_PORT" = 443 ] || suffix=":$HTTPS_PORT"
printf 'map $host $chat_https_port_suffix {\n    default "%s";\n}\n' "$suffix" \
    >"$RUN_DIR/https-port.conf"

[ $# -gt 0 ] || set -- nginx -g "daemon off;"
exec "$@"
