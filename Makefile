# LWM pipeline: one CLI (build/lwm), one static library per build, tests and benchmarks.
#
#   make deps        install every Debian package the project needs
#   make             build build/lwm
#   make test        build and run every test; ends with "N passed, N failed"
#   make test SAN=1  the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench       run the benchmarks (prints ratios against the reference run beside them)
#   make demo        run the main job on built-in sample data
#   make fuzz        libFuzzer on every parser of file bytes, FUZZ_S seconds each (default 60)

# Builds use every core unless the caller chose -j: CI runs plain `make test`. Only the
# top-level make adds it; a sub-make (make fuzz) shares the caller's job slots.
ifeq ($(MAKELEVEL)$(filter -j%,$(MAKEFLAGS)),0)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 1)
endif

DEBIAN_PACKAGES := build-essential pkg-config ffmpeg \
	libavformat-dev libavcodec-dev libswscale-dev libavutil-dev \
	liblmdb-dev lmdb-utils libzstd-dev libxxhash-dev libcjson-dev libjemalloc-dev \
	libopenblas-openmp-dev libdnnl-dev libopenmpi-dev openmpi-bin \
	libsentencepiece-dev sentencepiece \
	python3 python3-numpy python3-torch python3-lmdb python3-zstandard python3-xxhash \
	python3-pil python3-sentencepiece python3-matplotlib \
	valgrind clang libclang-rt-dev clang-format

PKGS := libavformat libavcodec libswscale libavutil lmdb libzstd libxxhash libcjson \
	sentencepiece ompi-c

ifeq ($(SAN),1)
BUILD := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT := -O1
# The sanitizers bring their own malloc, so the CLI keeps it.
CLI_MALLOC :=
else
BUILD := build
SANFLAGS :=
OPT := -O2
# The CLI allocates through jemalloc on transparent huge pages (cli/malloc_conf.c).
CLI_MALLOC := -DLWM_JEMALLOC -ljemalloc
endif

CC := gcc
CXX := g++
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# -ffast-math is deliberately absent: attention and quantizer logic rely on Inf/NaN semantics.
WARN := -Wall -Wextra -Werror
CPPFLAGS := -I. -Icommon -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
CFLAGS := -std=c11 $(OPT) -g -march=native -fPIC -fopenmp $(WARN) $(SANFLAGS) $(PKG_CFLAGS)
CXXFLAGS := -std=c++17 $(OPT) -g -march=native -fPIC $(WARN) $(SANFLAGS) $(PKG_CFLAGS)
LDLIBS = $(PKG_LIBS) -lopenblas -ldnnl -lstdc++ -lm -lpthread
LDFLAGS := -fopenmp $(SANFLAGS)

STAGES := common ingest vqgan shard loader train eval
LIB_C := $(foreach s,$(STAGES),$(wildcard $(s)/*.c))
LIB_CXX := $(foreach s,$(STAGES),$(wildcard $(s)/*.cc))
LIB_OBJS := $(LIB_C:%.c=$(BUILD)/obj/%.o) $(LIB_CXX:%.cc=$(BUILD)/obj/%.o)
CLI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard cli/*.c))
TEST_SRCS := $(wildcard tests/*/test_*.c)
TEST_BINS := $(TEST_SRCS:%.c=$(BUILD)/%)
BENCH_SRCS := $(wildcard bench/*/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)

.PHONY: all deps test bench demo clean fuzz fuzz-targets
all: $(BUILD)/lwm $(BUILD)/liblwm.so

deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/liblwm.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The shared library serves the Python (ctypes) binding.
$(BUILD)/liblwm.so: $(LIB_OBJS) liblwm.map
	$(CC) -shared $(LDFLAGS) -Wl,--version-script=liblwm.map -o $@ $(LIB_OBJS) $(LDLIBS)

$(BUILD)/lwm: $(CLI_OBJS) $(BUILD)/liblwm.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/liblwm.a $(LDLIBS) $(filter -l%,$(CLI_MALLOC))

$(BUILD)/obj/cli/malloc_conf.o: CPPFLAGS += $(filter -D%,$(CLI_MALLOC))

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(BUILD)/liblwm.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -o $@ $< $(BUILD)/liblwm.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/liblwm.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O3 -o $@ $< $(BUILD)/liblwm.a $(LDFLAGS) $(LDLIBS)

test: $(BUILD)/lwm $(BUILD)/liblwm.so $(TEST_BINS)
	@BUILD=$(BUILD) SAN=$(SAN) bash tests/run.sh

bench: $(BUILD)/lwm $(BENCH_BINS)
	@BUILD=$(BUILD) bash bench/run.sh

demo: $(BUILD)/lwm
	@BUILD=$(BUILD) bash tests/demo.sh

# Fuzzing: the harnesses tests/fuzz/test_fuzz_*.c (tests/fuzz/fuzz.h) built with clang and
# libFuzzer over a clang build of the library (build/fuzz), each run for FUZZ_S seconds from
# its seeds in tests/fuzz/<name>/ (tests/fuzz/run.sh). `make test` replays the same seeds
# through gcc builds of the harnesses, without libFuzzer.
FUZZ_S ?= 60
FUZZ_HARNESSES := $(patsubst tests/fuzz/test_fuzz_%.c,%,$(wildcard tests/fuzz/test_fuzz_*.c))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer

fuzz:
	$(MAKE) CC=clang CXX=clang++ BUILD=build/fuzz OPT=-O1 WARN= CLI_MALLOC= \
		SANFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" fuzz-targets
	@FUZZ_S=$(FUZZ_S) FUZZ_BUILD=build/fuzz bash tests/fuzz/run.sh $(FUZZ_HARNESSES)

fuzz-targets: $(FUZZ_HARNESSES:%=$(BUILD)/fuzz_%)

$(BUILD)/fuzz_%: tests/fuzz/test_fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/liblwm.a
	$(CC) $(CPPFLAGS) -Itests -DLWM_LIBFUZZER $(CFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(BUILD)/liblwm.a $(LDFLAGS) $(LDLIBS)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
