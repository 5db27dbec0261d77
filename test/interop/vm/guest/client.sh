#!/bin/sh
# Guest side of vm-e2e.sh: a stock Debian 12 L2TP/IPsec *client* (strongSwan charon
# IKEv1 + kernel ESP transport mode, xl2tpd LAC + pppd over kernel L2TP/PPP).
# Runs as /oak/test.sh inside the QEMU guest (PID 1 = oak-init from test/interop/vm/guest).
# Reads /oak/params.env, writes /oak/result.json (+ raw logs in /oak/).
# Talks only to $SERVER (198.51.100.2 by default) via its gateway 192.0.2.1 (the NAT).
. /oak/params.env
: "${SERVER:=198.51.100.2}" "${AUTH:=mschapv2}" "${MODE:=transport}" "${GUEST_TIMEOUT:=240}"
: "${IKE_PROPOSALS:=aes256-sha1-modp2048,aes128-sha1-modp2048,3des-sha1-modp1024}"
: "${ESP_PROPOSALS:=aes256-sha1,aes128-sha1,3des-sha1}"
: "${IKE_TIMEOUT:=120}" "${PPP_TIMEOUT:=90}"
: "${PING_COUNT:=5}" "${TCP_BYTES:=1048576}" "${TCP_SEND_PORT:=}" "${TCP_RECV_PORT:=}"
OUT=/oak
now_ms() { date +%s%3N; }
T_START=$(now_ms)
deadline=$(( T_START + GUEST_TIMEOUT * 1000 ))
left_s() { l=$(( (deadline - $(now_ms)) / 1000 )); [ $l -lt 1 ] && l=1; echo $l; }
say() { echo "OAK[$(( ($(now_ms) - T_START) ))ms] $*"; }

STAGE=init RC=1 ERR=
PHASE1_MS=null PHASE2_MS=null IKE_TOTAL_MS=null PPP_MS=null ASSIGNED_IP= PEER_IP=
L2TP_MS=null PPP_AUTH_MS=null
PING_OK=false PING_RX=0 PING_RTT= NAT_T=false IKE_PROP= ESP_PROP= CHILD_MODE=
TCP_SEND_OK=null TCP_SEND_MS=null TCP_RECV_OK=null TCP_RECV_MS=null TCP_RECV_BYTES=null

modprobe -a esp4 xfrm_user xfrm4_tunnel l2tp_core l2tp_netlink l2tp_ppp ppp_generic pppox \
  authenc cbc aes_generic sha1_generic hmac des3_ede 2>/dev/null
ip -br addr; ip route
# warm up the kernel crypto used by ESP (first use of an algorithm runs the kernel's
# self-tests, ~2 s under TCG) so that phase2_ms measures IKE, not the guest's crypto init
warm_xfrm() { # warm_xfrm ENC KEYHEX
  ip xfrm state add src 127.0.0.1 dst 127.0.0.2 proto esp spi 0x0000fff1 mode transport \
    auth-trunc 'hmac(sha1)' 0x000102030405060708090a0b0c0d0e0f10111213 96 enc "$1" "$2" 2>/dev/null
  ip xfrm state delete src 127.0.0.1 dst 127.0.0.2 proto esp spi 0x0000fff1 2>/dev/null
}
warm_xfrm 'cbc(aes)' 0x000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f
warm_xfrm 'cbc(aes)' 0x000102030405060708090a0b0c0d0e0f
warm_xfrm 'cbc(des3_ede)' 0x000102030405060710111213141516172021222324252627

# ---------------------------------------------------------------- strongSwan (IKEv1 PSK, MM)
PSK_HEX=$(printf %s "$PSK" | od -An -v -tx1 | tr -d ' \n')
cat > /etc/strongswan.d/zz-oak.conf <<EOC
charon {
  filelog {
    oak {
      path = /tmp/charon.log
      time_format = %H:%M:%S
      time_add_ms = yes
      ike_name = yes
      flush_line = yes
      default = 1
      ike = 2
      cfg = 2
      knl = 1
      net = 1
      enc = 1
    }
  }
  syslog { daemon { default = -1 } }
}
EOC
cat > /etc/swanctl/conf.d/oak.conf <<EOC
connections {
  oak {
    version = 1
    aggressive = no
    remote_addrs = $SERVER
    proposals = $IKE_PROPOSALS
    encap = no
    dpd_delay = 30s
    local {
      auth = psk
    }
    remote {
      auth = psk
    }
    children {
      l2tp {
        mode = $MODE
        local_ts = dynamic[udp/1701]
        remote_ts = dynamic[udp/1701]
        esp_proposals = $ESP_PROPOSALS
        start_action = none
      }
    }
  }
}
secrets { ike-oak { secret = 0x$PSK_HEX } }
EOC
STAGE=charon
say "starting charon"
/usr/lib/ipsec/charon > /tmp/charon.stdout 2>&1 &
i=0; while [ $i -lt 150 ] && ! swanctl --stats >/dev/null 2>&1; do sleep 0.2; i=$((i+1)); done
swanctl --load-all --noprompt > /tmp/swanctl-load.log 2>&1 || { grep -v 'failed to load -' /tmp/swanctl-load.log; ERR="swanctl could not load the client config"; }
say "charon up, conns loaded: $(swanctl --list-conns 2>/dev/null | head -1)"

# ---------------------------------------------------------------- xl2tpd LAC (started now, dialed later)
esc() { printf %s "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
case "$AUTH" in
  mschapv2) AUTHOPTS="refuse-eap
refuse-pap
refuse-chap
refuse-mschap";;
  chap)     AUTHOPTS="refuse-eap
refuse-pap
refuse-mschap
refuse-mschap-v2";;
  pap)      AUTHOPTS="refuse-eap
refuse-chap
refuse-mschap
refuse-mschap-v2";;
esac
cat > /tmp/options.oak <<EOC
noauth
$AUTHOPTS
user "$(esc "$USER_NAME")"
password "$(esc "$PASSWORD")"
ipparam oak-e2e
mtu 1280
mru 1280
noccp
nodefaultroute
noipdefault
ipcp-accept-local
ipcp-accept-remote
noipv6
lcp-echo-interval 30
lcp-echo-failure 4
debug
logfile /tmp/pppd.log
EOC
mkdir -p /var/run/xl2tpd
cat > /tmp/xl2tpd.conf <<EOC
[global]
port = 1701
access control = no
debug avp = no
debug network = no
debug state = yes
debug tunnel = yes

[lac oak]
lns = $SERVER
redial = no
autodial = no
require authentication = no
ppp debug = yes
pppoptfile = /tmp/options.oak
length bit = yes
EOC
xl2tpd -D -c /tmp/xl2tpd.conf -p /tmp/xl2tpd.pid -C /var/run/xl2tpd/l2tp-control > /tmp/xl2tpd.log 2>&1 &
i=0; while [ $i -lt 50 ] && [ ! -p /var/run/xl2tpd/l2tp-control ]; do sleep 0.2; i=$((i+1)); done
say "xl2tpd started"

STAGE=ike
T_IKE=$(now_ms)
it=$(left_s); [ "$it" -gt "$IKE_TIMEOUT" ] && it=$IKE_TIMEOUT
swanctl --initiate --ike oak --child l2tp --timeout "$it" > /tmp/initiate.log 2>&1
IRC=$?
T_IKE_DONE=$(now_ms)
say "swanctl --initiate rc=$IRC after $((T_IKE_DONE - T_IKE)) ms"
tail -3 /tmp/initiate.log
# phase timings from charon's own log (ms timestamps)
tsms() { # first log line matching $1 -> ms since midnight
  grep -m1 -E "$1" /tmp/charon.log | awk '{split($1,a,/[:.]/); print ((a[1]*60+a[2])*60+a[3])*1000+a[4]}'
}
t0=$(tsms 'initiating Main Mode'); t1=$(tsms 'IKE_SA oak\[[0-9]+\] established'); t2=$(tsms 'CHILD_SA l2tp\{[0-9]+\} established')
[ -n "$t0" ] && [ -n "$t1" ] && PHASE1_MS=$(( t1 - t0 ))
[ -n "$t1" ] && [ -n "$t2" ] && PHASE2_MS=$(( t2 - t1 ))
IKE_TOTAL_MS=$((T_IKE_DONE - T_IKE))
grep -q 'local host is behind NAT' /tmp/charon.log && grep -q 'sending packet: from [0-9.]*\[4500\]' /tmp/charon.log && NAT_T=true
IKE_PROP=$(grep -m1 'selected proposal: IKE:' /tmp/charon.log | sed 's/.*selected proposal: //')
ESP_PROP=$(grep 'selected proposal: ESP:' /tmp/charon.log | tail -1 | sed 's/.*selected proposal: //')
if [ $IRC -ne 0 ] || [ -z "$t2" ]; then
  ERR="IPsec SA not established (swanctl rc=$IRC)"
  [ -z "$t1" ] && ERR="$ERR; phase 1 incomplete" || ERR="$ERR; phase 1 done, phase 2 failed"
  grep -q 'decryption failed' /tmp/charon.log && ERR="$ERR; cannot decrypt peer messages (PSK mismatch?)"
  grep -q 'received NO_PROPOSAL_CHOSEN' /tmp/charon.log && ERR="$ERR; server sent NO_PROPOSAL_CHOSEN"
  grep -q -E 'received (AUTHENTICATION_FAILED|INVALID_ID_INFORMATION|INVALID_HASH_INFORMATION)' /tmp/charon.log \
    && ERR="$ERR; server sent $(grep -o -m1 -E 'received (AUTHENTICATION_FAILED|INVALID_ID_INFORMATION|INVALID_HASH_INFORMATION)' /tmp/charon.log | cut -d' ' -f2)"
  grep -q 'sending packet' /tmp/charon.log && ! grep -q 'received packet' /tmp/charon.log && ERR="$ERR; no answer from the server"
fi

# ---------------------------------------------------------------- xl2tpd LAC + pppd
if [ -z "$ERR" ]; then
  STAGE=l2tp
  T_PPP=$(now_ms)
  say "IPsec SA up, dialing L2TP"
  echo "c oak" > /var/run/xl2tpd/l2tp-control
  STAGE=ppp
  pend=$(( T_PPP + PPP_TIMEOUT * 1000 )); [ $pend -gt $deadline ] && pend=$deadline
  line= why=
  while [ "$(now_ms)" -lt "$pend" ]; do
    # milestones, polled (a loop turn takes ~0.3-0.5 s under TCG, so they are approximate):
    # L2TP call up (ICCN sent), PPP authentication done
    [ "$L2TP_MS" = null ] && grep -q 'Call established with' /tmp/xl2tpd.log 2>/dev/null && L2TP_MS=$(( $(now_ms) - T_PPP ))
    [ "$PPP_AUTH_MS" = null ] && grep -q 'authentication succeeded' /tmp/pppd.log 2>/dev/null && PPP_AUTH_MS=$(( $(now_ms) - T_PPP ))
    line=$(ip -o -4 addr show dev ppp0 2>/dev/null | head -1)
    if [ -n "$line" ]; then break; fi
    # give up early when xl2tpd or pppd already said it is over
    why=$(grep -m1 -o -E 'Maximum retries exceeded[^.]*|pppd exited for call [0-9]+ with code [0-9]+|Connection [0-9]+ closed to [^,]*|[A-Za-z]*-Disconnect-Notify[^.]*' /tmp/xl2tpd.log 2>/dev/null)
    [ -n "$why" ] && break
    sleep 0.2
  done
  if [ -n "$line" ]; then
    PPP_MS=$(( $(now_ms) - T_PPP ))
    ASSIGNED_IP=$(echo "$line" | sed -n 's/.* inet \([0-9.]*\) peer \([0-9.]*\).*/\1/p')
    PEER_IP=$(echo "$line" | sed -n 's/.* inet \([0-9.]*\) peer \([0-9.]*\).*/\2/p')
    say "ppp0 up after ${PPP_MS} ms (L2TP call up ${L2TP_MS} ms, PPP auth ok ${PPP_AUTH_MS} ms): $ASSIGNED_IP -> $PEER_IP"
  else
    ERR="ppp0 got no IPv4 address${why:+ ($why)}"
    a=$(grep -m1 -E 'authentication failed|Peer refused to authenticate|No auth is possible|CHAP authentication failed|PAP authentication failed|LCP: timeout|No network protocols running' /tmp/pppd.log 2>/dev/null)
    [ -n "$a" ] && ERR="$ERR; pppd: $a"
    grep -q 'received DELETE for ESP CHILD_SA' /tmp/charon.log && ERR="$ERR; the server deleted the ESP SA"
  fi
fi

# ---------------------------------------------------------------- ping + optional TCP
if [ -z "$ERR" ]; then
  STAGE=ping
  ping -c "$PING_COUNT" -i 0.5 -W 3 -I ppp0 "$PEER_IP" > /tmp/ping.log 2>&1
  cat /tmp/ping.log
  PING_RX=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' /tmp/ping.log)
  PING_RTT=$(sed -n 's/^rtt [^=]*= //p' /tmp/ping.log)
  [ "${PING_RX:-0}" -gt 0 ] && PING_OK=true || ERR="no ping reply from $PEER_IP through the tunnel"
fi
if [ "$PING_OK" = true ] && [ -n "$TCP_SEND_PORT" ]; then
  STAGE=tcp-send
  t=$(now_ms)
  head -c "$TCP_BYTES" /dev/urandom | nc -N -w 30 "$PEER_IP" "$TCP_SEND_PORT" > /dev/null 2>/tmp/nc-send.err
  r=$?; TCP_SEND_MS=$(( $(now_ms) - t ))
  if [ $r -eq 0 ]; then TCP_SEND_OK=true; else TCP_SEND_OK=false; ERR="${ERR:+$ERR; }TCP send to $PEER_IP:$TCP_SEND_PORT failed (nc rc=$r)"; fi
  say "tcp send $TCP_BYTES B to $PEER_IP:$TCP_SEND_PORT rc=$r in ${TCP_SEND_MS} ms"
fi
if [ "$PING_OK" = true ] && [ -n "$TCP_RECV_PORT" ]; then
  STAGE=tcp-recv
  t=$(now_ms)
  TCP_RECV_BYTES=$(nc -d -w 30 "$PEER_IP" "$TCP_RECV_PORT" 2>/tmp/nc-recv.err | wc -c)
  TCP_RECV_MS=$(( $(now_ms) - t ))
  if [ "$TCP_RECV_BYTES" -ge "$TCP_BYTES" ]; then TCP_RECV_OK=true; else TCP_RECV_OK=false; ERR="${ERR:+$ERR; }TCP receive from $PEER_IP:$TCP_RECV_PORT got $TCP_RECV_BYTES of $TCP_BYTES bytes"; fi
  say "tcp recv from $PEER_IP:$TCP_RECV_PORT: $TCP_RECV_BYTES B in ${TCP_RECV_MS} ms"
fi
[ -z "$ERR" ] && RC=0 && STAGE=done
[ "$TCP_SEND_OK" = false ] && RC=3
[ "$TCP_RECV_OK" = false ] && RC=3

# ---------------------------------------------------------------- result
swanctl --list-sas > /tmp/list-sas.txt 2>&1
CHILD_MODE=$(grep -o -m1 -E '(TRANSPORT|TUNNEL)(-in-UDP)?' /tmp/list-sas.txt)
ip -s xfrm state > /tmp/xfrm-state.txt 2>&1; ip xfrm policy > /tmp/xfrm-policy.txt 2>&1
ip -s link show ppp0 > /tmp/ppp0-stats.txt 2>&1
# orderly hang-up like NetworkManager-l2tp: stop pppd (LCP Terminate), then the L2TP tunnel
# (StopCCN), then xl2tpd, and only then delete the IPsec SAs, so that nothing is sent in clear
T_DOWN=$(now_ms)
for p in $(pidof pppd); do kill -TERM "$p"; done
i=0; while [ $i -lt 50 ] && pidof pppd >/dev/null; do sleep 0.2; i=$((i+1)); done
if [ -p /var/run/xl2tpd/l2tp-control ]; then
  echo "d oak" > /var/run/xl2tpd/l2tp-control; sleep 1
fi
for p in $(pidof xl2tpd); do kill -TERM "$p"; done
i=0; while [ $i -lt 25 ] && pidof xl2tpd >/dev/null; do sleep 0.2; i=$((i+1)); done
swanctl --terminate --ike oak --timeout 5 > /dev/null 2>&1
say "hung up in $(( $(now_ms) - T_DOWN )) ms"
for f in charon.log initiate.log list-sas.txt xfrm-state.txt xfrm-policy.txt \
         xl2tpd.log pppd.log ping.log ppp0-stats.txt swanctl-load.log; do
  [ -f /tmp/$f ] && cp /tmp/$f $OUT/client-$f
done
jstr() { printf '"%s"' "$(printf %s "$1" | tr -d '\000-\010\013-\037' | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\t\n' '  ')"; }
jlines() { # file -> JSON array of its last 100 lines
  if [ -f "$1" ]; then
    tail -n 100 "$1" | tr -d '\000-\010\013-\014\016-\037' | tr '\t' ' ' \
      | awk 'BEGIN{printf "["} {gsub(/\\/,"\\\\"); gsub(/"/,"\\\""); gsub(/\r/,""); printf "%s\"%s\"", (NR>1?",":""), $0} END{printf "]"}'
  else printf '[]'; fi
}
{
  printf '{\n'
  printf '  "rc": %s,\n' "$RC"
  printf '  "stage": %s,\n' "$(jstr "$STAGE")"
  printf '  "error": %s,\n' "$(jstr "$ERR")"
  printf '  "server": %s,\n' "$(jstr "$SERVER")"
  printf '  "auth": %s,\n' "$(jstr "$AUTH")"
  printf '  "phase1_ms": %s,\n' "$PHASE1_MS"
  printf '  "phase2_ms": %s,\n' "$PHASE2_MS"
  printf '  "ike_initiate_ms": %s,\n' "$IKE_TOTAL_MS"
  printf '  "l2tp_ms": %s,\n' "$L2TP_MS"
  printf '  "ppp_auth_ms": %s,\n' "$PPP_AUTH_MS"
  printf '  "ppp_ms": %s,\n' "$PPP_MS"
  printf '  "nat_t": %s,\n' "$NAT_T"
  printf '  "ike_proposal": %s,\n' "$(jstr "$IKE_PROP")"
  printf '  "esp_proposal": %s,\n' "$(jstr "$ESP_PROP")"
  printf '  "child_mode": %s,\n' "$(jstr "$CHILD_MODE")"
  printf '  "assigned_ip": %s,\n' "$(jstr "$ASSIGNED_IP")"
  printf '  "peer_ip": %s,\n' "$(jstr "$PEER_IP")"
  printf '  "ping_ok": %s,\n' "$PING_OK"
  printf '  "ping_received": %s,\n' "${PING_RX:-0}"
  printf '  "ping_count": %s,\n' "$PING_COUNT"
  printf '  "ping_rtt": %s,\n' "$(jstr "$PING_RTT")"
  printf '  "tcp_bytes": %s,\n' "$TCP_BYTES"
  printf '  "tcp_send_ok": %s,\n' "$TCP_SEND_OK"
  printf '  "tcp_send_ms": %s,\n' "$TCP_SEND_MS"
  printf '  "tcp_recv_ok": %s,\n' "$TCP_RECV_OK"
  printf '  "tcp_recv_ms": %s,\n' "$TCP_RECV_MS"
  printf '  "tcp_recv_bytes": %s,\n' "$TCP_RECV_BYTES"
  printf '  "guest_total_ms": %s,\n' "$(( $(now_ms) - T_START ))"
  printf '  "charon_log": %s,\n' "$(jlines /tmp/charon.log)"
  printf '  "xl2tpd_log": %s,\n' "$(jlines /tmp/xl2tpd.log)"
  printf '  "pppd_log": %s\n' "$(jlines /tmp/pppd.log)"
  printf '}\n'
} > $OUT/result.json
sync
say "result: rc=$RC stage=$STAGE ${ERR:+error=$ERR}"
exit $RC
