#!/bin/sh
# Runs inside a stand-in build: trust the certificate authorities the host
# trusts (its local CAs, then its whole bundle), and give pip the host's
# settings that make sense in an image (docker-env.sh writes host-ca/pip.conf).
set -eu
src=/usr/local/share/standin/host-ca
cp "$src"/*.crt /usr/local/share/ca-certificates/ 2>/dev/null || true
update-ca-certificates >/dev/null
cat "$src/bundle.pem" >/etc/ssl/certs/ca-certificates.crt
cp "$src/pip.conf" /etc/pip.conf
