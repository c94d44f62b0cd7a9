#!/usr/bin/env bash
# billium-suite: no-valgrind
#
# The version alternatives of the regression outputs (expected/NAME_1.out, for PostgreSQL 16 and
# later) differ from expected/NAME.out in how the server prints things, never in what billium
# does (issue 16).  Each alternative, with its version's renderings mapped back to 15's, must equal
# the main output line for line:
#   rls_plan         InitPlan values (InitPlan 1).col1 (17+) are $0 (15); "InitPlan 1 (returns $0)"
#   sessions,        "permission denied to examine" + DETAIL (16+) is 15's "must be superuser or
#   secret_settings  have privileges of pg_read_all_settings to examine"
#   permset_soft     15 has no pg_input_is_valid / pg_input_error_info: the _1 file (15's) may
#                    differ only in those calls failing as undefined functions
# An alternative not listed here fails the suite until its rule is written.  Prints TAP lines.
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d /tmp/billium_alts.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Header widths of psql's tables follow the longest line: ignore the header and rule lines.
widths() { sed -E 's/^ *(QUERY PLAN|explain_analyze) *$/<header>/; s/^-+$/<rule>/'; }
initplans() { sed -E 's/\(InitPlan [0-9]+\)\.col1/<param>/g; s/\$[0-9]+/<param>/g; s/^( *InitPlan [0-9]+) \(returns [^)]*\)$/\1/'; }
examine() {
    sed -E '/^DETAIL:  Only roles with privileges of the "pg_read_all_settings" role may examine this parameter\.$/d;
            s/^ERROR:  permission denied to examine (".*")$/ERROR:  must be superuser or have privileges of pg_read_all_settings to examine \1/'
}

check() {
    local name=$1 rule=$2 main=$ROOT/expected/$1.out alt=$ROOT/expected/$1_1.out
    if diff -u <($rule <"$main") <($rule <"$alt") >"$WORK/diff"; then
        ok "expected/${name}_1.out differs from ${name}.out only in the version's rendering"
    else
        not_ok "expected/${name}_1.out differs from ${name}.out only in the version's rendering"
        head -n 30 "$WORK/diff" | diag
    fi
}

rls_plan_rule() { initplans | widths; }
examine_rule() { examine; }
# permset_soft: drop, from both, the result blocks of the soft-error queries (16+) and the
# undefined-function errors (15); the rest must match.
permset_soft_rule() {
    awk '
        /^ERROR:  function pg_input_(is_valid|error_info)\(/ { skip = 1; next }
        skip && /^(LINE [0-9]+:|HINT:|  +\^| *\^)/ { next }
        { skip = 0 }
        /^ *(good|message) *\|/ { table = 1; next }
        table { if ($0 ~ /^\([0-9]+ rows?\)$/) { table = 0; getline } ; next }
        { print }
    '
}

declare -A RULES=([rls_plan]=rls_plan_rule [sessions]=examine_rule [secret_settings]=examine_rule
    [permset_soft]=permset_soft_rule)

shopt -s nullglob
alts=("$ROOT"/expected/*_1.out)
((${#alts[@]} > 0)) || { not_ok "expected/ has version alternatives to check"; exit 1; }
for alt in "${alts[@]}"; do
    name=$(basename "$alt" _1.out)
    if [[ -z ${RULES[$name]:-} ]]; then
        not_ok "expected/${name}_1.out has a rule here saying how it may differ"
        continue
    fi
    check "$name" "${RULES[$name]}"
done

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
