# shellcheck shell=bash
#
# Shared helpers for scripts/test.sh and scripts/demo.sh.  Source it; don't run it.
#
# Everything here works against a throwaway PostgreSQL 15 cluster in a temp dir
# on its own port, so the machine's own clusters (port 5432) are never touched.
#
# Environment knobs:
#   PG_CONFIG             pg_config to build and run against
#                         (default /usr/lib/postgresql/15/bin/pg_config)
#   BILLIUM_PG            a PostgreSQL major version other than 15 (`make test PG=18`): built
#                         from Debian's source packages by scripts/pg-build.sh, then used
#   BILLIUM_PRELOAD       shared_preload_libraries for the cluster (default billium;
#                         empty = preload nothing)
#   BILLIUM_PORT          first TCP port to try (default 54329)
#   BILLIUM_USAGE_DATABASE  billium.usage_database for the cluster (default: the setting's own,
#                         postgres), with a one-second billium.usage_flush_interval when set
#   BILLIUM_KEEP=1        leave the cluster running and its temp dir in place at exit
#   BILLIUM_SKIP_PACKAGES=1  don't check/install Debian packages

BILLIUM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

BILLIUM_PACKAGES=(
    postgresql-15
    postgresql-server-dev-15
    postgresql-15-pgtap
    libtap-parser-sourcehandler-pgtap-perl
    make
    gcc
    libssl-dev
    # test/suites/debian_package.sh: dpkg-buildpackage with the PostgreSQL team's pg_buildext
    dpkg-dev
    debhelper
    postgresql-server-dev-all
)

# Added by scripts/pg-build.sh, which builds other PostgreSQL versions from Debian's source
# packages (`make test PG=18`): apt-get source, the compiler's needs and the build's libraries.
BILLIUM_PG_BUILD_PACKAGES=(
    bison
    flex
    debian-archive-keyring
    bzip2
    pkg-config
    zlib1g-dev
)

# The test cluster's billium.jwt_secret (written into its postgresql.conf), known to the tests.
BILLIUM_TEST_JWT_SECRET='billium-test-cluster-jwt-secret-32b!'

billium_log() { printf '==> %s\n' "$*"; }
billium_die() {
    printf 'billium: error: %s\n' "$*" >&2
    exit 1
}

billium_psql() { psql -X -v ON_ERROR_STOP=1 -q "$@"; }

# ---------------------------------------------------------------------------
# Packages and toolchain
# ---------------------------------------------------------------------------

billium_missing_packages() {
    local pkg status
    for pkg in "${BILLIUM_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) || status=
        [[ $status == *" ok installed" ]] || printf '%s\n' "$pkg"
    done
}

billium_apt_update_once() {
    [[ -n ${BILLIUM_APT_UPDATED:-} ]] && return 0
    apt-get update
    BILLIUM_APT_UPDATED=1
}

billium_ensure_packages() {
    if [[ ${BILLIUM_SKIP_PACKAGES:-0} == 1 ]]; then
        billium_log "BILLIUM_SKIP_PACKAGES=1: not checking packages"
    elif ! command -v dpkg-query >/dev/null; then
        billium_log "no dpkg-query (not Debian?): not checking packages"
    else
        local missing
        if [[ -n ${BILLIUM_PG:-} && ${BILLIUM_PG} != 15 ]]; then
            BILLIUM_PACKAGES+=("${BILLIUM_PG_BUILD_PACKAGES[@]}")
        fi
        mapfile -t missing < <(billium_missing_packages)
        if ((${#missing[@]} > 0)); then
            if ((EUID != 0)); then
                billium_die "missing packages: ${missing[*]}
  install them as root:  apt-get install --no-install-recommends ${missing[*]}
  (or run this as root and it will install them itself)"
            fi
            billium_log "installing packages: ${missing[*]}"
            billium_apt_update_once
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
        fi
    fi
    billium_use_pg
}

# Pick the PostgreSQL installation and put its bin dir first on PATH, so that
# psql, pg_regress, pg_prove (which runs `psql`) and make all agree on one version.
#
# BILLIUM_PG=N (what `make test PG=N` sets) other than 15 means PostgreSQL N built from Debian's
# source packages by scripts/pg-build.sh (cached after the first build); 15 or empty means
# Debian's own PostgreSQL 15 (or PG_CONFIG when set).
billium_use_pg() {
    if [[ -n ${BILLIUM_PG:-} && ${BILLIUM_PG} != 15 ]]; then
        local built
        built=$(BILLIUM_PG= bash "$BILLIUM_ROOT/scripts/pg-build.sh" "$BILLIUM_PG" | tail -n 1) ||
            billium_die "could not build PostgreSQL $BILLIUM_PG (scripts/pg-build.sh)"
        PG_CONFIG=$built
    fi
    local pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
    if [[ $pg_config != */* ]]; then
        pg_config=$(command -v "$pg_config") || billium_die "PG_CONFIG=$PG_CONFIG not found on PATH"
    fi
    [[ -x $pg_config ]] || billium_die "pg_config not found at $pg_config (set PG_CONFIG)"
    PG_BINDIR=$("$pg_config" --bindir)
    [[ -x $PG_BINDIR/initdb && -x $PG_BINDIR/pg_ctl ]] ||
        billium_die "no initdb/pg_ctl in $PG_BINDIR (is the server package installed?)"
    export PG_CONFIG=$pg_config PG_BINDIR PATH="$PG_BINDIR:$PATH"
    billium_log "using $("$pg_config" --version) from $PG_BINDIR"
}

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------

billium_build_install() {
    if ((EUID != 0)); then
        local dir
        for dir in "$("$PG_CONFIG" --pkglibdir)" "$("$PG_CONFIG" --sharedir)/extension"; do
            [[ -w $dir ]] || billium_die "cannot install: $dir is not writable by $(id -un); run as root"
        done
    fi
    billium_log "building and installing billium"
    # PGXS does not know which server the objects were compiled for: after a switch (make test,
    # then make test PG=18) the old objects would be linked as they are, and the server would
    # refuse the library.  .pg-build-stamp names the pg_config of the last build.
    local stamp=$BILLIUM_ROOT/.pg-build-stamp
    if [[ ! -f $stamp || $(cat "$stamp") != "$PG_CONFIG $("$PG_CONFIG" --version)" ]]; then
        (cd "$BILLIUM_ROOT" && make -s --no-print-directory PG_CONFIG="$PG_CONFIG" clean)
        echo "$PG_CONFIG $("$PG_CONFIG" --version)" >"$stamp"
    fi
    # A PostgreSQL built by scripts/pg-build.sh is ours alone: clear the scripts another checkout
    # installed there, so that only this checkout's versions are available.
    if [[ -n ${BILLIUM_PG:-} && ${BILLIUM_PG} != 15 ]]; then
        rm -f "$("$PG_CONFIG" --sharedir)"/extension/billium--*.sql
    fi
    # PG_CONFIG on the command line so the Makefile uses ours whatever it defaults to.
    (cd "$BILLIUM_ROOT" && make -s --no-print-directory PG_CONFIG="$PG_CONFIG" &&
        make -s --no-print-directory PG_CONFIG="$PG_CONFIG" install)
}

# The test-only extension billium_test (the fixtures that write past the policies), which
# `make install` leaves out.  For the test drivers and benches, never for a deployment.
billium_install_fixtures() {
    billium_log "installing the test-only extension billium_test"
    (cd "$BILLIUM_ROOT" && make -s --no-print-directory PG_CONFIG="$PG_CONFIG" install-fixtures)
}

# ---------------------------------------------------------------------------
# Throwaway cluster
# ---------------------------------------------------------------------------

# PostgreSQL refuses to run as root, so as root we run the server as an
# unprivileged user.  Sets BILLIUM_SERVER_USER (empty = run as ourselves).
billium_pick_server_user() {
    BILLIUM_SERVER_USER=
    ((EUID == 0)) || return 0
    if id -u postgres >/dev/null 2>&1; then
        BILLIUM_SERVER_USER=postgres
    else
        id -u billium >/dev/null 2>&1 ||
            useradd --system --no-create-home --shell /usr/sbin/nologin billium
        BILLIUM_SERVER_USER=billium
    fi
}

# Run a command as the server user.  From inside the temp dir, because the
# caller's cwd (e.g. a checkout under /root) may not be readable by that user.
billium_as_server() {
    if [[ -n $BILLIUM_SERVER_USER ]]; then
        (cd "$BILLIUM_TMPDIR" && runuser -u "$BILLIUM_SERVER_USER" -- "$@")
    else
        "$@"
    fi
}

billium_initdb() {
    local data=$BILLIUM_TMPDIR/data log=$BILLIUM_TMPDIR/initdb.log
    # Each run is wrapped in ( ) so the redirect stays out of this shell: a
    # redirect on a function call would also swallow the EXIT trap's output
    # if a signal arrived during initdb.
    if ! (billium_as_server "$PG_BINDIR/initdb" -D "$data" -U postgres --auth=trust -E UTF8 \
        --locale=C.UTF-8) >"$log" 2>&1; then
        billium_log "initdb with C.UTF-8 failed; retrying with --no-locale"
        rm -rf "$data"
        if ! (billium_as_server "$PG_BINDIR/initdb" -D "$data" -U postgres --auth=trust -E UTF8 \
            --no-locale) >"$log" 2>&1; then
            cat "$log" >&2
            billium_die "initdb failed"
        fi
    fi
}

# First port from $1 on which nothing listens on 127.0.0.1.
billium_free_port() {
    local port=$1 last=$(($1 + 200))
    # The redirect succeeds only if something accepts the connection.
    while (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null; do
        ((++port <= last)) || billium_die "no free TCP port in $1..$last"
    done
    echo "$port"
}

billium_write_config() {
    cat >>"$BILLIUM_TMPDIR/data/postgresql.conf" <<EOF

# --- billium throwaway test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$BILLIUM_TMPDIR'
shared_preload_libraries = '${BILLIUM_PRELOAD-billium}'
fsync = off
max_prepared_transactions = 10
log_min_messages = warning
log_checkpoints = off
logging_collector = off
# The HS256 secret of dashboard sessions is a server-level setting (never per role or database);
# the tests sign their tokens with this one.
billium.jwt_secret = '$BILLIUM_TEST_JWT_SECRET'
EOF
    if [[ -n ${BILLIUM_USAGE_DATABASE:-} ]]; then
        printf "billium.usage_database = '%s'\nbillium.usage_flush_interval = 1\n" \
            "$BILLIUM_USAGE_DATABASE" >>"$BILLIUM_TMPDIR/data/postgresql.conf"
    fi
}

# Start the server; retry on another port if someone grabbed ours in the
# meantime (e.g. two test runs starting at once).  Sets BILLIUM_PORT_USED.
billium_pg_start() {
    local conf=$BILLIUM_TMPDIR/data/postgresql.conf log=$BILLIUM_TMPDIR/server.log
    local port=${BILLIUM_PORT:-54329}
    for _ in 1 2 3 4 5; do
        port=$(billium_free_port "$port")
        # Appending again on a retry is fine: the last setting in the file wins.
        echo "port = $port" >>"$conf"
        if billium_as_server "$PG_BINDIR/pg_ctl" -D "$BILLIUM_TMPDIR/data" -w -s -l "$log" start; then
            BILLIUM_PORT_USED=$port
            return 0
        fi
        grep -q 'could not bind\|could not create any TCP/IP sockets' "$log" 2>/dev/null || break
        billium_log "port $port was taken after all; trying another"
        ((port++))
    done
    echo "---- $log ----" >&2
    cat "$log" >&2 || true
    billium_die "could not start the PostgreSQL server"
}

# Stop the server and remove the temp dir.  Deliberately silent, so that
# whatever the script printed last stays the last line of output.
billium_cleanup() {
    [[ -n ${BILLIUM_TMPDIR:-} && -d $BILLIUM_TMPDIR ]] || return 0
    [[ ${BILLIUM_KEEP:-0} == 1 ]] && return 0
    if [[ -f $BILLIUM_TMPDIR/data/postmaster.pid ]]; then
        billium_as_server "$PG_BINDIR/pg_ctl" -D "$BILLIUM_TMPDIR/data" -m immediate -w stop \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$BILLIUM_TMPDIR"
}

# EXIT trap.  A script may define billium_at_exit (called with the exit
# status, after the cluster is gone) to have the last word.
billium_on_exit() {
    local rc=$?
    # A second Ctrl-C or TERM must not cut the cleanup short.
    trap '' INT TERM
    billium_cleanup
    if declare -F billium_at_exit >/dev/null; then
        billium_at_exit "$rc"
    fi
}

billium_install_traps() {
    trap billium_on_exit EXIT
    # Turn signals into a normal exit so the EXIT trap still cleans up.
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

billium_start_cluster() {
    billium_install_traps
    BILLIUM_TMPDIR=$(mktemp -d /tmp/billium.XXXXXX)

    billium_pick_server_user
    # The server user creates its socket and log here; clients must be able to
    # traverse it.  initdb makes data/ itself, mode 700.
    chmod 755 "$BILLIUM_TMPDIR"
    [[ -z $BILLIUM_SERVER_USER ]] || chown "$BILLIUM_SERVER_USER:" "$BILLIUM_TMPDIR"

    billium_log "starting a throwaway cluster in $BILLIUM_TMPDIR${BILLIUM_SERVER_USER:+ (as OS user $BILLIUM_SERVER_USER)}"
    billium_initdb
    billium_write_config
    billium_pg_start

    export PGHOST=$BILLIUM_TMPDIR PGPORT=$BILLIUM_PORT_USED PGUSER=postgres PGDATABASE=postgres
    export BILLIUM_TMPDIR BILLIUM_SERVER_LOG=$BILLIUM_TMPDIR/server.log
    billium_log "server up on port $PGPORT (socket dir $PGHOST)"
    if [[ ${BILLIUM_KEEP:-0} == 1 ]]; then
        billium_log "BILLIUM_KEEP=1: the cluster stays up after exit. Connect with:"
        billium_log "  PGHOST=$PGHOST PGPORT=$PGPORT psql -U postgres"
        billium_log "  stop with: ${BILLIUM_SERVER_USER:+runuser -u $BILLIUM_SERVER_USER -- }$PG_BINDIR/pg_ctl -D $BILLIUM_TMPDIR/data stop && rm -rf $BILLIUM_TMPDIR"
    fi
}
