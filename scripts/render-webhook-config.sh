#!/usr/bin/env bash
# Renders manifests/webhook/webhook-configurations.yaml for one install of
# the webhook and prints the result.
#
# Usage:
#   scripts/render-webhook-config.sh --ca-file FILE --namespace NS \
#       (--url https://HOST:PORT | --service NAME [--port PORT])
#
#   --ca-file    PEM CA that signed the webhook's serving certificate
#   --namespace  namespace the webhook runs in (excluded from admission)
#   --url        base URL of a webhook reached directly, such as
#                https://127.0.0.1:8443; the route is appended
#   --service    name of the Service in front of the webhook, in NS
#   --port       Service port (default 443)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
template=$here/../manifests/webhook/webhook-configurations.yaml

usage() {
    sed -n '4,14s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

ca_file="" namespace="" url="" service="" port=443
while [[ $# -gt 0 ]]; do
    case "$1" in
    --ca-file) ca_file=${2:?}; shift 2 ;;
    --namespace) namespace=${2:?}; shift 2 ;;
    --url) url=${2:?}; shift 2 ;;
    --service) service=${2:?}; shift 2 ;;
    --port) port=${2:?}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "render-webhook-config: unknown argument $1" >&2; usage ;;
    esac
done
[[ -n "$ca_file" && -n "$namespace" ]] || usage
if [[ -n "$url" && -n "$service" ]] || [[ -z "$url" && -z "$service" ]]; then
    echo "render-webhook-config: give exactly one of --url and --service" >&2
    exit 2
fi
[[ -r "$ca_file" ]] || {
    echo "render-webhook-config: cannot read CA file $ca_file" >&2
    exit 1
}
grep -q -- "-----BEGIN CERTIFICATE-----" "$ca_file" || {
    echo "render-webhook-config: $ca_file holds no PEM certificate" >&2
    exit 1
}

ca_bundle=$(base64 -w0 <"$ca_file")
if [[ -n "$url" ]]; then
    endpoint="url: \"${url%/}\\1\""
else
    endpoint="service: {namespace: $namespace, name: $service, port: $port, path: \"\\1\"}"
fi

sed -e '/^#/d' \
    -e "s|@CA_BUNDLE@|$ca_bundle|" \
    -e "s|@NAMESPACE@|$namespace|g" \
    -e "s|@ENDPOINT:\([^@]*\)@|$endpoint|" \
    "$template"
