# multitenant: PGXS build.  Version comes from multitenant.control.
EXTENSION   = multitenant
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)
MODULE_big  = multitenant
SRCS        = $(wildcard src/*.c)
OBJS        = $(SRCS:.c=.o)

# The install script is assembled from one file per capability, in name order.
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))
INSTALL_SQL   = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA_built    = $(INSTALL_SQL)
# earlier releases' install scripts (frozen) and the update scripts between them
DATA          = $(wildcard sql/releases/*.sql) $(wildcard sql/updates/*.sql)
EXTRA_CLEAN   = results regression.diffs regression.out output_iso test/out

# make installcheck: the pg_regress suite (sql/*.sql but the generated
# install script, expected/) and the isolation suite (test/isolation) run
# the PGXS way against the server at PGHOST/PGPORT, which must preload the
# library (test/README.md).  --temp-config only reaches a temporary
# instance; it documents the settings the suites need.
REGRESS        = $(filter-out $(EXTENSION)--%,$(sort $(notdir $(basename $(wildcard sql/*.sql)))))
REGRESS_OPTS   = --inputdir=. --temp-config=test/conf/multitenant.conf
ISOLATION      = $(sort $(notdir $(basename $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/isolation --temp-config=test/conf/multitenant.conf

PG_CONFIG  ?= $(shell test -x /usr/lib/postgresql/15/bin/pg_config && echo /usr/lib/postgresql/15/bin/pg_config || echo pg_config)
PG_CPPFLAGS = -Isrc -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK  = -lsodium -lcrypto
# Calls between the library's own functions bind inside it (nothing outside
# replaces them): no PLT stub and GOT load per call, and the compiler may
# inline a file's exported functions into their callers in that file
# (doc/api-keys.md, "Benchmark", twenty-sixth session).  -Bsymbolic is
# added below, where PGXS has told the platform.
PG_CFLAGS   = -fno-semantic-interposition

# On a fresh machine the server headers may be missing: `make test` and
# `make demo` install them first (scripts/deps.sh), then build in a sub-make.
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
.DEFAULT_GOAL := all
all install:
	bash scripts/deps.sh && $(MAKE) $@
endif

ifeq ($(PORTNAME), linux)
SHLIB_LINK += -Wl,-Bsymbolic
endif

$(INSTALL_SQL): $(INSTALL_PARTS) $(EXTENSION).control
	cat $(INSTALL_PARTS) > $@


$(OBJS): $(wildcard src/*.h)

.PHONY: deps demo test bench
deps:
	bash scripts/deps.sh

test: deps
	bash test/run.sh

demo: deps
	bash scripts/demo.sh

bench: deps
	bash test/bench/run.sh
