# Energy optimization suite: one non-recursive Makefile.
#
# Discovery is by convention, so adding a module never edits this file:
#   libs/<lib>/*.c                 -> $(B)/libems.a (every shared library)
#   services/<svc>/*.c minus main.c -> $(B)/lib/<svc>.a (the service core)
#   services/<svc>/main.c          -> $(B)/bin/<svc>
#   tools/<tool>/*.c               -> $(B)/bin/<tool>
#   tests/unit/test_*.c            -> $(B)/tests/unit/test_*        (Check)
#   tests/integration/test_*.c     -> $(B)/tests/integration/test_* (Check)
#   tests/fuzz/fuzz_*.c            -> $(B)/tests/unit/test_fuzz_* (corpus replay)
#                                     and, by make fuzz, build-fuzz/fuzz/fuzz_*
# An optional services/<svc>/build.mk or tools/<tool>/build.mk may add
# LDLIBS_<name> (extra libraries for that binary) and prerequisites; the
# default goal is pinned to `all` so that a rule in one of them never
# becomes what a plain `make` builds.
.DEFAULT_GOAL := all

B       ?= build
CC      ?= cc
OPT     ?= -O2 -g
CFLAGS  ?=
CFLAGS  += -std=c11 -Wall -Wextra -Werror $(OPT) -D_GNU_SOURCE \
           -Ilibs -Iservices -I/usr/include/lpsolve -MMD -MP
PKGS    := rdkafka avro-c libulfius hiredis yaml-0.1 jansson libpq libcurl \
           libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
CFLAGS  += $(PKG_CFLAGS)
LDFLAGS += -Wl,--as-needed
LDLIBS  := $(PKG_LIBS) -llpsolve55 -lcolamd -lm -ldl -lpthread

LIB_SRCS  := $(wildcard libs/*/*.c)
LIB_OBJS  := $(LIB_SRCS:%.c=$(B)/obj/%.o)
SERVICES  := $(notdir $(patsubst %/,%,$(dir $(wildcard services/*/main.c))))
TOOLS     := $(notdir $(patsubst %/,%,$(dir $(wildcard tools/*/main.c))))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
INT_SRCS  := $(wildcard tests/integration/test_*.c)
TEST_SUPPORT := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJS := $(TEST_SUPPORT:%.c=$(B)/obj/%.o)

-include $(wildcard services/*/build.mk tools/*/build.mk)

core_srcs  = $(filter-out services/$(1)/main.c,$(wildcard services/$(1)/*.c))
core_objs  = $(patsubst %.c,$(B)/obj/%.o,$(call core_srcs,$(1)))
tool_objs  = $(patsubst %.c,$(B)/obj/%.o,$(wildcard tools/$(1)/*.c))
SVC_ARCHIVES := $(foreach s,$(SERVICES),$(if $(call core_srcs,$(s)),$(B)/lib/$(s).a))

BINS       := $(SERVICES:%=$(B)/bin/%) $(TOOLS:%=$(B)/bin/%)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%)
INT_BINS   := $(INT_SRCS:tests/integration/%.c=$(B)/tests/integration/%)
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_SUPPORT := $(filter-out tests/fuzz/replay.c $(FUZZ_SRCS),$(wildcard tests/fuzz/*.c))
REPLAY_BINS  := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=$(B)/tests/unit/test_fuzz_%)

.PHONY: all tests asan test test-unit test-integration deps format up down \
        status demo bench clean lint lint-cppcheck format-check image-check \
        fuzz fuzz-build fuzz-seeds
all: $(BINS) tests

tests: $(UNIT_BINS) $(INT_BINS) $(REPLAY_BINS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/libems.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

define service_rules
$(B)/lib/$(1).a: $(call core_objs,$(1))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
$(B)/bin/$(1): $(B)/obj/services/$(1)/main.o $(if $(call core_srcs,$(1)),$(B)/lib/$(1).a) $(B)/libems.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS_$(1)) $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rules,$(s))))

define tool_rules
$(B)/bin/$(1): $(call tool_objs,$(1)) $(B)/libems.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$(filter-out $(B)/libems.a,$$^) $(B)/libems.a \
	    $$(LDLIBS_$(1)) $$(LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rules,$(t))))

# Tests link every service core, so a core is unit-tested without its main.
TEST_LINK = $(TEST_SUPPORT_OBJS) $(SVC_ARCHIVES) $(B)/libems.a
TEST_LDLIBS = $(CHECK_LIBS) $(foreach s,$(SERVICES),$(LDLIBS_$(s))) $(LDLIBS)
$(B)/tests/unit/%: tests/unit/%.c $(TEST_LINK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(TEST_LINK) $(TEST_LDLIBS)
$(B)/tests/integration/%: tests/integration/%.c $(TEST_LINK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(TEST_LINK) $(TEST_LDLIBS)

# A fuzz harness and replay.c make a unit test that replays the harness's
# corpus (tests/fuzz/corpus/<target>/). FZ_SOURCE_ROOT finds the schemas and
# the corpus when EMS_TEST_ROOT is not set.
FUZZ_CFLAGS = -Itests/fuzz -DFZ_SOURCE_ROOT='"$(CURDIR)"'
FUZZ_LDLIBS = $(foreach s,$(SERVICES),$(LDLIBS_$(s))) $(LDLIBS)
$(B)/tests/unit/test_fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_SUPPORT) \
                             $(TEST_LINK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FUZZ_CFLAGS) -DFZ_TARGET='"fuzz_$*"' $(LDFLAGS) -o $@ \
	    tests/fuzz/fuzz_$*.c tests/fuzz/replay.c $(FUZZ_SUPPORT) $(TEST_LINK) $(TEST_LDLIBS)

# Coverage-guided fuzzing with libFuzzer (clang), not part of make test:
# every harness runs FUZZ_SECONDS over its corpus (FUZZ=fuzz_x picks some).
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
fuzz: deps
	@$(MAKE) -s B=build-fuzz CC=clang OPT="-O1 -g -fno-omit-frame-pointer $(FUZZ_SAN)" \
	    fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tools/fuzz.sh $(FUZZ)

fuzz-build: $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SUPPORT) $(SVC_ARCHIVES) $(B)/libems.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined $(LDFLAGS) -o $@ \
	    $< $(FUZZ_SUPPORT) $(SVC_ARCHIVES) $(B)/libems.a $(FUZZ_LDLIBS)

# Rewrites the generated seeds of tests/fuzz/corpus/ from schemas/.
fuzz-seeds: $(B)/fuzz/mkseeds
	@$(B)/fuzz/mkseeds
$(B)/fuzz/mkseeds: tests/fuzz/mkseeds/mkseeds.c $(FUZZ_SUPPORT) $(B)/libems.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FUZZ_CFLAGS) $(LDFLAGS) -o $@ $< $(FUZZ_SUPPORT) $(B)/libems.a $(LDLIBS)

# Sanitizer build: same sources, separate tree.
asan:
	$(MAKE) B=build-asan OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	        LDFLAGS="-fsanitize=address,undefined" all

deps:
	@tools/deps.sh

# The README's test command: installs what it needs, builds, runs unit and
# integration tests (normal and sanitizer builds) against a private stack.
test: deps
	@tools/run-tests.sh

test-unit: all
	@tools/run-tests.sh --unit-only

# Targets that may run on a fresh machine install the packages first, then
# re-enter make so pkg-config sees them.
bench: deps
	@$(MAKE) -s all && tools/bench.sh

up: deps
	@$(MAKE) -s all && tools/stack/stack.sh up
down:
	@tools/stack/stack.sh down
status:
	@tools/stack/stack.sh status
demo: up
	@tools/demo.sh

# Builds docker/Dockerfile without a registry (base image from debootstrap)
# and runs the image as the Helm chart does against a test stack; one line.
# Needs root. Not part of `make test`.
image-check: deps
	@tools/image-check.sh

format:
	@find libs services tools tests -name '*.[ch]' -print0 | xargs -0 -r clang-format -i

format-check:
	@find libs services tools tests -name '*.[ch]' -print0 | xargs -0 -r clang-format --dry-run --Werror

# Static analysis (docs/testing.md, "Static analysis"): cppcheck and
# clang-tidy over every C file; fails on any finding.
# clang-tidy reads the build's flags from a compilation database written
# here, without the dependency files and GCC's -Werror (clang-tidy's
# findings are its own errors); the tests get -Itests as they are built,
# the fuzz harnesses their -Itests/fuzz and a FZ_TARGET for replay.c.
SRC_TIDY   := $(sort $(wildcard libs/*/*.c services/*/*.c tools/*/*.c))
TEST_TIDY  := $(sort $(wildcard tests/unit/*.c tests/integration/*.c tests/support/*.c))
FUZZ_TIDY  := $(sort $(wildcard tests/fuzz/*.c))
LINT_SRCS  := $(SRC_TIDY) $(TEST_TIDY) $(FUZZ_TIDY)
LINT_FLAGS := $(filter -D%,$(CFLAGS)) $(filter-out -I/%,$(filter -I%,$(CFLAGS))) -Itests
TIDY_CC    := clang $(filter-out -MMD -MP -Werror $(OPT),$(CFLAGS))
lint: deps
	@mkdir -p $(B)
	@tools/lint/compdb.sh "$(TIDY_CC)" $(SRC_TIDY) -- "$(TIDY_CC) -Itests" $(TEST_TIDY) \
	    -- "$(TIDY_CC) -Itests/fuzz -DFZ_TARGET='\"fuzz_lint\"'" $(FUZZ_TIDY) \
	    >$(B)/compile_commands.json
	@tools/lint/lint.sh $(B) "$(LINT_FLAGS)" $(LINT_SRCS)

# cppcheck alone (seconds), while working on a change
lint-cppcheck:
	@mkdir -p $(B)
	@EMS_LINT_CPPCHECK_ONLY=1 tools/lint/lint.sh $(B) "$(LINT_FLAGS)" $(LINT_SRCS)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(B) -name '*.d' 2>/dev/null)
