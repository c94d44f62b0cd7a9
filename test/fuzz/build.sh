#!/usr/bin/env bash
#
# Build billium's libFuzzer targets into test/fuzz/build/ (ASan + UBSan, Debian's clang).
#
#   bash test/fuzz/build.sh            # every target
#   bash test/fuzz/build.sh key jwt    # some
#
# Each target links the pure C parsers it exercises and src/catalog.c (fuzz_jwt also
# src/jwt_signature.c and OpenSSL); none needs the server.
# Run one by hand:  test/fuzz/build/fuzz_key -max_total_time=60 /tmp/corpus-copy
# (give libFuzzer a copy of test/fuzz/corpus/<target>: it writes new inputs into that directory).
set -euo pipefail

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$FUZZ_DIR/../.." && pwd)
BUILD=$FUZZ_DIR/build
CC=${FUZZ_CC:-clang}
CFLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
    -Wall -Wextra -I "$ROOT/src" -I "$FUZZ_DIR")

TARGETS=(permset key jwt action)
((${#@} == 0)) || TARGETS=("$@")

sources_of() {
    case $1 in
    permset) echo "src/parse_permset.c src/catalog.c" ;;
    key) echo "src/parse_key.c src/catalog.c" ;;
    jwt) echo "src/parse_jwt.c src/jwt_signature.c src/catalog.c -lcrypto" ;;
    action) echo "src/parse_permset.c src/catalog.c" ;;
    *) echo "unknown fuzz target: $1" >&2; return 1 ;;
    esac
}

mkdir -p "$BUILD"
for target in "${TARGETS[@]}"; do
    srcs=$(sources_of "$target")
    # shellcheck disable=SC2086
    (cd "$ROOT" && "$CC" "${CFLAGS[@]}" -o "$BUILD/fuzz_$target" "$FUZZ_DIR/fuzz_$target.c" $srcs)
done
