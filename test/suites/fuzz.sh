#!/usr/bin/env bash
#
# libFuzzer over billium's pure C parsers (issue 7), under AddressSanitizer and
# UndefinedBehaviorSanitizer.  Run by `make test`; prints TAP lines (`ok - ...` / `not ok - ...`).
#
#   1. build every target of test/fuzz/ into test/fuzz/build/ (test/fuzz/build.sh), installing
#      Debian's clang and its libFuzzer runtime (libclang-rt-NN-dev) first when missing (as root)
#   2. each target runs FUZZ_SECONDS seconds (default 20; 4 targets keep the suite under two
#      minutes) on a copy of its seed corpus test/fuzz/corpus/<target>/ in a temporary directory,
#      so the checked-in corpus never grows in CI
#   3. every file of test/fuzz/crashes/<target>/ (inputs that once crashed it) runs once, and so
#      does the seed corpus; with FUZZ_SECONDS=0 only these run
#
# A crash leaves its input in test/fuzz/build/ (ignored by git) and prints how to reproduce it;
# once fixed, copy it into test/fuzz/crashes/<target>/.
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FUZZ=$ROOT/test/fuzz
BUILD=$FUZZ/build
SECONDS_EACH=${FUZZ_SECONDS:-20}
TARGETS=(permset key jwt action)
WORK=$(mktemp -d "${BILLIUM_TMPDIR:-/tmp}/billium_fuzz.XXXXXX")

trap 'rm -rf "$WORK"' EXIT

[[ $SECONDS_EACH =~ ^[0-9]+$ ]] || { not_ok "FUZZ_SECONDS must be a whole number, not '$SECONDS_EACH'"; exit 1; }

# --- 1. toolchain and build ---------------------------------------------------------------

# Can clang link a libFuzzer target here?
can_fuzz() {
    command -v clang >/dev/null || return 1
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
        >"$WORK/probe.c"
    clang -fsanitize=fuzzer,address,undefined -o "$WORK/probe" "$WORK/probe.c" >/dev/null 2>&1
}

if ! can_fuzz; then
    if ((EUID == 0)) && command -v apt-get >/dev/null; then
        echo "# installing clang and its libFuzzer runtime"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null 2>&1
        apt-get install -y -qq --no-install-recommends clang >/dev/null 2>&1
        if command -v clang >/dev/null; then
            major=$(clang -dumpversion | cut -d. -f1)
            apt-get install -y -qq --no-install-recommends "libclang-rt-$major-dev" >/dev/null 2>&1
        fi
    fi
    if ! can_fuzz; then
        not_ok "clang with libFuzzer (clang and libclang-rt-NN-dev; run as root to install them)"
        exit 1
    fi
fi

if ! bash "$FUZZ/build.sh" "${TARGETS[@]}" >"$WORK/build.log" 2>&1; then
    not_ok "build the fuzz targets (test/fuzz/build.sh)"
    diag <"$WORK/build.log"
    exit 1
fi
ok "build ${#TARGETS[@]} fuzz targets with ASan and UBSan ($(clang --version | head -n 1))"

# --- 2. and 3. run ------------------------------------------------------------------------

# Say where a crash input is and keep it past this run.
report_crash() {
    local target=$1 log=$2 artifact
    tail -n 40 "$log" | diag
    for artifact in "$WORK/artifacts_$target"/*; do
        [[ -f $artifact ]] || continue
        cp "$artifact" "$BUILD/$target-$(basename "$artifact")"
        echo "# kept $BUILD/$target-$(basename "$artifact"); reproduce with:"
        echo "#   $BUILD/fuzz_$target $BUILD/$target-$(basename "$artifact")"
    done
}

for target in "${TARGETS[@]}"; do
    bin=$BUILD/fuzz_$target
    log=$WORK/$target.log
    mkdir -p "$WORK/artifacts_$target"
    common=(-artifact_prefix="$WORK/artifacts_$target/" -timeout=10 -rss_limit_mb=2048
        -max_len=16500 -print_final_stats=1)

    # Regression inputs and the seed corpus, each input once.
    inputs=()
    for f in "$FUZZ/crashes/$target"/* "$FUZZ/corpus/$target"/*; do
        [[ -f $f ]] && inputs+=("$f")
    done
    nregress=$(find "$FUZZ/crashes/$target" -maxdepth 1 -type f ! -name '.*' ! -name 'README*' | wc -l)
    if "$bin" "${common[@]}" "${inputs[@]}" >"$log" 2>&1; then
        ok "fuzz $target: $nregress regression input(s) and $((${#inputs[@]} - nregress)) seed(s) run once, no crash"
    else
        not_ok "fuzz $target: regression inputs and seeds"
        report_crash "$target" "$log"
    fi

    ((SECONDS_EACH > 0)) || continue
    corpus=$WORK/corpus_$target
    cp -r "$FUZZ/corpus/$target" "$corpus"
    if "$bin" "${common[@]}" -max_total_time="$SECONDS_EACH" "$corpus" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        ok "fuzz $target (${runs:-?} runs in ${SECONDS_EACH}s, no crash)"
    else
        not_ok "fuzz $target (crashed within ${SECONDS_EACH}s)"
        report_crash "$target" "$log"
    fi
done

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
