#!/usr/bin/env bash
# Installs the etcd server (Debian package etcd-server) when the etcd binary is missing.
set -euo pipefail
if command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ]; then
  exit 0
fi
echo "etcd not found: installing etcd-server with apt-get" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: etcd is missing and this user cannot install it (not root, no sudo). Install etcd-server, or set ETCD_ENDPOINTS." >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq etcd-server >/dev/null
command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || { echo "error: etcd-server installed but no etcd binary found" >&2; exit 1; }
echo "installed: $(etcd --version | head -1)" >&2
