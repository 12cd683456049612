#!/usr/bin/env bash
# Build the bpflab Linux guest: vmlinux (with DWARF), bzImage and a busybox initramfs.
#
#   guest-images/linux/build.sh            # build (or reuse) and print the output paths
#   BPFLAB_CACHE=/some/dir build.sh        # cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/bpflab)
#   JOBS=2 build.sh                        # make -j (default: nproc)
#   BPFLAB_BUILD_PROGRESS=1 build.sh       # kbuild's one line per object on stderr (bpflab image
#                                          # build linux counts them for its progress display)
#
# Installs linux-source-6.1, busybox-static and the kernel build tools with apt-get when they
# are missing (needs root on Debian 12). Everything is built outside git:
#   $root/src/linux-source-6.1/             unpacked sources (shared, never modified)
#   $root/kbuild-<hash of config + this script>/   kernel build tree (make O=)
#   $root/linux-<hash of config + scripts>/  vmlinux, bzImage, initramfs.cpio.gz, cmdline, manifest
#   $root/linux-latest -> the last output directory
# The last line printed is the output directory (also what BPFLAB_LINUX_IMAGE_DIR expects).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${BPFLAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bpflab}
jobs=${JOBS:-$(nproc)}
log() { echo "linux-image: $*" >&2; }

need_pkgs=()
[ -f /usr/src/linux-source-6.1.tar.xz ] || need_pkgs+=(linux-source-6.1)
{ [ -x /bin/busybox ] && /bin/busybox --list | grep -qx poweroff; } || need_pkgs+=(busybox-static)
for tool in gcc:gcc make:make flex:flex bison:bison bc:bc xz:xz-utils gzip:gzip; do
	command -v "${tool%%:*}" > /dev/null || need_pkgs+=("${tool#*:}")
done
command -v pahole > /dev/null || need_pkgs+=(dwarves)
[ -f /usr/include/libelf.h ] || need_pkgs+=(libelf-dev)
[ -f /usr/include/openssl/ssl.h ] || need_pkgs+=(libssl-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "installing ${need_pkgs[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi
if ldd /bin/busybox > /dev/null 2>&1; then
	log "/bin/busybox is not static: install busybox-static"
	exit 1
fi

hash_of() { cat "$@" | sha256sum | cut -c1-16; }
khash=$(hash_of "$here/kernel.config" "$here/build.sh")
ohash=$(hash_of "$here/kernel.config" "$here/build.sh" "$here/init" "$here/bpflab-workload" "$here/hostname")
src=$root/src/linux-source-6.1
kbuild=$root/kbuild-$khash
out=$root/linux-$ohash
mkdir -p "$root/src"

if [ ! -f "$src/Makefile" ]; then
	log "unpacking /usr/src/linux-source-6.1.tar.xz"
	rm -rf "$src.tmp" && mkdir -p "$src.tmp"
	tar -C "$src.tmp" -xJf /usr/src/linux-source-6.1.tar.xz
	mv "$src.tmp/linux-source-6.1" "$src" && rmdir "$src.tmp"
fi

# Reproducible: the same Debian source and busybox package versions give byte-identical files
# wherever the cache lives. The build's date is the source tarball's (dpkg sets it from the
# package, so it moves only with the package version); user, host and build counter are fixed;
# the source and build directories are mapped to fixed names in DWARF and in __FILE__.
build_date=$(date -u -d "@$(stat -c %Y /usr/src/linux-source-6.1.tar.xz)" '+%Y-%m-%d %H:%M:%S UTC')
prefix_map="-ffile-prefix-map=$src=/usr/src/linux-source-6.1 -ffile-prefix-map=$kbuild=/usr/src/linux-build"
# pahole encodes BTF with -j (threads) from 1.22 on, and before 1.26 the threads' order
# shows in the output: encode on one thread (the flags scripts/pahole-flags.sh gives 1.24,
# without -j).
repro=(
	KBUILD_BUILD_TIMESTAMP="$build_date" KBUILD_BUILD_USER=bpflab KBUILD_BUILD_HOST=bpflab
	KBUILD_BUILD_VERSION=1 KCFLAGS="$prefix_map" KAFLAGS="$prefix_map"
	PAHOLE_FLAGS="$(PAHOLE=pahole "$src/scripts/pahole-flags.sh" | sed 's/ -j\b//; s/^-j //')"
)

if [ ! -f "$kbuild/vmlinux" ] || [ ! -f "$kbuild/arch/x86/boot/bzImage" ]; then
	log "configuring in $kbuild"
	mkdir -p "$kbuild"
	make -s -C "$src" O="$kbuild" tinyconfig > /dev/null
	"$src/scripts/kconfig/merge_config.sh" -m -O "$kbuild" "$kbuild/.config" "$here/kernel.config" > /dev/null
	make -s -C "$src" O="$kbuild" olddefconfig > /dev/null
	# Every line of the fragment must have survived olddefconfig.
	missing=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) want=$line ;;
		"# CONFIG_"*" is not set") want=$line ;;
		*) continue ;;
		esac
		if ! grep -qxF "$want" "$kbuild/.config"; then
			name=${want#\# }; name=${name%%[= ]*}
			if [[ $want == "# "* ]] && ! grep -q "^$name=" "$kbuild/.config"; then continue; fi
			log "config: wanted '$want', got '$(grep -E "^(# )?$name[= ]" "$kbuild/.config" || echo unset)'"
			missing=1
		fi
	done < "$here/kernel.config"
	[ $missing = 0 ] || { log "kernel.config does not apply cleanly"; exit 1; }
	log "building vmlinux and bzImage with make -j$jobs (a few minutes)"
	quiet=-s
	[ "${BPFLAB_BUILD_PROGRESS:-}" != 1 ] || quiet=""
	make $quiet -C "$src" O="$kbuild" -j"$jobs" "${repro[@]}" vmlinux bzImage >&2
fi

if [ ! -f "$out/initramfs.cpio.gz" ] || [ ! -f "$out/vmlinux" ]; then
	log "assembling $out"
	rm -rf "$out.tmp" && mkdir -p "$out.tmp"
	gcc -O2 -o "$out.tmp/gen_init_cpio" "$src/usr/gen_init_cpio.c"
	# gen_init_cpio stores each file's own mtime: stage copies stamped with the build date, so
	# the archive does not depend on when the checkout was made.
	stage=$out.tmp/stage
	mkdir -p "$stage"
	cp /bin/busybox "$here/init" "$here/bpflab-workload" "$here/hostname" "$stage/"
	touch -d "$build_date" "$stage"/*
	epoch=$(date -u -d "$build_date" +%s)
	{
		for d in /bin /sbin /usr /usr/bin /usr/sbin /dev /proc /sys /tmp /etc /root; do
			echo "dir $d 0755 0 0"
		done
		echo "nod /dev/console 0600 0 0 c 5 1"
		echo "file /bin/busybox $stage/busybox 0755 0 0"
		for applet in $(/bin/busybox --list); do
			[ "$applet" = busybox ] && continue
			echo "slink /bin/$applet busybox 0777 0 0"
		done
		echo "file /init $stage/init 0755 0 0"
		echo "file /bin/bpflab-workload $stage/bpflab-workload 0755 0 0"
		echo "file /etc/hostname $stage/hostname 0644 0 0"
	} > "$out.tmp/initramfs.list"
	"$out.tmp/gen_init_cpio" -t "$epoch" "$out.tmp/initramfs.list" | gzip -9n > "$out.tmp/initramfs.cpio.gz"
	ln -f "$kbuild/vmlinux" "$out.tmp/vmlinux" 2> /dev/null || cp "$kbuild/vmlinux" "$out.tmp/vmlinux"
	cp "$kbuild/arch/x86/boot/bzImage" "$kbuild/System.map" "$kbuild/.config" "$out.tmp/"
	echo "console=ttyS0 bpflab.workload" > "$out.tmp/cmdline"
	# What the image was made from, and the hash of each file (bpflab image info prints it;
	# the Linux goldens name the image they were blessed on).
	{
		echo "linux-source-6.1 $(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || echo unknown)"
		echo "busybox-static $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)"
		echo "dwarves $(dpkg-query -W -f='${Version}' dwarves 2>/dev/null || echo unknown)"
		echo "gcc $(gcc -dumpfullversion)"
		(cd "$out.tmp" && sha256sum vmlinux bzImage initramfs.cpio.gz cmdline)
	} > "$out.tmp/manifest"
	rm -rf "$out.tmp/gen_init_cpio" "$stage"
	rm -rf "$out" && mv "$out.tmp" "$out"
fi
ln -sfn "$out" "$root/linux-latest"

log "vmlinux:   $out/vmlinux"
log "bzImage:   $out/bzImage"
log "initramfs: $out/initramfs.cpio.gz"
log "cmdline:   $(cat "$out/cmdline")"
echo "$out"
