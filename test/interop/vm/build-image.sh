#!/bin/bash
# Builds (once per machine, cached) the Debian 12 guest used by the real-client VM harness:
# stock kernel (ESP/L2TP/PPP modules), strongSwan 5.9.8 charon + swanctl, xl2tpd, pppd.
#
#   bash test/interop/vm/build-image.sh [--force]
#
# Output, all under $OAKLEY_VM_DIR (default /var/cache/oakley-vm; never in the repository):
#   guest.ext4   raw ext4 disk image (mkfs.ext4 -d from rootfs/, no loop mount); guests attach it
#                with snapshot=on, so it is never modified and can be shared
#   vmlinuz, initrd.img (small initramfs: virtio + ext4 only), kernel-config
#   rootfs/      the debootstrap tree;  debs/  the .deb cache;  build.log
#   image.stamp  hash of this script + guest/oak-init: when it matches, nothing is rebuilt
# A changed package list re-runs debootstrap; a changed oak-init only re-packs the image (~10 s).
# Concurrent callers serialise on $OAKLEY_VM_DIR/build.lock.
#
# Needs root, debootstrap, e2fsprogs and the Debian mirror configured in this machine's apt
# sources (read at run time; MIRROR=... overrides). Cost: ~2 min, ~1 GiB disk, once.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${OAKLEY_VM_DIR:-/var/cache/oakley-vm}
SUITE=${SUITE:-bookworm}
ROOTFS=$DIR/rootfs
FORCE=
[ "${1:-}" = --force ] && FORCE=1

PKGS=(
  # IPsec / L2TP / PPP client (and reference server) stack
  strongswan strongswan-swanctl strongswan-starter strongswan-charon
  # standard-plugins = openssl, gcm, aesni. Deliberately NOT libstrongswan-extra-plugins: its
  # af-alg plugin makes charon AND swanctl probe every kernel cipher over AF_ALG, which
  # autoloads ~35 crypto modules and costs ~20 s per cold start under TCG.
  libcharon-extra-plugins libstrongswan-standard-plugins
  xl2tpd ppp
  # tools
  iproute2 iputils-ping kmod netcat-openbsd procps netbase
  # kernel with ESP/PPP/L2TP modules
  linux-image-amd64
)

log() { printf '[build-image %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
[ "$(id -u)" = 0 ] || { echo "build-image: needs root" >&2; exit 1; }
for b in debootstrap mkfs.ext4 chroot flock sha256sum; do
  command -v "$b" >/dev/null || { echo "build-image: missing $b (apt-get install debootstrap e2fsprogs)" >&2; exit 1; }
done
mkdir -p "$DIR/debs"
exec 8>"$DIR/build.lock"
flock 8

WANT=$( { cat "$0" "$HERE/guest/oak-init"; echo "$SUITE"; } | sha256sum | cut -c1-16)
ROOTFS_WANT=$(printf '%s\n' "$SUITE" "${PKGS[@]}" | sha256sum | cut -c1-16)
if [ -z "$FORCE" ] && [ -s "$DIR/guest.ext4" ] && [ -s "$DIR/vmlinuz" ] && [ -s "$DIR/initrd.img" ] \
   && [ "$(cat "$DIR/image.stamp" 2>/dev/null)" = "$WANT" ]; then
  log "image up to date in $DIR (stamp $WANT)"
  exit 0
fi

# ---- 1. the configured Debian mirror (deb822 .sources first, then sources.list)
mirror_from_apt() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri=$(awk -v s="$SUITE" '
      BEGIN{RS=""; FS="\n"}
      {
        u=""; ok=0; en=1
        for(i=1;i<=NF;i++){
          if($i ~ /^URIs:/){ sub(/^URIs:[ \t]*/,"",$i); split($i,a,/[ \t]+/); u=a[1] }
          if($i ~ /^Suites:/){ n=split($i,b,/[ \t]+/); for(j=2;j<=n;j++) if(b[j]==s) ok=1 }
          if($i ~ /^Enabled:[ \t]*no/) en=0
        }
        if(ok && en && u!=""){ print u; exit }
      }' "$f")
    if [ -n "$uri" ]; then echo "$uri"; return 0; fi
  done
  if [ -r /etc/apt/sources.list ]; then
    uri=$(awk -v s="$SUITE" '$1=="deb" { i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1)==s) { print $i; exit } }' /etc/apt/sources.list)
    if [ -n "$uri" ]; then echo "$uri"; return 0; fi
  fi
  return 1
}
T0=$(date +%s)

# ---- 2. debootstrap (skipped when rootfs/ was bootstrapped with the same package list)
if [ -z "$FORCE" ] && [ "$(cat "$ROOTFS/.oak-bootstrapped" 2>/dev/null)" = "$ROOTFS_WANT" ]; then
  log "rootfs up to date, skipping debootstrap"
else
  MIRROR=${MIRROR:-$(mirror_from_apt)} || { echo "build-image: no $SUITE mirror in the apt configuration" >&2; exit 1; }
  rm -rf "$ROOTFS"
  log "debootstrap --variant=minbase $SUITE (+ ${#PKGS[@]} packages) from the configured mirror (~2 min)"
  inc=$(IFS=,; echo "${PKGS[*]}")
  debootstrap --variant=minbase --components=main --cache-dir="$DIR/debs" \
    --include="$inc" "$SUITE" "$ROOTFS" "$MIRROR" > "$DIR/debootstrap.log" 2>&1 \
    || { tail -30 "$DIR/debootstrap.log" >&2; exit 1; }
  # drop the apt package cache inside the guest (the debs live in $DIR/debs)
  rm -f "$ROOTFS"/var/cache/apt/archives/*.deb
  echo "$ROOTFS_WANT" > "$ROOTFS/.oak-bootstrapped"
fi
T1=$(date +%s)

# ---- 3. configure the guest
echo oak-guest > "$ROOTFS/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 oak-guest\n' > "$ROOTFS/etc/hosts"
printf '/dev/vda / ext4 rw,relatime 0 1\n' > "$ROOTFS/etc/fstab"
# no apt sources inside the guest: it never reaches the network beyond the lab link
: > "$ROOTFS/etc/apt/sources.list"
install -m 0755 "$HERE/guest/oak-init" "$ROOTFS/sbin/oak-init"
for pl in test-vectors af-alg; do   # slow to start under TCG, if present
  f="$ROOTFS/etc/strongswan.d/charon/$pl.conf"
  [ -f "$f" ] && sed -i 's/^\(\s*load\s*=\s*\)yes/\1no/' "$f"
done
KVER=$(ls "$ROOTFS/lib/modules" | sort -V | tail -1)
if [ ! -s "$ROOTFS/etc/initramfs-tools/conf.d/oak.conf" ] || [ ! -s "$DIR/initrd.img" ]; then
  mkdir -p "$ROOTFS/etc/initramfs-tools/conf.d"
  echo 'MODULES=list' > "$ROOTFS/etc/initramfs-tools/conf.d/oak.conf"
  printf '%s\n' virtio_pci virtio_blk ext4 > "$ROOTFS/etc/initramfs-tools/modules"
  log "kernel $KVER: regenerating a small initramfs (MODULES=list)"
  chroot "$ROOTFS" update-initramfs -u -k "$KVER" > "$DIR/initramfs.log" 2>&1 \
    || { tail -20 "$DIR/initramfs.log" >&2; exit 1; }
  # drop kernel modules a headless virtio guest never loads (395 -> ~190 MiB)
  M="$ROOTFS/lib/modules/$KVER/kernel"
  rm -rf "$M"/drivers/{gpu,media,infiniband,staging,iio,bluetooth,net/wireless,net/ethernet,isdn,input/touchscreen} \
         "$M"/sound "$M"/net/{bluetooth,wireless,mac80211}
  chroot "$ROOTFS" depmod "$KVER"
fi
cp "$ROOTFS/boot/vmlinuz-$KVER" "$DIR/vmlinuz"
cp "$ROOTFS/boot/initrd.img-$KVER" "$DIR/initrd.img"
cp "$ROOTFS/boot/config-$KVER" "$DIR/kernel-config"
T2=$(date +%s)

# ---- 4. raw ext4 image straight from the directory (no loop device, no mount), atomically
USED_MB=$(du -sxm "$ROOTFS" | cut -f1)
SIZE_MB=$(( USED_MB * 12 / 10 + 256 ))
rm -f "$DIR/guest.ext4.tmp"
truncate -s "${SIZE_MB}M" "$DIR/guest.ext4.tmp"
mkfs.ext4 -q -F -L oak-root -d "$ROOTFS" "$DIR/guest.ext4.tmp"
mv -f "$DIR/guest.ext4.tmp" "$DIR/guest.ext4"
echo "$WANT" > "$DIR/image.stamp"
T3=$(date +%s)
log "image $DIR/guest.ext4: ${SIZE_MB} MiB apparent, $(du -sm "$DIR/guest.ext4" | cut -f1) MiB on disk; kernel $KVER"
log "build: debootstrap $((T1-T0)) s, configure $((T2-T1)) s, mkfs $((T3-T2)) s, total $((T3-T0)) s"
