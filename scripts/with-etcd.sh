#!/usr/bin/env bash
# Runs a command with ETCD_ENDPOINTS pointing at an etcd server.
# When ETCD_ENDPOINTS is already set it is used as it is; otherwise a throw-away single-member etcd is started on free
# loopback ports with its data dir on tmpfs (/dev/shm) when available, and stopped (data dir removed) afterwards.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -n "${ETCD_ENDPOINTS:-}" ]; then
  exec "$@"
fi
"$here/ensure-etcd.sh"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()' 2>/dev/null \
  || echo $(( 20000 + RANDOM % 20000 )); }
client_port=$(free_port); peer_port=$(free_port)
while [ "$peer_port" = "$client_port" ]; do peer_port=$(free_port); done
base=/tmp; [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
data_dir=$(mktemp -d "$base/attributelock-etcd.XXXXXX")
log="$data_dir.log"
etcd --name demo --data-dir "$data_dir" \
  --listen-client-urls "http://127.0.0.1:$client_port" --advertise-client-urls "http://127.0.0.1:$client_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "demo=http://127.0.0.1:$peer_port" --log-level error >"$log" 2>&1 &
etcd_pid=$!
cleanup() { kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; rm -rf "$data_dir" "$log"; }
trap cleanup EXIT
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$client_port/health" 2>/dev/null | grep -q '"true"'; then break; fi
  if ! kill -0 "$etcd_pid" 2>/dev/null; then echo "error: etcd exited:" >&2; cat "$log" >&2; exit 1; fi
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$client_port/health" 2>/dev/null | grep -q '"true"' || { echo "error: etcd did not become healthy" >&2; cat "$log" >&2; exit 1; }
echo "started etcd $(etcd --version | head -1 | awk '{print $3}') on http://127.0.0.1:$client_port (data dir $data_dir)" >&2
export ETCD_ENDPOINTS="http://127.0.0.1:$client_port"
set +e
"$@"
status=$?
exit $status
