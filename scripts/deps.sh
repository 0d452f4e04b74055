#!/bin/sh
# Installs every Debian package the build, tests, demo and benchmarks need.
# The list below is the one place packages are named. Idempotent: packages
# already installed are left alone, and `apt-get update` runs only when
# something is missing. Non-interactive, so CI and a fresh machine can run it.
set -eu

# Packages whose files the image and the rig are built from, downloaded and
# unpacked by the build, never installed on this machine (a kernel package
# would run boot-loader hooks here; runit's package would add a service).
# NAME:meta is a metapackage: the package it depends on is fetched.
DOWNLOADED="
linux-image-amd64:meta
runit
xdm
"
CACHE="${DUET_DEB_CACHE:-/var/cache/duet/debs}"

PACKAGES="
build-essential
pkg-config
binutils
clang
libclang-rt-14-dev
libcmocka-dev
libseccomp-dev
libjansson-dev
libinih-dev
libslirp-dev
libglib2.0-dev
acpica-tools
syslinux
syslinux-common
mtools
dosfstools
ipxe
dnsmasq
libvncserver-dev
vncsnapshot
libpng-dev
libpixman-1-dev
libdrm-dev
libevdev-dev
libnbd-dev
zlib1g-dev
python3
python3-pytest
qemu-system-x86
qemu-utils
seabios
ipxe-qemu
busybox-static
cpio
xz-utils
zstd
kmod
dnsmasq-base
nbd-server
iproute2
socat
xserver-xorg-core
xserver-xorg-input-evdev
x11-xkb-utils
xkb-data
x11-xserver-utils
xterm
libxaw7
libxft2
libxinerama1
libxpm4
libpam0g
fonts-dejavu-core
xvfb
x11-apps
libnbd-bin
pxelinux
curl
"

# fetch_debs: download each DOWNLOADED package (a metapackage is resolved
# to the package it depends on) into $CACHE as NAME.deb.
fetch_debs() {
	for entry in $DOWNLOADED; do
		p=${entry%:meta}
		[ -s "$CACHE/$p.deb" ] && continue
		mkdir -p "$CACHE"
		real="$p"
		if [ "$entry" != "$p" ]; then
			real=$(apt-cache depends "$p" 2>/dev/null | awk '/Depends:/ {print $2; exit}')
			[ -n "$real" ] || { echo "deps: cannot resolve metapackage $p" >&2; exit 1; }
		fi
		echo "deps: downloading $real"
		(cd "$CACHE" && apt-get download -qq -o APT::Sandbox::User=root "$real" >/dev/null)
		ln -sf "$(cd "$CACHE" && ls -t "$real"_*.deb | head -n 1)" "$CACHE/$p.deb"
	done
}

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	fetch_debs
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
fetch_debs
echo "deps: done"
