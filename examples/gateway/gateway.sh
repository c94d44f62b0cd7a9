# shellcheck shell=bash
#
# Helpers for running the reference gateway from test/suites/gateway.sh and demo/after.sh.
# Source it; don't run it.  Expects the PG* variables of a superuser connection.

GATEWAY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GATEWAY_ROLE=${GATEWAY_ROLE:-billium_gateway}
# Secret scanning: the role of the gateway's second pool, and the public keys file (both or none).
GATEWAY_SCANNER_ROLE=${GATEWAY_SCANNER_ROLE:-${GATEWAY_ROLE}_scanner}
GATEWAY_SCANNING_KEYS=${GATEWAY_SCANNING_KEYS:-}
GATEWAY_PID=
# shellcheck disable=SC2034 # read by the scripts that source this file
GATEWAY_URL=

gateway_psql() { psql -X -v ON_ERROR_STOP=1 -q "$@"; }

# node, npm (and curl, when asked for) from Debian's packages when missing.  As root only; CI is a
# fresh Debian 12 machine where nothing else installs them.
gateway_ensure_tools() {
    local tool missing=()
    for tool in node npm "$@"; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ ${BILLIUM_SKIP_PACKAGES:-0} == 1 ]] || ((EUID != 0)) || ! command -v apt-get >/dev/null; then
        echo "gateway: missing ${missing[*]}; install them (apt-get install nodejs npm curl) or run as root" >&2
        return 1
    fi
    local packages=()
    for tool in "${missing[@]}"; do
        case $tool in node) packages+=(nodejs) ;; *) packages+=("$tool") ;; esac
    done
    echo "==> installing ${packages[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
}

# The pg package, exactly as package-lock.json pins it; skipped when already installed from it.
gateway_install_deps() {
    if [[ -f $GATEWAY_DIR/node_modules/.package-lock.json &&
        $GATEWAY_DIR/node_modules/.package-lock.json -nt $GATEWAY_DIR/package-lock.json ]]; then
        return 0
    fi
    (cd "$GATEWAY_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

# ALTER EXTENSION billium UPDATE to the newest version installed (the control file's default may
# lag behind the newest upgrade script while a release is in progress).
gateway_update_extension() {
    local db=$1 newest
    newest=$(gateway_psql -d "$db" -At -c "SELECT version FROM pg_available_extension_versions
        WHERE name = 'billium' ORDER BY string_to_array(version, '.')::int[] DESC LIMIT 1")
    gateway_psql -d "$db" -c "ALTER EXTENSION billium UPDATE TO '$newest'"
}

# The gateway's login role: an ordinary role with billium_api, nothing more.  Its settings are
# per database.  The HS256 secret is not one of them: billium.jwt_secret is a server-level setting
# (postgresql.conf, an included file or ALTER SYSTEM, then a reload), never per role or database,
# where every role could read it in pg_db_role_setting.
gateway_setup_role() {
    local db=$1
    gateway_psql -d "$db" -v role="$GATEWAY_ROLE" -v db="$db" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') AS create_role \gset
\if :create_role
CREATE ROLE :"role" LOGIN;
\endif
GRANT billium_api TO :"role";
-- As the README advises for application roles: statements and bind values (keys) stay out of the log.
ALTER ROLE :"role" IN DATABASE :"db" SET log_statement = 'none';
ALTER ROLE :"role" IN DATABASE :"db" SET log_parameter_max_length = 0;
SQL
}

# The server's billium.jwt_secret, read as a superuser, as the login service that signs dashboard
# sessions holds it; fails when the server has none.
gateway_jwt_secret() {
    local db=$1 secret
    secret=$(gateway_psql -d "$db" -At -c "SELECT current_setting('billium.jwt_secret', true)") || return 1
    if [[ -z $secret ]]; then
        echo "gateway: the server has no billium.jwt_secret; set it in postgresql.conf and reload" >&2
        return 1
    fi
    printf '%s' "$secret"
}

# The login role of the gateway's secret scanning pool: billium_scanner, nothing more.  Tokens
# arrive as bind values; they stay out of the log as keys do.
gateway_setup_scanner_role() {
    local db=$1
    gateway_psql -d "$db" -v role="$GATEWAY_SCANNER_ROLE" -v db="$db" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') AS create_role \gset
\if :create_role
CREATE ROLE :"role" LOGIN;
\endif
GRANT billium_scanner TO :"role";
ALTER ROLE :"role" IN DATABASE :"db" SET log_statement = 'none';
ALTER ROLE :"role" IN DATABASE :"db" SET log_parameter_max_length = 0;
SQL
}

# Start the gateway on a free port as $GATEWAY_ROLE against database $1, logging to $2.
# Sets GATEWAY_PID and GATEWAY_URL.
gateway_start() {
    local db=$1 log=$2 line
    # Secret scanning only when a public keys file is given (GATEWAY_SCANNING_KEYS).
    # Under valgrind (make valgrind) a statement runs many times slower: a longer timeout, so the
    # suites test billium rather than the instrumentation's speed.
    PGUSER=$GATEWAY_ROLE PGDATABASE=$db PORT=0 \
        PG_STATEMENT_TIMEOUT_MS=${PG_STATEMENT_TIMEOUT_MS:-$([[ -n ${BILLIUM_UNDER_VALGRIND:-} ]] && echo 120000 || echo 10000)} \
        SECRET_SCANNING_KEYS_FILE=$GATEWAY_SCANNING_KEYS \
        SCANNER_PGUSER=${GATEWAY_SCANNING_KEYS:+$GATEWAY_SCANNER_ROLE} \
        node "$GATEWAY_DIR/server.js" >"$log" 2>&1 &
    GATEWAY_PID=$!
    for _ in $(seq 100); do
        line=$(grep -m1 -o 'listening on http://127\.0\.0\.1:[0-9]*' "$log" 2>/dev/null) && break
        kill -0 "$GATEWAY_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z ${line:-} ]]; then
        echo "gateway: did not start; its log:" >&2
        cat "$log" >&2
        gateway_stop
        return 1
    fi
    # shellcheck disable=SC2034
    GATEWAY_URL=${line#listening on }
}

gateway_stop() {
    [[ -n $GATEWAY_PID ]] || return 0
    kill "$GATEWAY_PID" 2>/dev/null || true
    wait "$GATEWAY_PID" 2>/dev/null || true
    GATEWAY_PID=
}
