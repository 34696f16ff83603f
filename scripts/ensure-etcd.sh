#!/usr/bin/env bash
# Installs the etcd server (Debian package etcd-server) when the etcd binary is missing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ]; then
  exit 0
fi
echo "etcd not found: installing etcd-server with apt-get" >&2
apt_install etcd-server || { echo "Install etcd-server, or set ETCD_ENDPOINTS." >&2; exit 1; }
command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || { echo "error: etcd-server installed but no etcd binary found" >&2; exit 1; }
echo "installed: $(etcd --version | sed -n 1p)" >&2
