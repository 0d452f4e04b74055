/* duet vm: where a server VM lives and what its files say.
 *
 *   VMS/NAME/vm.conf          duet-vmm's guest file (docs/vmm.md --config)
 *   VMS/NAME/display.conf     its headless duet-display's (docs/display.md)
 *   VMS/NAME/supervisor.conf  how the supervisor wires it (bridge), optional
 *   VMS/NAME/disk.raw         the disk `duet vm create` made (raw, sparse)
 *   VMS/NAME/vnc.pass         the VNC password, when one was given
 *   VMS/NAME/{supervisor,vmm,display,serial}.log  the logs
 *   RUN/vm-NAME/              the running supervisor's pid file, state and
 *                             sockets (gone when it stops)
 *
 * VMS and RUN are duet.conf's [server] vms and run. */
#ifndef DUET_VM_STORE_H
#define DUET_VM_STORE_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"

/* [a-z0-9][a-z0-9_-]{0,30}: a duet-display guest name is at most 31. */
#define VM_NAME_MAX 31
#define VM_DEFAULT_VNC_PORT 5901

struct vm_info {
	char name[VM_NAME_MAX + 1];
	char dir[PATH_MAX];          /* VMS/NAME */
	char run[PATH_MAX];          /* RUN/vm-NAME */
	/* vm.conf */
	char memory[32];             /* as written: 1G */
	unsigned cpus;
	char disk[PATH_MAX];         /* the disk file */
	char cdrom[PATH_MAX];        /* "" when none */
	char boot[32];
	char net[64];                /* duet-vmm's --net value; "" = none */
	/* supervisor.conf */
	char bridge[IFNAMSIZ];       /* "" unless --net bridge=BR */
	/* display.conf */
	char vnc_listen[64];
	int vnc_port;                /* the guest's own view: display base + 1 */
	char vnc_password_file[PATH_MAX];
};

/* vm_name_valid: NAME fits the pattern above (and is not "screen", the
 * name duet-display keeps for its own screen). */
bool vm_name_valid(const char *name);


/* vm_format_size: 21474836480 -> "20G", 1536M -> "1.5G". */
void vm_format_size(uint64_t bytes, char *buf, size_t size);

/* vm_paths: fills name, dir and run only. -ENAMETOOLONG when a socket
 * path under run would not fit a sockaddr_un. */
int vm_paths(const struct duet_conf *conf, const char *name, struct vm_info *vm);

/* vm_load: reads the VM's files. -ENOENT: no such VM; other -errno with
 * a line in err. */
int vm_load(const struct duet_conf *conf, const char *name, struct vm_info *vm,
	    char *err, size_t errlen);

/* vm_write_configs: writes vm.conf, display.conf and (with a bridge)
 * supervisor.conf from vm. */
int vm_write_configs(const struct vm_info *vm, char *err, size_t errlen);

/* vm_tap_name: the TAP device a bridged VM gets ("dv-NAME", hashed when
 * long), at most IFNAMSIZ-1 characters. */
void vm_tap_name(const char *name, char out[IFNAMSIZ]);

/* Run-time files (under vm->run or vm->dir). */
void vm_run_path(const struct vm_info *vm, const char *file, char *buf, size_t size);
void vm_dir_path(const struct vm_info *vm, const char *file, char *buf, size_t size);

/* vm_supervisor_pid: the pid of the supervisor holding the VM's lock, 0
 * when none runs, -1 when one runs in another pid namespace (no pid of
 * ours: never signal it). */
pid_t vm_supervisor_pid(const struct vm_info *vm);

/* The supervisor's state file (RUN/vm-NAME/state). */
struct vm_state {
	char state[24];  /* starting, running, crashed-restarting, stopping */
	pid_t vmm_pid;   /* 0 while duet-vmm is not running */
	unsigned restarts;
};
int vm_state_read(const struct vm_info *vm, struct vm_state *st);

/* vm_list_names: the names of every VM (sorted); free each and the array. */
int vm_list_names(const struct duet_conf *conf, char ***names, size_t *count);

/* vm_port_bindable: whether a TCP listener could take addr:port now. */
bool vm_port_bindable(const char *addr, int port);

/* vm_remove_tree: rm -r without following symlinks; a missing path is fine. */
int vm_remove_tree(const char *path);

/* vm_last_line: the last non-empty line of a log file ("" when none). */
void vm_last_line(const char *path, char *buf, size_t size);

#endif
