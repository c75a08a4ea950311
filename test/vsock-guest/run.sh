#!/usr/bin/env bash
# Real AF_VSOCK tests in a throw-away QEMU guest.
#
# This build machine has no vsock loopback, and its only vsock peer is the
# hypervisor, which is not ours: nothing here ever creates or connects an
# AF_VSOCK socket on the build machine. This script only installs tools,
# copies files and starts QEMU; every vsock socket is made inside the guest,
# a Debian kernel with its vsock_loopback module (CID 1 = the guest itself),
# where guest-tests.mjs runs our addon, transport, host and enclave.
#
# Steps: tools from Debian (qemu-system-x86, busybox-static, cpio) -> the
# Debian kernel package (cached in .cache/) -> an initramfs with busybox,
# node and its libraries, the repo's built runtime files (stage-app.mjs) and
# an /init that loads the vsock modules and runs guest-tests.mjs -> QEMU under
# TCG (KVM does not work on these machines) -> the verdict from the serial log.
#
# Needs `npm ci && npm run build` first. Exit 0 on PASS; 1 on FAIL; 0 with
# "SKIPPED: reason" only when QEMU cannot be installed.
# Environment: VSOCK_GUEST_TIMEOUT (seconds, default 300), VSOCK_GUEST_MEM
# (MiB, default 2048), VSOCK_GUEST_ARGS (arguments for guest-tests.mjs).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=$HERE/.cache
TIMEOUT_S=${VSOCK_GUEST_TIMEOUT:-300}
MEM_MIB=${VSOCK_GUEST_MEM:-2048}
T0=$SECONDS
say() { printf '[vsock-guest +%ss] %s\n' "$((SECONDS - T0))" "$*"; }
die() { printf 'vsock-guest: FAIL: %s\n' "$*" >&2; exit 1; }
mkdir -p "$CACHE"

# ---- tools ---------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
apt_update_once() { [ "$APT_UPDATED" = 1 ] || { apt-get update -qq >/dev/null && APT_UPDATED=1; }; }
apt_install() { # install, updating the package lists once if the first try fails
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
    { apt_update_once && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static) # static: the guest has no libc of its own
command -v cpio >/dev/null || need+=(cpio)
command -v strip >/dev/null || need+=(binutils)
command -v xz >/dev/null || need+=(xz-utils)
command -v openssl >/dev/null || need+=(openssl)
if [ "${#need[@]}" -gt 0 ]; then
  say "installing ${need[*]}"
  if ! apt_install "${need[@]}"; then
    command -v qemu-system-x86_64 >/dev/null || { echo "SKIPPED: qemu-system-x86 could not be installed from Debian (apt-get failed)"; exit 0; }
    die "could not install ${need[*]}"
  fi
fi
command -v qemu-system-x86_64 >/dev/null || { echo "SKIPPED: qemu-system-x86_64 is not available after installing qemu-system-x86"; exit 0; }
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing after installing busybox-static"

# ---- kernel --------------------------------------------------------------
# The kernel that linux-image-amd64 points at today; its .deb is cached.
kernel_package() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
KPKG=$(kernel_package)
if [ -z "$KPKG" ]; then apt_update_once; KPKG=$(kernel_package); fi
[ -n "$KPKG" ] || die "cannot tell which Debian kernel package linux-image-amd64 depends on"
KVER=${KPKG#linux-image-}
KDIR=$CACHE/kernel-$KVER
if [ ! -f "$KDIR/ready" ]; then
  if [ ! -f "$CACHE/$KPKG.deb" ]; then
    say "downloading $KPKG"
    rm -f "$CACHE"/linux-image-*.deb # an older kernel's package
    (cd "$CACHE" && apt-get download -qq "$KPKG" >/dev/null 2>&1 || { apt_update_once && apt-get download -qq "$KPKG" >/dev/null; })
    mv "$CACHE/${KPKG}"_*.deb "$CACHE/$KPKG.deb"
  fi
  say "extracting $KPKG"
  rm -rf "$KDIR" "$CACHE"/kernel-*; mkdir -p "$KDIR/x" "$KDIR/mod"
  dpkg-deb --fsys-tarfile "$CACHE/$KPKG.deb" |
    tar -x -C "$KDIR/x" --wildcards "./boot/vmlinuz-$KVER" "./lib/modules/$KVER/kernel/net/vmw_vsock/*"
  for m in vsock vmw_vsock_virtio_transport_common vsock_loopback; do
    f=$(ls "$KDIR/x/lib/modules/$KVER/kernel/net/vmw_vsock/$m".ko* 2>/dev/null | head -1)
    [ -n "$f" ] || die "$m.ko is not in $KPKG"
    case $f in
      *.ko) cp "$f" "$KDIR/mod/$m.ko" ;;
      *.ko.xz) xz -dc "$f" >"$KDIR/mod/$m.ko" ;;
      *.ko.zst) zstd -qdc "$f" >"$KDIR/mod/$m.ko" ;;
      *) die "unknown module compression: $f" ;;
    esac
  done
  # The uncompressed vmlinux boots directly (PVH), saving seconds of TCG
  # time spent decompressing the bzImage; the bzImage is the fallback.
  VMLINUZ=$KDIR/x/boot/vmlinuz-$KVER
  off=$(grep -obUaP '\xfd7zXZ\x00' "$VMLINUZ" | head -1 | cut -d: -f1 || true)
  if [ -n "$off" ] && tail -c +"$((off + 1))" "$VMLINUZ" | xz -dc --single-stream >"$KDIR/vmlinux" 2>/dev/null &&
    head -c 4 "$KDIR/vmlinux" | grep -q ELF; then
    :
  else
    rm -f "$KDIR/vmlinux"
  fi
  cp "$VMLINUZ" "$KDIR/vmlinuz"
  rm -rf "$KDIR/x"
  touch "$KDIR/ready"
fi
KERNEL=$KDIR/vmlinux; [ -f "$KERNEL" ] || KERNEL=$KDIR/vmlinuz

# ---- initramfs -------------------------------------------------------------
say "building the initramfs"
ROOT=$CACHE/root
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,proc,sys,dev,tmp,mod,lib64,lib/x86_64-linux-gnu,etc}
cp "$BUSYBOX" "$ROOT/bin/busybox"
cp "$KDIR"/mod/*.ko "$ROOT/mod/"
NODE=$(readlink -f "$(command -v node)")
# A stripped copy of node, cached by the binary's identity (strip takes a few seconds).
NODE_ID=$(stat -c '%s-%Y' "$NODE")
if [ ! -f "$CACHE/node-$NODE_ID" ]; then rm -f "$CACHE"/node-*; strip -o "$CACHE/node-$NODE_ID" "$NODE"; fi
cp "$CACHE/node-$NODE_ID" "$ROOT/usr/bin/node"
node "$HERE/stage-app.mjs" "$REPO" "$ROOT/app"
# Shared libraries of node and of every native addon staged.
for bin in "$NODE" $(find "$ROOT/app" -name '*.node'); do
  ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    case $lib in
      /lib64/*) dest=$ROOT/lib64 ;;
      *) dest=$ROOT/lib/x86_64-linux-gnu ;;
    esac
    [ -f "$dest/$(basename "$lib")" ] || cp -L "$lib" "$dest/"
  done
done
echo "127.0.0.1 localhost" >"$ROOT/etc/hosts"
# A throw-away certificate for the guest's own TLS measurement servers.
if [ ! -f "$CACHE/cert.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$CACHE/key.pem" -out "$CACHE/cert.pem" 2>/dev/null
fi
mkdir -p "$ROOT/certs" && cp "$CACHE/key.pem" "$CACHE/cert.pem" "$ROOT/certs/"
cat >"$ROOT/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin HOME=/tmp
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
ip link set lo up
echo "GUEST: up after $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r), $(nproc) cpus"
for m in vsock vmw_vsock_virtio_transport_common vsock_loopback; do insmod /mod/$m.ko || echo "GUEST: insmod $m failed"; done
cd /app
node test/vsock-guest/guest-tests.mjs $(cat /guest-args)
echo "GUEST: node exited $?"
echo "GUEST: done after $(cut -d' ' -f1 /proc/uptime) s"
poweroff -f
INIT
chmod +x "$ROOT/init"
printf '%s\n' "${VSOCK_GUEST_ARGS:-}" >"$ROOT/guest-args"
(cd "$ROOT" && find . | cpio -o -H newc --quiet >"$CACHE/initrd.cpio")
rm -rf "$ROOT"
say "initramfs $(du -m "$CACHE/initrd.cpio" | cut -f1) MiB; booting $KPKG under QEMU/TCG (timeout ${TIMEOUT_S}s)"

# ---- boot ----------------------------------------------------------------
LOG=$CACHE/guest.log
set +e
timeout -k 10 "$TIMEOUT_S" qemu-system-x86_64 -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
  -accel tcg -cpu max -smp 2 -m "$MEM_MIB" \
  -kernel "$KERNEL" -initrd "$CACHE/initrd.cpio" -append 'console=ttyS0 quiet panic=-1' </dev/null |
  sed -u -e 's/\r//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' | tee "$LOG"
QEMU_RC=${PIPESTATUS[0]}
set -e
say "guest finished (qemu exit $QEMU_RC)"
[ "$QEMU_RC" = 124 ] && die "the guest did not finish within ${TIMEOUT_S}s (log: $LOG)"
grep -q '^GUEST: VERDICT PASS' "$LOG" && grep -q '^GUEST: node exited 0$' "$LOG" ||
  die "guest verdict is not PASS (log: $LOG)"
say "PASS"
