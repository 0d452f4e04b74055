# Fuzz tier: libFuzzer harnesses, one per tests/fuzz/fuzz_NAME.c, built
# with clang (whatever CC is) under ASan and UBSan. `make fuzz` runs each
# for FUZZ_TIME seconds. Each harness built with -DFUZZ_SEEDS is the program
# that writes its seed corpus; the corpus then grows in
# $(BUILD)/fuzz/corpus/NAME, and a crashing input is saved as
# $(BUILD)/fuzz/NAME-crash-* (replay: $(BUILD)/fuzz/fuzz_NAME FILE).
FUZZ_CC := clang
FUZZ_TIME ?= 60
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_RUN_FLAGS := -max_total_time=$(FUZZ_TIME) -max_len=16384 -print_final_stats=1

fuzz_obj = $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(1))

# The code under test, instrumented for coverage.
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(BASE_CPPFLAGS) $(CFLAGS) $(WARNINGS) $(FUZZ_SANITIZE) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(BUILD)/fuzz/fuzz_virtqueue: $(call fuzz_obj,tests/fuzz/fuzz_virtqueue.c vmm/virtio/virtqueue.c vmm/mem.c)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_SANITIZE) -fsanitize=fuzzer -o $@ $^

# fw_cfg_create's vm.c hooks are stubbed in the harness; it never calls them.
$(BUILD)/fuzz/fuzz_fw_cfg: $(call fuzz_obj,tests/fuzz/fuzz_fw_cfg.c vmm/hw/fw_cfg.c vmm/bus.c vmm/mem.c lib/log.c)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_SANITIZE) -fsanitize=fuzzer -o $@ $^ -lpthread

# The IDE controller without its PCI glue (ide_pci.c) or worker threads.
$(BUILD)/fuzz/fuzz_ide: $(call fuzz_obj,tests/fuzz/fuzz_ide.c vmm/hw/ide.c vmm/hw/ata.c vmm/hw/atapi.c vmm/block.c vmm/block_overlay.c vmm/block_nbd.c vmm/bus.c vmm/mem.c lib/log.c lib/parse.c)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_SANITIZE) -fsanitize=fuzzer -o $@ $^ -lnbd -lpthread

# The std-VGA without PCI or KVM: the harness stubs what vga.c calls there.
$(BUILD)/fuzz/fuzz_vga: $(call fuzz_obj,tests/fuzz/fuzz_vga.c vmm/hw/vga.c vmm/hw/vga_render.c vmm/png_write.c vmm/bus.c lib/log.c)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_SANITIZE) -fsanitize=fuzzer -o $@ $^ -lpng16 -lpthread

# The 82540EM without an event loop: the harness stubs what e1000_create
# needs from pci.c, vm.c and net.c (it is never called).
$(BUILD)/fuzz/fuzz_e1000: $(call fuzz_obj,tests/fuzz/fuzz_e1000.c vmm/hw/e1000.c vmm/event.c vmm/mem.c lib/log.c)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_SANITIZE) -fsanitize=fuzzer -o $@ $^ -lpthread

$(BUILD)/fuzz/seeds_%: tests/fuzz/fuzz_%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(BASE_CPPFLAGS) $(CFLAGS) $(WARNINGS) -DFUZZ_SEEDS -o $@ $<

FUZZ_NAMES := virtqueue fw_cfg
FUZZ_NAMES += ide
FUZZ_NAMES += vga
FUZZ_NAMES += e1000

fuzz: $(foreach n,$(FUZZ_NAMES),$(BUILD)/fuzz/fuzz_$(n) $(BUILD)/fuzz/seeds_$(n))
	@set -e; for n in $(FUZZ_NAMES); do \
		mkdir -p $(BUILD)/fuzz/corpus/$$n; \
		$(BUILD)/fuzz/seeds_$$n $(BUILD)/fuzz/corpus/$$n; \
		echo "fuzz_$$n: $(FUZZ_TIME) s"; \
		$(BUILD)/fuzz/fuzz_$$n $(FUZZ_RUN_FLAGS) \
			-artifact_prefix=$(BUILD)/fuzz/$$n- $(BUILD)/fuzz/corpus/$$n; \
	done
