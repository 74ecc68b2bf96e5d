# Build: `make` (release), `make asan` (ASan+UBSan), `make test`, `make soak`, `make run`.
CC ?= cc
BUILD ?= build/release
PKG := rdkafka libmicrohttpd hiredis libcjson openssl libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKG) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKG) 2>/dev/null)
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
OPT ?= -O2 -g
SAN ?=
# The library's layers, lowest first (docs/architecture.md): a layer may
# include only itself and the layers before it (tests/tools/check_layers.sh
# reads this line). Headers keep plain names, one -I per layer folder.
LAYERS := base pki config io wire state web
LIB_INC := $(LAYERS:%=-Ilib/%)
CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) $(SAN) $(WARN) $(LIB_INC) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(SAN) $(EXTRA_LDFLAGS)
LDLIBS := $(PKG_LIBS) -lpthread -lm

LIB_SRC := $(wildcard $(LAYERS:%=lib/%/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_HDR := $(wildcard $(LAYERS:%=lib/%/*.h))
LIB := $(BUILD)/libpki.a
BINS := $(BUILD)/pki-gateway $(BUILD)/pki-worker $(BUILD)/pki-approver $(BUILD)/pkictl
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
BENCH_SRC := $(wildcard tests/bench/*.c)
LOADGEN_SRC := $(wildcard tests/bench/loadgen/*.c)
# tests/fuzz/fuzz_NAME.c: one libFuzzer target each. FUZZ_MAIN is the corpus
# replay main (any compiler); tests/fuzz/run.sh empties it and links libFuzzer.
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/fuzz-%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_MAIN ?= $(BUILD)/tests/fuzz/replay.o

.PHONY: all asan test soak unit bench fuzz fuzz-targets run up down deps clean format check-config
all: $(BINS) $(BUILD)/unit-tests

$(BUILD)/%.o: %.c $(LIB_HDR) $(wildcard */*.h) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# web/* compiled in as byte arrays (lib/web/web.h).
WEB_FILES := $(filter %.html %.css %.js %.svg %.png %.ico %.txt,$(wildcard web/* web/*/*))
$(BUILD)/web_assets.c: $(WEB_FILES) scripts/embed-web.sh
	@mkdir -p $(dir $@)
	scripts/embed-web.sh $(WEB_FILES) >$@.tmp && mv $@.tmp $@
$(BUILD)/web_assets.o: $(BUILD)/web_assets.c lib/web/web.h
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ) $(BUILD)/web_assets.o
	rm -f $@
	ar rcs $@ $^

$(BUILD)/pki-gateway: $(patsubst %.c,$(BUILD)/%.o,$(wildcard gateway/*.c)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/pki-worker: $(patsubst %.c,$(BUILD)/%.o,$(wildcard workers/*.c)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/pki-approver: $(patsubst %.c,$(BUILD)/%.o,$(wildcard approver/*.c)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# pkictl's objects live apart: $(BUILD)/pkictl is the binary itself.
$(BUILD)/pkictl.obj/%.o: pkictl/%.c $(LIB_HDR) $(wildcard pkictl/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/pkictl: $(patsubst pkictl/%.c,$(BUILD)/pkictl.obj/%.o,$(wildcard pkictl/*.c)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# The unit tests also link pkictl's network-free bulk input module, the
# approver's webhook queue and the worker's dead letters.
$(BUILD)/unit-tests: $(UNIT_OBJ) $(BUILD)/pkictl.obj/bulkin.o $(BUILD)/approver/webhook.o \
		$(BUILD)/workers/dlq.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench: $(patsubst %.c,$(BUILD)/%.o,$(BENCH_SRC)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
fuzz-targets: $(FUZZ_TARGETS)
# The issuance core is fuzzed on its own: its target links lib/pki alone,
# with the one base helper it uses.
$(BUILD)/fuzz-issue: $(BUILD)/tests/fuzz/fuzz_issue.o $(FUZZ_MAIN) $(filter $(BUILD)/lib/pki/%,$(LIB_OBJ)) \
		$(BUILD)/lib/base/hex.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread
$(BUILD)/fuzz-%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_MAIN) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# HTTP load generator for tests/bench/gateway.sh (no project library).
$(BUILD)/loadgen: $(patsubst %.c,$(BUILD)/%.o,$(LOADGEN_SRC))
	$(CC) $(LDFLAGS) -o $@ $^

asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all fuzz-targets

unit: all
	$(BUILD)/unit-tests

deps:
	@scripts/deps.sh

# Every suite; starts and stops what it needs. Ends with "N passed, N failed".
test:
	@scripts/deps.sh
	@tests/run.sh

# The fault run at full size (tests/integration/test_faults.sh); the
# PKI_FAULTS_* variables of the environment win.
SOAK_REQUESTS ?= 20000
SOAK_WORKER_KILLS ?= 20
soak:
	@scripts/deps.sh
	@PKI_FAULTS_REQUESTS=$${PKI_FAULTS_REQUESTS:-$(SOAK_REQUESTS)} \
		PKI_FAULTS_WORKER_KILLS=$${PKI_FAULTS_WORKER_KILLS:-$(SOAK_WORKER_KILLS)} \
		PKI_FAULTS_GATEWAY_KILLS=$${PKI_FAULTS_GATEWAY_KILLS:-10} \
		PKI_FAULTS_SETTLE_S=$${PKI_FAULTS_SETTLE_S:-900} PKI_SUITE_TIMEOUT=$${PKI_SUITE_TIMEOUT:-3600} \
		tests/run.sh tests/integration/test_faults.sh

bench:
	@scripts/deps.sh
	@tests/bench/run.sh

fuzz:
	@scripts/deps.sh
	@tests/fuzz/run.sh

run:
	@scripts/deps.sh
	@scripts/stack.sh run

up:
	@scripts/deps.sh
	@scripts/stack.sh up

down:
	@scripts/stack.sh down

check-config: all
	$(BUILD)/pki-gateway --check-config

format:
	clang-format -i $(wildcard lib/*/*.[ch] gateway/*.[ch] workers/*.[ch] approver/*.[ch] pkictl/*.[ch] tests/unit/*.[ch] tests/bench/*.[ch] tests/bench/loadgen/*.[ch] tests/fuzz/*.[ch])

clean:
	rm -rf build
