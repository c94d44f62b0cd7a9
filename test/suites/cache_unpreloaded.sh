#!/usr/bin/env bash
#
# The caches without billium in shared_preload_libraries: no shared memory, so no generations and
# no shared key cache; a relcache invalidation of the tables behind the caches empties every
# backend's caches instead.  Run by `make test`; prints TAP lines and exits non-zero when anything
# failed.  It starts a cluster of its own (BILLIUM_PRELOAD empty, scripts/lib.sh) and removes it.
#
#   1. the cluster runs without billium preloaded: no billium.shared_key_cache_size, and
#      billium_cache_stats() reports the backend's own key cache
#   2. every isolation spec on revocation, demotion, removal and rollback against the caches
#      (key_revoke, key_cache, key_leak, key_lineage, race_*, cache_first_lookup) and the two on
#      the cache's scope (cache_targeted, cache_shared: their outputs without preloading, in
#      test/expected-unpreloaded/, where a change empties every cache and a backend has its own)
#      pass.  Those outputs are not _1 alternatives of the main schedule: a preloaded run that
#      behaved like an unpreloaded one must fail, not match an alternative.
#   3. a full per-backend cache evicts instead of emptying: with billium.key_cache_size = 3,
#      verifying 5 keys leaves 3 entries and counts 2 evictions
set -uo pipefail

SUITE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$SUITE_DIR/../.."
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
billium_use_pg >/dev/null
# shellcheck source=test/lib/suite.sh
source "$SUITE_DIR/../lib/suite.sh"

SPECS=(key_revoke key_cache key_leak key_lineage race_ownership race_team race_key_caps
    cache_first_lookup cache_targeted cache_shared)

unset PGHOST PGPORT
export BILLIUM_PRELOAD='' BILLIUM_PORT=$((${BILLIUM_PORT:-54329} + 50))
billium_start_cluster >/dev/null
WORK=$BILLIUM_TMPDIR/work
mkdir -p "$WORK"
[[ -z $BILLIUM_SERVER_USER ]] || chown "$BILLIUM_SERVER_USER:" "$WORK"

# 1
preload=$(q -c 'SHOW shared_preload_libraries')
shared=$(q -c "SELECT count(*) FROM pg_settings WHERE name = 'billium.shared_key_cache_size'")
if [[ -z $preload && $shared == 0 ]]; then
    ok "the cluster runs without billium preloaded"
else
    not_ok "the cluster runs without billium preloaded (shared_preload_libraries '$preload')"
fi
q -c 'CREATE EXTENSION billium' >/dev/null 2>&1 || true
scope=$(q -c 'SELECT scope FROM billium.billium_cache_stats()')
[[ $scope == backend ]] && ok "billium_cache_stats() reports the backend's key cache" ||
    not_ok "billium_cache_stats() reports the backend's key cache (scope '$scope')"

# 2
isolation=$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/isolation/pg_isolation_regress
# An input directory of this run's own: the specs, and the expected outputs with this
# configuration's in place of the preloaded ones.
INPUT=$WORK/input
mkdir -p "$INPUT/expected"
ln -s "$(cd "$ROOT/test/specs" && pwd)" "$INPUT/specs"
cp "$ROOT"/expected/*.out "$INPUT/expected/"
cp "$ROOT"/test/expected-unpreloaded/*.out "$INPUT/expected/"
if (cd "$ROOT" && "$isolation" --inputdir="$INPUT" --outputdir="$WORK" --bindir="$PG_BIN" \
    --load-extension=billium --load-extension=billium_test --dbname=isolation_unpreloaded \
    "${SPECS[@]}") >"$WORK/isolation.log" 2>&1; then
    ok "the isolation specs on revocation and the caches pass without billium preloaded (${#SPECS[@]} specs)"
else
    not_ok "the isolation specs on revocation and the caches pass without billium preloaded"
    diag <"$WORK/isolation.log"
    [[ ! -f $WORK/regression.diffs ]] || head -n 200 "$WORK/regression.diffs" | diag
fi

# 3
out=$(q -d isolation_unpreloaded -F ' ' <<'SQL'
SET billium.key_cache_size = 3;
INSERT INTO billium.merchants (id, name) VALUES ('a0000000-0000-0000-0000-0000000000f1', 'evicting');
INSERT INTO billium.users (id, email) VALUES ('b0000000-0000-0000-0000-0000000000f1', 'owner@evicting.test');
INSERT INTO billium.team_members (merchant_id, user_id, role)
    VALUES ('a0000000-0000-0000-0000-0000000000f1', 'b0000000-0000-0000-0000-0000000000f1', 'OWNER');
CREATE TEMP TABLE k AS SELECT i, billium.billium_key_generate('sk') AS api_key FROM generate_series(1, 5) AS i;
INSERT INTO billium.api_keys (merchant_id, key_type, name, hint, key_hash, permissions, created_by)
    SELECT 'a0000000-0000-0000-0000-0000000000f1', 'sk', 'evict ' || i, 'sk_...' || right(api_key, 4),
           sha256(convert_to(api_key, 'UTF8')), billium.billium_permset_from_names(ARRAY['invoice:view']),
           'b0000000-0000-0000-0000-0000000000f1'
    FROM k;
SELECT count(billium.billium_key_verify(api_key)) FROM k;
SELECT entries, evictions FROM billium.billium_local_cache_stats() WHERE cache = 'keys';
DELETE FROM billium.merchants WHERE id = 'a0000000-0000-0000-0000-0000000000f1';
DELETE FROM billium.users WHERE id = 'b0000000-0000-0000-0000-0000000000f1';
SQL
)
if [[ $(tail -n 1 <<<"$out") == "3 2" ]]; then
    ok "a full per-backend key cache evicts one entry per new key (3 entries, 2 evictions)"
else
    not_ok "a full per-backend key cache evicts one entry per new key"
    diag <<<"$out"
fi

echo "1..$((PASSED + FAILED))"
((FAILED == 0))
