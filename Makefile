# kaiyuan — GNU make build.
#   make                 build/kaiyuan (CLI) and build/libkaiyuan.a
#   make test            install missing packages, build, run every test (plain + ASan/UBSan) and
#                        the GGUF fuzzer; ends with "N passed, N failed"
#   make run [MODEL=f.gguf|REF] [PROMPT="..."]   build and chat (default model qwen2.5:0.5b,
#                        pulled on first use); with PROMPT, stream one generation
#   make fuzz            build the libFuzzer targets (clang) into build-fuzz/
#   make format-check    clang-format check of every C file
#   make bench-kernels   kernel micro-benchmark (JSON lines; BENCH_ARGS="--tier best --type q8_0")
#   make membw           memory-bandwidth probe build/bench/membw (bench/compare runs it)
# Variables: CC (gcc or clang), BUILD (output dir), SAN=1 (sanitizer build), OPT (optimisation).

# `make` with no target builds `all` (the webui.o prerequisite rule below would otherwise be the
# first target and the default goal).
.DEFAULT_GOAL := all

CC ?= cc
BUILD ?= build
OPT ?= -O2
ARCH := $(shell uname -m)
PKGS := libpcre2-8 libutf8proc jansson libedit libcurl libmicrohttpd

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith
CFLAGS_ALL = -std=c11 $(OPT) -g $(WARN) -D_DEFAULT_SOURCE -Iinclude -Isrc -pthread -MMD -MP \
             $(shell pkg-config --cflags $(PKGS)) $(SAN_FLAGS) $(EXTRA_CFLAGS)
LDLIBS_ALL = $(shell pkg-config --libs $(PKGS)) -lm -lutil -pthread $(SAN_FLAGS)

# Open MPI (`serve --mpi`, `logits --mpi`): only src/cli/mpi_pipe.c includes mpi.h; the kaiyuan
# binary links libmpi (MPI starts only with --mpi). -isystem keeps mpi.h out of -Werror.
MPI_CFLAGS := $(patsubst -I%,-isystem %,$(shell mpicc --showme:compile 2>/dev/null))
MPI_LIBS := $(shell mpicc --showme:link 2>/dev/null)

ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT := -O1
endif

ALL_SRC := $(shell find src -name '*.c' | sort)
ifeq ($(filter x86_64 amd64 i686,$(ARCH)),)
ISA_EXCLUDE := src/kernels/x86/%
else
ISA_EXCLUDE := src/kernels/arm/%
endif
LIB_SRC := $(filter-out src/cli/% src/server/% $(ISA_EXCLUDE),$(ALL_SRC))
CLI_SRC := $(filter src/cli/%,$(ALL_SRC))
# The HTTP server (a client of kaiyuan.h, like the CLI) is its own archive.
SRV_SRC := $(filter src/server/%,$(ALL_SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
SRV_OBJ := $(SRV_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(shell find tests -name 'test_*.c' | sort)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)
TEST_SUPPORT_SRC := $(filter-out $(TEST_SRC),$(shell find tests -maxdepth 1 -name '*.c'))
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)

# Per-ISA kernel files are compiled with their own instruction-set flags; dispatch picks at run time.
$(BUILD)/obj/%_avx2.o: ISA_FLAGS := -mavx2 -mfma -mf16c
$(BUILD)/obj/%_avx512.o: ISA_FLAGS := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq
$(BUILD)/obj/%_vnni.o: ISA_FLAGS := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
$(BUILD)/obj/%_dotprod.o: ISA_FLAGS := -march=armv8.2-a+dotprod
$(BUILD)/obj/src/cli/mpi_pipe.o: ISA_FLAGS := $(MPI_CFLAGS)
# The chat page is embedded with .incbin (src/server/webui.c).
$(BUILD)/obj/src/server/webui.o: web/dist/index.html web/dist/index.html.gz web/dist/csp.txt

.PHONY: all lib cli test check run deps fuzz fuzz-run format format-check clean tests bench-kernels membw
all: cli

lib: $(BUILD)/libkaiyuan.a
cli: $(BUILD)/kaiyuan
tests: $(TEST_BIN)

# V=1 shows full command lines.
Q := $(if $(V),,@)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<",true)
	$(Q)$(CC) $(CFLAGS_ALL) $(ISA_FLAGS) -c $< -o $@

$(BUILD)/libkaiyuan.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/libkyserver.a: $(SRV_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/kaiyuan: $(CLI_OBJ) $(BUILD)/libkyserver.a $(BUILD)/libkaiyuan.a
	@$(if $(Q),echo "  LD      $@",true)
	$(Q)$(CC) $(CLI_OBJ) $(BUILD)/libkyserver.a $(BUILD)/libkaiyuan.a $(LDLIBS_ALL) $(MPI_LIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJ) $(BUILD)/libkyserver.a $(BUILD)/libkaiyuan.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@",true)
	$(Q)$(CC) $(CFLAGS_ALL) -Itests $< $(TEST_SUPPORT_OBJ) $(BUILD)/libkyserver.a \
	    $(BUILD)/libkaiyuan.a $(LDLIBS_ALL) -lutil -o $@

# Kernel micro-benchmark (not part of `make test`): make bench-kernels [BENCH_ARGS="--tier best"]
bench-kernels: $(BUILD)/bench/kernels_bench
	$(BUILD)/bench/kernels_bench $(BENCH_ARGS)

# Standalone, vectorized for this CPU (never part of the library or the tests).
membw: $(BUILD)/bench/membw

$(BUILD)/bench/membw: bench/membw.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=c11 -O3 -march=native $(WARN) -D_DEFAULT_SOURCE -pthread $< -o $@

$(BUILD)/bench/%: bench/%.c $(BUILD)/libkaiyuan.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests $< $(BUILD)/libkaiyuan.a $(LDLIBS_ALL) -o $@

deps:
	@scripts/deps.sh

# The README's test command: set-up, then plain and sanitizer runs, then the fuzzer.
test: deps
	@scripts/test.sh

check: $(TEST_BIN) cli
	@scripts/run-tests.sh $(BUILD)

run: deps
	@scripts/run.sh "$(MODEL)" "$(PROMPT)"

fuzz:
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk

# C files outside src/ (bench/peer/node_modules holds third-party headers: skipped).
FMT_EXTRA = $(shell find include tests bench -name node_modules -prune -o -name '*.[ch]' -print)

format:
	clang-format -i $(ALL_SRC) $(FMT_EXTRA)

format-check:
	clang-format --dry-run --Werror $(ALL_SRC) $(FMT_EXTRA)

clean:
	rm -rf build build-asan build-clang build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SRV_OBJ:.o=.d) $(TEST_SUPPORT_OBJ:.o=.d) $(TEST_BIN:=.d)
