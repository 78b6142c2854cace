# fuzz.mk — libFuzzer targets, built with clang into build-fuzz/ by `make fuzz` (top Makefile).
#   build-fuzz/fuzz_tokenize  tokenizers (tests/fuzz/fuzz_tokenize.c), corpus tests/fuzz/corpus/tokenize
# Library sources are compiled with -fsanitize=fuzzer-no-link,address,undefined (coverage without
# libFuzzer's main); each target links with -fsanitize=fuzzer,address,undefined.
# Run one by hand (from the repository root; vocabularies come from $KY_SHARED or ../shared):
#   build-fuzz/fuzz_tokenize -max_total_time=60 build-fuzz/work-tokenize tests/fuzz/corpus/tokenize

FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
PKGS ?= libpcre2-8 libutf8proc jansson
FUZZ_WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wpointer-arith -Wno-unused-parameter
FUZZ_CFLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
               -D_DEFAULT_SOURCE -Iinclude -Isrc $(FUZZ_WARN) -MMD -MP \
               $(shell pkg-config --cflags $(PKGS))
FUZZ_LIB_SAN := -fsanitize=fuzzer-no-link,address,undefined
FUZZ_BIN_SAN := -fsanitize=fuzzer,address,undefined

# Library sources each target needs (kept explicit: only what the target touches).
FUZZ_TOKENIZE_SRC := src/base/status.c src/os/file.c src/tensor/types.c src/gguf/gguf_read.c \
                     $(wildcard src/tokenizer/*.c)
FUZZ_TOKENIZE_OBJ := $(FUZZ_TOKENIZE_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_TOKENIZE_LIBS := $(shell pkg-config --libs $(PKGS)) -lm -pthread

.PHONY: all
all: $(FUZZ_BUILD)/fuzz_tokenize

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LIB_SAN) -c $< -o $@

$(FUZZ_BUILD)/fuzz_tokenize: tests/fuzz/fuzz_tokenize.c $(FUZZ_TOKENIZE_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MF $(FUZZ_BUILD)/obj/fuzz_tokenize.d $(FUZZ_BIN_SAN) $< \
	    $(FUZZ_TOKENIZE_OBJ) $(FUZZ_TOKENIZE_LIBS) -o $@

-include $(FUZZ_TOKENIZE_OBJ:.o=.d) $(FUZZ_BUILD)/obj/fuzz_tokenize.d
