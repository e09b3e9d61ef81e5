#!/usr/bin/env bash
# Builds Nubo's test guest image from Debian packages only (apt-get, nothing else downloaded):
# a qcow2 disk that QEMU boots with no -kernel: MBR (syslinux mbr.bin) -> one bootable FAT
# partition holding SYSLINUX, the Debian cloud kernel and a busybox initramfs (see rootfs/init
# for what the guest does and the markers it prints on ttyS0). No mounts, no loop devices, and
# the build machine's own /boot is untouched: kernel and busybox are unpacked from their .debs.
#
#   deploy/guest-image/build.sh [OUT_DIR]      default: $NUBO_STATE_DIR/guest-image
#
# Writes OUT_DIR/nubo-test.qcow2 (path printed on stdout), OUT_DIR/vmlinuz and
# OUT_DIR/initrd.img (for direct kernel boot). Logs go to stderr. Cached: does nothing when the
# outputs exist and neither these files nor the kernel/busybox versions changed.
# NUBO_GUEST_KERNEL picks the kernel package (default linux-image-cloud-amd64).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

HERE=$NUBO_ROOT/deploy/guest-image
OUT_DIR=${1:-$NUBO_STATE_DIR/guest-image}
KERNEL_META=${NUBO_GUEST_KERNEL:-linux-image-cloud-amd64}
IMAGE=$OUT_DIR/nubo-test.qcow2
STAMP=$OUT_DIR/nubo-test.stamp
MBR_BIN=/usr/lib/syslinux/mbr/mbr.bin
FREE_MIB=24 # room left on the FAT partition for files that tests write in the guest

# "package version" for each package's candidate (one apt-cache run: each costs about a second).
candidates() {
  apt-cache policy "$@" 2>/dev/null | awk '/^[^ ]/ { sub(/:$/, "", $1); p = $1 } $1 == "Candidate:" && $2 != "(none)" { print p, $2 }'
}

# The versioned kernel package behind the meta package (or the name itself if versioned).
kernel_package() {
  if [[ $KERNEL_META =~ ^linux-image-[0-9] ]]; then echo "$KERNEL_META"; return; fi
  apt-cache depends "$KERNEL_META" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

resolve_versions() {
  local versions
  KERNEL_PKG=$(kernel_package)
  [ -n "$KERNEL_PKG" ] || return 1
  versions=$(candidates "$KERNEL_PKG" busybox-static)
  KERNEL_VER=$(awk -v p="$KERNEL_PKG" '$1 == p { print $2 }' <<<"$versions")
  BUSYBOX_VER=$(awk '$1 == "busybox-static" { print $2 }' <<<"$versions")
  [ -n "$KERNEL_VER" ] && [ -n "$BUSYBOX_VER" ]
}

if ! resolve_versions; then
  log "guest image: apt-get update (package lists do not know $KERNEL_META or busybox-static)"
  apt-get update -q >/dev/null
  APT_UPDATED=1
  resolve_versions || die "no candidate for $KERNEL_META or busybox-static in Debian's archive"
fi
KERNEL_RELEASE=${KERNEL_PKG#linux-image-}

# Everything that determines the image: our files, the kernel and busybox versions.
inputs_key() {
  (cd "$HERE" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  echo "kernel $KERNEL_PKG $KERNEL_VER"
  echo "busybox-static $BUSYBOX_VER"
}

mkdir -p "$OUT_DIR"
exec 9>"$OUT_DIR/.lock"
flock 9 # one build at a time; a second caller waits, then finds the cache
KEY=$(inputs_key | sha256sum | cut -d' ' -f1)
if [ -f "$IMAGE" ] && [ -f "$OUT_DIR/vmlinuz" ] && [ -f "$OUT_DIR/initrd.img" ] && \
   [ "$(cat "$STAMP" 2>/dev/null)" = "$KEY" ]; then
  log "guest image up to date: $IMAGE"
  echo "$IMAGE"
  exit 0
fi

ensure_packages cpio:cpio syslinux:syslinux "$MBR_BIN:syslinux-common" mcopy:mtools mkfs.vfat:dosfstools \
  sfdisk:fdisk qemu-img:qemu-utils gcc:gcc /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev xz:xz-utils

rm -rf "$OUT_DIR"/.build.* # left by a build that was killed; we hold the lock
WORK=$(mktemp -d "$OUT_DIR/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Download and unpack (not install) the packages: nothing on this machine changes.
download() {
  rm -rf "$WORK/debs" && mkdir -p "$WORK/debs"
  (cd "$WORK/debs" && apt-get download -q -o APT::Sandbox::User=root \
    "$KERNEL_PKG=$KERNEL_VER" "busybox-static=$BUSYBOX_VER" >/dev/null 2>&1)
}
if ! download; then
  [ -z "$APT_UPDATED" ] || die "apt-get download of $KERNEL_PKG=$KERNEL_VER, busybox-static=$BUSYBOX_VER failed"
  log "guest image: apt-get update (download failed: package lists out of date?)"
  apt-get update -q >/dev/null
  APT_UPDATED=1
  resolve_versions || die "no candidate for $KERNEL_META or busybox-static in Debian's archive"
  KEY=$(inputs_key | sha256sum | cut -d' ' -f1)
  download || die "apt-get download of $KERNEL_PKG=$KERNEL_VER, busybox-static=$BUSYBOX_VER failed"
fi
log "guest image: building with $KERNEL_PKG $KERNEL_VER, busybox-static $BUSYBOX_VER"
dpkg-deb -x "$WORK/debs/${KERNEL_PKG}_"*.deb "$WORK/kernel"
dpkg-deb -x "$WORK/debs/busybox-static_"*.deb "$WORK/busybox"
VMLINUZ=$WORK/kernel/boot/vmlinuz-$KERNEL_RELEASE
MODULES=$WORK/kernel/lib/modules/$KERNEL_RELEASE
[ -f "$VMLINUZ" ] || die "$KERNEL_PKG has no /boot/vmlinuz-$KERNEL_RELEASE"

# The initramfs tree: our rootfs files, busybox and its applet links, modules, memwriter.
ROOT=$WORK/initramfs
cp -a "$HERE/rootfs" "$ROOT"
chmod 755 "$ROOT/init" "$ROOT/usr/share/udhcpc/default.script" "$ROOT/etc/acpi/PWRF/00000080"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,root,mnt/boot,var/log,lib/modules}
chmod 1777 "$ROOT/tmp"
install -m 755 "$WORK/busybox/bin/busybox" "$ROOT/bin/busybox"
while read -r applet; do
  [ -e "$ROOT/$applet" ] || [ -L "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done < <("$ROOT/bin/busybox" --list-full)
grep -v -e '^#' -e '^$' "$HERE/rootfs/etc/modules.list" | while read -r module; do
  found=$(find "$MODULES/kernel" \( -name "$module.ko" -o -name "$module.ko.xz" \) | head -n 1)
  [ -n "$found" ] || die "module $module not found in $KERNEL_PKG"
  case $found in
    *.xz) xz -dc "$found" >"$ROOT/lib/modules/$module.ko" ;;
    *) cp "$found" "$ROOT/lib/modules/$module.ko" ;;
  esac
done
gcc -static -O2 -s -Wall -Wextra -o "$ROOT/bin/memwriter" "$HERE/memwriter.c"
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -9n >"$WORK/initrd.img"

# The FAT boot partition, built as its own file (mtools and syslinux need no mount).
kernel_bytes=$(stat -c %s "$VMLINUZ")
initrd_bytes=$(stat -c %s "$WORK/initrd.img")
part_mib=$(((kernel_bytes + initrd_bytes) / 1048576 + 1 + FREE_MIB))
mkfs.vfat -C --mbr=n --invariant -h 2048 -n NUBOBOOT "$WORK/part.img" $((part_mib * 1024)) >/dev/null
syslinux --install "$WORK/part.img"
mcopy -i "$WORK/part.img" "$VMLINUZ" ::vmlinuz
mcopy -i "$WORK/part.img" "$WORK/initrd.img" ::initrd.img
mcopy -i "$WORK/part.img" "$HERE/syslinux.cfg" ::syslinux.cfg

# The disk: MBR boot code + one bootable FAT16 (LBA) partition at 1 MiB.
truncate -s $(((part_mib + 1) * 1048576)) "$WORK/disk.raw"
echo 'start=2048, type=e, bootable' | sfdisk --quiet --label dos "$WORK/disk.raw" >/dev/null
dd if="$MBR_BIN" of="$WORK/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$WORK/part.img" of="$WORK/disk.raw" bs=1M seek=1 conv=notrunc status=none
qemu-img convert -f raw -O qcow2 "$WORK/disk.raw" "$WORK/nubo-test.qcow2"

cp "$VMLINUZ" "$WORK/vmlinuz"
rm -f "$STAMP" # the outputs change one by one: no stamp until all are in place
for f in vmlinuz initrd.img nubo-test.qcow2; do mv -f "$WORK/$f" "$OUT_DIR/$f"; done
echo "$KEY" >"$STAMP"
log "guest image: $IMAGE ($(du -h "$IMAGE" | cut -f1) on disk, kernel $KERNEL_RELEASE)"
echo "$IMAGE"
