#!/usr/bin/env bash
# Generate a CA and a serving certificate for the webhook with OpenSSL, for
# clusters without cert-manager.
#
# Usage: certs/generate.sh OUT_DIR [SERVICE] [NAMESPACE] [EXTRA_SAN...]
#   OUT_DIR    folder to write ca.crt, ca.key, tls.crt and tls.key into
#   SERVICE    webhook Service name (default azure-identity-terminator)
#   NAMESPACE  webhook namespace (default azidt-system)
#   EXTRA_SAN  more subjectAltName entries, such as IP:127.0.0.1
#
# The serving certificate is valid for the Service's DNS names, for one
# year; the CA for ten years. Put ca.crt (base64) into the webhook
# configurations' caBundle and tls.crt/tls.key into the webhook's Secret.
# Rerunning with an existing ca.key keeps the CA and renews the serving
# certificate, so the caBundle stays valid.
set -euo pipefail

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi

out=$1
service=${2:-azure-identity-terminator}
namespace=${3:-azidt-system}
shift $(($# < 3 ? $# : 3))

mkdir -p "$out"
umask 077

if [ ! -s "$out/ca.key" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -subj "/CN=azure-identity-terminator-ca" \
        -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
fi

san="DNS:$service,DNS:$service.$namespace,DNS:$service.$namespace.svc"
san="$san,DNS:$service.$namespace.svc.cluster.local"
for extra in "$@"; do
    san="$san,$extra"
done

openssl req -newkey rsa:2048 -nodes -sha256 \
    -subj "/CN=$service.$namespace.svc" \
    -keyout "$out/tls.key.new" -out "$out/tls.csr" 2>/dev/null
openssl x509 -req -sha256 -days 365 -in "$out/tls.csr" \
    -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san") \
    -out "$out/tls.crt.new" 2>/dev/null

# Replace key and certificate together, so a watcher never sees a key from
# one pair with the certificate of another for long.
mv "$out/tls.key.new" "$out/tls.key"
mv "$out/tls.crt.new" "$out/tls.crt"
rm -f "$out/tls.csr"
chmod 644 "$out/ca.crt" "$out/tls.crt"
echo "wrote $out/ca.crt, $out/tls.crt and $out/tls.key for $san"
