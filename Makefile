# biocrypt: PGXS build.  The version lives in biocrypt.control only.
EXTENSION = biocrypt
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = biocrypt
# one folder per layer, lowest first; see docs/architecture.md
SRC_BASE = aead auditenc envelope jsonenc kernels kernels_x86 quantise sealedmsg tplform
SRC_CORE = catalog checkconfig remote secmem session spi subxact worker
SRC_CRYPTO = chainkey destroyed keys ringadmin rootkey sealkey
SRC_TEMPLATE = expiry purposes seal sealedprobe template tplheader typmod
SRC_AUDIT = access audit auditchain auditentries auditguard auditrequest auditsite \
	auditclose auditforward auditqueue auditstats auditstmt auditworker auditwrite export fanout \
	review
SRC_MATCH = calibrate compare disclosure galhandler galscan galscore identify iris pairs probe \
	sealed verifyreason
SRC_GALLERY = galbuild galhelper galload galpage galrank galsearch galvacuum galwarm
SRC_LIFECYCLE = enrol enrolsealed erasure keyadmin policy policycheck policyguard progress \
	purgeworker purpose retention rotate
OBJS = $(SRC_BASE:%=src/base/%.o) $(SRC_CORE:%=src/core/%.o) \
	$(SRC_CRYPTO:%=src/crypto/%.o) $(SRC_TEMPLATE:%=src/template/%.o) \
	$(SRC_AUDIT:%=src/audit/%.o) $(SRC_MATCH:%=src/match/%.o) $(SRC_GALLERY:%=src/gallery/%.o) \
	$(SRC_LIFECYCLE:%=src/lifecycle/%.o) src/biocrypt.o

DATA = $(wildcard sql/$(EXTENSION)--*.sql)

# the client that seals probes to the server's public key: built by make,
# installed into the PostgreSQL bindir by make install
SCRIPTS_built = tools/biocrypt-seal

# pg_regress inputs, listed one per feature: test/sql/<test>.sql, whose
# output must equal test/expected/<test>.out (sql/ holds the extension
# scripts only); test/sql/include/ holds what the tests include with \i
REGRESS = type protect header tamper errors roles sealed \
	compare_vector compare_iris compare_verify compare_expired \
	verify_reason calibrate identify_vector identify_bits identify_access gallery shape \
	audit guard audit_values purpose review \
	retention_policy retention_expiry retention_owner policy_guard row_binding compliance \
	compliance_report forward fanout audit_chain score_disclosure stats badinput check_config \
	privileges
REGRESS_OPTS = --inputdir=$(srcdir)/test --temp-instance=tmp_check_regress \
	--temp-config=$(srcdir)/test/regress.conf --load-extension=$(EXTENSION)

# isolation tests: test/specs/<test>.spec, test/expected/<test>.out
ISOLATION = retention_purge gallery_mvcc
ISOLATION_OPTS = --inputdir=$(srcdir)/test --temp-instance=tmp_check_isolation \
	--temp-config=$(srcdir)/test/regress.conf --load-extension=$(EXTENSION)

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

SODIUM_CFLAGS := $(shell pkg-config --cflags libsodium)
SODIUM_LIBS := $(shell pkg-config --libs libsodium)
# server headers as system headers: -Wextra then checks only our own code
PG_CPPFLAGS = -I$(srcdir)/src -I$(shell $(PG_CONFIG) --includedir) $(SODIUM_CFLAGS) -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CFLAGS = -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers $(PG_CFLAGS_EXTRA)
# libpq: a standby's audit worker sends its events to the primary.  In
# SHLIB_LINK, not SHLIB_LINK_INTERNAL: PGXS drops the latter when PG_LDFLAGS
# is given (test/sanitize.sh gives it)
SHLIB_LINK = $(SODIUM_LIBS) -L$(shell $(PG_CONFIG) --libdir) -lpq

EXTRA_CLEAN = tmp_check_regress tmp_check_isolation tmp_sanitize tmp_valgrind \
	test/unit/envelope_test test/unit/kernels_test \
	test/unit/jsonenc_test test/unit/sealedmsg_test test/unit/auditenc_test test/unit/tplform_test \
	test/unit/*.arm64 test/fuzz/fuzz_envelope test/fuzz/fuzz_jsonenc test/fuzz/fuzz_sealedmsg \
	test/fuzz/fuzz_tplform test/fuzz/fuzz_auditenc test/fuzz/work*

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild everything when one changes
$(OBJS): $(wildcard src/*.h src/*/*.h)

# PGXS installs SCRIPTS_built by their base names but would uninstall
# bindir/tools/biocrypt-seal: remove the installed name too
uninstall: uninstall-seal
.PHONY: uninstall-seal
uninstall-seal:
	rm -f '$(DESTDIR)$(bindir)/biocrypt-seal'

# libsodium and the backend-free message format only: a client program
tools/biocrypt-seal: tools/biocrypt-seal.c src/base/sealedmsg.c src/base/sealedmsg.h src/base/envelope.h
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra $(PG_CFLAGS_EXTRA) -Isrc $(SODIUM_CFLAGS) -o $@ \
		tools/biocrypt-seal.c src/base/sealedmsg.c $(SODIUM_LIBS) -lm

# C unit tests: backend-free code (envelope parser, kernels, JSON encoders,
# the sealed-probe message, the audit row encoding, the type's text form)
# against references
UNIT_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Werror -Isrc $(SODIUM_CFLAGS)

test/unit/envelope_test: test/unit/envelope_test.c test/unit/unit_check.h src/base/envelope.c src/base/envelope.h src/base/halfutils.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/envelope_test.c src/base/envelope.c $(SODIUM_LIBS) -lm

# no -march: kernels.c picks its SIMD path at run time
test/unit/kernels_test: test/unit/kernels_test.c src/base/kernels.c src/base/kernels_x86.c \
		src/base/kernels.h src/base/kernelbody.h src/base/halfutils.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/kernels_test.c src/base/kernels.c src/base/kernels_x86.c -lm

test/unit/sealedmsg_test: test/unit/sealedmsg_test.c test/unit/unit_check.h src/base/sealedmsg.c src/base/sealedmsg.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/sealedmsg_test.c src/base/sealedmsg.c -lm

test/unit/jsonenc_test: test/unit/jsonenc_test.c test/unit/unit_check.h src/base/jsonenc.c src/base/jsonenc.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/jsonenc_test.c src/base/jsonenc.c -lm

test/unit/auditenc_test: test/unit/auditenc_test.c test/unit/unit_check.h src/base/auditenc.c src/base/auditenc.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/auditenc_test.c src/base/auditenc.c

test/unit/tplform_test: test/unit/tplform_test.c test/unit/unit_check.h src/base/tplform.c src/base/tplform.h \
		src/base/envelope.c src/base/envelope.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/tplform_test.c src/base/tplform.c \
		src/base/envelope.c $(SODIUM_LIBS)

UNIT_TESTS = test/unit/envelope_test test/unit/kernels_test test/unit/jsonenc_test \
	test/unit/sealedmsg_test test/unit/auditenc_test test/unit/tplform_test

# run every unit program, then sum their "unit: N passed, N failed" lines
# into one; a program that exits non-zero without reporting a failure
# (a crash, say) counts as one failure, and any failure fails the target
.PHONY: unit unit-arm64 fuzz-smoke fuzz-targets print-fuzz-targets cppcheck layers errlint docrun
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

# benchmark programs (test/bench/README.md), built from this tree: floor and
# reseal_floor link the server's own base/ code (quantisation, envelope,
# AEAD, kernels) instead of copies.  Flags: the server's CFLAGS without
# -fPIC (the optimisation the extension's objects get) and no -march:
# kernels.c picks its SIMD path at run time.  aead_bench also times OpenSSL
# when pkg-config finds libcrypto (libssl-dev), else libsodium only.
BENCH_CFLAGS = $(filter-out $(CFLAGS_SL),$(CFLAGS)) -Isrc $(SODIUM_CFLAGS)
BENCH_BASE_H = $(wildcard src/base/*.h) test/bench/benchclock.h
BENCH_FLOOR_SRC = src/base/aead.c src/base/envelope.c src/base/quantise.c \
	src/base/kernels.c src/base/kernels_x86.c
BENCH_RESEAL_SRC = src/base/aead.c src/base/envelope.c
BENCH_OPENSSL_LIBS = $(shell pkg-config --exists libcrypto && pkg-config --libs libcrypto)
BENCH_OPENSSL_CFLAGS = $(if $(BENCH_OPENSSL_LIBS),-DWITH_OPENSSL $(shell pkg-config --cflags libcrypto))
BENCH_GALLERY_FLOOR_SRC = src/base/envelope.c src/base/quantise.c \
	src/base/kernels.c src/base/kernels_x86.c
BENCH_PROGRAMS = test/bench/floor test/bench/reseal_floor test/bench/gen test/bench/aead_bench \
	test/bench/gallery_floor
EXTRA_CLEAN += $(BENCH_PROGRAMS)

test/bench/floor: test/bench/floor.c $(BENCH_FLOOR_SRC) $(BENCH_BASE_H)
	$(CC) $(BENCH_CFLAGS) -o $@ test/bench/floor.c $(BENCH_FLOOR_SRC) $(SODIUM_LIBS) -lm

test/bench/reseal_floor: test/bench/reseal_floor.c $(BENCH_RESEAL_SRC) $(BENCH_BASE_H)
	$(CC) $(BENCH_CFLAGS) -o $@ test/bench/reseal_floor.c $(BENCH_RESEAL_SRC) $(SODIUM_LIBS)

test/bench/gallery_floor: test/bench/gallery_floor.c $(BENCH_GALLERY_FLOOR_SRC) $(BENCH_BASE_H)
	$(CC) $(BENCH_CFLAGS) -o $@ test/bench/gallery_floor.c $(BENCH_GALLERY_FLOOR_SRC) $(SODIUM_LIBS) -lm

test/bench/gen: test/bench/gen.c
	$(CC) $(BENCH_CFLAGS) -o $@ test/bench/gen.c -lm

test/bench/aead_bench: test/bench/aead_bench.c test/bench/benchclock.h
	$(if $(BENCH_OPENSSL_LIBS),,@echo "aead_bench: no libcrypto (apt-get install libssl-dev); building without OpenSSL")
	$(CC) $(BENCH_CFLAGS) $(BENCH_OPENSSL_CFLAGS) -o $@ test/bench/aead_bench.c \
		$(SODIUM_LIBS) $(BENCH_OPENSSL_LIBS)

.PHONY: bench-programs
bench-programs: $(BENCH_PROGRAMS)

# libFuzzer targets (test/fuzz/README.md): the envelope parser, the JSON
# encoders, the sealed-probe message, the type's text and binary forms, the
# audit row encoding.  fuzz-smoke runs each on its own corpus in its own
# work directory, for FUZZ_RUNS inputs or FUZZ_SECONDS seconds, whichever
# comes first, with inputs up to its FUZZ_MAX_LEN_<target> bytes.
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc
FUZZ_TARGETS = envelope jsonenc sealedmsg tplform auditenc
# 8192 covers the largest envelope header (1324 bytes) and its text many
# times over; a JSON string of 1024 bytes meets every escape and UTF-8 case;
# a sealed-probe message is up to 12 + 4 * 16000 bytes
FUZZ_MAX_LEN_envelope = 8192
FUZZ_MAX_LEN_jsonenc = 1024
FUZZ_MAX_LEN_sealedmsg = 70000
FUZZ_MAX_LEN_tplform = 8192
FUZZ_MAX_LEN_auditenc = 8192
FUZZ_RUNS ?= 300000
FUZZ_SECONDS ?= 15

test/fuzz/fuzz_envelope: test/fuzz/fuzz_envelope.c src/base/envelope.c src/base/envelope.h
	clang $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_envelope.c src/base/envelope.c

test/fuzz/fuzz_jsonenc: test/fuzz/fuzz_jsonenc.c src/base/jsonenc.c src/base/jsonenc.h
	clang $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_jsonenc.c src/base/jsonenc.c

test/fuzz/fuzz_sealedmsg: test/fuzz/fuzz_sealedmsg.c src/base/sealedmsg.c src/base/sealedmsg.h
	clang $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_sealedmsg.c src/base/sealedmsg.c -lm

test/fuzz/fuzz_tplform: test/fuzz/fuzz_tplform.c src/base/tplform.c src/base/tplform.h \
		src/base/envelope.c src/base/envelope.h
	clang $(FUZZ_CFLAGS) $(SODIUM_CFLAGS) -o $@ test/fuzz/fuzz_tplform.c \
		src/base/tplform.c src/base/envelope.c $(SODIUM_LIBS)

test/fuzz/fuzz_auditenc: test/fuzz/fuzz_auditenc.c src/base/auditenc.c src/base/auditenc.h
	clang $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_auditenc.c src/base/auditenc.c

fuzz-targets: $(FUZZ_TARGETS:%=test/fuzz/fuzz_%)

# for test/fuzz/long_run.sh: the targets, and each one's -max_len
print-fuzz-targets:
	@echo $(FUZZ_TARGETS)

print-fuzz-max-len-%:
	@echo $(FUZZ_MAX_LEN_$*)

fuzz-smoke: fuzz-targets
	@for tl in $(foreach t,$(FUZZ_TARGETS),$(t):$(FUZZ_MAX_LEN_$(t))); do \
		t=$${tl%%:*}; \
		mkdir -p test/fuzz/work_$$t || exit 1; \
		test/fuzz/fuzz_$$t -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_SECONDS) \
			-max_len=$${tl##*:} -print_final_stats=1 test/fuzz/work_$$t \
			test/fuzz/corpus/$$t >test/fuzz/work_$$t.log 2>&1; \
		rc=$$?; \
		echo "fuzz_$$t: exit $$rc, $$(sed -n 's/^stat::number_of_executed_units: *//p' \
			test/fuzz/work_$$t.log) runs, $$(sed -n \
			's/^stat::average_exec_per_sec: *//p' test/fuzz/work_$$t.log) exec/s"; \
		if [ $$rc -ne 0 ]; then tail -40 test/fuzz/work_$$t.log; exit 1; fi; \
	done

# the pg_regress and isolation suites against a checked server, in a private
# copy of PostgreSQL under tmp_sanitize or tmp_valgrind (test/sanitize.sh, run as
# the server's user): sanitize builds biocrypt with ASan and UBSan, valgrind
# runs the server under memcheck; either fails on a report against biocrypt
.PHONY: sanitize valgrind
sanitize valgrind:
	REGRESS="$(REGRESS)" ISOLATION="$(ISOLATION)" PG_CONFIG="$(PG_CONFIG)" \
		bash test/sanitize.sh $@

# the PGXN distribution that META.json describes: the committed tree at HEAD
# (git archive: no build products, nothing uncommitted) under the prefix
# biocrypt-VERSION/, in DIST_DIR/biocrypt-VERSION.zip; test/dist.sh checks it
DIST_DIR ?= dist
.PHONY: dist
dist:
	mkdir -p $(DIST_DIR)
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ \
		--output $(DIST_DIR)/$(EXTENSION)-$(EXTVERSION).zip HEAD

# the driver tests (test/drivers, docs/developer.md "Drivers"): psycopg 3 and
# libpq against a throwaway cluster of the installed extension; as root the
# server runs as postgres
.PHONY: drivers
drivers:
	PG_CONFIG="$(PG_CONFIG)" bash test/drivers/run.sh

# calls go one way between the layers of src/ (docs/architecture.md)
layers: $(OBJS)
	perl test/layers.pl --self-test
	perl test/layers.pl

# every error hides its statement from the log (it may carry a biometric)
errlint:
	perl test/errlint.pl

# every SQL example of README.md and docs/*.md, run in a throwaway cluster
# of the PostgreSQL that PG_CONFIG names, with its output checked where the
# doc shows one (test/docrun.pl; docs/developer.md, "Examples in the
# docs"): after make install, as a user that may start a server
docrun:
	perl test/docrun.pl --pg-config $(PG_CONFIG)

# static analysis of our sources (server headers are not ours to fix), in
# the one preprocessor configuration the server build uses on x86-64 (GCC,
# the AVX kernels compiled): cppcheck's default of up to 12 configurations
# per file, each through every server header, took over 12 minutes of CI
cppcheck:
	cppcheck -j $(shell nproc) --max-configs=1 -D__x86_64__ -D__GNUC__ \
		--enable=warning,style,performance,portability --std=c11 --quiet \
		--inline-suppr --error-exitcode=1 -Isrc -I$(shell $(PG_CONFIG) --includedir-server) \
		--suppress=missingIncludeSystem --suppress=missingInclude \
		--suppress='*:/usr/include/*' --suppress=toomanyconfigs \
		src/*.c src/*/*.c test/unit/*.c test/fuzz/*.c test/drivers/*.c tools/*.c

# the portable path on another architecture: cross-build the backend-free
# unit tests for aarch64 and run them under qemu-user
ARM64_CC = aarch64-linux-gnu-gcc
ARM64_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Werror -Isrc -static

unit-arm64:
	$(ARM64_CC) $(ARM64_CFLAGS) -o test/unit/kernels_test.arm64 \
		test/unit/kernels_test.c src/base/kernels.c src/base/kernels_x86.c -lm
	$(ARM64_CC) $(ARM64_CFLAGS) -o test/unit/envelope_test.arm64 \
		test/unit/envelope_test.c src/base/envelope.c -lm
	$(ARM64_CC) $(ARM64_CFLAGS) -o test/unit/jsonenc_test.arm64 \
		test/unit/jsonenc_test.c src/base/jsonenc.c -lm
	$(ARM64_CC) $(ARM64_CFLAGS) -o test/unit/sealedmsg_test.arm64 \
		test/unit/sealedmsg_test.c src/base/sealedmsg.c -lm
	$(ARM64_CC) $(ARM64_CFLAGS) -o test/unit/auditenc_test.arm64 \
		test/unit/auditenc_test.c src/base/auditenc.c
	qemu-aarch64 test/unit/kernels_test.arm64
	qemu-aarch64 test/unit/envelope_test.arm64
	qemu-aarch64 test/unit/jsonenc_test.arm64
	qemu-aarch64 test/unit/sealedmsg_test.arm64
	qemu-aarch64 test/unit/auditenc_test.arm64
