# billium: PGXS build.  `make test` and `make demo` start their own throwaway cluster.
EXTENSION = billium
MODULE_big = billium
OBJS = src/billium.o src/catalog.o src/catalog_sql.o src/factors.o src/parse_permset.o src/permset.o \
       src/roles.o src/parse_key.o src/errors.o src/lookup.o src/keys.o src/principal.o src/gate.o \
       src/caller.o src/policy.o src/cache.o \
       src/bounded_map.o src/key_cache.o src/team_cache.o src/rate_cache.o \
       src/parse_jwt.o src/jwt_signature.o src/session.o src/secrets.o src/ratelimit.o src/json_input.o src/request.o \
       src/usage.o src/shmem_hash.o

# The current version's install script is built from the topic files of sql/, each object written
# once, in dependency order (as pgvector builds vector--X.Y.Z.sql from sql/vector.sql).  The
# released scripts stay: the first version's install script and the upgrade chain, so an existing
# database updates.  CREATE EXTENSION of the default version runs the built script.
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" billium.control)
SQL_SOURCES = sql/permset.sql sql/catalog.sql sql/principal.sql sql/tables.sql sql/keys.sql \
              sql/audit.sql sql/policies.sql sql/team.sql sql/sessions.sql sql/ratelimit.sql \
              sql/protect.sql sql/postgrest.sql sql/usage.sql
# A new topic file goes into SQL_SOURCES (the order is the build order); one left out stops make.
UNLISTED_SQL = $(filter-out $(SQL_SOURCES) sql/billium--%,$(wildcard sql/*.sql))
ifneq ($(UNLISTED_SQL),)
$(error $(UNLISTED_SQL): a topic file of sql/ missing from SQL_SOURCES in the Makefile)
endif
DATA = sql/billium--0.1.0.sql $(wildcard sql/billium--*--*.sql)
DATA_built = sql/billium--$(EXTVERSION).sql

REGRESS = permset_io permset_ops permset_soft roles catalog keys rls_plan rls_team rls_protect ratelimit sessions bad_input security principal_savepoint hostile_json secret_settings upgrade_060 gate_order key_usage request_id cache
# --outputdir=test: pg_regress looks for <outputdir>/sql/<test>.sql before <inputdir>/sql/, and the
# default outputdir (.) holds the topic files of sql/, some named like tests (catalog, keys, ...).
REGRESS_OPTS = --inputdir=test --outputdir=test --load-extension=billium --load-extension=billium_test
EXTRA_CLEAN = test/results test/regression.diffs test/regression.out
ISOLATION = key_revoke key_cache key_leak key_lineage ratelimit_shared race_ownership race_team race_key_caps cache_first_lookup cache_targeted cache_shared
ISOLATION_OPTS = --inputdir=test --load-extension=billium --load-extension=billium_test

# RS256 and ES256 sessions use OpenSSL, which the server itself links.
SHLIB_LINK += -lcrypto

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/billium--$(EXTVERSION).sql: $(SQL_SOURCES) billium.control Makefile
	{ printf '%s\n' '/* billium $(EXTVERSION), built by make from the topic files of sql/ (SQL_SOURCES in the Makefile): edit those, not this file. */' \
		'' '\echo Use "CREATE EXTENSION billium" to load this file. \quit'; \
	  for f in $(SQL_SOURCES); do printf '\n'; cat "$$f"; done; } >$@.tmp && mv $@.tmp $@

# PGXS tracks no header dependencies: rebuild every object when any of our headers changes, so a
# changed struct can never be read with two layouts.
$(OBJS): $(wildcard src/*.h)

# Our own sources build warning-free under -Wall -Wextra; the server's headers are not ours.
override CFLAGS += -Wall -Wextra

# The test fixtures (billium_test_user, _merchant, _member, _key) write past the policies, so they
# are a separate extension, billium_test (test/), for test databases only: `make install` leaves
# it out; scripts/test.sh, scripts/valgrind.sh and the benches install it into the server they
# run, and a deployment's own pgTAP suites may too (CREATE EXTENSION billium_test).
FIXTURES = test/billium_test.control test/billium_test--1.0.sql

.PHONY: test test-all-versions demo bench format valgrind install-fixtures uninstall-fixtures fuzz-model
install-fixtures:
	$(MKDIR_P) '$(DESTDIR)$(datadir)/extension'
	$(INSTALL_DATA) $(FIXTURES) '$(DESTDIR)$(datadir)/extension/'

uninstall-fixtures:
	rm -f $(addprefix '$(DESTDIR)$(datadir)/extension'/, $(notdir $(FIXTURES)))

# `make test PG=18` (or 17): the same suites against that PostgreSQL, built from Debian's source
# packages by scripts/pg-build.sh and cached; PG=15 or no PG: Debian's PostgreSQL 15.
test:
	BILLIUM_PG=$(PG) bash scripts/test.sh

# Every supported version this machine can get, one after the other (scripts/test-all-versions.sh).
test-all-versions:
	bash scripts/test-all-versions.sh

# The model-based check for longer (default 10 minutes, seed from the clock) on its own throwaway
# cluster: MODEL_SECONDS, MODEL_SEED, MODEL_MAX_COMMANDS, BILLIUM_MODEL_KNOWN (docs/testing.md).
fuzz-model:
	bash scripts/fuzz-model.sh

# Every suite with the server under valgrind (scripts/valgrind.sh); far slower than `make test`.
valgrind:
	bash scripts/valgrind.sh

demo:
	bash scripts/demo.sh

bench:
	bash bench/run.sh

format:
	clang-format -i src/*.c src/*.h
