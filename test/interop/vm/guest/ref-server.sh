#!/bin/sh
# Guest side of `vm-e2e.sh --reference-server`: a stock Debian 12 L2TP/IPsec *server*
# (strongSwan charon IKEv1 responder, kernel ESP transport mode, xl2tpd LNS, pppd with
# MS-CHAPv2/CHAP/PAP and an address pool). Runs as /oak/test.sh in the second guest.
# Reads /oak/params.env; writes /oak/ready when it accepts connections, then serves until
# the host creates /oak/stop (or SERVE_TIMEOUT passes), copies its logs to /oak/server-*.
. /oak/params.env
: "${SERVER:=198.51.100.2}" "${AUTH:=mschapv2}" "${SERVE_TIMEOUT:=900}"
: "${LOCAL_PPP_IP:=203.0.113.1}" "${POOL:=203.0.113.10-203.0.113.20}"
: "${IKE_PROPOSALS:=aes256-sha1-modp2048,aes128-sha1-modp2048,3des-sha1-modp1024}"
: "${ESP_PROPOSALS:=aes256-sha1,aes128-sha1,3des-sha1}"
: "${TCP_BYTES:=1048576}" "${TCP_SINK_PORT:=5001}" "${TCP_SOURCE_PORT:=5002}"
now_ms() { date +%s%3N; }
T0=$(now_ms)
say() { echo "OAK-SRV[$(( $(now_ms) - T0 ))ms] $*"; }

modprobe -a esp4 xfrm_user xfrm4_tunnel l2tp_core l2tp_netlink l2tp_ppp ppp_generic pppox \
  authenc cbc aes_generic sha1_generic hmac des3_ede 2>/dev/null
ip -br addr
# warm up the kernel's ESP crypto (first use runs the self-tests, ~2 s under TCG)
warm_xfrm() {
  ip xfrm state add src 127.0.0.1 dst 127.0.0.2 proto esp spi 0x0000fff1 mode transport \
    auth-trunc 'hmac(sha1)' 0x000102030405060708090a0b0c0d0e0f10111213 96 enc "$1" "$2" 2>/dev/null
  ip xfrm state delete src 127.0.0.1 dst 127.0.0.2 proto esp spi 0x0000fff1 2>/dev/null
}
warm_xfrm 'cbc(aes)' 0x000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f
warm_xfrm 'cbc(aes)' 0x000102030405060708090a0b0c0d0e0f
warm_xfrm 'cbc(des3_ede)' 0x000102030405060710111213141516172021222324252627
# L2TP only inside IPsec (as hardened servers do with iptables -m policy): low-priority
# "block" policies for udp/1701; charon's transport-mode policies have higher priority
ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp sport 1701 dir out priority 20000000 action block
ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 1701 dir in priority 20000000 action block

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
  l2tp-psk {
    version = 1
    aggressive = no
    local_addrs = $SERVER
    remote_addrs = %any
    proposals = $IKE_PROPOSALS
    encap = no
    dpd_delay = 30s
    local {
      auth = psk
      id = $SERVER
    }
    remote {
      auth = psk
    }
    children {
      l2tp {
        mode = transport
        local_ts = dynamic[udp/1701]
        remote_ts = dynamic[udp]
        esp_proposals = $ESP_PROPOSALS
      }
    }
  }
}
secrets { ike-any { secret = 0x$PSK_HEX } }
EOC
/usr/lib/ipsec/charon > /tmp/charon.stdout 2>&1 &
i=0; while [ $i -lt 150 ] && ! swanctl --stats >/dev/null 2>&1; do sleep 0.2; i=$((i+1)); done
if ! swanctl --load-all --noprompt > /tmp/swanctl-load.log 2>&1; then
  grep -v 'failed to load -' /tmp/swanctl-load.log
  cp /tmp/swanctl-load.log /oak/server-swanctl-load.log; cp /tmp/charon.log /oak/server-charon.log
  say "FATAL: swanctl could not load the responder config"; exit 1
fi
say "charon up: $(swanctl --list-conns 2>/dev/null | head -1)"

esc() { printf %s "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
case "$AUTH" in
  mschapv2) REQ=require-mschap-v2;;
  chap)     REQ=require-chap;;
  pap)      REQ=require-pap;;
esac
printf '"%s" * "%s" *\n' "$(esc "$USER_NAME")" "$(esc "$PASSWORD")" > /etc/ppp/chap-secrets
printf '"%s" * "%s" *\n' "$(esc "$USER_NAME")" "$(esc "$PASSWORD")" > /etc/ppp/pap-secrets
chmod 600 /etc/ppp/chap-secrets /etc/ppp/pap-secrets
cat > /tmp/options.lns <<EOC
auth
$REQ
name oak-lns
mtu 1280
mru 1280
noccp
nodefaultroute
noipv6
lcp-echo-interval 30
lcp-echo-failure 4
debug
logfile /tmp/pppd.log
EOC
mkdir -p /var/run/xl2tpd
cat > /tmp/xl2tpd.conf <<EOC
[global]
listen-addr = $SERVER
port = 1701
access control = no
debug avp = no
debug network = no
debug state = yes
debug tunnel = yes

[lns default]
ip range = $POOL
local ip = $LOCAL_PPP_IP
require authentication = yes
name = oak-lns
ppp debug = yes
pppoptfile = /tmp/options.lns
length bit = yes
EOC
xl2tpd -D -c /tmp/xl2tpd.conf -p /tmp/xl2tpd.pid -C /var/run/xl2tpd/l2tp-control > /tmp/xl2tpd.log 2>&1 &
i=0; while [ $i -lt 50 ] && ! grep -q 'Listening on' /tmp/xl2tpd.log 2>/dev/null; do sleep 0.2; i=$((i+1)); done
grep -E 'kernel support|Listening' /tmp/xl2tpd.log

# optional TCP peers on every local address (reached through the tunnel at $LOCAL_PPP_IP)
( nc -l -p "$TCP_SINK_PORT" 2>/tmp/nc-sink.err | wc -c > /tmp/tcp-sink-bytes ) &
( head -c "$TCP_BYTES" /dev/urandom | nc -N -l -p "$TCP_SOURCE_PORT" > /dev/null 2>/tmp/nc-source.err ) &

say "READY (IKE/L2TP on $SERVER, ppp $LOCAL_PPP_IP, pool $POOL, auth $AUTH, tcp sink :$TCP_SINK_PORT source :$TCP_SOURCE_PORT)"
echo "$(now_ms)" > /oak/ready
end=$(( T0 + SERVE_TIMEOUT * 1000 ))
seen_ppp=
while [ ! -e /oak/stop ] && [ "$(now_ms)" -lt "$end" ]; do
  if [ -z "$seen_ppp" ] && ip -o -4 addr show dev ppp0 >/dev/null 2>&1 && [ -n "$(ip -o -4 addr show dev ppp0 2>/dev/null)" ]; then
    seen_ppp=1; say "ppp0 up: $(ip -o -4 addr show dev ppp0 | awk '{print $4, $5, $6}')"
    swanctl --list-sas > /tmp/list-sas-up.txt 2>&1
  fi
  sleep 1
done
say "stopping"
swanctl --list-sas > /tmp/list-sas.txt 2>&1
ip -s xfrm state > /tmp/xfrm-state.txt 2>&1
for f in charon.log xl2tpd.log pppd.log list-sas.txt list-sas-up.txt xfrm-state.txt tcp-sink-bytes nc-sink.err nc-source.err swanctl-load.log; do
  [ -f /tmp/$f ] && cp /tmp/$f /oak/server-$f
done
sync
exit 0
