#!/usr/bin/env bash
#
# ALTER EXTENSION billium UPDATE from every released version, not only the oldest (issue 16):
# test/suites/upgrade.sh starts from the oldest release; this runs it once more from each later
# release below the default version (BILLIUM_UPGRADE_SOURCE), so a user who installed any
# release ends, data intact, where a fresh install starts.  Whatever PostgreSQL `make test` runs
# against (PG=15, 17, 18), so every release is updated on every version.  Prints TAP lines, each
# prefixed with the release it started from.
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mapfile -t RELEASES < <(q -d postgres -c "
    SELECT v.version FROM pg_available_extension_versions v
    JOIN pg_available_extensions e USING (name)
    WHERE v.name = 'billium'
      AND string_to_array(v.version, '.')::int[] < string_to_array(e.default_version, '.')::int[]
    ORDER BY string_to_array(v.version, '.')::int[]")
if ((${#RELEASES[@]} == 0)); then
    not_ok "billium has released versions below the default one on this server"
    exit 1
fi
ok "releases below the default version: ${RELEASES[*]} (the oldest, ${RELEASES[0]}, is upgrade.sh's own run)"

rc=0
for release in "${RELEASES[@]:1}"; do
    echo "# --- from $release ---"
    # upgrade.sh's lines, prefixed; its own counts are its last comment line.
    BILLIUM_UPGRADE_SOURCE=$release bash "$HERE/upgrade.sh" 2>&1 |
        sed -E "s/^(not ok|ok) - /\\1 - from $release: /" || rc=1
done
exit "$rc"
