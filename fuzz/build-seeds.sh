#!/bin/sh
# Rebuild the checked-in seed corpora and fixtures (they are small; run this after changing a
# sample or the teaching kernel, then review `git status fuzz`).
#
#   fuzz/build-seeds.sh     (inputs: jit/tests/data, vendored in the repository)
#
# Needs gcc, make, clang-14 (with llvm-objcopy) and cargo.
set -eu
fuzz=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$fuzz")
samples=$repo/jit/tests/data/bpf-samples
tests=$repo/jit/tests/data/conformance/bpf_conformance/tests
# Objects name their sources relative to the repository, not a path of this machine.
map="-ffile-prefix-map=$repo=."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
c=$fuzz/corpus
mkdir -p "$c/elf_object" "$c/btf" "$c/btf_ext" "$c/symbols" "$c/dwarf_types" "$c/dwarf_lines" \
	"$c/kernel_image" "$c/conformance_data"

# The fixture ELF (symbols, DWARF) and the teaching kernel (328 KB when this was written).
gcc -g -O2 $map -fno-pic -fno-pie -no-pie -nostdlib -static -Wl,--build-id=none \
	-o "$fuzz/fixtures/tiny.elf" "$fuzz/fixtures/tiny.c"
make -s -C "$repo/guest-images/teaching" O="$tmp/teaching"
for t in symbols dwarf_types dwarf_lines kernel_image; do
	cp "$fuzz/fixtures/tiny.elf" "$c/$t/tiny.elf"
	cp "$tmp/teaching/teaching.elf" "$c/$t/teaching.elf"
done
strip -o "$c/symbols/tiny-stripped.elf" "$fuzz/fixtures/tiny.elf"

# clang-built BPF objects (flags as in bpf-samples/build.sh), their .BTF and .BTF.ext.
for f in "$samples"/*.bpf.c; do
	n=$(basename "$f" .bpf.c)
	case $n in
	vmlinux_fake) clang-14 -O2 -g $map -target bpf -c "$f" -o "$tmp/$n.o" ;;
	*)
		clang-14 -O2 -g $map -target bpf -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu \
			-c "$f" -o "$tmp/$n.o"
		clang-14 -O2 -g $map -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 \
			-I/usr/include/x86_64-linux-gnu -c "$f" -o "$tmp/$n.v3.o"
		;;
	esac
done
for o in "$tmp"/*.o; do
	n=$(basename "$o" .o)
	cp "$o" "$c/elf_object/$n.o"
	llvm-objcopy-14 --dump-section .BTF="$c/btf/$n.btf" "$o" /dev/null 2>/dev/null || true
	llvm-objcopy-14 --dump-section .BTF.ext="$c/btf_ext/$n.btf.ext" "$o" /dev/null 2>/dev/null || true
done
# btf_ext's inputs are parsed against this .BTF.
cp "$c/btf/core_read.btf" "$fuzz/fixtures/core_read.btf"
# .BTF.ext seeds only make sense against that .BTF.
find "$c/btf_ext" -type f ! -name 'core_read*' -delete

# Conformance tests: the .data text as is; assembled into decoder, assembler and interp seeds.
# A sample of them as text (every fifth, and every one with a mem, raw or c section).
i=0
for f in "$tests"/*.data; do
	i=$((i + 1))
	if [ $((i % 5)) -eq 0 ] || grep -q '^-- \(mem\|raw\|c\)' "$f"; then
		cp "$f" "$c/conformance_data/"
	fi
done
cargo run -q --manifest-path "$fuzz/Cargo.toml" --no-default-features --bin smoke -- \
	--make-seeds "$tests"
