# billium: PGXS build.  `make test` and `make demo` start their own throwaway cluster.
EXTENSION = billium
MODULE_big = billium
OBJS = src/billium.o src/catalog.o src/catalog_sql.o src/parse_permset.o src/permset.o \
       src/roles.o src/parse_key.o src/errors.o src/lookup.o src/keys.o src/principal.o src/gate.o src/cache.o \
       src/parse_jwt.o src/jwt_signature.o src/session.o src/secrets.o src/ratelimit.o src/json_input.o src/request.o

DATA = $(wildcard sql/billium--*.sql)

REGRESS = permset_io permset_ops permset_soft roles catalog keys rls_plan rls_team rls_protect ratelimit sessions bad_input security principal_savepoint hostile_json secret_settings
REGRESS_OPTS = --inputdir=test --load-extension=billium
ISOLATION = key_revoke key_cache key_leak ratelimit_shared race_ownership race_team race_key_caps cache_first_lookup
ISOLATION_OPTS = --inputdir=test --load-extension=billium

# RS256 and ES256 sessions use OpenSSL, which the server itself links.
SHLIB_LINK += -lcrypto

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when any of our headers changes, so a
# changed struct can never be read with two layouts.
$(OBJS): $(wildcard src/*.h)

# Our own sources build warning-free under -Wall -Wextra; the server's headers are not ours.
override CFLAGS += -Wall -Wextra

.PHONY: test demo bench format valgrind
test:
	bash scripts/test.sh

# Every suite with the server under valgrind (scripts/valgrind.sh); far slower than `make test`.
valgrind:
	bash scripts/valgrind.sh

demo:
	bash scripts/demo.sh

bench:
	bash bench/run.sh

format:
	clang-format -i src/*.c src/*.h
