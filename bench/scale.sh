# shellcheck shell=bash
# bench/scale.sh: make bench's scale part (issue 15), sourced by bench/run.sh, on its cluster
# (which preloads billium, as lib.sh's clusters do) and in a database of its own
# (bench/scale_setup.sql: 10,000 merchants, 100,000 keys, generated in SQL).
#
#   the cache under load: 2 pgbench clients, `BEGIN; authenticate + authorize; COMMIT` with
#     uniform picks among billium.key_cache_size keys (all cached: the baseline), 2x and 10x as
#     many, and Zipf-skewed picks (s = 1.01) over all 100,000; the hit rate of each;
#   churn: the all-cached run with a rate-limited writer beside it (pgbench -R, one client)
#     creating keys of one merchant the gate never sees, at 20 and 200 a second, each against
#     the same rate of inserts into a table nothing watches;
#   usage tracking on and off (billium.track_usage), when this billium has the setting;
#   memory: per backend (pg_backend_memory_contexts) and shared (pg_shmem_allocations), bytes
#     per key, and the total for 100 connections.
#
# Every pgbench figure is the best of SCALE_ROUNDS rounds (default BENCH_ROUNDS + 1) of
# BENCH_SECONDS, the runs of a round one after another, so that a slow patch of the machine hits
# every variant alike; each is printed as a ratio against its baseline of the same run.
#
# Each pgbench client first verifies min(active keys, cache size) keys in one transaction, so a
# run measures a warm cache (as long-lived connections have), not the fill of a new one: in
# every variant alike, a fraction of a second of each run.
#
# Hit rate: from the probes of api_keys' key_hash index (pg_stat_user_indexes): every miss of
# the verified-key cache looks the key up by that index and a hit does not, so hit rate =
# 1 - probes / (probes per miss x requests), the warm-up's own probes (which it records) taken
# out; probes per miss is measured once on keys never verified (scale.probes_per_miss).  When billium has
# a statistics function (no arguments, OUT columns hits and misses) its figure over the whole
# run, warm-up included, is printed beside it.

SCALE_DB=billium_scale
SCALE_ROUNDS=${SCALE_ROUNDS:-$((BENCH_ROUNDS + 1))}
SCALE_MERCHANTS=${SCALE_MERCHANTS:-10000} # 10 keys each
SCALE_CACHE_SIZE=${SCALE_CACHE_SIZE:-}     # billium.key_cache_size in the scale database (default: the server's)

scale_psql() { billium_psql -d "$SCALE_DB" "$@"; }

scale_setup() {
    local started=$SECONDS
    [[ $SCALE_ROUNDS =~ ^[1-9][0-9]*$ ]] || billium_die "SCALE_ROUNDS must be a positive integer"
    [[ $SCALE_MERCHANTS =~ ^[1-9][0-9]*$ ]] || billium_die "SCALE_MERCHANTS must be a positive integer"
    SCALE_KEYS=$((SCALE_MERCHANTS * 10))
    billium_log "scale part: loading $SCALE_MERCHANTS merchants and $SCALE_KEYS keys (bench/scale_setup.sql)"
    createdb "$SCALE_DB"
    scale_psql -v merchants="$SCALE_MERCHANTS" -f bench/scale_setup.sql
    if [[ -n $SCALE_CACHE_SIZE ]]; then
        [[ $SCALE_CACHE_SIZE =~ ^[1-9][0-9]*$ ]] || billium_die "SCALE_CACHE_SIZE must be a positive integer"
        billium_psql -c "ALTER DATABASE $SCALE_DB SET billium.key_cache_size = $SCALE_CACHE_SIZE"
    fi
    read -r CHURN_MERCHANT CHURN_OWNER < <(scale_psql -At -F ' ' -c \
        'SELECT merchant_id, owner_id FROM scale.tenants WHERE n = 0')
    PROBES_PER_MISS=$(scale_psql -At -c 'SELECT scale.probes_per_miss()')
    awk "BEGIN { exit !($PROBES_PER_MISS > 0) }" ||
        billium_die "a cache miss made no probe of api_keys' key_hash index: the hit rate cannot be counted"
    CACHE_SIZE=$(scale_psql -At -c 'SHOW billium.key_cache_size')
    ((CACHE_SIZE > 0)) || billium_die "billium.key_cache_size is $CACHE_SIZE: the scale part measures the cache"
    ((CACHE_SIZE * 2 <= SCALE_KEYS)) ||
        billium_die "billium.key_cache_size ($CACHE_SIZE) is more than half the $SCALE_KEYS keys"
    SCALE_10X=$((CACHE_SIZE * 10 < SCALE_KEYS ? CACHE_SIZE * 10 : SCALE_KEYS))

    # A statistics function of billium's, if any: no arguments, OUT columns hits and misses.
    STATS_FN=$(scale_psql -At -c "
        SELECT format('%I.%I', n.nspname, p.proname) FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = 'billium' AND p.pronargs = 0 AND p.proargnames @> '{hits,misses}' ORDER BY p.proname LIMIT 1")
    # Usage tracking, if this billium has it, and how its setting may be changed.
    TRACK_CONTEXT=$(scale_psql -At -c "SELECT context FROM pg_settings WHERE name = 'billium.track_usage'")
    if [[ -n $TRACK_CONTEXT ]]; then
        # The usage worker writes into the database a setting names (as pg_cron's
        # cron.database_name): this one, so that it has the tables to write to.
        local setting restart=0
        for setting in $(scale_psql -At -c "SELECT name FROM pg_settings WHERE name ~ '^billium\..*database'"); do
            billium_log "  setting $setting = $SCALE_DB for the usage worker"
            billium_psql -c "ALTER SYSTEM SET $setting = '$SCALE_DB'"
            restart=1
        done
        ((restart)) && scale_restart
    fi
    billium_log "  loaded in $((SECONDS - started)) s; billium.key_cache_size = $CACHE_SIZE;" \
        "usage tracking: $(if [[ -n $TRACK_CONTEXT ]]; then echo "billium.track_usage ($TRACK_CONTEXT)"; else echo "not available"; fi)"
}

scale_restart() {
    billium_as_server "$PG_BINDIR/pg_ctl" -D "$BILLIUM_TMPDIR/data" -w -s \
        -l "$BILLIUM_TMPDIR/server.log" restart >/dev/null || billium_die "could not restart the server"
}

# Usage tracking on or off for the next run, however its setting is changed.
scale_track_usage() {
    local value=$1
    TRACK_PGOPTIONS=
    case $TRACK_CONTEXT in
    user | superuser) TRACK_PGOPTIONS="-c billium.track_usage=$value" ;;
    sighup)
        billium_psql -c "ALTER SYSTEM SET billium.track_usage = $value" -c 'SELECT pg_reload_conf()' >/dev/null
        sleep 0.5
        ;;
    *)
        billium_psql -c "ALTER SYSTEM SET billium.track_usage = $value" >/dev/null
        scale_restart
        ;;
    esac
}

# Cache lookups so far: "probes hits misses", the probes of the key_hash index, and billium's
# statistics function's counts (0 0 without one).  An exiting backend flushes its statistics as
# it goes, after pgbench has returned: read until two reads 0.2 s apart agree.
scale_counters() {
    local sql last="" now tries
    sql="SELECT sum(idx_scan) FROM pg_stat_user_indexes
         WHERE schemaname = 'billium' AND relname = 'api_keys' AND indexrelname ~ 'key_hash'"
    if [[ -n $STATS_FN ]]; then
        sql="SELECT ($sql), s.hits, s.misses FROM $STATS_FN() AS s"
    else
        sql="SELECT ($sql), 0, 0"
    fi
    for ((tries = 0; tries < 20; tries++)); do
        now=$(scale_psql -At -F ' ' -c "$sql")
        [[ $now == "$last" ]] && break
        last=$now
        sleep 0.2
    done
    printf '%s\n' "$now"
}

# scale_run NAME SCRIPT NACTIVE [WRITER RATE]: one run of the gate (bench/pgbench/SCRIPT.sql over
# the first NACTIVE keys), with the writer bench/pgbench/WRITER.sql at RATE a second beside it.
# Keeps the best tps in STPS[NAME]; adds the run's requests and index probes (less the
# warm-up's) to SREQ[NAME] and SPROBES[NAME], the statistics function's counts to SHITS[NAME]
# and SMISSES[NAME], and the writer's achieved rate to SWRITES[NAME].
declare -A STPS SREQ SPROBES SHITS SMISSES SWRITES
scale_run() {
    local name=$1 script=$2 nactive=$3 writer=${4:-} rate=${5:-} out wout="" tps txns wpid=""
    local before after p0 h0 m0 p1 h1 m1 warm
    scale_psql -c 'TRUNCATE scale.warmup'
    before=$(scale_counters)
    if [[ -n $writer ]]; then
        pgbench -n -M "$BENCH_PROTOCOL" -c 1 -j 1 -T "$BENCH_SECONDS" -R "$rate" \
            -D churn_merchant="$CHURN_MERCHANT" -D churn_owner="$CHURN_OWNER" \
            -f "$PGBENCH_DIR/$writer.sql" "$SCALE_DB" >"$BILLIUM_TMPDIR/writer.out" 2>&1 &
        wpid=$!
    fi
    if ! out=$(PGOPTIONS="${TRACK_PGOPTIONS:-}" pgbench -n -M "$BENCH_PROTOCOL" -c "$BENCH_CLIENTS" \
        -j "$BENCH_CLIENTS" -T "$BENCH_SECONDS" -D nactive="$nactive" -D warmed=0 \
        -D nwarm=$((nactive < CACHE_SIZE ? nactive : CACHE_SIZE)) -f "$PGBENCH_DIR/$script.sql" \
        "$SCALE_DB" 2>&1); then
        printf '%s\n' "$out" >&2
        [[ -z $wpid ]] || wait "$wpid" || true
        billium_die "pgbench $script.sql ($name) failed"
    fi
    if [[ -n $wpid ]]; then
        wait "$wpid" || { cat "$BILLIUM_TMPDIR/writer.out" >&2; billium_die "the writer $writer.sql failed"; }
        wout=$(awk '/^tps = / { printf "%.0f", $3 }' "$BILLIUM_TMPDIR/writer.out")
        SWRITES[$name]="${SWRITES[$name]:+${SWRITES[$name]} }$wout"
    fi
    after=$(scale_counters)
    tps=$(awk '/^tps = / { print $3 }' <<<"$out")
    txns=$(awk '/^number of transactions actually processed:/ { print $6 }' <<<"$out")
    [[ -n $tps && -n $txns ]] || { printf '%s\n' "$out" >&2; billium_die "no tps in pgbench's output ($name)"; }
    warm=$(scale_psql -At -c 'SELECT coalesce(sum(probes), 0) FROM scale.warmup')
    read -r p0 h0 m0 <<<"$before"
    read -r p1 h1 m1 <<<"$after"
    SREQ[$name]=$((${SREQ[$name]:-0} + txns))
    SPROBES[$name]=$((${SPROBES[$name]:-0} + p1 - p0 - warm))
    SHITS[$name]=$((${SHITS[$name]:-0} + h1 - h0))
    SMISSES[$name]=$((${SMISSES[$name]:-0} + m1 - m0))
    billium_log "  $(printf '%-22s %10.0f tps' "$name" "$tps")${wout:+ (writer: $wout/s)}"
    if [[ -z ${STPS[$name]:-} ]] || awk "BEGIN { exit !($tps > ${STPS[$name]}) }"; then
        STPS[$name]=$tps
    fi
}

scale_rounds() {
    local round
    for ((round = 1; round <= SCALE_ROUNDS; round++)); do
        billium_log "scale round $round of $SCALE_ROUNDS: -c $BENCH_CLIENTS -T $BENCH_SECONDS, $CACHE_SIZE-entry cache"
        [[ -z $TRACK_CONTEXT ]] || scale_track_usage off
        scale_run cached scale_uniform "$CACHE_SIZE"
        scale_run uniform_2x scale_uniform $((CACHE_SIZE * 2))
        scale_run uniform_10x scale_uniform "$SCALE_10X"
        scale_run zipf scale_zipf "$SCALE_KEYS"
        scale_run churn_20 scale_uniform "$CACHE_SIZE" scale_churn_keys 20
        scale_run unwatched_20 scale_uniform "$CACHE_SIZE" scale_churn_unwatched 20
        scale_run churn_200 scale_uniform "$CACHE_SIZE" scale_churn_keys 200
        scale_run unwatched_200 scale_uniform "$CACHE_SIZE" scale_churn_unwatched 200
        if [[ -n $TRACK_CONTEXT ]]; then
            scale_track_usage on
            scale_run usage_on scale_uniform "$CACHE_SIZE"
            scale_track_usage off
        fi
    done
}

# Memory, in a fresh session: billium's memory contexts after one key and after CACHE_SIZE keys
# verified, and its shared memory apart from the rate limiter.
scale_memory() {
    local out
    billium_log "scale part: the cache's memory ($CACHE_SIZE keys verified in one session)"
    out=$(scale_psql -At -F '|' -c "SELECT * FROM scale.cache_memory($CACHE_SIZE)")
    IFS='|' read -r MEM_ONE MEM_ALL SHM_BYTES SHM_NAMES <<<"$out"
    # The entries a shared cache holds, if it has a size of its own; else the same setting.
    SHM_ENTRIES=$(scale_psql -At -c "
        SELECT coalesce(max(setting::bigint), $CACHE_SIZE) FROM pg_settings
        WHERE name ~ '^billium\..*cache' AND name <> 'billium.key_cache_size' AND vartype = 'integer' AND unit IS NULL")
}

# The hit rate of a variant: 1 - probes / requests; and billium's own figure when it has one.
scale_hit_rate() {
    local name=$1
    if ((${SREQ[$name]:-0} > 0)); then
        calc "1 - ${SPROBES[$name]} / ($PROBES_PER_MISS * ${SREQ[$name]})" 3
    else
        echo "n/a"
    fi
    if ((${SHITS[$name]:-0} + ${SMISSES[$name]:-0} > 0)); then
        echo " ($STATS_FN: $(calc "${SHITS[$name]} / (${SHITS[$name]} + ${SMISSES[$name]})" 3))"
    fi
}

scale_report() {
    local c=${STPS[cached]} r2 r10 rz w20 w200 u20 u200 usage backend_per_key shm_per_key
    r2=$(calc "${STPS[uniform_2x]} / $c") r10=$(calc "${STPS[uniform_10x]} / $c") rz=$(calc "${STPS[zipf]} / $c")
    w20=$(calc "${STPS[churn_20]} / ${STPS[unwatched_20]}") w200=$(calc "${STPS[churn_200]} / ${STPS[unwatched_200]}")
    u20=$(calc "${STPS[unwatched_20]} / $c") u200=$(calc "${STPS[unwatched_200]} / $c")
    backend_per_key=$(calc "($MEM_ALL - $MEM_ONE) / ($CACHE_SIZE - 1)" 0)
    shm_per_key=$(calc "$SHM_BYTES / $SHM_ENTRIES" 0)
    SCALE_HIT_SOURCE="1 - probes of api_keys' key_hash index (pg_stat_user_indexes) / ($(calc "$PROBES_PER_MISS" 1)"
    SCALE_HIT_SOURCE+=" a miss x requests), after a warm-up"
    [[ -z $STATS_FN ]] || SCALE_HIT_SOURCE+="; and $STATS_FN()'s, warm-up included"

    echo "6. scale (issue 15): $SCALE_MERCHANTS merchants, $SCALE_KEYS keys, billium.key_cache_size $CACHE_SIZE;" \
        "BEGIN; authenticate + authorize; COMMIT, best of $SCALE_ROUNDS"
    echo "   hit rate: $SCALE_HIT_SOURCE"
    row "   all cached: $CACHE_SIZE keys, uniform (baseline), tps" "$(calc "$c" 0)" "" \
        "hit rate $(scale_hit_rate cached)"
    row "   2x the cache: $((CACHE_SIZE * 2)) keys, uniform / all cached" "$(calc "${STPS[uniform_2x]}" 0)" \
        "$(calc "$c" 0)" "$r2, hit rate $(scale_hit_rate uniform_2x)"
    row "   10x the cache: $SCALE_10X keys, uniform / all cached" "$(calc "${STPS[uniform_10x]}" 0)" \
        "$(calc "$c" 0)" "$r10, hit rate $(scale_hit_rate uniform_10x)"
    row "   Zipf s=1.01 over $SCALE_KEYS keys / all cached" "$(calc "${STPS[zipf]}" 0)" "$(calc "$c" 0)" \
        "$rz, hit rate $(scale_hit_rate zipf)"
    row "   churn 0/s: all cached (the same run)" "$(calc "$c" 0)" "" "1.00"
    row "   churn 20/s key creations / 20/s unwatched inserts" "$(calc "${STPS[churn_20]}" 0)" \
        "$(calc "${STPS[unwatched_20]}" 0)" "$w20 (writers: ${SWRITES[churn_20]} / ${SWRITES[unwatched_20]}/s; unwatched/none $u20)"
    row "   churn 200/s key creations / 200/s unwatched inserts" "$(calc "${STPS[churn_200]}" 0)" \
        "$(calc "${STPS[unwatched_200]}" 0)" "$w200 (writers: ${SWRITES[churn_200]} / ${SWRITES[unwatched_200]}/s; unwatched/none $u200)"
    if [[ -n $TRACK_CONTEXT ]]; then
        usage=$(calc "${STPS[usage_on]} / $c")
        row "   usage tracking on / off (billium.track_usage)" "$(calc "${STPS[usage_on]}" 0)" "$(calc "$c" 0)" "$usage"
    else
        row "   usage tracking on / off" "not available" "" "(no billium.track_usage in this billium)"
    fi
    row "   memory per backend: bytes per cached key" "$backend_per_key" "" \
        "$(calc "$MEM_ALL / 1048576" 1) MB for $CACHE_SIZE keys (billium's memory contexts)"
    row "   memory shared: bytes per entry" "$shm_per_key" "" \
        "$(calc "$SHM_BYTES / 1048576" 1) MB for $SHM_ENTRIES entries ($SHM_NAMES)"
    row "   100 connections x $CACHE_SIZE keys: per-backend / shared, MB" \
        "$(calc "100 * $MEM_ALL / 1048576" 1)" "$(calc "$SHM_BYTES / 1048576" 1)" \
        "total $(calc "(100 * $MEM_ALL + $SHM_BYTES) / 1048576" 1) MB"

    SCALE_GOALS=(
        "2x as many active keys as the cache (uniform) >= 0.95 of all cached: $r2 ($(met "$r2 >= 0.95"))"
        "Zipf s=1.01 over $SCALE_KEYS keys with a $CACHE_SIZE-entry cache >= 0.97 of all cached: $rz ($(met "$rz >= 0.97"))"
        "200 key creations/s by an unrelated merchant >= 0.97 of the same rate of unwatched writes: $w200 ($(met "$w200 >= 0.97"))"
    )
    if [[ -n $TRACK_CONTEXT ]]; then
        SCALE_GOALS+=("usage tracking costs <= 1% of gate throughput: on/off $usage ($(met "$usage >= 0.99"))")
    else
        SCALE_GOALS+=("usage tracking costs <= 1% of gate throughput: not available (no billium.track_usage)")
    fi
    # Shared: a backend keeps (almost) nothing per verified key of its own.
    SCALE_GOALS+=("memory not growing with connections (a shared cache): $backend_per_key bytes per key per backend, $(calc "$SHM_BYTES / 1048576" 1) MB shared ($(met "$backend_per_key <= 16"))")
}
