#!/usr/bin/env bash
# Server command for the client-VM harness: `oakley serve` from this source tree on a fresh
# store in the server namespace (198.51.100.2), plus TCP listeners on the server's PPP address
# (203.0.113.1) for the client's transfers once the TUN exists. Environment from vm-e2e.sh:
# OAK_SERVER_IP OAK_PSK OAK_USER OAK_PASSWORD. Extra arguments go to `oakley serve`.
set -u
root=$(cd "$(dirname "$0")/../../.." && pwd)
state=$(mktemp -d /tmp/oak-serve.XXXXXX)
(
  for _ in $(seq 1 200); do
    ip -4 addr show dev oak0 2>/dev/null | grep -q '203\.0\.113\.1/' && break
    sleep 0.3
  done
  socat -u TCP-LISTEN:5001,bind=203.0.113.1,reuseaddr,fork OPEN:/dev/null &
  head -c 1048576 /dev/urandom > "$state/src.bin"
  socat -u OPEN:"$state/src.bin" TCP-LISTEN:5002,bind=203.0.113.1,reuseaddr &
  wait
) &
exec node --import tsx "$root/src/cli/main.ts" serve --store "$state/oakley.db" \
  --listen "${OAK_SERVER_IP:-198.51.100.2}" --psk "$OAK_PSK" --user "$OAK_USER:$OAK_PASSWORD" \
  --pool 203.0.113.0/24 --dns 192.0.2.53 --status-file "$state/status.json" --log-format text "$@"
