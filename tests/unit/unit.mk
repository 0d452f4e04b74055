# Unit tier: every tests/unit/test_*.c is one cmocka program, built with the
# sanitizers against the sanitized objects of what it tests.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/asan/tests/unit/%,$(UNIT_SRCS))
UNIT_LIBS := $(VMM_LIBS) -lcmocka

$(BUILD)/asan/tests/unit/%: $(BUILD)/asan/obj/tests/unit/%.o $(call asan_obj,$(VMM_SRCS)) $(BUILD)/asan/lib/libduet.a
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(SANITIZE) -o $@ $^ $(UNIT_LIBS)

check-unit: $(UNIT_BINS)
	sh tests/unit/run.sh $(UNIT_BINS)
