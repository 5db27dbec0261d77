#!/bin/sh
# Regenerates tshark-values.txt: Wireshark's ISAKMP value tables (tshark 4.0.17, `tshark -G values`),
# the independent oracle for src/registry/ike.test.ts. Columns: kind (V value / R range) | field |
# value (or range start) | name (V) or range end (R) | name (R). Fields with an IKEv1 and an
# IKEv2 table list the IKEv1 table first.
tshark -G values 2>/dev/null | awk -F'\t' '$2 ~ /^isakmp\.(notify\.msgtype|exchangetype|typepayload|id\.type|cert\.encoding|prop\.protoid|sa\.doi|ike\.attr\.(type|encryption_algorithm|hash_algorithm|authentication_method|group_description|group_type|life_type)|ipsec\.attr\.(type|encap_mode|auth_algorithm|ecn_tunnel|ext_seq_nbr|addr_preservation|sa_direction|life_type))$/ {print $1"|"$2"|"$3"|"$4"|"$5}'
