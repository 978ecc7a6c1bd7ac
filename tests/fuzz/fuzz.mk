# tests/fuzz/fuzz.mk: builds the libFuzzer targets (GNU make). Run by
# `make fuzz` in a configured build tree, which passes top_srcdir,
# FUZZ_CC (clang), FUZZ_WARN_CFLAGS, FUZZ_DEP_CFLAGS and FUZZ_LIBS.
# Every depot source but the two mains is built again, instrumented,
# into fuzz/libdepot-fuzz.a; each tests/fuzz/fuzz_<name>.c becomes
# fuzz/fuzz_<name>.

FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_ALL_CFLAGS = -std=c11 -g -O1 $(FUZZ_WARN_CFLAGS) $(FUZZ_SAN) \
	-include ./autoconf.h -I$(top_srcdir)/src $(FUZZ_DEP_CFLAGS)

LIB_SRCS := $(sort $(filter-out $(top_srcdir)/src/daemon/main.c \
	$(top_srcdir)/src/ctl/%,$(wildcard $(top_srcdir)/src/*/*.c)))
LIB_OBJS := $(patsubst $(top_srcdir)/src/%.c,fuzz/obj/%.o,$(LIB_SRCS))
TARGETS := $(patsubst $(top_srcdir)/tests/fuzz/fuzz_%.c,fuzz/fuzz_%, \
	$(wildcard $(top_srcdir)/tests/fuzz/fuzz_*.c))

all: $(TARGETS)

fuzz/obj/%.o: $(top_srcdir)/src/%.c
	@mkdir -p $(@D)
	@echo "  FUZZCC   $@"
	@$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP \
	    -c $< -o $@

fuzz/libdepot-fuzz.a: $(LIB_OBJS)
	@echo "  AR       $@"
	@rm -f $@ && ar cr $@ $(LIB_OBJS) && ranlib $@

fuzz/fuzz_%: $(top_srcdir)/tests/fuzz/fuzz_%.c fuzz/libdepot-fuzz.a
	@echo "  FUZZLD   $@"
	@$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) -I$(top_srcdir)/tests/fuzz \
	    -fsanitize=fuzzer -MMD -MP -MF fuzz/obj/$(@F).d $< \
	    fuzz/libdepot-fuzz.a $(FUZZ_LIBS) -o $@

.PHONY: all
-include $(LIB_OBJS:.o=.d) $(TARGETS:fuzz/%=fuzz/obj/%.d)
