#!/usr/bin/env bash
# billium-suite: debian-15-only no-valgrind
#
# The Debian package (debian/, built with pg_buildext) installs into a clean PostgreSQL 15 and
# works (issue 16).  Prints TAP lines; run by `make test` on Debian's PostgreSQL 15 only (the
# package is postgresql-15-billium: it is built against, and installs into, Debian's 15).
#
#   1. dpkg-buildpackage -us -uc -b in a scratch copy of the tree yields postgresql-15-billium,
#      of the control file's default version, depending on postgresql-15
#   2. a private copy of Debian's PostgreSQL 15 (cp -a of /usr/lib/postgresql/15 and
#      /usr/share/postgresql/15, the way the /opt/pgpriv copies are made; PostgreSQL finds its
#      share directory relative to its binaries), with any billium already there removed, so the
#      package is the only source of billium; the .deb extracted into it with dpkg-deb -x,
#      exactly as dpkg would lay it out (the machine's own dpkg database is never touched)
#   3. a cluster of that copy with shared_preload_libraries = billium starts; CREATE EXTENSION
#      billium installs the default version; a permission set parses, a test key verifies, the
#      rate limiter's shared memory is there
set -uo pipefail
# shellcheck source=test/lib/suite.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/suite.sh"
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

ROOT=$BILLIUM_ROOT
WORK=$(mktemp -d /tmp/billium_deb.XXXXXX)
chmod 755 "$WORK"
PGROOT=$WORK/root
SERVER_USER=
cleanup() {
    if [[ -f $WORK/data/postmaster.pid ]]; then
        as_server "$PGROOT/usr/lib/postgresql/15/bin/pg_ctl" -D "$WORK/data" -m immediate -w stop \
            >/dev/null 2>&1
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

bail() {
    not_ok "$1"
    [[ -s $WORK/err ]] && tail -n 40 "$WORK/err" | diag
    echo "# $PASSED passed, $FAILED failed (stopped early)"
    exit 1
}

as_server() {
    if [[ -n $SERVER_USER ]]; then
        (cd "$WORK" && runuser -u "$SERVER_USER" -- "$@")
    else
        "$@"
    fi
}

DEFAULT=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$ROOT/billium.control")

# --- 1. the package ----------------------------------------------------------------

for tool in dpkg-buildpackage dh pg_buildext; do
    command -v "$tool" >/dev/null || bail "$tool is installed (scripts/lib.sh installs debhelper, postgresql-server-dev-all)"
done
ok "dpkg-buildpackage, debhelper and pg_buildext are installed"

mkdir -p "$WORK/src/billium-$DEFAULT"
tar -C "$ROOT" --exclude=.git --exclude=node_modules --exclude='*.o' --exclude='*.so' \
    --exclude='*.bc' --exclude=results --exclude=output_iso --exclude=test/fuzz/build -cf - . |
    tar -C "$WORK/src/billium-$DEFAULT" -xf -
if (cd "$WORK/src/billium-$DEFAULT" && dpkg-buildpackage -us -uc -b) >"$WORK/err" 2>&1; then
    ok "dpkg-buildpackage -us -uc -b builds"
else
    bail "dpkg-buildpackage -us -uc -b builds"
fi

DEB=$WORK/src/postgresql-15-billium_${DEFAULT}_$(dpkg --print-architecture).deb
[[ -f $DEB ]] || { ls "$WORK/src" >"$WORK/err"; bail "the build yields $(basename "$DEB")"; }
ok "the build yields $(basename "$DEB")"

field() { dpkg-deb -f "$DEB" "$1"; }
[[ $(field Package) == postgresql-15-billium ]] && ok "package name postgresql-15-billium" ||
    not_ok "package name postgresql-15-billium (got $(field Package))"
[[ $(field Version) == "$DEFAULT" ]] && ok "package version $DEFAULT, billium.control's default_version" ||
    not_ok "package version $DEFAULT, billium.control's default_version (got $(field Version); update debian/changelog)"
[[ $(field Depends) == *postgresql-15* ]] && ok "the package depends on postgresql-15" ||
    not_ok "the package depends on postgresql-15 (Depends: $(field Depends))"
dpkg-deb -c "$DEB" | awk '{print $6}' >"$WORK/contents"
if grep -qx './usr/lib/postgresql/15/lib/billium.so' "$WORK/contents" &&
    grep -qx "./usr/share/postgresql/15/extension/billium.control" "$WORK/contents"; then
    ok "the package installs billium.so and billium.control where PostgreSQL 15 looks for them"
else
    diag <"$WORK/contents"
    not_ok "the package installs billium.so and billium.control where PostgreSQL 15 looks for them"
fi
# Every install and upgrade script the tree ships is in the package.
missing=0
for f in "$WORK/src/billium-$DEFAULT"/sql/billium--*.sql; do
    grep -qx "./usr/share/postgresql/15/extension/$(basename "$f")" "$WORK/contents" || {
        echo "missing: $(basename "$f")"
        missing=1
    }
done >"$WORK/err"
((missing == 0)) && ok "every sql/billium--*.sql script is in the package" ||
    { diag <"$WORK/err"; not_ok "every sql/billium--*.sql script is in the package"; }

# --- 2. a clean PostgreSQL 15, and the package in it -----------------------------------

mkdir -p "$PGROOT/usr/lib/postgresql" "$PGROOT/usr/share/postgresql"
cp -a /usr/lib/postgresql/15 "$PGROOT/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$PGROOT/usr/share/postgresql/"
# Whatever billium `make test` or anyone else installed into the system's 15 is not the package's.
rm -rf "$PGROOT"/usr/lib/postgresql/15/lib/billium.so "$PGROOT"/usr/lib/postgresql/15/lib/bitcode/billium* \
    "$PGROOT"/usr/share/postgresql/15/extension/billium*
if compgen -G "$PGROOT/usr/share/postgresql/15/extension/billium*" >/dev/null ||
    [[ -e $PGROOT/usr/lib/postgresql/15/lib/billium.so ]]; then
    bail "the private PostgreSQL 15 has no billium before the package"
fi
ok "a private copy of Debian's PostgreSQL 15 without billium"

dpkg-deb -x "$DEB" "$PGROOT" 2>"$WORK/err" || bail "dpkg-deb -x the package into it"
PGBIN=$PGROOT/usr/lib/postgresql/15/bin
[[ $("$PGBIN/pg_config" --pkglibdir) == "$PGROOT/usr/lib/postgresql/15/lib" ]] &&
    ok "the copy's pg_config points into the copy" ||
    not_ok "the copy's pg_config points into the copy (pkglibdir $("$PGBIN/pg_config" --pkglibdir))"

# --- 3. a cluster of it ------------------------------------------------------------------

if ((EUID == 0)); then
    SERVER_USER=postgres
    id -u postgres >/dev/null 2>&1 || bail "the postgres OS user exists"
    chown "$SERVER_USER:" "$WORK"
fi
chmod -R a+rX "$PGROOT"
as_server "$PGBIN/initdb" -D "$WORK/data" -U postgres --auth=trust -E UTF8 --no-locale \
    >"$WORK/err" 2>&1 || bail "initdb of the private PostgreSQL 15"
PORT=$(billium_free_port "$((${BILLIUM_PORT:-54329} + 150))")
cat >>"$WORK/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
port = $PORT
shared_preload_libraries = 'billium'
fsync = off
EOF
as_server "$PGBIN/pg_ctl" -D "$WORK/data" -w -s -l "$WORK/server.log" start >"$WORK/err" 2>&1 ||
    { cat "$WORK/server.log" >>"$WORK/err" 2>/dev/null; bail "the server starts with shared_preload_libraries = billium from the package"; }
ok "the server starts with shared_preload_libraries = billium from the package"

pq() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT" -U postgres -d postgres "$@"; }
if pq -c "CREATE EXTENSION billium" >"$WORK/out" 2>"$WORK/err"; then
    ok "CREATE EXTENSION billium"
else
    bail "CREATE EXTENSION billium"
fi
got=$(pq -c "SELECT extversion FROM pg_extension WHERE extname = 'billium'" 2>&1)
[[ $got == "$DEFAULT" ]] && ok "the installed version is the default, $DEFAULT" ||
    not_ok "the installed version is the default, $DEFAULT (got $got)"
got=$(pq -c "SELECT '{invoice:view,invoice:create}'::billium.billium_permset::text" 2>&1)
[[ $got == '{invoice:create,invoice:view}' || $got == '{invoice:view,invoice:create}' ]] &&
    ok "a permission set parses and prints ($got)" || not_ok "a permission set parses and prints (got $got)"
got=$(pq -c "SELECT probin FROM pg_proc WHERE proname = 'billium_permset_in'" 2>&1)
[[ $got == '$libdir/billium' ]] && ok "the C functions come from \$libdir/billium" ||
    not_ok "the C functions come from \$libdir/billium (got $got)"
got=$(pq -c "SELECT count(*) FROM pg_shmem_allocations WHERE name ILIKE '%billium%'" 2>&1)
[[ $got =~ ^[1-9][0-9]*$ ]] && ok "the preloaded library set up its shared memory ($got segment(s))" ||
    not_ok "the preloaded library set up its shared memory (got $got)"
got=$(pq -c "DROP EXTENSION billium; SELECT count(*) FROM pg_extension WHERE extname = 'billium'" 2>&1)
[[ $got == 0 ]] && ok "DROP EXTENSION billium" || not_ok "DROP EXTENSION billium (got $got)"

echo "# $PASSED passed, $FAILED failed"
((FAILED == 0))
