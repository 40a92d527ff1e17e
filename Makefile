# ferry: plain GNU make. `make` builds, `make test` installs what is missing and runs
# every test, `make demo` runs the main job. See README.md and docs/DESIGN.md.

BUILD ?= build
CC ?= cc
ONNX_PROTO ?= /usr/include/onnx/onnx.proto
ONNX_TESTDATA ?= /usr/include/onnx/backend/test/data
FASHION ?= /usr/share/datasets/fashion-mnist
JOBS ?= 2

WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla \
       -Wno-format-nonliteral -Wno-format-truncation -Wno-psabi
OPT ?= -O2 -g
CFLAGS_ALL = -std=c11 -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 $(OPT) $(WARN) \
             -Iinclude -Isrc -I$(BUILD)/gen $(SANFLAGS) $(CFLAGS)
LDLIBS_ALL = -lprotobuf-c -ljansson -lyaml -lsodium -lmicrohttpd -lgnutls -lsqlite3 -lcurl -lz -lm -lpthread $(LDLIBS)

GEN_C = $(BUILD)/gen/onnx.pb-c.c
GEN_H = $(BUILD)/gen/onnx.pb-c.h
LIB_SRC = $(sort $(wildcard src/*/*.c src/ops/ref/*.c src/ops/fast/*.c))
LIB_OBJ = $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(BUILD)/obj/gen/onnx.pb-c.o
TOOL_SRC = $(sort $(wildcard tools/ferry/*.c))
TOOL_OBJ = $(patsubst %.c,$(BUILD)/obj/%.o,$(TOOL_SRC))
TEST_SRC = $(sort $(wildcard tests/*/test_*.c))
TEST_BIN = $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
FUZZ_SRC = $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_REPLAY = $(patsubst fuzz/%.c,$(BUILD)/fuzz/%_replay,$(FUZZ_SRC))

.PHONY: all deps build test unit conformance san fuzz fuzz-replay demo deploy-demo clean format \
        format-check lint check bench bench-serve bench-engine

all: build
build: $(BUILD)/ferry $(TEST_BIN) $(FUZZ_REPLAY)

deps:
	@scripts/deps.sh

$(GEN_C) $(GEN_H) &: $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	cp -f $(ONNX_PROTO) $(BUILD)/gen/onnx.proto
	cd $(BUILD)/gen && protoc-c --c_out=. onnx.proto

$(BUILD)/obj/gen/onnx.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) $(SANFLAGS) -I$(BUILD)/gen -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libferry.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/ferry: $(TOOL_OBJ) $(BUILD)/libferry.a
	$(CC) $(CFLAGS_ALL) -o $@ $(TOOL_OBJ) $(BUILD)/libferry.a $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/%.c tests/test.h tests/model_builder.h tests/ops/kernel_harness.h $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests -o $@ $< $(BUILD)/libferry.a $(LDLIBS_ALL)

$(BUILD)/fuzz/%_replay: fuzz/%.c fuzz/replay_main.c $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< fuzz/replay_main.c $(BUILD)/libferry.a $(LDLIBS_ALL)

# libFuzzer builds (clang): make fuzz FUZZ_SECONDS=60
FUZZ_SECONDS ?= 30
fuzz:
	@mkdir -p $(BUILD)/libfuzzer
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  $(MAKE) --no-print-directory BUILD=$(BUILD)/libfuzzer CC=clang CFLAGS=-Wno-unknown-warning-option \
	    SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined" $(BUILD)/libfuzzer/libferry.a || exit 1; \
	  clang -std=c11 -D_DEFAULT_SOURCE -O1 -g -Iinclude -Isrc -I$(BUILD)/libfuzzer/gen \
	    -fsanitize=fuzzer,address,undefined $$f $(BUILD)/libfuzzer/libferry.a $(LDLIBS_ALL) \
	    -o $(BUILD)/libfuzzer/$$n || exit 1; \
	  mkdir -p $(BUILD)/libfuzzer/corpus-$$n; \
	  $(BUILD)/libfuzzer/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	    -malloc_limit_mb=2048 $(BUILD)/libfuzzer/corpus-$$n tests/corpus/$${n#fuzz_} || exit 1; done

unit: build
	@scripts/run-tests.sh $(BUILD)

conformance: $(BUILD)/ferry
	$(BUILD)/ferry conformance $(ONNX_TESTDATA)

# The README's test command: installs what is missing, builds, runs every test
# (unit, CLI, conformance, fuzz replay) normally and under ASan+UBSan.
test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) build
	@scripts/lint.sh
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-san OPT="-O1 -g" \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" build
	@scripts/run-tests.sh $(BUILD) build-san

san:
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-san OPT="-O1 -g" \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" build
	@scripts/run-tests.sh build-san

demo: deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(BUILD)/ferry
	@scripts/demo.sh $(BUILD)
	@echo
	@scripts/deploy-demo.sh $(BUILD)

# The main job alone: deploy the example as a local service, query it, stop it.
deploy-demo: deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(BUILD)/ferry
	@scripts/deploy-demo.sh $(BUILD)

# Formats only what changed since HEAD (git clang-format) and new C files: older
# code keeps its layout so that parallel branches merge cleanly.
NEW_C = $$(git ls-files --others --exclude-standard | grep -E '\.[ch]$$')
format:
	@git clang-format --force -q >/dev/null || true
	@f=$(NEW_C); [ -z "$$f" ] || clang-format -i $$f
format-check:
	@git clang-format --diff -q | grep -q . && { git clang-format --diff; exit 1; } || true
	@f=$(NEW_C); [ -z "$$f" ] || clang-format --dry-run -Werror $$f
lint:
	@scripts/lint.sh
check: lint test

bench: deps
	@bench/fashion_eval.sh $(BUILD)
bench-serve:
	@bench/serve/run.sh $(BUILD)
bench-engine:
	@bench/engine/run.sh $(BUILD)

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
