#!/usr/bin/env bash
#
# Compile billium's C in a scratch copy with warnings as errors and assertions on, against the
# PostgreSQL of $PG_CONFIG: -Wall -Wextra -Werror (unused parameters stay warnings: the server's
# own headers have some) and -DUSE_ASSERT_CHECKING.  The scratch copy keeps these objects out of
# the tree, so the build that gets installed is the ordinary one.  Prints TAP lines.
#
#   PG_CONFIG=... bash scripts/strict-build.sh
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pg_config=${PG_CONFIG:-pg_config}
work=$(mktemp -d /tmp/billium-strict.XXXXXX)
trap 'rm -rf "$work"' EXIT

tar -C "$root" --exclude=.git --exclude=node_modules --exclude='*.o' --exclude='*.so' \
    --exclude='*.bc' -cf - . | tar -C "$work" -xf -
version=$("$pg_config" --version)
# with_llvm=no: the bitcode for JIT inlining is compiled by clang with flags of its own.
if make -C "$work" -s --no-print-directory PG_CONFIG="$pg_config" with_llvm=no \
    COPT="-Werror -Wno-error=unused-parameter -DUSE_ASSERT_CHECKING" >"$work/build.log" 2>&1 &&
    # Any warning in our own files; in the server's headers, any but an unused parameter.
    ! grep -E 'warning:' "$work/build.log" | grep -Ev '^/[^:]*:[0-9]+:[0-9]+: warning: .*\[-Wunused-parameter\]' |
        grep -q .; then
    echo "ok - warning-free with -Wall -Wextra -Werror -DUSE_ASSERT_CHECKING against $version"
else
    echo "not ok - warning-free with -Wall -Wextra -Werror -DUSE_ASSERT_CHECKING against $version"
    sed 's/^/# /' "$work/build.log" | head -n 60
    exit 1
fi
