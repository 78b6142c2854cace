# fuzz.mk — libFuzzer targets, built with clang into build-fuzz/ by `make fuzz` (top Makefile).
#   build-fuzz/fuzz_gguf   GGUF reader + writer (tests/fuzz/fuzz_gguf.c), corpus tests/fuzz/corpus/gguf
# Library sources are compiled with -fsanitize=fuzzer-no-link,address,undefined (coverage without
# libFuzzer's main); each target links with -fsanitize=fuzzer,address,undefined.
# Run one by hand: build-fuzz/fuzz_gguf -max_total_time=60 build-fuzz/work-gguf tests/fuzz/corpus/gguf

FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wpointer-arith -Wno-unused-parameter
FUZZ_CFLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
               -D_DEFAULT_SOURCE -Iinclude -Isrc $(FUZZ_WARN) -MMD -MP
FUZZ_LIB_SAN := -fsanitize=fuzzer-no-link,address,undefined
FUZZ_BIN_SAN := -fsanitize=fuzzer,address,undefined

# Library sources each target needs (kept explicit: only what the parsers touch).
FUZZ_GGUF_SRC := src/base/status.c src/os/file.c src/tensor/types.c src/gguf/gguf_read.c \
                 src/gguf/gguf_write.c
FUZZ_GGUF_OBJ := $(FUZZ_GGUF_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)

.PHONY: all
all: $(FUZZ_BUILD)/fuzz_gguf

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LIB_SAN) -c $< -o $@

$(FUZZ_BUILD)/fuzz_gguf: tests/fuzz/fuzz_gguf.c $(FUZZ_GGUF_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MF $(FUZZ_BUILD)/obj/fuzz_gguf.d $(FUZZ_BIN_SAN) $< \
	    $(FUZZ_GGUF_OBJ) -o $@

-include $(FUZZ_GGUF_OBJ:.o=.d) $(FUZZ_BUILD)/obj/fuzz_gguf.d
