#!/usr/bin/env bash
# billium-suite: no-valgrind
#
# META.json, the PGXN distribution metadata, is valid and agrees with the tree (issue 16).
# Prints TAP lines.
#
#   1. it validates against the PGXN Meta Spec 1.0.0 JSON schema
#      (packaging/pgxn/meta-spec-v1.schema.json) with ajv, installed by `npm ci` from
#      packaging/pgxn/package-lock.json
#   2. the validator can fail: a copy without `provides` and with a non-SemVer version is refused
#   3. its version and provides.billium.version are billium.control's default_version; every file
#      it names exists; debian/changelog's version agrees
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"
# shellcheck source=examples/gateway/gateway.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../examples/gateway/gateway.sh" # gateway_ensure_tools

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PKG=$ROOT/packaging/pgxn
WORK=$(mktemp -d /tmp/billium_pgxn.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

bail() {
    not_ok "$1"
    [[ -s $WORK/err ]] && tail -n 30 "$WORK/err" | diag
    echo "# $PASSED passed, $FAILED failed (stopped early)"
    exit 1
}

gateway_ensure_tools 2>"$WORK/err" || bail "node and npm are available"
if [[ ! -f $PKG/node_modules/.package-lock.json || $PKG/package-lock.json -nt $PKG/node_modules/.package-lock.json ]]; then
    (cd "$PKG" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/err" 2>&1 ||
        bail "npm ci in packaging/pgxn installs ajv"
fi
ok "ajv is installed from packaging/pgxn/package-lock.json"

if node "$PKG/validate.js" "$ROOT/META.json" >"$WORK/err" 2>&1; then
    ok "META.json validates against the PGXN Meta Spec 1.0.0 schema"
else
    diag <"$WORK/err"
    not_ok "META.json validates against the PGXN Meta Spec 1.0.0 schema"
fi

node -e '
const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
delete m.provides; m.version = "1.0"; m.license = "gpl";
process.stdout.write(JSON.stringify(m));' "$ROOT/META.json" >"$WORK/bad.json"
if node "$PKG/validate.js" "$WORK/bad.json" >"$WORK/err" 2>&1; then
    not_ok "a META.json without provides, with version 1.0 and license gpl is refused"
elif grep -q "provides" "$WORK/err" && grep -q "/version" "$WORK/err" && grep -q "/license" "$WORK/err"; then
    ok "a META.json without provides, with version 1.0 and license gpl is refused, each named"
else
    diag <"$WORK/err"
    not_ok "a META.json without provides, with version 1.0 and license gpl is refused, each named"
fi

DEFAULT=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$ROOT/billium.control")
read -r version provided files < <(node -e '
const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const p = m.provides.billium || {};
console.log(m.version, p.version, [p.file, p.docfile].filter(Boolean).join(","));' "$ROOT/META.json")
[[ $version == "$DEFAULT" && $provided == "$DEFAULT" ]] &&
    ok "META.json's version and provides.billium.version are billium.control's default_version ($DEFAULT)" ||
    not_ok "META.json's version ($version) and provides.billium.version ($provided) are billium.control's default_version ($DEFAULT)"
missing=
for f in ${files//,/ }; do [[ -f $ROOT/$f ]] || missing+=" $f"; done
[[ -z $missing ]] && ok "the files META.json names exist (${files})" ||
    not_ok "the files META.json names exist (missing:$missing)"
deb_version=$(sed -n '1s/^billium (\([^)]*\)).*/\1/p' "$ROOT/debian/changelog")
[[ $deb_version == "$DEFAULT" ]] && ok "debian/changelog's version is $DEFAULT too" ||
    not_ok "debian/changelog's version is $DEFAULT too (got $deb_version)"

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
