#!/usr/bin/env bash
# test-arm64.sh [CC] — cross-compiles the kernel tests for arm64 and runs them under qemu-user
# (developer check of src/kernels/arm/ on an x86 machine; not part of `make test`).
# Needs the Debian packages gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user.
# CC defaults to aarch64-linux-gnu-gcc; "clang" uses clang --target=aarch64-linux-gnu.
set -euo pipefail
cd "$(dirname "$0")/.."
cc=${1:-aarch64-linux-gnu-gcc}
[ "$cc" = clang ] && cc="clang --target=aarch64-linux-gnu"
out=build-arm64
rm -rf "$out" && mkdir -p "$out"
flags="-std=c11 -O2 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
 -Wpointer-arith -D_DEFAULT_SOURCE -Iinclude -Isrc -Itests -pthread"
for f in src/base/*.c src/os/*.c src/tensor/*.c src/kernels/*.c src/kernels/generic/*.c \
    src/kernels/arm/*.c tests/support.c; do
    extra=""
    case $f in *_dotprod.c) extra="-march=armv8.2-a+dotprod" ;; esac
    $cc $flags $extra -c "$f" -o "$out/$(echo "$f" | tr / _).o"
done
for t in tests/kernels/test_*.c; do
    name=$(basename "$t" .c)
    aarch64-linux-gnu-gcc $flags "$t" "$out"/*.o -lm -static -o "$out/$name"
    qemu-aarch64 "$out/$name"
done
