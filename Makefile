# biocrypt: PGXS build.  The version lives in biocrypt.control only.
EXTENSION = biocrypt
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = biocrypt
OBJS = src/audit.o src/auditchain.o src/auditentries.o src/auditguard.o src/auditrequest.o src/auditsite.o src/auditstmt.o src/auditworker.o src/auditwrite.o src/biocrypt.o src/compare.o src/envelope.o src/enrol.o src/identify.o \
	src/iris.o src/jsonenc.o src/kernels.o src/kernels_x86.o src/keys.o src/policy.o src/purgeworker.o src/purpose.o src/retention.o src/review.o \
	src/rotate.o src/seal.o src/secmem.o src/subxact.o \
	src/template.o

DATA = $(wildcard sql/$(EXTENSION)--*.sql)

# pg_regress inputs, listed one per feature: test/sql/<test>.sql, whose
# output must equal test/expected/<test>.out (sql/ holds the extension
# scripts only); test/sql/include/ holds what the tests include with \i
REGRESS = type protect header tamper errors roles \
	compare_vector compare_iris compare_verify compare_expired \
	identify_vector identify_bits identify_access \
	audit guard audit_values purpose review \
	retention_policy retention_expiry retention_owner compliance audit_chain
REGRESS_OPTS = --inputdir=$(srcdir)/test --temp-instance=tmp_check_regress \
	--temp-config=$(srcdir)/test/regress.conf --load-extension=$(EXTENSION)

# isolation tests: test/specs/<test>.spec, test/expected/<test>.out
ISOLATION = retention_purge
ISOLATION_OPTS = --inputdir=$(srcdir)/test --temp-instance=tmp_check_isolation \
	--temp-config=$(srcdir)/test/regress.conf --load-extension=$(EXTENSION)

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

SODIUM_CFLAGS := $(shell pkg-config --cflags libsodium)
SODIUM_LIBS := $(shell pkg-config --libs libsodium)
# server headers as system headers: -Wextra then checks only our own code
PG_CPPFLAGS = $(SODIUM_CFLAGS) -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CFLAGS = -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers $(PG_CFLAGS_EXTRA)
SHLIB_LINK = $(SODIUM_LIBS)

EXTRA_CLEAN = tmp_check_regress tmp_check_isolation test/unit/envelope_test test/unit/kernels_test \
	test/unit/jsonenc_test test/unit/*.arm64 \
	test/fuzz/fuzz_envelope test/fuzz/fuzz_jsonenc test/fuzz/work*

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild everything when one changes
$(OBJS): $(wildcard src/*.h)

# C unit tests: backend-free code (envelope parser, kernels, JSON encoders)
# against references
UNIT_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Werror -Isrc $(SODIUM_CFLAGS)

test/unit/envelope_test: test/unit/envelope_test.c src/envelope.c src/envelope.h src/halfutils.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/envelope_test.c src/envelope.c $(SODIUM_LIBS) -lm

# no -march: kernels.c picks its SIMD path at run time
test/unit/kernels_test: test/unit/kernels_test.c src/kernels.c src/kernels_x86.c \
		src/kernels.h src/kernels_internal.h src/halfutils.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/kernels_test.c src/kernels.c src/kernels_x86.c -lm

test/unit/jsonenc_test: test/unit/jsonenc_test.c src/jsonenc.c src/jsonenc.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/jsonenc_test.c src/jsonenc.c -lm

UNIT_TESTS = test/unit/envelope_test test/unit/kernels_test test/unit/jsonenc_test

# run every unit program, then sum their "unit: N passed, N failed" lines
# into one; a program that exits non-zero without reporting a failure
# (a crash, say) counts as one failure, and any failure fails the target
.PHONY: unit unit-arm64 fuzz-smoke cppcheck
unit: $(UNIT_TESTS)
	@status=0; passed=0; failed=0; \
	for t in $(UNIT_TESTS); do \
		echo "== $$t"; \
		out=$$($$t 2>&1); rc=$$?; \
		printf '%s\n' "$$out"; \
		line=$$(printf '%s\n' "$$out" | \
			sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$$/\1 \2/p' | tail -1); \
		p=$${line% *}; f=$${line#* }; \
		if [ -z "$$line" ]; then p=0; f=0; fi; \
		if [ $$rc -ne 0 ] && [ $$f -eq 0 ]; then f=1; fi; \
		if [ $$f -ne 0 ]; then status=1; fi; \
		passed=$$((passed + p)); failed=$$((failed + f)); \
	done; \
	echo "unit: $$passed passed, $$failed failed"; \
	exit $$status

# libFuzzer targets for the envelope parser and the JSON encoders;
# fuzz-smoke runs each briefly on its own corpus, in its own work directory
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc

test/fuzz/fuzz_envelope: test/fuzz/fuzz_envelope.c src/envelope.c src/envelope.h
	clang $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_envelope.c src/envelope.c

test/fuzz/fuzz_jsonenc: test/fuzz/fuzz_jsonenc.c src/jsonenc.c src/jsonenc.h
	clang $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_jsonenc.c src/jsonenc.c

fuzz-smoke: test/fuzz/fuzz_envelope test/fuzz/fuzz_jsonenc
	mkdir -p test/fuzz/work_envelope test/fuzz/work_jsonenc
	test/fuzz/fuzz_envelope -runs=$(or $(FUZZ_RUNS),300000) -max_len=4096 \
		test/fuzz/work_envelope test/fuzz/corpus/envelope
	test/fuzz/fuzz_jsonenc -runs=$(or $(FUZZ_RUNS),300000) -max_len=8192 \
		test/fuzz/work_jsonenc test/fuzz/corpus/jsonenc

# static analysis of our sources (server headers are not ours to fix)
cppcheck:
	cppcheck --enable=warning,style,performance,portability --std=c11 --quiet \
		--inline-suppr --error-exitcode=1 -Isrc -I$(shell $(PG_CONFIG) --includedir-server) \
		--suppress=missingIncludeSystem --suppress=missingInclude \
		--suppress='*:/usr/include/*' --suppress=toomanyconfigs \
		src/*.c test/unit/*.c test/fuzz/*.c

# the portable path on another architecture: cross-build the backend-free
# unit tests for aarch64 and run them under qemu-user
ARM64_CC = aarch64-linux-gnu-gcc
ARM64_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Werror -Isrc -static

unit-arm64:
	$(ARM64_CC) $(ARM64_CFLAGS) -o test/unit/kernels_test.arm64 \
		test/unit/kernels_test.c src/kernels.c src/kernels_x86.c -lm
	$(ARM64_CC) $(ARM64_CFLAGS) -o test/unit/envelope_test.arm64 \
		test/unit/envelope_test.c src/envelope.c -lm
	$(ARM64_CC) $(ARM64_CFLAGS) -o test/unit/jsonenc_test.arm64 \
		test/unit/jsonenc_test.c src/jsonenc.c -lm
	qemu-aarch64 test/unit/kernels_test.arm64
	qemu-aarch64 test/unit/envelope_test.arm64
	qemu-aarch64 test/unit/jsonenc_test.arm64
