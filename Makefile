# Makefile — the source of truth for building jang.
#   make            library (build/libjang.a) and CLI (build/jang)
#   make test       unit/golden tests (no network, no Python); last line "N passed, N failed"
#   make bench      benchmark programs in build/bench/ (bench/*.c; each header says how to run it)
#   make asan       the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make tsan       the threaded tests (contexts, batched decode, pool) under ThreadSanitizer
#   make CUDA=1     also the CUDA backend (nvcc); make CUDA=1 test-cuda runs its checks on a GPU
#   make fuzz       libFuzzer targets (clang), each for FUZZ_SECONDS (default 60)
#   make check-models  heavier checks on the real models fetched by scripts/fetch-models
#   make check-deps    the folder dependency rules (scripts/check-deps)
#   make format     clang-format in place; make format-check fails on differences
#   make install PREFIX=/usr/local   bin/jang, lib/libjang.{a,so}, include/jang.h, lib/pkgconfig/jang.pc
#   make check-install  installs into a temporary prefix and builds a program against it (pkg-config)
# WERROR=1 turns warnings into errors (CI sets it).

CC       ?= cc
BUILD    ?= build
OPT      ?= -O2
WERROR   ?= 0
CSTD      = -std=c11 -D_GNU_SOURCE
WARN      = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
            -Wformat=2 -Wvla
ifeq ($(WERROR),1)
WARN     += -Werror
endif
INCLUDES  = -Iinclude -Isrc/util -Isrc/kernels
CFLAGS   ?= $(OPT) -g
ALL_CFLAGS = $(CSTD) $(WARN) $(INCLUDES) $(CFLAGS) $(CUDA_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS    = -ljansson -lpcre2-8 -lutf8proc -lnettle -lm -lpthread
# ISA kernel files get their own flags (src/kernels/kernels_<isa>.c; dispatch is at run time)
AVX2_FLAGS   = -mavx2 -mfma -mf16c
AVX512_FLAGS = -mavx512f -mavx512bw -mavx512vl -mfma -mf16c
%_avx2.o: ISA_FLAGS = $(AVX2_FLAGS)
%_avx512.o: ISA_FLAGS = $(AVX512_FLAGS)
%_avx512vnni.o: ISA_FLAGS = $(AVX512_FLAGS) -mavx512vnni

# The version: JANG_VERSION_MAJOR/MINOR/PATCH in include/jang.h, the one place it is written.
VERSION_MAJOR := $(shell sed -n 's/^\#define JANG_VERSION_MAJOR \([0-9]*\)$$/\1/p' include/jang.h)
VERSION       := $(shell sed -n 's/^\#define JANG_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$$/\2/p' \
                   include/jang.h | paste -sd. -)
PREFIX   ?= /usr/local
DESTDIR  ?=

# The library's objects are position-independent, so one set serves libjang.a and libjang.so (a
# second PIC set would double the compile time). -fno-semantic-interposition keeps the calls
# between a file's own global functions direct and inlinable, as they are without -fPIC.
PIC_FLAGS = -fPIC -fno-semantic-interposition

LIB_SRC   = $(sort $(wildcard src/*/*.c))
# CUDA=1: the CUDA backend (src/backend/backend_cuda.c) and its kernels (src/cuda/*.cu, nvcc for
# sm_90); the CPU build never needs CUDA. CI compiles it (no GPU there); `make test-cuda` runs on one.
CUDA      ?= 0
NVCC      ?= nvcc
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(shell command -v $(NVCC) 2>/dev/null))
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90
NVCC_WERROR = $(if $(filter 1,$(WERROR)),-Werror all-warnings -Xcompiler -Werror)
ifeq ($(CUDA),1)
CU_SRC      = $(sort $(wildcard src/cuda/*.cu))
CUDA_CFLAGS = -DJANG_CUDA -I$(CUDA_HOME)/include
LDLIBS     += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
else
LIB_SRC    := $(filter-out src/backend/backend_cuda.c,$(LIB_SRC))
endif
CLI_SRC   = $(sort $(wildcard cli/*.c))
TEST_SRC  = $(sort $(wildcard tests/*.c))
FUZZ_SRC  = $(sort $(wildcard tests/fuzz/*.c))
BENCH_SRC = $(sort $(wildcard bench/*.c))

LIB_OBJ   = $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.o)
CLI_OBJ   = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ  = $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_BIN = $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test test-cuda bench asan tsan fuzz fuzz-smoke check-models check-deps clean format format-check \
        install check-install
all: $(BUILD)/jang $(BUILD)/jang-tests

$(LIB_OBJ): OBJ_FLAGS = $(PIC_FLAGS)
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ISA_FLAGS) $(OBJ_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) -std=c++17 -O3 $(CUDA_ARCH) -Iinclude -Isrc/util -Xcompiler -Wall,-fPIC $(NVCC_WERROR) -MMD -MP \
	  -c $< -o $@

$(BUILD)/libjang.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The shared library (make install; not part of `all`): the same objects as the archive.
$(BUILD)/libjang.so: $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libjang.so.$(VERSION_MAJOR) -o $@ $^ $(LDLIBS)

$(BUILD)/jang: $(CLI_OBJ) $(BUILD)/libjang.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# Tests link the objects directly (not the archive) so every TEST constructor is kept.
$(BUILD)/jang-tests: $(TEST_OBJ) $(BUILD)/libjang.a
	$(CC) $(ALL_CFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libjang.a $(LDLIBS)

# Developer tool, not part of make test: dumps dequantized GGUF tensors for tools/check_gguf_dequant.py.
$(BUILD)/tools/dequant-dump: $(BUILD)/tools/dequant_dump.o $(BUILD)/libjang.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/compare-logits: $(BUILD)/tools/compare_logits.o $(BUILD)/libjang.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# JANG v2 directory tools for tools/check_mlx_load.py and tools/check_jang_compat.py.
$(BUILD)/tools/quantize-gguf-demo: $(BUILD)/tools/quantize_gguf_demo.o $(BUILD)/libjang.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/qdir-dequant-dump: $(BUILD)/tools/qdir_dequant_dump.o $(BUILD)/libjang.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# tokenizer.json export of a GGUF and our ids, for tools/check_tokenizer_export.py.
$(BUILD)/tools/tokenizer-export: $(BUILD)/tools/tokenizer_export.o $(BUILD)/libjang.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# Benchmarks (each file in bench/ is one program; see its header for how to run it).
bench: $(BENCH_BIN)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libjang.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

test: $(BUILD)/jang-tests $(BUILD)/jang
	JANG_BIN=$(BUILD)/jang ./$(BUILD)/jang-tests $(T)

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# The tests that run threads (contexts in parallel, batched decode, the worker pool) under
# ThreadSanitizer; TSAN_T picks them by name.
TSAN_T ?= context
tsan:
	$(MAKE) BUILD=build-tsan OPT=-O1 EXTRA_CFLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
	  build-tsan/jang-tests
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ./build-tsan/jang-tests $(TSAN_T)

# ---- fuzzing (clang + libFuzzer) -----------------------------------------------------------
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD    = build-fuzz
FUZZ_FLAGS    = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -O1 -g
FUZZ_BINS     = $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_ISA_SRC  = $(filter %_avx2.c %_avx512.c %_avx512vnni.c,$(LIB_SRC))
FUZZ_ISA_OBJ  = $(FUZZ_ISA_SRC:%.c=$(FUZZ_BUILD)/%.o)

# The ISA kernel files need their own flags; no fuzz target reaches them, and instrumented they take
# minutes to compile, so they are built plainly.
$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) $(INCLUDES) -O2 -g $(ISA_FLAGS) -c $< -o $@

$(FUZZ_BUILD)/%: tests/fuzz/%.c $(LIB_SRC) $(FUZZ_ISA_OBJ)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(CSTD) $(INCLUDES) $(FUZZ_FLAGS) -o $@ $< $(filter-out $(FUZZ_ISA_SRC),$(LIB_SRC)) \
	  $(FUZZ_ISA_OBJ) $(LDLIBS)

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	  n=$$(basename $$f); mkdir -p fuzz-out/$$n/corpus; \
	  echo "== $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
	      -artifact_prefix=fuzz-out/$$n/ fuzz-out/$$n/corpus tests/fuzz/corpus/$$n || exit 1; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=30

# On a machine with a GPU, in a `make CUDA=1` build: the backend ops, the CUDA-vs-CPU model
# checks and the contexts on every backend (JANG_CUDA_MODEL=path adds a real model).
test-cuda: $(BUILD)/jang-tests $(BUILD)/jang
	JANG_BIN=$(BUILD)/jang ./$(BUILD)/jang-tests backend
	JANG_BIN=$(BUILD)/jang ./$(BUILD)/jang-tests cuda
	JANG_BIN=$(BUILD)/jang ./$(BUILD)/jang-tests context

# Installs the CLI, both libraries (libjang.so.X.Y.Z with its soname and dev links), the header and
# a pkg-config file (Libs.private: what a static link needs besides -ljang).
install: $(BUILD)/jang $(BUILD)/libjang.a $(BUILD)/libjang.so
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/jang $(DESTDIR)$(PREFIX)/bin/jang
	install -m 644 $(BUILD)/libjang.a $(DESTDIR)$(PREFIX)/lib/libjang.a
	install -m 755 $(BUILD)/libjang.so $(DESTDIR)$(PREFIX)/lib/libjang.so.$(VERSION)
	ln -sf libjang.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libjang.so.$(VERSION_MAJOR)
	ln -sf libjang.so.$(VERSION_MAJOR) $(DESTDIR)$(PREFIX)/lib/libjang.so
	install -m 644 include/jang.h $(DESTDIR)$(PREFIX)/include/jang.h
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: jang' 'Description: JANG mixed-precision LLM quantization and inference' \
	  'Version: $(VERSION)' 'Libs: -L$${libdir} -ljang' 'Libs.private: $(LDLIBS)' \
	  'Cflags: -I$${includedir}' >$(DESTDIR)$(PREFIX)/lib/pkgconfig/jang.pc

# make install into a temporary prefix, a program built against it with pkg-config and run on the
# tiny Llama (tests/install/hello_jang.c), and the installed jang --version (scripts/check-install).
check-install:
	MAKE="$(MAKE)" BUILD="$(BUILD)" scripts/check-install

check-models: $(BUILD)/jang
	scripts/check-models

# The folder dependency rules (the table at the top of scripts/check-deps), after its self-test.
check-deps:
	scripts/check-deps --self-test
	scripts/check-deps

FORMAT_SRC = $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(FUZZ_SRC) tests/install/*.c include/jang.h src/*/*.h \
             tests/*.h
format:
	clang-format -i $(FORMAT_SRC)

format-check:
	clang-format --dry-run -Werror $(FORMAT_SRC)

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_BIN:=.d)

$(BUILD)/tools/greedy-ids: $(BUILD)/tools/greedy_ids.o $(BUILD)/libjang.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# How close a top-k (+ tail samples) reference gets to the exact KLD (docs/QUALITY.md).
$(BUILD)/tools/kld-topk: $(BUILD)/tools/kld_topk.o $(BUILD)/libjang.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# Raw logits of a fixed sequence, for bit-identity checks across runtime changes (its header).
$(BUILD)/tools/logits-dump: $(BUILD)/tools/logits_dump.o $(BUILD)/libjang.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)
