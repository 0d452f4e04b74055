/* duet-vmm: one virtual machine on Linux KVM. main() turns the command line
 * into a running guest and the guest's end into an exit status. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "loader.h"
#include "log.h"
#include "options.h"
#include "x86_boot.h"
#include "vm.h"

/* Exit status when the VM cannot be set up (see --help). */
#define EXIT_SETUP 2

/* check_inputs: every file the user named must be readable before any
 * set-up starts, so a typo costs one clear line and nothing else. */
static int check_inputs(const struct vm_config *c)
{
	for (unsigned i = 0; i < c->nloads; i++) {
		if (access(c->loads[i].path, R_OK) < 0) {
			log_error("image '%s': %s", c->loads[i].path, strerror(errno));
			return -1;
		}
	}
	return 0;
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

static int load_images(struct vm *vm, struct boot_entry *entry)
{
	const struct vm_config *c = vm->config;

	for (unsigned i = 0; i < c->nloads; i++) {
		struct boot_entry e;
		const char *why = "";

		if (loader_load_file(&vm->mem, c->loads[i].path, c->loads[i].addr, &e, &why)) {
			log_error("image '%s': %s", c->loads[i].path, why);
			return -1;
		}
		if (i == 0)
			*entry = e;
	}
	return 0;
}

static struct boot_entry boot_entry;

/* boot_images: at power-on and after each reset, put the images back (the
 * guest may have overwritten them) and start the boot vCPU at the entry. */
static int boot_images(struct vm *vm)
{
	struct boot_entry entry;
	int err;

	if (vm->restarts && load_images(vm, &entry))
		return -EIO;
	err = x86_boot_vcpu(&vm->vcpus[0], &boot_entry);
	if (err)
		log_error("cannot load the boot vCPU's registers: %s", strerror(-err));
	return err;
}

int main(int argc, char **argv)
{
	static struct vm vm;
	struct vm_config config;
	struct boot_entry entry;
	char err[256];
	int rc, status;

	log_init("duet-vmm");
	rc = options_parse(argc, argv, &config, err, sizeof(err));
	if (rc == 1)
		return 0;
	if (rc < 0) {
		log_error("%s", err);
		return EXIT_SETUP;
	}
	if (config.verbose)
		log_set_level(LOG_DEBUG);

	if (check_inputs(&config) || check_memory(&config))
		return EXIT_SETUP;
	if (vm_create(&vm, &config) || load_images(&vm, &entry)) {
		vm_destroy(&vm);
		return EXIT_SETUP;
	}
	boot_entry = entry;
	vm.boot = boot_images;
	status = vm_run(&vm);
	vm_destroy(&vm);
	return status;
}
