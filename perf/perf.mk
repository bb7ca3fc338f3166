# SPDX-License-Identifier: MIT
# perf/ tools, included by the top-level Makefile. Everything builds into $(BUILD)/perf/;
# `make perf-tools` builds them, `make bench` runs perf/bench.sh which builds them too.
# Only net-test (tests/net/test_overload.sh) uses one of them, the generator.

PERF_DIR   := $(BUILD)/perf
PERF_TOOLS := $(PERF_DIR)/gen $(PERF_DIR)/sink $(PERF_DIR)/mmsg_relay $(PERF_DIR)/filter_cost \
	      $(PERF_DIR)/session_hash $(PERF_DIR)/busy_relay $(PERF_DIR)/reload_cost
# Those that link the daemon's modules (the rest need the endpoint parser alone).
PERF_WITH_LIB := $(PERF_DIR)/filter_cost $(PERF_DIR)/session_hash $(PERF_DIR)/reload_cost
# The tools reuse the endpoint parser so they accept exactly ringrelay's address syntax.
PERF_LIB   := $(BUILD)/obj/addr.o

.PHONY: perf-tools
perf-tools: $(PERF_TOOLS)

$(PERF_DIR):
	$(Q)mkdir -p $@

# The sink's program, and the generator's for its XDP mode (gen -X): plain uapi headers.
PERF_BPF := sink xgen

$(PERF_BPF:%=$(PERF_DIR)/%.tmp.o): $(PERF_DIR)/%.tmp.o: perf/%.bpf.c | $(PERF_DIR)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -target bpf -O2 -g -Wall -Werror -I $(ARCH_INC) -c $< -o $@

$(PERF_BPF:%=$(PERF_DIR)/%.bpf.o): $(PERF_DIR)/%.bpf.o: $(PERF_DIR)/%.tmp.o
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(PERF_BPF:%=$(PERF_DIR)/%.skel.h): $(PERF_DIR)/%.skel.h: $(PERF_DIR)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name perf_$*_bpf > $@

# The overload prototype's XDP program reads struct sock, so it is built with CO-RE against
# the running kernel's BTF (generated, never committed).
$(PERF_DIR)/vmlinux.h: | $(PERF_DIR)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(PERF_DIR)/shed.tmp.o: perf/shed.bpf.c perf/shed.h $(PERF_DIR)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -target bpf -O2 -g -Wall -Werror -I $(PERF_DIR) -c $< -o $@

$(PERF_DIR)/shed.bpf.o: $(PERF_DIR)/shed.tmp.o
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(PERF_DIR)/shed.skel.h: $(PERF_DIR)/shed.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name shed_bpf > $@

$(PERF_DIR)/%.o: perf/%.c | $(PERF_DIR)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -I $(PERF_DIR) -c $< -o $@

$(PERF_DIR)/sink.o: $(PERF_DIR)/sink.skel.h
$(PERF_DIR)/gen.o: $(PERF_DIR)/xgen.skel.h
$(PERF_DIR)/busy_relay.o: $(PERF_DIR)/shed.skel.h

$(filter-out $(PERF_WITH_LIB),$(PERF_TOOLS)): $(PERF_DIR)/%: $(PERF_DIR)/%.o $(PERF_LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The filter program's own cost (BPF_PROG_TEST_RUN): loads it through src/filter.c. The
# session table's lookup cost under its keyed hash. What a reload costs a worker with many
# fast-path sessions: a runtime of one worker and the loaded program.
$(PERF_WITH_LIB): $(PERF_DIR)/%: $(PERF_DIR)/%.o $(LIB_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

-include $(wildcard $(PERF_DIR)/*.d)
