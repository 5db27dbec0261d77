#!/bin/sh
# Regenerates tshark-facts.txt: the independent oracle for test/vectors/isakmp-captures.test.ts.
# tshark 4.0.17 (Debian 12). One line per ISAKMP frame, fields separated by '|', multiple
# occurrences of a field separated by ','. Run from this directory.
FIELDS="frame.number udp.srcport udp.dstport isakmp.ispi isakmp.rspi isakmp.nextpayload isakmp.exchangetype isakmp.flags isakmp.messageid isakmp.length isakmp.typepayload isakmp.payloadlength isakmp.sa.doi isakmp.sa.situation isakmp.prop.protoid isakmp.prop.transforms isakmp.trans.id isakmp.ike.attr.encryption_algorithm isakmp.ike.attr.key_length isakmp.ike.attr.hash_algorithm isakmp.ike.attr.group_description isakmp.ike.attr.authentication_method isakmp.ike.attr.life_type isakmp.ike.attr.life_duration isakmp.vid_bytes isakmp.ike.nat_hash isakmp.key_exchange.data isakmp.nonce"
args=""
for f in $FIELDS; do args="$args -e $f"; done
for pcap in evidence-ikev1-natt-transport.pcap evidence-ikev1-natt-tunnel.pcap; do
  echo "# $pcap"
  echo "# $FIELDS"
  tshark -r "$pcap" -Y isakmp -T fields $args -E separator='|' -E aggregator=',' 2>/dev/null
done
