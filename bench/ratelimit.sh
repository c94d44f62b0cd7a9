#!/usr/bin/env bash
#
# The rate limiter's cost per request: billium_authorize throughput (BEGIN; authenticate +
# authorize; COMMIT) with the limiter off against on with a rate so high it never refuses, at 2
# and 8 clients, on a throwaway cluster that preloads billium.  Every request of a run is for
# one of 10 merchants, so 8 clients contend for the same few buckets.  Goal (issue 6): under 5%
# cost, and no lock convoy at 8 clients (the 8-client ratio no worse than the 2-client one).
#
# Knobs: RL_SECONDS (default 4) per run, RL_ROUNDS (default 2) interleaved rounds, best kept;
# about 60 s in all.  Plus those of scripts/lib.sh.  Exits 0 whenever the bench ran to its end.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$BILLIUM_ROOT"

RL_SECONDS=${RL_SECONDS:-4}
RL_ROUNDS=${RL_ROUNDS:-2}
DB=billium_rate_bench

calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }

setup() {
    billium_ensure_packages
    billium_build_install
    billium_install_fixtures
    billium_start_cluster
    command -v pgbench >/dev/null || billium_die "pgbench not found in $PG_BINDIR"
    createdb "$DB"
    billium_psql -d "$DB" <<'SQL'
CREATE EXTENSION billium;
DO $$
BEGIN
	IF pg_catalog.string_to_array((SELECT extversion FROM pg_extension WHERE extname = 'billium'), '.')::int[] < '{0,5,0}' THEN
		ALTER EXTENSION billium UPDATE TO '0.5.0';
	END IF;
END
$$;
-- The fixtures below: the test-only extension (scripts/lib.sh billium_install_fixtures).
CREATE EXTENSION billium_test;
CREATE TABLE public.keys AS
	SELECT row_number() OVER () AS i, t.merchant_id,
		   billium.billium_test_key(t.merchant_id, CASE WHEN g % 2 = 0 THEN 'sk' ELSE 'pk' END, '{invoice:view}') AS api_key
	FROM generate_series(1, 10) AS n,
		 LATERAL billium.billium_test_merchant('bench ' || n, 'owner' || n || '@rate-bench.test') AS t,
		 generate_series(1, 10) AS g;
-- µs per request in one session: authenticate + authorize, committed each time (so each pays).
CREATE PROCEDURE public.per_call(n int, INOUT us float8 DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	k record;
BEGIN
	FOR j IN 1..n LOOP
		SELECT api_key, merchant_id INTO k FROM public.keys WHERE i = 1 + j % 100;
		PERFORM billium.billium_authorize('invoices.retrieve', k.merchant_id) FROM billium.billium_authenticate(k.api_key);
		COMMIT;
	END LOOP;
	us := extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END
$$;
SQL
    cat >"$BILLIUM_TMPDIR/authorize.sql" <<'PGB'
\set i random(1, 100)
SELECT api_key, merchant_id FROM public.keys WHERE i = :i \gset
BEGIN;
SELECT billium.billium_authorize('invoices.retrieve', :merchant_id) FROM billium.billium_authenticate(:api_key);
COMMIT;
PGB
}

# limiter RATE: reload with billium.rate_limit = RATE (0: off), burst 1,000,000.
limiter() {
    billium_psql -d "$DB" -c "ALTER SYSTEM SET billium.rate_limit = $1" \
        -c "ALTER SYSTEM SET billium.rate_burst = 1000000" -c 'SELECT pg_reload_conf()' >/dev/null
    sleep 0.3
}

declare -A TPS
run() { # run NAME CLIENTS
    local out tps
    out=$(pgbench -n -M prepared -c "$2" -j "$2" -T "$RL_SECONDS" -f "$BILLIUM_TMPDIR/authorize.sql" "$DB" 2>&1) ||
        { printf '%s\n' "$out" >&2; billium_die "pgbench $1 -c $2 failed"; }
    tps=$(awk '/^tps = / { print $3 }' <<<"$out")
    billium_log "  $(printf '%-4s -c %d %10.0f tps' "$1" "$2" "$tps")"
    if [[ -z ${TPS[$1$2]:-} ]] || awk "BEGIN { exit !($tps > ${TPS[$1$2]}) }"; then TPS[$1$2]=$tps; fi
}

main() {
    setup
    local round c
    for ((round = 1; round <= RL_ROUNDS; round++)); do
        billium_log "round $round of $RL_ROUNDS: -T $RL_SECONDS -M prepared"
        for c in 2 8; do
            limiter 0
            run off "$c"
            limiter 1000000
            run on "$c"
        done
    done
    # One session, interleaved, best of 3: less exposed to other load on the machine than tps.
    local us_off=999999 us_on=999999 us
    for round in 1 2 3; do
        limiter 0
        us=$(billium_psql -d "$DB" -At -c 'CALL public.per_call(20000)')
        us_off=$(calc "$us < $us_off ? $us : $us_off" 3)
        limiter 1000000
        us=$(billium_psql -d "$DB" -At -c 'CALL public.per_call(20000)')
        us_on=$(calc "$us < $us_on ? $us : $us_on" 3)
    done
    local refused
    refused=$(billium_psql -d "$DB" -At -c "SELECT enabled, tokens IS NOT NULL FROM billium.billium_rate_limit_status((SELECT merchant_id FROM public.keys LIMIT 1))")
    echo
    echo "billium rate limiter: PostgreSQL $(billium_psql -d "$DB" -At -c 'SHOW server_version'), $(nproc) cores;" \
        "BEGIN; authenticate + authorize; COMMIT over 100 keys of 10 merchants; best of $RL_ROUNDS x $RL_SECONDS s."
    echo "status of a bucket after the runs (enabled, has a bucket): $refused"
    printf '%-10s %12s %12s %8s %8s\n' clients "off tps" "on tps" ratio cost
    for c in 2 8; do
        printf '%-10s %12.0f %12.0f %8s %7s%%\n' "$c" "${TPS[off$c]}" "${TPS[on$c]}" \
            "$(calc "${TPS[on$c]} / ${TPS[off$c]}")" "$(calc "100 * (1 - ${TPS[on$c]} / ${TPS[off$c]})" 1)"
    done
    echo "one session, a committed request each: off $us_off µs, on $us_on µs," \
        "limiter +$(calc "$us_on - $us_off" 3) µs ($(calc "100 * ($us_on / $us_off - 1)" 1)%)"
    local worst
    worst=$(calc "100 * (1 - (${TPS[on2]} / ${TPS[off2]} < ${TPS[on8]} / ${TPS[off8]} ? ${TPS[on2]} / ${TPS[off2]} : ${TPS[on8]} / ${TPS[off8]}))" 1)
    echo "goal: cost under 5%: worst $worst% ($(awk "BEGIN { print ($worst < 5) ? \"met\" : \"not met\" }"))"
    billium_psql -d "$DB" -c 'ALTER SYSTEM RESET billium.rate_limit' -c 'ALTER SYSTEM RESET billium.rate_burst' >/dev/null
}

main "$@"
