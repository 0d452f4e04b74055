/* duet-vmm: one virtual machine on Linux KVM. main() turns the
 * configuration into a running guest and the guest's end into an exit
 * status. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "bios_boot.h"
#include "control.h"
#include "hw/piix.h"
#include "linux_boot.h"
#include "loader.h"
#include "log.h"
#include "options.h"
#include "pci.h"
#include "platform.h"
#include "vm.h"
#include "x86_boot.h"

/* Exit status when the VM cannot be set up (see --help). */
#define EXIT_SETUP 2

/* What the boot hook needs again after every reset. */
struct boot_state {
	uint8_t *images[CONFIG_MAX_LOADS]; /* --load: files read once */
	size_t image_lens[CONFIG_MAX_LOADS];
	uint8_t *kernel, *initrd;   /* --kernel: files read once */
	size_t kernel_len, initrd_len;
};

static struct boot_state boot_state;

/* check_inputs: every file the user named must be readable before any
 * set-up starts, so a typo costs one clear line and nothing else. */
static int check_file(const char *what, const char *path)
{
	if (path && access(path, R_OK) < 0) {
		log_error("%s '%s': %s", what, path, strerror(errno));
		return -1;
	}
	return 0;
}

static int check_inputs(const struct vm_config *c)
{
	for (unsigned i = 0; i < c->nloads; i++)
		if (check_file("image", c->loads[i].path))
			return -1;
	return check_file("kernel", c->kernel) || check_file("initrd", c->initrd) ||
	       check_file("firmware", c->firmware) || check_file("cdrom", c->cdrom) ? -1 : 0;
}

/* check_memory: refuse more guest RAM than the host has (RAM + swap): the
 * guest would be killed when it touched it. */
static int check_memory(const struct vm_config *c)
{
	struct sysinfo si;
	uint64_t host;

	if (sysinfo(&si) < 0)
		return 0;
	host = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
	if (c->memory > host) {
		log_error("--memory %llu MiB is more than this machine has (%llu MiB)",
			  (unsigned long long)(c->memory >> 20),
			  (unsigned long long)(host >> 20));
		return -1;
	}
	return 0;
}

/* read_images: every --load file into memory, once: resets place them
 * again from there (the sandbox allows no opening of files by then). */
static int read_images(const struct vm_config *c, struct boot_state *b)
{
	for (unsigned i = 0; i < c->nloads; i++) {
		const char *why = "";

		if (loader_read_file(c->loads[i].path, c->memory, &b->images[i],
				     &b->image_lens[i], &why)) {
			log_error("image '%s': %s", c->loads[i].path, why);
			return -1;
		}
	}
	return 0;
}

static int read_kernel_files(const struct vm_config *c, struct boot_state *b,
			     uint64_t limit)
{
	const char *why = "";

	if (loader_map_file(c->kernel, limit, &b->kernel, &b->kernel_len, &why)) {
		log_error("kernel '%s': %s", c->kernel, why);
		return -1;
	}
	if (c->initrd && loader_map_file(c->initrd, limit, &b->initrd, &b->initrd_len, &why)) {
		log_error("initrd '%s': %s", c->initrd, why);
		return -1;
	}
	return 0;
}

/* boot_load: --load images. At power-on and after each reset, put the
 * images back (the guest may have overwritten them) and start the boot
 * vCPU at the entry. */
static int boot_load(struct vm *vm)
{
	const struct vm_config *c = vm->config;
	struct boot_entry entry = { 0 };
	int err;

	for (unsigned i = 0; i < c->nloads; i++) {
		struct boot_entry e;
		const char *why = "";

		if (loader_load(&vm->mem, boot_state.images[i], boot_state.image_lens[i],
				c->loads[i].addr, &e, &why)) {
			log_error("image '%s': %s", c->loads[i].path, why);
			return -EINVAL;
		}
		if (i == 0)
			entry = e;
	}
	err = x86_boot_vcpu(&vm->vcpus[0], &entry);
	if (err)
		log_error("cannot load the boot vCPU's registers: %s", strerror(-err));
	return err;
}

/* boot_kernel: --kernel. Do what firmware would (PCI resources, the PM
 * block, ACPI tables), then load Linux and enter it. */
static int boot_kernel(struct vm *vm)
{
	const struct vm_config *c = vm->config;
	struct linux_image img = {
		.kernel = boot_state.kernel, .kernel_len = boot_state.kernel_len,
		.initrd = boot_state.initrd, .initrd_len = boot_state.initrd_len,
		.cmdline = c->append,
	};
	struct boot_entry entry;
	const char *why = "";
	int err;

	piix_firmware_setup(vm);
	pci_assign_resources(vm);
	err = platform_acpi_place(vm, &img.acpi_rsdp);
	if (err)
		return err;
	err = linux_load(&vm->mem, &img, &entry, &why);
	/* The guest has its copy: give the file pages back. */
	loader_release_pages(boot_state.kernel, boot_state.kernel_len);
	loader_release_pages(boot_state.initrd, boot_state.initrd_len);
	if (err) {
		log_error("kernel '%s': %s", c->kernel, why);
		return err;
	}
	err = x86_boot_vcpu(&vm->vcpus[0], &entry);
	if (err)
		log_error("cannot load the boot vCPU's registers: %s", strerror(-err));
	return err;
}

int main(int argc, char **argv)
{
	static struct vm vm;
	struct vm_config config;
	char err[512];
	int rc, status = EXIT_SETUP;

	log_init("duet-vmm");
	/* Read the time zone now: the sandbox allows no opening of
	 * /etc/localtime later, when the RTC first needs local time. */
	tzset();
	rc = options_parse(argc, argv, &config, err, sizeof(err));
	if (rc == 1) {
		config_free(&config);
		return 0;
	}
	if (rc < 0) {
		log_error("%s", err);
		config_free(&config);
		return EXIT_SETUP;
	}
	if (config.verbose)
		log_set_level(LOG_DEBUG);

	if (check_inputs(&config) || check_memory(&config) ||
	    (config.kernel && read_kernel_files(&config, &boot_state, config.memory)) ||
	    read_images(&config, &boot_state))
		goto out;
	if (vm_create(&vm, &config))
		goto out_vm;
	if (config.control && control_start(&vm, config.control))
		goto out_vm;
	if (config.bios) {
		if (bios_setup(&vm))
			goto out_vm;
	} else {
		vm.boot = config.kernel ? boot_kernel : boot_load;
	}
	status = vm_run(&vm);
out_vm:
	vm_destroy(&vm);
out:
	loader_unmap_file(boot_state.kernel, boot_state.kernel_len);
	loader_unmap_file(boot_state.initrd, boot_state.initrd_len);
	for (unsigned i = 0; i < CONFIG_MAX_LOADS; i++)
		free(boot_state.images[i]);
	config_free(&config);
	return status;
}
