#!/usr/bin/env bash
#
# Build a PostgreSQL major version (and pgTAP for it) from Debian's own source packages, for
# `make test PG=N`.  Prints the path of the built pg_config as its last line.
#
#   bash scripts/pg-build.sh 18        (or 17, 19)
#
# Where the sources come from: Debian's archive serves source packages.  An apt configuration of
# our own (a private sources list with deb-src lines for trixie, trixie-security, sid and
# experimental, a private lists/cache dir, passed with -o) lets `apt-get source --download-only`
# fetch the upstream tarball (postgresql-N_X.Y.orig.tar.bz2) without touching the machine's apt:
# /etc/apt and /var/lib/apt stay as they were, and no binary package of another suite is ever
# installed.  We build from the pristine .orig tarball, not Debian's patched tree (Debian's
# patches move the socket and install directories).
#
# What is built, into a prefix of its own: the server and client programs, pg_config,
# pg_regress, pg_isolation_regress, pgcrypto; OpenSSL on; no docs, no ICU, no readline (the tests
# need none of them).  pgTAP is built the same way (`apt-get source pgtap`) and installed there.
#
# Cache: $BILLIUM_PG_CACHE (default /var/cache/billium-pg as root, else ~/.cache/billium-pg),
# one prefix per version and tarball checksum: <cache>/pg-<version>-<sha256 prefix>/.  A prefix
# counts only once its build finished (a .complete stamp), so an interrupted build is redone.
# A second run asks apt for the current version and checksum (apt-get update at most every
# BILLIUM_PG_APT_MAX_AGE seconds, default a day) and reuses the prefix; with no network it
# reuses the newest complete build of that major version.  The prefix is world-readable: the
# test driver runs the server as the `postgres` user.
#
# Build packages (installed through scripts/lib.sh's list when missing): gcc, make, libssl-dev,
# zlib1g-dev, pkg-config, dpkg-dev (apt-get source), bzip2, and bison and flex: since
# PostgreSQL 17 the release tarballs no longer ship the generated parsers.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PGB_MAJOR=${1:?usage: pg-build.sh MAJOR_VERSION (e.g. 18)}
[[ $PGB_MAJOR =~ ^[0-9]+$ ]] || billium_die "not a major version: $PGB_MAJOR"

if [[ -n ${BILLIUM_PG_CACHE:-} ]]; then
    PGB_CACHE=$BILLIUM_PG_CACHE
elif ((EUID == 0)); then
    PGB_CACHE=/var/cache/billium-pg
else
    PGB_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/billium-pg
fi
PGB_APT=$PGB_CACHE/apt
PGB_JOBS=${BILLIUM_PG_JOBS:-$(nproc 2>/dev/null || echo 2)}

pgb_log() { printf '==> [pg %s] %s\n' "$PGB_MAJOR" "$*" >&2; }

# --- a private apt configuration ---------------------------------------------------

pgb_apt_setup() {
    mkdir -p "$PGB_APT/etc" "$PGB_APT/lists/partial" "$PGB_APT/cache/archives/partial" "$PGB_APT/src"
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    cat >"$PGB_APT/etc/sources.list" <<EOF
# billium's private apt sources (scripts/pg-build.sh): source packages only.
deb-src [signed-by=$keyring] http://deb.debian.org/debian trixie main
deb-src [signed-by=$keyring] http://deb.debian.org/debian-security trixie-security main
deb-src [signed-by=$keyring] http://deb.debian.org/debian sid main
deb-src [signed-by=$keyring] http://deb.debian.org/debian experimental main
EOF
    PGB_APT_OPTS=(
        -o "Dir::Etc::SourceList=$PGB_APT/etc/sources.list"
        -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$PGB_APT/lists"
        -o "Dir::Cache=$PGB_APT/cache"
        -o "Dir::Cache::pkgcache="
        -o "Dir::Cache::srcpkgcache="
        -o "APT::Sandbox::User=root"
        -o "Acquire::Retries=3"
    )
}

# apt-get update of our lists, at most every BILLIUM_PG_APT_MAX_AGE seconds.  Fails softly.
pgb_apt_update() {
    local max_age=${BILLIUM_PG_APT_MAX_AGE:-86400} stamp=$PGB_APT/lists/.updated
    if [[ -f $stamp ]] && (($(date +%s) - $(stat -c %Y "$stamp") < max_age)); then
        return 0
    fi
    pgb_log "apt-get update (private lists in $PGB_APT)"
    if apt-get "${PGB_APT_OPTS[@]}" -qq update >&2; then
        touch "$stamp"
    else
        pgb_log "apt-get update failed; using the lists and builds already cached"
        return 1
    fi
}

# The newest source version of PACKAGE and the sha256 of its .orig tarball: "VERSION SHA256 FILE".
pgb_source_info() {
    apt-cache "${PGB_APT_OPTS[@]}" showsrc "$1" 2>/dev/null | awk -v pkg="$1" '
        /^Package: / { p = $2; v = ""; in_sha = 0; next }
        /^Version: / { v = $2; next }
        /^Checksums-Sha256:/ { in_sha = 1; next }
        /^[^ ]/ { in_sha = 0 }
        in_sha && $3 ~ /\.orig\.tar\./ && p == pkg { print v, $1, $3 }
    ' | sort -u | while read -r v sha file; do
        printf '%s %s %s\n' "$v" "$sha" "$file"
    done | sort -t' ' -k1,1 -V | tail -n 1
}

# Download the source package VERSION of PACKAGE into $PGB_APT/src; prints the tarball path.
pgb_fetch_orig() {
    local pkg=$1 version=$2 file=$3 sha=$4 dir=$PGB_APT/src
    if [[ -f $dir/$file ]] && echo "$sha  $dir/$file" | sha256sum -c --status; then
        echo "$dir/$file"
        return 0
    fi
    pgb_log "apt-get source --download-only $pkg=$version"
    # Only the .orig tarball is needed: a mirror missing the .dsc or the Debian diff is no failure.
    (cd "$dir" && apt-get "${PGB_APT_OPTS[@]}" -q source --download-only "$pkg=$version" >&2) ||
        pgb_log "apt-get source reported errors; checking the tarball itself"
    [[ -f $dir/$file ]] || billium_die "could not download $file ($pkg $version) from Debian's archive"
    echo "$sha  $dir/$file" | sha256sum -c --status || billium_die "checksum mismatch for $dir/$file"
    echo "$dir/$file"
}

# --- the build ---------------------------------------------------------------------------

pgb_build_postgres() {
    local tarball=$1 prefix=$2 build
    build=$(mktemp -d "${TMPDIR:-/tmp}/billium-pgbuild.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$build'" EXIT
    pgb_log "building $(basename "$tarball") into $prefix (first build: 10-20 minutes)"
    tar -xf "$tarball" -C "$build"
    local src
    src=$(find "$build" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    (
        cd "$src"
        ./configure --prefix="$prefix" --with-openssl --without-icu --without-readline \
            --disable-nls --enable-debug CFLAGS="-O2" >"$build/configure.log" 2>&1 ||
            { tail -n 40 "$build/configure.log" >&2; exit 1; }
        # The server, clients, pg_config and pg_regress (installed under lib/pgxs by `install`).
        make -s -j"$PGB_JOBS" >"$build/make.log" 2>&1 || { tail -n 60 "$build/make.log" >&2; exit 1; }
        make -s install >>"$build/make.log" 2>&1 || { tail -n 60 "$build/make.log" >&2; exit 1; }
        for dir in src/test/isolation contrib/pgcrypto; do
            make -s -C "$dir" -j"$PGB_JOBS" >>"$build/make.log" 2>&1 &&
                make -s -C "$dir" install >>"$build/make.log" 2>&1 ||
                { tail -n 60 "$build/make.log" >&2; exit 1; }
        done
    ) || billium_die "building PostgreSQL from $tarball failed (log above)"
    rm -rf "$build"
    trap - EXIT
}

pgb_build_pgtap() {
    local tarball=$1 prefix=$2 build src
    build=$(mktemp -d "${TMPDIR:-/tmp}/billium-pgtap.XXXXXX")
    pgb_log "building pgTAP from $(basename "$tarball")"
    tar -xf "$tarball" -C "$build"
    src=$(find "$build" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    (cd "$src" && make -s PG_CONFIG="$prefix/bin/pg_config" >"$build/make.log" 2>&1 &&
        make -s PG_CONFIG="$prefix/bin/pg_config" install >>"$build/make.log" 2>&1) ||
        { tail -n 40 "$build/make.log" >&2; billium_die "building pgTAP failed"; }
    rm -rf "$build"
}

# The newest complete prefix of this major version in the cache (for offline runs).
pgb_newest_cached() {
    local d
    for d in "$PGB_CACHE"/pg-"$PGB_MAJOR".*; do
        [[ -f $d/.complete ]] && echo "$d"
    done | sort -V | tail -n 1
}

main() {
    # The build packages come from the project's list (scripts/lib.sh), like everything else.
    BILLIUM_PACKAGES+=("${BILLIUM_PG_BUILD_PACKAGES[@]}")
    BILLIUM_PG='' PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config billium_ensure_packages >&2

    mkdir -p "$PGB_CACHE"
    chmod 755 "$PGB_CACHE"
    exec 9>"$PGB_CACHE/.lock-$PGB_MAJOR"
    flock 9 # one build per major version at a time; a second caller then finds it cached

    pgb_apt_setup
    local updated=1
    pgb_apt_update || updated=0

    local info version sha file prefix
    info=$(pgb_source_info "postgresql-$PGB_MAJOR")
    if [[ -z $info ]]; then
        prefix=$(pgb_newest_cached)
        [[ -n $prefix ]] ||
            billium_die "Debian's archive (trixie, sid, experimental) has no source package postgresql-$PGB_MAJOR"
        pgb_log "no source information (offline?); using the cached $prefix"
    else
        read -r version sha file <<<"$info"
        prefix=$PGB_CACHE/pg-${version%%-*}-${sha:0:12}
        if [[ -f $prefix/.complete ]]; then
            pgb_log "cached: PostgreSQL $version (tarball sha256 ${sha:0:12}) in $prefix"
        else
            local tarball
            tarball=$(pgb_fetch_orig "postgresql-$PGB_MAJOR" "$version" "$file" "$sha")
            rm -rf "$prefix"
            local started=$SECONDS
            pgb_build_postgres "$tarball" "$prefix"

            local tap_info tap_version tap_sha tap_file tap_tarball
            tap_info=$(pgb_source_info pgtap)
            [[ -n $tap_info ]] || billium_die "no source package pgtap in Debian's archive"
            read -r tap_version tap_sha tap_file <<<"$tap_info"
            tap_tarball=$(pgb_fetch_orig pgtap "$tap_version" "$tap_file" "$tap_sha")
            pgb_build_pgtap "$tap_tarball" "$prefix"

            chmod -R a+rX "$prefix"
            printf 'postgresql %s sha256 %s\npgtap %s sha256 %s\nbuilt %s in %d s\n' \
                "$version" "$sha" "$tap_version" "$tap_sha" "$(date -u +%FT%TZ)" \
                $((SECONDS - started)) >"$prefix/.complete"
            pgb_log "built in $(((SECONDS - started) / 60)) min $(((SECONDS - started) % 60)) s"
        fi
    fi
    ((updated)) || true
    echo "$prefix/bin/pg_config"
}

main "$@"
