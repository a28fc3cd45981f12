#!/usr/bin/env bash
# Install the Debian packages needed to build and test the project.
# Safe to run twice: it installs only what is missing.
set -euo pipefail

packages=(
    meson ninja-build pkg-config gcc
    libmicrohttpd-dev libgnutls28-dev libssl-dev libcjson-dev
    libcurl4-openssl-dev libyaml-dev check
    openssl curl jq clang-format iproute2
)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
        grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all build and test packages are present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
