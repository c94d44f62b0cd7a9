#!/usr/bin/env bash
#
# `make test-all-versions`: `make test` against PostgreSQL 15 (Debian's), 17 and 18 (built from
# Debian's source packages by scripts/pg-build.sh), one after the other, then one line per
# version and the totals.  BILLIUM_VERSIONS="15 18" picks others.  16 is in none of Debian's
# current suites, so it cannot be built here from the archive.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

versions=(${BILLIUM_VERSIONS:-15 17 18})
lines=() passed=0 failed=0 rc=0
for v in "${versions[@]}"; do
    log=$(mktemp)
    start=$SECONDS
    printf '\n#################### PostgreSQL %s ####################\n' "$v"
    BILLIUM_PG=$v bash scripts/test.sh 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    total=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    [[ -n $total ]] || total="0 passed, 1 failed"
    read -r p _ f _ <<<"$total"
    passed=$((passed + p)) failed=$((failed + f))
    ((status == 0)) || rc=1
    lines+=("$(printf '  PostgreSQL %-3s %s  (%d min %d s)' "$v" "$total" $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)))")
    rm -f "$log"
done
printf '\n==================== all versions ====================\n'
printf '%s\n' "${lines[@]}"
echo "$passed passed, $failed failed"
exit "$rc"
