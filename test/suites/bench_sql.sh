#!/usr/bin/env bash
#
# make bench's scale part still runs against this billium (a smoke check; the bench itself is
# never part of make test).  Run by `make test` with PGHOST, PGPORT and PGUSER naming a
# superuser of the throwaway cluster; prints TAP lines and exits non-zero when anything failed.
#
#   1. bench/scale_setup.sql loads with 200 merchants (2,000 keys: enough that a key is looked up
#      by its index, as at scale);
#   2. each pgbench script of the scale part runs a few transactions without an error: the gate
#      with uniform and Zipf picks, the key-creating writer (which creates keys) and the
#      unwatched writer;
#   3. the hit rate's measure holds: the warm-up records its probes, a cache miss probes
#      api_keys' key_hash index as often as scale.probes_per_miss says, and a hit does not
#      (bench/scale.sh counts misses by those probes);
#   4. scale.cache_memory reads billium's memory contexts after verifying keys.
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

DB=billium_bench_sql_$$
ERR=$(mktemp /tmp/billium_bench_sql.XXXXXX)
trap '"$PG_BIN/dropdb" --if-exists "$DB" >/dev/null 2>&1; rm -f "$ERR"' EXIT

"$PG_BIN/createdb" "$DB" || { not_ok "create database $DB"; exit 1; }
if q -d "$DB" -v merchants=200 -f bench/scale_setup.sql 2>"$ERR"; then
    ok "bench/scale_setup.sql loads (200 merchants, $(q -d "$DB" -c 'SELECT count(*) FROM scale.keys') keys)"
else
    not_ok "bench/scale_setup.sql loads"
    diag <"$ERR"
    echo "# $PASSED passed, $FAILED failed (stopped early)"
    exit 1
fi

read -r merchant owner < <(q -d "$DB" -F ' ' -c 'SELECT merchant_id, owner_id FROM scale.tenants WHERE n = 0')
run_script() {
    local script=$1
    shift
    if "$PG_BIN/pgbench" -n -M prepared -c 1 -t 3 "$@" -f "bench/pgbench/$script.sql" "$DB" >"$ERR" 2>&1 &&
        ! grep -q 'error' "$ERR"; then
        ok "bench/pgbench/$script.sql runs"
    else
        not_ok "bench/pgbench/$script.sql runs"
        diag <"$ERR"
    fi
}
run_script scale_uniform -D nactive=200 -D warmed=0 -D nwarm=10
run_script scale_zipf -D nactive=200 -D warmed=0 -D nwarm=10
# With billium preloaded the key cache is shared: the second script's warm-up finds the keys the
# first one verified, and probes nothing.  Each warm-up is recorded; together they probed.
warmups=$(q -d "$DB" -F ' ' -c 'SELECT count(*), coalesce(sum(probes), 0) FROM scale.warmup')
read -r nwarmups warm_probes <<<"$warmups"
if ((nwarmups == 2 && warm_probes > 0)); then
    ok "each client's warm-up is recorded with its probes of the key_hash index ($warm_probes in all)"
else
    not_ok "each client's warm-up is recorded with its probes of the key_hash index ($warmups)"
fi
keys_before=$(q -d "$DB" -c "SELECT count(*) FROM billium.api_keys WHERE merchant_id = '$merchant'")
run_script scale_churn_keys -D churn_merchant="$merchant" -D churn_owner="$owner"
keys_after=$(q -d "$DB" -c "SELECT count(*) FROM billium.api_keys WHERE merchant_id = '$merchant'")
if ((keys_after == keys_before + 3)); then
    ok "the churn writer creates a key of merchant 0 per transaction"
else
    not_ok "the churn writer creates a key of merchant 0 per transaction ($keys_before, then $keys_after)"
fi
run_script scale_churn_unwatched -D churn_merchant="$merchant"

# Probes of the key_hash index, once the sessions that made them have flushed their statistics.
probes() {
    local last="" now
    for _ in $(seq 20); do
        now=$(q -d "$DB" -c "SELECT idx_scan FROM pg_stat_user_indexes
                             WHERE schemaname = 'billium' AND relname = 'api_keys' AND indexrelname ~ 'key_hash'")
        [[ $now == "$last" ]] && break
        last=$now
        sleep 0.2
    done
    echo "$now"
}
ppm=$(q -d "$DB" -c 'SELECT round(scale.probes_per_miss())' 2>"$ERR")
key=$(q -d "$DB" -c 'SELECT api_key FROM scale.keys WHERE i = 1999')
before=$(probes)
q -d "$DB" -c "SELECT merchant_id IS NOT NULL FROM billium.billium_key_verify('$key')" \
    -c "SELECT merchant_id IS NOT NULL FROM billium.billium_key_verify('$key')" >/dev/null
after=$(probes)
if [[ -n $before && $ppm =~ ^[1-9][0-9]*$ ]] && ((after == before + ppm)); then
    ok "a cache miss probes the key_hash index ($ppm a miss) and a hit does not (the bench's hit rate)"
else
    not_ok "a cache miss probes the key_hash index (${ppm:-?} a miss) and a hit does not (probes: $before, then $after)"
    diag <"$ERR"
fi

# Per backend when billium is not preloaded; in shared memory (the shared key cache) when it is.
out=$(q -d "$DB" -F ' ' -c 'SELECT backend_bytes_one, backend_bytes_all, shared_bytes FROM scale.cache_memory(100)' 2>"$ERR")
read -r one all shared <<<"$out"
if [[ -n ${shared:-} ]] && ((all >= one && (all > 0 || shared > 0))); then
    ok "scale.cache_memory reads billium's memory ($one bytes a backend after 1 key, $all after 100; $shared shared)"
else
    not_ok "scale.cache_memory reads billium's memory contexts ($out)"
    diag <"$ERR"
fi

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
