# SPDX-License-Identifier: MIT
# ringrelay build. Out-of-tree into $(BUILD); `make V=1` shows the commands.
#
#   make deps    install the missing Debian packages that building and running need (root)
#   make         build build/ringrelay and build/ringrelayctl
#   make run     deps + build + run in the foreground on config/ringrelay.conf
#   make check   deps (+ test tools) + build + unit tests (plain and ASan/UBSan) + BPF tests +
#                fuzz corpus + netns tests + a short soak + the Debian package test
#   make soak    the hostile mix against an ASan + UBSan ringrelay for SOAK_SECONDS (240),
#                checking that the counters reconcile (not part of make check)
#   make net-test-san  every netns test against the ASan + UBSan ringrelay (not part of
#                make check: about 13 min here)
#   make deb     build/deb/ringrelay_<version>_<arch>.deb with dpkg-buildpackage (debian/)
#   make install PREFIX=/usr/local, DESTDIR honoured; never overwrites a config
#   make fuzz-filter  the filter's differential fuzz test for FUZZ_SECONDS with a random seed
#   make bench   perf/ quick matrix (see perf/README.md)

PREFIX    ?= /usr/local
DESTDIR   ?=
BUILD     ?= build
CONFIG    ?= config/ringrelay.conf
SYSCONFDIR ?= /etc

CC        ?= gcc
CLANG     ?= clang
BPFTOOL   ?= bpftool
PKG_CONFIG ?= pkg-config

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' $(1) $(2);
endif

.DELETE_ON_ERROR:
# Generated skeletons are inputs of several targets; keep them between builds.
.SECONDARY:
.SUFFIXES:

LIBS_PC   := liburing libbpf libnl-3.0 libnl-route-3.0 libnl-genl-3.0 libconfig libsystemd libcap-ng
PC_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(LIBS_PC) 2>/dev/null)
PC_LIBS   := $(shell $(PKG_CONFIG) --libs $(LIBS_PC) 2>/dev/null)
CMOCKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
# The tests' and perf/'s shared headers (tests/config_text.h, tests/stub_worker.h).
TEST_CFLAGS := -I tests

# The release (semver) is the VERSION file; a build from a git tree also records where it
# came from (`git describe`), and -V shows both. Neither is needed: a tarball has no .git.
VERSION   := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_DESCRIBE ?= $(shell git describe --always --dirty 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
             -Wno-unused-parameter -Wvla
CFLAGS    ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CPPFLAGS) $(CFLAGS) -D_GNU_SOURCE \
             -DRINGRELAY_VERSION='"$(VERSION)"' -DRINGRELAY_GIT='"$(GIT_DESCRIBE)"' \
             -DLIBURING_VERSION='"$(shell $(PKG_CONFIG) --modversion liburing 2>/dev/null)"' \
             -DSYSCONFDIR='"$(SYSCONFDIR)"' \
             -I src -I $(BUILD) $(PC_CFLAGS) -MMD -MP -pthread
SAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=undefined
LDLIBS    := $(PC_LIBS) -lm -pthread

# Sources: every src/*.c is a module; main.c and ctl.c hold main() and are kept out of the
# library the tests link against.
MAINS     := src/main.c src/ctl.c
LIB_SRCS  := $(filter-out $(MAINS),$(wildcard src/*.c))
LIB_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
SAN_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/san/%.o)

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)
BPF_SKELS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.skel.h)
ARCH_INC  := /usr/include/$(shell $(CC) -dumpmachine)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_SAN  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/san/%)
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(BPFT_SRCS:tests/bpf/%.c=$(BUILD)/tests/%)

NPROC     := $(shell nproc 2>/dev/null || echo 1)
BINS      := $(BUILD)/ringrelay $(if $(wildcard src/ctl.c),$(BUILD)/ringrelayctl)

.PHONY: all deps deps-check run check check-kernel unit unit-san bpf-test net-test net-test-san \
	soak soak-short fuzz fuzz-replay fuzz-filter bench install uninstall clean deb deb-test FORCE
all: $(BINS)
# `make build` would name the build directory and do nothing: it builds the binaries.
.PHONY: build
build: all

# ---------------------------------------------------------------- dependencies
# Groups of scripts/deps.sh: build and run here, test tools and Debian packaging for check.
deps:
	$(Q)./scripts/deps.sh build run

deps-check:
	$(Q)./scripts/deps.sh build run check deb

# ---------------------------------------------------------------- version
# What prints the version is rebuilt when VERSION or `git describe` changes.
$(BUILD)/version.stamp: FORCE | $(BUILD)/obj
	$(Q)echo '$(VERSION) $(GIT_DESCRIBE)' | cmp -s - $@ || echo '$(VERSION) $(GIT_DESCRIBE)' >$@
$(BUILD)/obj/main.o $(BUILD)/obj/ctl.o $(BUILD)/obj/app.o $(BUILD)/san/app.o: \
	$(BUILD)/version.stamp

# ---------------------------------------------------------------- BPF pipeline
# clang -target bpf -> bpftool gen object (links, strips DWARF) -> bpftool gen skeleton.
$(BUILD)/bpf/%.tmp.o: bpf/%.bpf.c $(wildcard bpf/*.h) | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -target bpf -O2 -g -Wall -Werror -I bpf -I src -I $(ARCH_INC) -c $< -o $@

$(BUILD)/bpf/%.bpf.o: $(BUILD)/bpf/%.tmp.o
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# ---------------------------------------------------------------- user space
$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj $(BPF_SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: src/%.c | $(BUILD)/san $(BPF_SKELS)
	$(call msg,CC-SAN,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_CFLAGS) -c $< -o $@

$(BUILD)/ringrelay: $(BUILD)/obj/main.o $(LIB_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The daemon under ASan + UBSan, for the soak.
$(BUILD)/san/ringrelay: $(BUILD)/san/main.o $(SAN_OBJS)
	$(call msg,LD-SAN,$@)
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ $(LDLIBS)

# The client needs libc only: it sends a line and prints the answer the daemon rendered.
$(BUILD)/ringrelayctl: $(BUILD)/obj/ctl.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

# ---------------------------------------------------------------- tests
$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB_OBJS) | $(BUILD)/tests
	$(call msg,TEST-CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< $(LIB_OBJS) $(CMOCKA_LIBS) $(LDLIBS)

$(BUILD)/tests/san/test_%: tests/unit/test_%.c $(SAN_OBJS) | $(BUILD)/tests/san
	$(call msg,TEST-SAN,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_CFLAGS) $(TEST_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< $(SAN_OBJS) \
		$(CMOCKA_LIBS) $(LDLIBS)

# test_worker_uring stands in for liburing's submit calls (a kernel that takes no request for a
# moment, a worker held between two turns of its loop): the library's calls go to the test's.
URING_WRAP := -Wl,--wrap=io_uring_submit,--wrap=io_uring_submit_and_wait
$(BUILD)/tests/test_worker_uring $(BUILD)/tests/san/test_worker_uring: LDLIBS += $(URING_WRAP)
# test_upkeep makes the upkeep thread's poll fail for a while.
$(BUILD)/tests/test_upkeep $(BUILD)/tests/san/test_upkeep: LDLIBS += -Wl,--wrap=poll

# A unit test that includes a backend's source to drive its handlers directly: $(1) the test,
# $(2) the source's object, which it links without, $(3) its --wrap flags (the calls of the
# handlers that the test answers); plain and ASan + UBSan.
define unit_including
$(BUILD)/tests/$(1): tests/unit/$(1).c $(filter-out %/$(2),$(LIB_OBJS)) | $(BUILD)/tests
	$$(call msg,TEST-CC,$$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) $(CMOCKA_CFLAGS) -o $$@ $$< \
		$(filter-out %/$(2),$(LIB_OBJS)) \
		$(CMOCKA_LIBS) $(LDLIBS) $(3)

$(BUILD)/tests/san/$(1): tests/unit/$(1).c $(filter-out %/$(2),$(SAN_OBJS)) | $(BUILD)/tests/san
	$$(call msg,TEST-SAN,$$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_CFLAGS) $(TEST_CFLAGS) $(CMOCKA_CFLAGS) -o $$@ $$< \
		$(filter-out %/$(2),$(SAN_OBJS)) $(CMOCKA_LIBS) $(LDLIBS) $(3)
endef

# test_uring_send: worker_uring.c's send-completion handlers; the socket calls they make are
# the test's.
SEND_WRAP := -Wl,--wrap=sock_drain_errors_mtu,--wrap=sock_path_payload_max \
	-Wl,--wrap=sock_seg_max_refused
$(eval $(call unit_including,test_uring_send,worker_uring.o,$(SEND_WRAP)))
# test_mmsg_reply: worker_mmsg.c's grouped sends; its sendmmsg is the test's, which fails
# chosen entries as the kernel does.
MMSG_WRAP := -Wl,--wrap=sendmmsg
$(eval $(call unit_including,test_mmsg_reply,worker_mmsg.o,$(MMSG_WRAP)))

$(BUILD)/tests/test_bpf_%: tests/bpf/test_bpf_%.c $(LIB_OBJS) | $(BUILD)/tests
	$(call msg,TEST-CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< $(LIB_OBJS) $(CMOCKA_LIBS) $(LDLIBS)

unit: $(UNIT_BINS)
	$(Q)./tests/run-unit.sh $(UNIT_BINS)

# detect_stack_use_after_return: a thread that reads another's stack frame after it returned
# (a worker stuck in a command whose caller gave up) is caught, not read as stale data.
unit-san: $(UNIT_SAN)
	$(Q)ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1 \
		UBSAN_OPTIONS=print_stacktrace=1 ./tests/run-unit.sh $(UNIT_SAN)

bpf-test: $(BPFT_BINS)
	$(Q)./tests/run-unit.sh $(BPFT_BINS)

# test_overload floods with perf/'s generator.
net-test: $(BINS) $(BUILD)/perf/gen
	$(Q)./tests/net/run.sh $(BUILD)

# The BPF tests and the net tests that depend on the kernel, on Debian 12's stock kernel in a
# qemu guest (scripts/kernel-vm.sh: KERNEL_PKG, KERNEL_TESTS). Not part of check: without
# KVM the emulated CPU takes about half an hour.
check-kernel:
	$(Q)./scripts/deps.sh build run check kernel
	$(Q)$(MAKE) -s --no-print-directory $(BINS) $(BPFT_BINS) $(BUILD)/perf/gen
	$(Q)./scripts/kernel-vm.sh $(BUILD)

# The hostile mix (tests/net/test_relay_hostile.sh: oversize datagrams, a full session table,
# a dead upstream, a mirror with a dead member) against the sanitizer build, SOAK_SECONDS
# split over its four cases (backend x family), each ending with the counters' identity
# checked exactly. Leaks fail the relay's exit status; any report of any process the test
# started fails it (tests/net/lib.sh: SAN_DIR).
SOAK_SECONDS ?= 240
SOAK_ENV = NET_RINGRELAY=$(BUILD)/san/ringrelay NET_TESTS=relay_hostile \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
soak: $(BUILD)/san/ringrelay $(BUILD)/ringrelayctl
	$(Q)$(SOAK_ENV) HOSTILE_SECONDS=$$(( $(SOAK_SECONDS) / 4 )) \
		NET_TEST_TIMEOUT=$$(( $(SOAK_SECONDS) + 300 )) ./tests/net/run.sh $(BUILD)

# Every netns test against the sanitizer daemon: what the soak's mix leaves out (transparent
# listeners, the fast path, reloads, names...) under ASan and UBSan.
net-test-san: $(BUILD)/san/ringrelay $(BINS) $(BUILD)/perf/gen
	$(Q)NET_RINGRELAY=$(BUILD)/san/ringrelay NET_TEST_TIMEOUT=300 \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ./tests/net/run.sh $(BUILD)

# What make check runs: the same, 6 s per case.
soak-short: $(BUILD)/san/ringrelay $(BUILD)/ringrelayctl
	$(Q)$(SOAK_ENV) HOSTILE_SECONDS=6 NET_TEST_TIMEOUT=180 ./tests/net/run.sh $(BUILD)

# libFuzzer over the config parser (clang's runtime from libclang-rt-14-dev).
FUZZ_SECONDS ?= 60
FUZZ_SEEDS := tests/fuzz/corpus config config/examples
FUZZ_ENV := LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp
# (netlink.c: the config's host checks ask a link's type; the fuzzer never calls them)
FUZZ_SRCS := $(wildcard src/config*.c) src/addr.c src/netlink.c
FUZZ_PC := libconfig libnl-3.0 libnl-route-3.0 libnl-genl-3.0
$(BUILD)/fuzz/fuzz_config: tests/fuzz/fuzz_config.c $(FUZZ_SRCS) $(wildcard src/config*.h) \
		src/addr.h src/netlink.h | $(BUILD)/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE -g -O1 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I src \
		$(shell $(PKG_CONFIG) --cflags $(FUZZ_PC)) -o $@ tests/fuzz/fuzz_config.c $(FUZZ_SRCS) \
		$(shell $(PKG_CONFIG) --libs $(FUZZ_PC))

fuzz: $(BUILD)/fuzz/fuzz_config
	$(Q)mkdir -p $(BUILD)/fuzz/corpus
	$(FUZZ_ENV) ./$< -max_total_time=$(FUZZ_SECONDS) -timeout=5 $(BUILD)/fuzz/corpus $(FUZZ_SEEDS)

# Every seed (and anything `make fuzz` found) once, under the sanitizers.
fuzz-replay: $(BUILD)/fuzz/fuzz_config
	$(Q)$(FUZZ_ENV) ./$< -runs=0 $(FUZZ_SEEDS) $(wildcard $(BUILD)/fuzz/corpus) >$(BUILD)/fuzz/replay.log 2>&1 || \
		{ cat $(BUILD)/fuzz/replay.log; exit 1; }
	$(Q)echo "fuzz-replay: $$(grep "^Done" $(BUILD)/fuzz/replay.log)"

# The filter's differential fuzz test (tests/bpf/test_bpf_filter_fuzz.c) for FUZZ_SECONDS with
# a random seed, printed so a failure can be repeated with FUZZ_SEED=N. bpf-test runs it
# short, with a fixed seed. Needs root.
fuzz-filter: $(BUILD)/tests/test_bpf_filter_fuzz
	$(Q)FILTER_FUZZ_SECONDS=$(FUZZ_SECONDS) FILTER_FUZZ_SEED=$(or $(FUZZ_SEED),random) ./$<

check: deps-check
	@# Everything the steps below run, built first on every core (they then only run it).
	$(Q)$(MAKE) --no-print-directory -j$(NPROC) all $(UNIT_BINS) $(UNIT_SAN) $(BPFT_BINS) \
		$(BUILD)/fuzz/fuzz_config $(BUILD)/perf/gen $(BUILD)/san/ringrelay
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory unit-san
	$(Q)$(MAKE) --no-print-directory bpf-test
	$(Q)$(MAKE) --no-print-directory fuzz-replay
	@# (the hostile mix runs once, in soak-short, against the sanitizer build)
	$(Q)NET_SKIP=relay_hostile $(MAKE) --no-print-directory net-test
	$(Q)$(MAKE) --no-print-directory deb-test
	$(Q)$(MAKE) --no-print-directory soak-short

run: deps
	$(Q)$(MAKE) --no-print-directory all
	./$(BUILD)/ringrelay -f -c $(CONFIG)

bench:
	$(Q)./scripts/deps.sh build run bench
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./perf/bench.sh $(if $(FULL),--full) --build $(BUILD) --overload-xdp --overload-gso 16

# ---------------------------------------------------------------- install
# Paths as ringrelay.conf(5) and ringrelay(8) name them; PREFIX=/usr for a package.
SBINDIR   ?= $(PREFIX)/sbin
MANDIR    ?= $(PREFIX)/share/man
DOCDIR    ?= $(PREFIX)/share/doc/ringrelay
EXAMPLESDIR ?= $(DOCDIR)/examples
CONFDIR   := $(SYSCONFDIR)/ringrelay
UNITDIR   ?= $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
SYSUSERSDIR ?= $(shell $(PKG_CONFIG) --variable=sysusersdir systemd 2>/dev/null || echo /usr/lib/sysusers.d)
# bash-completion's completionsdir, under PREFIX (bash-completion also reads
# /usr/local/share/bash-completion/completions).
COMPLETIONSDIR ?= $(or $(shell $(PKG_CONFIG) --define-variable=datadir=$(PREFIX)/share \
	--variable=completionsdir bash-completion 2>/dev/null),$(PREFIX)/share/bash-completion/completions)

# An existing ringrelay.conf is never overwritten: when it differs from the default, the new
# default goes beside it as ringrelay.conf.dist and install says so.
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(CONFDIR) $(DESTDIR)$(EXAMPLESDIR) \
		$(DESTDIR)$(COMPLETIONSDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(SBINDIR)/
	@conf=$(DESTDIR)$(CONFDIR)/ringrelay.conf; \
	if [ ! -e $$conf ]; then \
		echo "install -m 0644 config/ringrelay.conf $$conf"; \
		install -m 0644 config/ringrelay.conf $$conf; \
	elif cmp -s config/ringrelay.conf $$conf; then \
		echo "install: $$conf is the default already"; \
	else \
		install -m 0644 config/ringrelay.conf $$conf.dist; \
		echo "install: kept your $$conf; the new default is $$conf.dist" \
			"(compare: diff -u $$conf $$conf.dist)"; \
	fi
	install -m 0644 config/examples/*.conf $(DESTDIR)$(EXAMPLESDIR)/
	install -m 0644 config/ringrelay.conf $(DESTDIR)$(EXAMPLESDIR)/ringrelay.conf
	install -m 0644 README.md docs/filter.md docs/offload.md docs/hardening.md $(DESTDIR)$(DOCDIR)/
	for f in $(wildcard docs/*.[0-9]); do \
		s=$${f##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 0644 $$f $(DESTDIR)$(MANDIR)/man$$s/; done
	for f in $(wildcard systemd/*.service); do \
		sed 's|@SBINDIR@|$(SBINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$f \
			> $(DESTDIR)$(UNITDIR)/$${f##*/}; done
	install -m 0644 systemd/ringrelay.sysusers $(DESTDIR)$(SYSUSERSDIR)/ringrelay.conf
	install -m 0644 completions/ringrelay completions/ringrelayctl $(DESTDIR)$(COMPLETIONSDIR)/

# The config (edited or not) stays, as a package's conffile would; a new default install
# put beside an edited one goes.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(SBINDIR)/,ringrelay ringrelayctl)
	rm -f $(DESTDIR)$(UNITDIR)/ringrelay.service $(DESTDIR)$(SYSUSERSDIR)/ringrelay.conf
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/,man8/ringrelay.8 man8/ringrelayctl.8 man5/ringrelay.conf.5)
	rm -f $(addprefix $(DESTDIR)$(COMPLETIONSDIR)/,ringrelay ringrelayctl)
	rm -rf $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(CONFDIR)/ringrelay.conf.dist

# ---------------------------------------------------------------- Debian package
# build/deb/ringrelay_<version>_<arch>.deb, built by dpkg-buildpackage from a copy of this
# tree (debian/), then linted. deb-test also installs it into a scratch root and runs the
# installed ringrelay -t on the installed conffile (tests/deb/test_deb.sh).
deb:
	$(Q)./scripts/deps.sh build deb
	$(Q)./scripts/deb.sh $(BUILD)/deb

deb-test: deb
	$(Q)./tests/deb/test_deb.sh $(BUILD)/deb

clean:
	rm -rf $(BUILD)

$(BUILD)/obj $(BUILD)/san $(BUILD)/bpf $(BUILD)/tests $(BUILD)/tests/san $(BUILD)/fuzz:
	$(Q)mkdir -p $@

# perf/ adds its own tools (generator, sink, plain relay loop) here.
-include perf/perf.mk

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/san/*.d $(BUILD)/tests/*.d $(BUILD)/tests/san/*.d)
