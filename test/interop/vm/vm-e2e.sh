#!/bin/bash
# vm-e2e.sh - end-to-end test of an L2TP/IPsec server against a REAL Linux client
# (Debian 12 guest under QEMU/TCG: strongSwan IKEv1 + kernel ESP, xl2tpd + pppd over
# kernel L2TP/PPP) that sits behind a NAT, like a laptop behind a home router:
#
#   client VM 192.0.2.2/24 --tap ctap-- [netns oak-vm-<pid>-nat: 192.0.2.1 | MASQUERADE |
#   198.51.100.1 n1] --veth-- [netns oak-vm-<pid>-srv: s0 198.51.100.2] <- server under test
#
# Usage:
#   vm-e2e.sh --server-cmd 'COMMAND' [options]   COMMAND runs (bash -c) inside netns oak-vm-<pid>-srv
#   vm-e2e.sh --reference-server [options]       server = 2nd guest (strongSwan+xl2tpd+pppd)
#   vm-e2e.sh --cleanup                          kill leftovers of crashed runs (dead owner PID), delete their netns
# Options:
#   --psk PSK            IKE pre-shared key                (default: oak-test-psk-0123456789)
#   --user NAME          PPP user name                     (default: oakuser)
#   --password PW        PPP password                      (default: oakpass)
#   --auth mschapv2|chap|pap   the only PPP auth the client will agree to (default mschapv2)
#   --mode transport     ESP mode (only transport is implemented)
#   --timeout S          time budget of the client script inside the guest (default 300)
#   --ike-timeout S      give up on IKE (phase 1+2) after S seconds (default 120)
#   --ppp-timeout S      give up waiting for ppp0's address after S seconds (default 90)
#   --server-wait S      wait for UDP 500 in the server netns / for the reference VM (default 60 / 300)
#   --tcp-send-port P    after the pings, send --tcp-bytes over TCP to PEER_PPP_IP:P (server
#                        must accept and read to EOF); --reference-server uses 5001
#   --tcp-recv-port P    connect to PEER_PPP_IP:P and read to EOF, expect >= --tcp-bytes;
#                        --reference-server uses 5002
#   --tcp-bytes N        (default 1048576)
#   --no-tcp             reference mode: skip the TCP transfers
#   --ike-proposals L / --esp-proposals L   comma lists (strongSwan syntax)
#   --ref-psk PSK / --ref-user NAME / --ref-password PW
#                        reference server only: credentials that differ from the client's
#                        (negative tests: wrong PSK, wrong password)
#   --allow-cleartext    do not fail a run in which cleartext L2TP (udp/1701) or raw ESP
#                        (proto 50) crossed the NAT (default: such a run fails with exit 6)
#   --pcap-out FILE      also write a small copy of the NAT-outside capture (ESP truncated)
#   --mem MB             guest memory (default 384)
#   --run-dir DIR        keep this run's files in DIR (default $OAKLEY_VM_STATE/run-<date>-<pid>)
# Exit: 0 = pings crossed the tunnel (and requested TCP transfers worked); 1 = tunnel/ping
#       failed; 2 = usage; 3 = TCP transfer failed; 4 = harness/server start problem;
#       5 = no result from the guest; 6 = passed, but cleartext L2TP/raw ESP crossed the NAT.
# Runtime state: ${OAKLEY_VM_STATE:-${TMPDIR:-/tmp}/oak-vm}/run-*/ (kept after the run), with
#                result.json (the guest's) and summary.json (the harness verdict, for vm.ts).
# Guest image:   ${OAKLEY_VM_DIR:-/var/cache/oakley-vm} (build-image.sh; cached, rebuilt only when
#                build-image.sh or guest/oak-init change).
# Server command environment: OAK_SERVER_IP OAK_NAT_IP OAK_PSK OAK_USER OAK_PASSWORD OAK_AUTH.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=${OAKLEY_VM_DIR:-/var/cache/oakley-vm}
STATE=${OAKLEY_VM_STATE:-${TMPDIR:-/tmp}/oak-vm}

NS_PREFIX=oak-vm-
NS_NAT=${NS_PREFIX}$$-nat NS_SRV=${NS_PREFIX}$$-srv
# interface names live inside our own namespaces, so they need not be unique on the host
TAP_C=ctap TAP_S=stap VETH_NAT=n1 VETH_SRV=s0 BR=br0
CLIENT_IP=192.0.2.2 NAT_IN=192.0.2.1 NAT_OUT=198.51.100.1 SERVER_IP=198.51.100.2

SERVER_CMD= REFERENCE= PSK=oak-test-psk-0123456789 USER_NAME=oakuser PASSWORD=oakpass AUTH=mschapv2
MODE=transport TIMEOUT=300 SERVER_WAIT= IKE_TIMEOUT=120 PPP_TIMEOUT=90 TCP_SEND_PORT= TCP_RECV_PORT= TCP_BYTES=1048576
NO_TCP= IKE_PROPOSALS=aes256-sha1-modp2048,aes128-sha1-modp2048,3des-sha1-modp1024
ESP_PROPOSALS=aes256-sha1,aes128-sha1,3des-sha1 PCAP_OUT= MEM=384 CLEANUP_ONLY=
REF_PSK= REF_USER= REF_PASSWORD= ALLOW_CLEAR= RUN=

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --server-cmd) SERVER_CMD=$2; shift 2;;
    --reference-server) REFERENCE=1; shift;;
    --psk) PSK=$2; shift 2;;
    --user) USER_NAME=$2; shift 2;;
    --password) PASSWORD=$2; shift 2;;
    --auth) AUTH=$2; shift 2;;
    --mode) MODE=$2; shift 2;;
    --timeout) TIMEOUT=$2; shift 2;;
    --server-wait) SERVER_WAIT=$2; shift 2;;
    --ike-timeout) IKE_TIMEOUT=$2; shift 2;;
    --ppp-timeout) PPP_TIMEOUT=$2; shift 2;;
    --tcp-send-port) TCP_SEND_PORT=$2; shift 2;;
    --tcp-recv-port) TCP_RECV_PORT=$2; shift 2;;
    --tcp-bytes) TCP_BYTES=$2; shift 2;;
    --no-tcp) NO_TCP=1; shift;;
    --allow-cleartext) ALLOW_CLEAR=1; shift;;
    --ike-proposals) IKE_PROPOSALS=$2; shift 2;;
    --esp-proposals) ESP_PROPOSALS=$2; shift 2;;
    --pcap-out) PCAP_OUT=$(realpath -m "$2"); shift 2;;
    --ref-psk) REF_PSK=$2; shift 2;;
    --ref-user) REF_USER=$2; shift 2;;
    --ref-password) REF_PASSWORD=$2; shift 2;;
    --mem) MEM=$2; shift 2;;
    --cleanup) CLEANUP_ONLY=1; shift;;
    --run-dir) RUN=$(realpath -m "$2"); shift 2;;
    -h|--help) usage 0;;
    *) echo "vm-e2e: unknown option $1 (see --help)" >&2; exit 2;;
  esac
done

T0=${EPOCHREALTIME/./}
el() { local d=$(( ${EPOCHREALTIME/./} - T0 )); printf '%d.%d' $((d/1000000)) $(((d/100000)%10)); }
log() { printf '[vm-e2e %6ss] %s\n' "$(el)" "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-4}"; }

[ "$(id -u)" = 0 ] || die "needs root (netns, tap, iptables)" 2
mkdir -p "$STATE"
PIDS_FILE=   # set once the run dir exists: "PID STARTTIME what" of every process we started

starttime() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
track() { echo "$1 $(starttime "$1") $2" >> "$PIDS_FILE"; }
kill_tracked() { # kill every process we recorded, by PID, if it is still the same process
  [ -n "$PIDS_FILE" ] && [ -f "$PIDS_FILE" ] || return 0
  local pid st what
  while read -r pid st what; do
    [ -n "$pid" ] || continue
    if [ -n "$st" ] && [ "$(starttime "$pid")" = "$st" ]; then
      case "$what" in
        group:*) kill -TERM -- "-$pid" 2>/dev/null;;   # process group we created with setsid
      esac
      kill -TERM "$pid" 2>/dev/null
    fi
  done < "$PIDS_FILE"
  sleep 1
  while read -r pid st what; do
    [ -n "$pid" ] && [ -n "$st" ] && [ "$(starttime "$pid")" = "$st" ] || continue
    case "$what" in group:*) kill -KILL -- "-$pid" 2>/dev/null;; esac
    kill -KILL "$pid" 2>/dev/null
  done < "$PIDS_FILE"
  : > "$PIDS_FILE"
}
ns_destroy() { # anything still inside one of OUR namespaces was started by this harness
  local ns=$1 pids
  ip netns list | grep -qw "^$ns" || return 0
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  if [ -n "${pids// }" ]; then
    kill -TERM $pids 2>/dev/null; sleep 1
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -n "${pids// }" ] && { sleep 2; pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' '); }
    [ -n "${pids// }" ] && kill -KILL $pids 2>/dev/null
  fi
  ip netns del "$ns"
}
netns_down() { ns_destroy "$NS_NAT"; ns_destroy "$NS_SRV"; return 0; }
stale_cleanup() { # namespaces of earlier runs whose harness process is gone (crash, kill -9)
  local ns pid
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${NS_PREFIX}[0-9]+-(nat|srv)$"); do
    pid=${ns#"$NS_PREFIX"}; pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null && continue
    log "removing leftover namespace $ns (owner PID $pid is gone)"
    ns_destroy "$ns"
  done
}
if [ -n "$CLEANUP_ONLY" ]; then stale_cleanup; log "cleaned up"; exit 0; fi

# ---------------------------------------------------------------- checks
[ -n "$SERVER_CMD" ] || [ -n "$REFERENCE" ] || die "need --server-cmd 'COMMAND' or --reference-server (see --help)" 2
[ -n "$SERVER_CMD" ] && [ -n "$REFERENCE" ] && die "--server-cmd and --reference-server are exclusive" 2
case "$AUTH" in mschapv2|chap|pap) ;; *) die "--auth mschapv2|chap|pap" 2;; esac
[ "$MODE" = transport ] || die "--mode: only 'transport' is implemented" 2
for b in qemu-system-x86_64 ip iptables tcpdump ss jq timeout; do
  command -v "$b" >/dev/null || die "missing host tool: $b (apt-get install qemu-system-x86 iproute2 iptables tcpdump jq)"
done
[ -c /dev/net/tun ] || die "/dev/net/tun missing"
# cached: returns at once when the image matches build-image.sh + guest/oak-init
OAKLEY_VM_DIR=$LAB bash "$HERE/build-image.sh" >&2 || die "guest image build failed"
if [ -n "$REFERENCE" ]; then
  SERVER_WAIT=${SERVER_WAIT:-300}
  if [ -z "$NO_TCP" ]; then TCP_SEND_PORT=${TCP_SEND_PORT:-5001}; TCP_RECV_PORT=${TCP_RECV_PORT:-5002}; fi
else
  SERVER_WAIT=${SERVER_WAIT:-60}
fi
[ -n "$NO_TCP" ] && TCP_SEND_PORT= TCP_RECV_PORT=

stale_cleanup

RUN=${RUN:-$STATE/run-$(date +%Y%m%d-%H%M%S)-$$}
CSHARE=$RUN/client-share SSHARE=$RUN/server-share
mkdir -p "$CSHARE" "$SSHARE"
PIDS_FILE=$RUN/pids
: > "$PIDS_FILE"
ln -sfn "$RUN" "$STATE/last"
log "run dir $RUN (host load $(cut -d' ' -f1-3 /proc/loadavg))"

TCPDUMP_PID= SERVER_PID= SVM_PID= CVM_PID=
teardown() {
  local rc=$?
  trap - EXIT INT TERM
  kill_tracked
  netns_down
  exit $rc
}
trap teardown EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- topology
log "topology: $NS_NAT (tap $TAP_C $NAT_IN/24, MASQUERADE out of $VETH_NAT $NAT_OUT/24) <-> $NS_SRV ($SERVER_IP)"
for ns in $NS_NAT $NS_SRV; do
  ip netns add "$ns" || die "ip netns add $ns failed"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
     net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
ip -n $NS_NAT link add $VETH_NAT type veth peer name $VETH_SRV netns $NS_SRV
ip -n $NS_NAT tuntap add dev $TAP_C mode tap
ip -n $NS_NAT addr add $NAT_IN/24 dev $TAP_C
ip -n $NS_NAT addr add $NAT_OUT/24 dev $VETH_NAT
ip -n $NS_NAT link set $TAP_C up
ip -n $NS_NAT link set $VETH_NAT up
ip netns exec $NS_NAT sysctl -qw net.ipv4.ip_forward=1
ip netns exec $NS_NAT iptables -t nat -A POSTROUTING -s 192.0.2.0/24 -o $VETH_NAT -j MASQUERADE
# home-router behaviour: nothing from outside gets in unless it belongs to an outgoing flow
ip netns exec $NS_NAT iptables -A FORWARD -i $VETH_NAT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
ip netns exec $NS_NAT iptables -A FORWARD -i $VETH_NAT -j DROP
if [ -n "$REFERENCE" ]; then
  # the server is a VM: bridge the veth end and the server VM's tap (VM owns 198.51.100.2)
  ip netns exec $NS_SRV sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null
  ip -n $NS_SRV link add $BR type bridge forward_delay 0 stp_state 0
  ip -n $NS_SRV tuntap add dev $TAP_S mode tap
  ip -n $NS_SRV link set $VETH_SRV master $BR
  ip -n $NS_SRV link set $TAP_S master $BR
  ip -n $NS_SRV link set $TAP_S up
  ip -n $NS_SRV link set $VETH_SRV up
  ip -n $NS_SRV link set $BR up
else
  ip -n $NS_SRV addr add $SERVER_IP/24 dev $VETH_SRV
  ip -n $NS_SRV link set $VETH_SRV up
  # deliberately no default route and no route to 192.0.2.0/24 in the server netns
fi

# ---------------------------------------------------------------- guests
q() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }   # quote for /bin/sh
write_params() { # $1 = file, $2 = "ref" for the reference server
  local psk=$PSK user=$USER_NAME pw=$PASSWORD
  if [ "${2:-}" = ref ]; then psk=${REF_PSK:-$PSK} user=${REF_USER:-$USER_NAME} pw=${REF_PASSWORD:-$PASSWORD}; fi
  {
    echo "SERVER=$(q "$SERVER_IP")"
    echo "PSK=$(q "$psk")"
    echo "USER_NAME=$(q "$user")"
    echo "PASSWORD=$(q "$pw")"
    echo "AUTH=$(q "$AUTH")"
    echo "MODE=$(q "$MODE")"
    echo "GUEST_TIMEOUT=$(q "$TIMEOUT")"
    echo "IKE_TIMEOUT=$(q "$IKE_TIMEOUT")"
    echo "PPP_TIMEOUT=$(q "$PPP_TIMEOUT")"
    echo "IKE_PROPOSALS=$(q "$IKE_PROPOSALS")"
    echo "ESP_PROPOSALS=$(q "$ESP_PROPOSALS")"
    echo "TCP_BYTES=$(q "$TCP_BYTES")"
    echo "TCP_SEND_PORT=$(q "$TCP_SEND_PORT")"
    echo "TCP_RECV_PORT=$(q "$TCP_RECV_PORT")"
    echo "TCP_SINK_PORT=$(q "${TCP_SEND_PORT:-5001}")"
    echo "TCP_SOURCE_PORT=$(q "${TCP_RECV_PORT:-5002}")"
    echo "SERVE_TIMEOUT=$(q "$((TIMEOUT + SERVER_WAIT + 600))")"
  } > "$1"
}
start_vm() { # name netns tap mac ip/prefix gw share limit_s  -> sets VM_PID
  local name=$1 ns=$2 tap=$3 mac=$4 addr=$5 gw=$6 share=$7 limit=$8
  local append="console=ttyS0 root=/dev/vda rw init=/sbin/oak-init panic=-1 loglevel=4 ipv6.disable=1 oak.ip=$addr"
  [ -n "$gw" ] && append+=" oak.gw=$gw"
  TMPDIR=/tmp ip netns exec "$ns" timeout -k 5 "$limit" \
    qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp 1 -m "$MEM" \
      -nodefaults -display none -no-reboot -serial "file:$RUN/$name-console.log" \
      -kernel "$LAB/vmlinuz" -initrd "$LAB/initrd.img" -append "$append" \
      -drive "file=$LAB/guest.ext4,format=raw,if=virtio,snapshot=on" \
      -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" \
      -device "virtio-net-pci,netdev=n0,mac=$mac" \
      -fsdev "local,id=fs0,path=$share,security_model=none" \
      -device "virtio-9p-pci,fsdev=fs0,mount_tag=oak" \
      > "$RUN/$name-qemu.out" 2>&1 < /dev/null &
  VM_PID=$!
  track "$VM_PID" "qemu-$name"
}

# ---------------------------------------------------------------- server under test
T_SRV0=${EPOCHREALTIME/./}
if [ -n "$REFERENCE" ]; then
  write_params "$SSHARE/params.env" ref
  cp "$HERE/guest/ref-server.sh" "$SSHARE/test.sh"
  log "booting reference server VM in $NS_SRV ($SERVER_IP, tap $TAP_S)"
  start_vm server $NS_SRV $TAP_S 52:54:00:c6:33:02 "$SERVER_IP/24" "" "$SSHARE" \
    "$((SERVER_WAIT + TIMEOUT + 900))"
  SVM_PID=$VM_PID
  end=$(( $(date +%s) + SERVER_WAIT ))
  while [ ! -e "$SSHARE/ready" ]; do
    kill -0 "$SVM_PID" 2>/dev/null || die "reference server VM exited early (see $RUN/server-console.log)"
    [ "$(date +%s)" -lt "$end" ] || die "reference server VM not ready after ${SERVER_WAIT}s (see $RUN/server-console.log)"
    sleep 1
  done
  log "reference server VM ready after $(( (${EPOCHREALTIME/./} - T_SRV0) / 1000 )) ms: $(grep -o 'READY.*' "$RUN/server-console.log" | head -1)"
else
  log "starting server in $NS_SRV: $SERVER_CMD"
  OAK_SERVER_IP=$SERVER_IP OAK_NAT_IP=$NAT_OUT OAK_PSK=$PSK OAK_USER=$USER_NAME OAK_PASSWORD=$PASSWORD OAK_AUTH=$AUTH \
    ip netns exec $NS_SRV setsid bash -c "$SERVER_CMD" > "$RUN/server.log" 2>&1 < /dev/null &
  SERVER_PID=$!
  track "$SERVER_PID" "group:server-cmd"
  end=$(( $(date +%s) + SERVER_WAIT ))
  until [ -n "$(ip netns exec $NS_SRV ss -Hlun 'sport = :500' 2>/dev/null)" ]; do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$RUN/server.log" >&2; die "server command exited before binding UDP 500"; }
    [ "$(date +%s)" -lt "$end" ] || { tail -20 "$RUN/server.log" >&2; die "nothing bound UDP 500 in $NS_SRV after ${SERVER_WAIT}s"; }
    sleep 0.2
  done
  log "server bound UDP 500 after $(( (${EPOCHREALTIME/./} - T_SRV0) / 1000 )) ms: $(ip netns exec $NS_SRV ss -Hlun 'sport = :500 or sport = :4500 or sport = :1701' | awk '{print $4}' | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- capture on the NAT's outside
ip netns exec $NS_NAT tcpdump -n -U -Z root -s 0 -i $VETH_NAT -w "$RUN/outside.pcap" ip \
  > /dev/null 2> "$RUN/tcpdump.err" &
TCPDUMP_PID=$!
track "$TCPDUMP_PID" tcpdump
for _ in $(seq 50); do grep -q 'listening on' "$RUN/tcpdump.err" 2>/dev/null && break; sleep 0.1; done

# ---------------------------------------------------------------- client VM
write_params "$CSHARE/params.env"
cp "$HERE/guest/client.sh" "$CSHARE/test.sh"
log "booting client VM in $NS_NAT ($CLIENT_IP via $NAT_IN); guest budget ${TIMEOUT}s"
T_CL0=${EPOCHREALTIME/./}
start_vm client $NS_NAT $TAP_C 52:54:00:c0:00:02 "$CLIENT_IP/24" "$NAT_IN" "$CSHARE" "$((TIMEOUT + 180))"
CVM_PID=$VM_PID
relayed=0
relay() { # print the client's new "OAK[...]" progress lines
  local n
  n=$(grep -a -c 'OAK\[' "$RUN/client-console.log" 2>/dev/null) || n=0
  [ "$n" -gt "$relayed" ] || return 0
  grep -a 'OAK\[' "$RUN/client-console.log" | sed -n "$((relayed + 1)),${n}p" | tr -d '\r' \
    | while IFS= read -r l; do log "client: $l"; done
  relayed=$n
}
while kill -0 "$CVM_PID" 2>/dev/null; do relay; sleep 1; done
relay
wait "$CVM_PID" 2>/dev/null; QRC=$?
[ "$QRC" = 124 ] && log "client VM hit the host-side time limit ($((TIMEOUT + 180)) s)"
CL_WALL=$(( (${EPOCHREALTIME/./} - T_CL0) / 1000 ))
log "client VM exited (qemu rc $QRC) after $CL_WALL ms"

# ---------------------------------------------------------------- stop the server side
if [ -n "$REFERENCE" ]; then
  touch "$SSHARE/stop"
  for _ in $(seq 60); do kill -0 "$SVM_PID" 2>/dev/null || break; sleep 1; done
  kill -0 "$SVM_PID" 2>/dev/null && log "server VM did not power off, killing it"
fi
kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null
kill_tracked      # server command (its process group), server VM if still up
netns_down

# ---------------------------------------------------------------- outside capture analysis
P=$RUN/outside.pcap
cnt() { tcpdump -n -r "$P" "$1" 2>/dev/null | wc -l; }
IKE_MARK='(udp port 4500 and udp[4:2] > 12 and udp[8:4] = 0)'
ESPUDP='(udp port 4500 and udp[4:2] > 12 and udp[8:4] != 0)'
KEEPALIVE='(udp port 4500 and udp[4:2] = 9 and udp[8] = 0xff)'
N_ALL=0 N_IKE500=0 N_IKE4500=0 N_ESP=0 N_KA=0 N_L2TP=0 N_OTHER=0
if [ -s "$P" ]; then
  N_ALL=$(cnt ip)
  N_IKE500=$(cnt 'udp port 500')
  N_IKE4500=$(cnt "$IKE_MARK")
  N_ESP=$(cnt "$ESPUDP")
  N_KA=$(cnt "$KEEPALIVE")
  N_L2TP=$(cnt 'udp port 1701 or proto 50')
  N_OTHER=$(cnt "not (udp port 500 or $IKE_MARK or $ESPUDP or $KEEPALIVE)")
  tcpdump -n -r "$P" 2>/dev/null > "$RUN/outside.txt"
  if [ -n "$PCAP_OUT" ]; then
    # full IKE packets, every other packet cut to 64 bytes (headers + ESP SPI/seq)
    tcpdump -r "$P" -w "$RUN/ev-ike.pcap" "udp port 500 or $IKE_MARK" 2>/dev/null
    tcpdump -r "$P" -w "$RUN/ev-rest.pcap" "not (udp port 500 or $IKE_MARK)" 2>/dev/null
    if command -v editcap >/dev/null && command -v mergecap >/dev/null; then
      editcap -F pcap -s 64 "$RUN/ev-rest.pcap" "$RUN/ev-rest64.pcap"
      mergecap -F pcap -w "$PCAP_OUT" "$RUN/ev-ike.pcap" "$RUN/ev-rest64.pcap"
    else
      cp "$P" "$PCAP_OUT"
    fi
    [ -s "$PCAP_OUT" ] && log "wrote $PCAP_OUT ($(stat -c %s "$PCAP_OUT") bytes)"
  fi
fi

# ---------------------------------------------------------------- verdict
write_summary() { # rc verdict -> $RUN/summary.json (read by vm.ts)
  jq -n --argjson rc "$1" --arg verdict "$2" --arg run "$RUN" --argjson qemu_rc "${QRC:-null}" \
    --argjson client_vm_ms "${CL_WALL:-null}" --argjson ike500 "$N_IKE500" --argjson ike4500 "$N_IKE4500" \
    --argjson esp_udp4500 "$N_ESP" --argjson keepalive "$N_KA" --argjson clear "$N_L2TP" \
    --argjson other "$N_OTHER" --argjson all "$N_ALL" --arg summary "${SUMMARY:-}" \
    '{rc: $rc, verdict: $verdict, run: $run, qemu_rc: $qemu_rc, client_vm_ms: $client_vm_ms, summary: $summary,
      outside: {all: $all, ike500: $ike500, ike4500: $ike4500, esp_udp4500: $esp_udp4500,
                keepalive: $keepalive, clear_l2tp_or_esp50: $clear, other: $other}}' > "$RUN/summary.json"
}
R=$CSHARE/result.json
if [ ! -s "$R" ] || ! jq -e . "$R" > /dev/null 2>&1; then
  log "no (valid) result.json from the client; console tail:"
  tail -25 "$RUN/client-console.log" >&2
  SUMMARY="VM-E2E FAIL no-result qemu_rc=$QRC run=$RUN"
  write_summary 5 FAIL
  echo "$SUMMARY"
  exit 5
fi
cp "$R" "$RUN/result.json"
j() { jq -r "$1 // \"-\"" "$R"; }
PING_OK=$(jq -r '.ping_ok' "$R")
RC=1; [ "$PING_OK" = true ] && RC=0
[ "$(j .tcp_send_ok)" = false ] || [ "$(j .tcp_recv_ok)" = false ] && [ $RC = 0 ] && RC=3
[ "$N_L2TP" -gt 0 ] && [ -z "$ALLOW_CLEAR" ] && [ $RC = 0 ] && RC=6
VERDICT=FAIL; [ $RC = 0 ] && VERDICT=PASS
SUMMARY="VM-E2E $VERDICT stage=$(j .stage) phase1_ms=$(j .phase1_ms) phase2_ms=$(j .phase2_ms) ppp_ms=$(j .ppp_ms)"
SUMMARY+=" (l2tp=$(j .l2tp_ms) auth=$(j .ppp_auth_ms))"
SUMMARY+=" ip=$(j .assigned_ip) peer=$(j .peer_ip) ping=$(j .ping_received)/$(j .ping_count) nat_t=$(j .nat_t)"
SUMMARY+=" sa=$(j .child_mode) ike=$(j .ike_proposal) esp=$(j .esp_proposal)"
[ -n "$TCP_SEND_PORT" ] && SUMMARY+=" tcp_send=$(j .tcp_send_ok)/$(j .tcp_send_ms)ms"
[ -n "$TCP_RECV_PORT" ] && SUMMARY+=" tcp_recv=$(j .tcp_recv_ok)/$(j .tcp_recv_bytes)B/$(j .tcp_recv_ms)ms"
SUMMARY+=" outside[ike500=$N_IKE500 ike4500=$N_IKE4500 esp_udp4500=$N_ESP keepalive=$N_KA clear_l2tp_or_esp50=$N_L2TP other=$N_OTHER]"
[ "$(j .error)" != "" ] && [ "$(j .error)" != "-" ] && SUMMARY+=" error=\"$(j .error)\""
[ $RC = 6 ] && SUMMARY+=" error=\"cleartext L2TP or raw ESP crossed the NAT (--allow-cleartext to accept)\""
SUMMARY+=" client_vm_ms=$CL_WALL run=$RUN"
[ -n "$REFERENCE" ] && [ -s "$SSHARE/server-tcp-sink-bytes" ] && \
  log "reference server received $(cat "$SSHARE/server-tcp-sink-bytes") B on the TCP sink"
[ "$N_L2TP" -gt 0 ] && log "WARNING: $N_L2TP cleartext L2TP / plain ESP (proto 50) packets crossed the NAT"
write_summary "$RC" "$VERDICT"
echo "$SUMMARY"
exit $RC
