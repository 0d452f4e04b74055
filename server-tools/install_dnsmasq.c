/* duet install: the dnsmasq snippet, netboot/dnsmasq-duet-proxy.conf.in or
 * dnsmasq-duet-dhcp.conf.in with its placeholders filled in (docs/netboot.md,
 * "dnsmasq"), and the classroom subnet it serves: --subnet, or the subnet of
 * the interface that holds the server's address. */
#include "install.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static uint32_t prefix_mask(int prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

static void set_subnet(struct dnsmasq_plan *plan, uint32_t addr, int prefix)
{
	struct in_addr a = { .s_addr = htonl(addr & prefix_mask(prefix)) };
	struct in_addr m = { .s_addr = htonl(prefix_mask(prefix)) };
	inet_ntop(AF_INET, &a, plan->subnet, sizeof plan->subnet);
	inet_ntop(AF_INET, &m, plan->netmask, sizeof plan->netmask);
	plan->prefix = prefix;
}

int dnsmasq_parse_subnet(struct dnsmasq_plan *plan, const char *text)
{
	char addr[16];
	const char *slash = strchr(text, '/');
	struct in_addr a;
	char *end;

	if (!slash || (size_t)(slash - text) >= sizeof addr)
		return install_error("--subnet '%s': expected A.B.C.D/NN, e.g. 10.0.0.0/24", text);
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';
	long prefix = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, addr, &a) != 1 || *end || end == slash + 1 || prefix < 1 || prefix > 32)
		return install_error("--subnet '%s': expected A.B.C.D/NN (NN from 1 to 32), e.g. 10.0.0.0/24",
				     text);
	set_subnet(plan, ntohl(a.s_addr), (int)prefix);
	return 0;
}

int dnsmasq_parse_range(struct dnsmasq_plan *plan, const char *text)
{
	const char *comma = strchr(text, ',');
	struct in_addr a, b, net;

	if (!comma || (size_t)(comma - text) >= sizeof plan->range_start ||
	    strlen(comma + 1) >= sizeof plan->range_end)
		return install_error("--range '%s': expected START,END, e.g. 10.0.0.100,10.0.0.199", text);
	memcpy(plan->range_start, text, (size_t)(comma - text));
	plan->range_start[comma - text] = '\0';
	strcpy(plan->range_end, comma + 1);
	if (inet_pton(AF_INET, plan->range_start, &a) != 1 || inet_pton(AF_INET, plan->range_end, &b) != 1)
		return install_error("--range '%s': expected START,END, e.g. 10.0.0.100,10.0.0.199", text);
	inet_pton(AF_INET, plan->subnet, &net);
	uint32_t mask = prefix_mask(plan->prefix);
	if ((ntohl(a.s_addr) & mask) != ntohl(net.s_addr) || (ntohl(b.s_addr) & mask) != ntohl(net.s_addr))
		return install_error("--range '%s' is not inside the classroom subnet %s/%d", text,
				     plan->subnet, plan->prefix);
	if (ntohl(a.s_addr) > ntohl(b.s_addr))
		return install_error("--range '%s': START comes after END", text);
	return 0;
}

int dnsmasq_subnet_of(struct dnsmasq_plan *plan, const char *address)
{
	struct in_addr want;
	if (inet_pton(AF_INET, address, &want) != 1)
		return install_error("the server's address %s is not IPv4: give the classroom subnet "
				     "with --subnet A.B.C.D/NN", address);
	struct ifaddrs *ifs;
	if (getifaddrs(&ifs) < 0)
		return install_error("listing this host's addresses: %s", strerror(errno));
	int found = -1;
	for (struct ifaddrs *i = ifs; i && found < 0; i = i->ifa_next) {
		if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != AF_INET)
			continue;
		if (((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr != want.s_addr)
			continue;
		uint32_t mask = ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
		found = 0;
		while (found < 32 && (mask & (0x80000000u >> found)))
			found++;
	}
	freeifaddrs(ifs);
	if (found <= 0)
		return install_error("the server's address %s is on no interface of this host: give the "
				     "classroom subnet with --subnet A.B.C.D/NN", address);
	set_subnet(plan, ntohl(want.s_addr), found);
	return 0;
}

/* fill: template with every @NAME@ of names replaced by its value; NULL
 * (after install_error) on a placeholder duet does not know. */
static char *fill(const char *template, const char *path, const char *const names[][2])
{
	size_t cap = strlen(template) + 1;
	for (const char *p = template; (p = strchr(p, '@')); p++)
		cap += PATH_MAX; /* a bound on any one value */
	char *out = malloc(cap), *o = out;
	if (!out) {
		install_error("out of memory");
		return NULL;
	}
	for (const char *p = template; *p;) {
		const char *close = *p == '@' ? strchr(p + 1, '@') : NULL;
		size_t n = close ? (size_t)(close - p - 1) : 0;
		if (!close || n == 0 || strspn(p + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != n) {
			*o++ = *p++;
			continue;
		}
		int i = 0;
		while (names[i][0] && (strlen(names[i][0]) != n || memcmp(names[i][0], p + 1, n)))
			i++;
		if (!names[i][0]) {
			install_error("%s has a placeholder duet does not fill: %.*s", path, (int)n + 2, p);
			free(out);
			return NULL;
		}
		o = stpcpy(o, names[i][1]);
		p = close + 1;
	}
	*o = '\0';
	return out;
}

char *dnsmasq_snippet(const struct dnsmasq_plan *plan, const char *template_dir)
{
	char path[PATH_MAX];
	const char *name = plan->mode == DHCP_FULL ? "dnsmasq-duet-dhcp.conf.in" : "dnsmasq-duet-proxy.conf.in";
	if (snprintf(path, sizeof path, "%s/%s", template_dir, name) >= (int)sizeof path) {
		install_error("%s: path too long", template_dir);
		return NULL;
	}
	/* tftp-root=DIR[,INTERFACE]: a comma would name an interface. */
	if (strpbrk(plan->tftp_root, ",#\n\r\"") || strlen(plan->tftp_root) >= PATH_MAX) {
		install_error("dnsmasq cannot serve the TFTP root '%s' (a ',', '#' or quote in it)",
			      plan->tftp_root);
		return NULL;
	}
	char *template;
	int err = read_file(path, 1 << 20, &template, NULL);
	if (err < 0) {
		install_error("%s: %s", path, strerror(-err));
		return NULL;
	}
	const char *const names[][2] = {
		{ "TFTP_ROOT", plan->tftp_root },
		{ "SUBNET", plan->subnet },
		{ "NETMASK", plan->netmask },
		{ "PXE_BOOT", plan->pxe_boot },
		{ "RANGE_START", plan->range_start },
		{ "RANGE_END", plan->range_end },
		{ NULL, NULL },
	};
	char *text = fill(template, path, names);
	free(template);
	return text;
}

int dnsmasq_check(const char *text)
{
	const char *tmpdir = getenv("TMPDIR");
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/duet-dnsmasq-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp") >=
	    (int)sizeof path)
		return install_error("TMPDIR is too long");
	int fd = mkstemp(path);
	if (fd < 0)
		return install_error("%s: %s", path, strerror(errno));
	size_t len = strlen(text);
	bool written = write(fd, text, len) == (ssize_t)len;
	close(fd);
	if (!written) {
		unlink(path);
		return install_error("%s: %s", path, strerror(errno));
	}
	/* dnsmasq says what it thinks on stderr. */
	char *argv[] = { "sh", "-c", "exec dnsmasq --test --conf-file=\"$1\" 2>&1", "sh", path, NULL };
	char out[1024];
	int status = run_program_output(argv, out, sizeof out);
	unlink(path);
	if (status == 127 || status == -ENOENT)
		return 1;
	if (status == 0)
		return 0;
	char *nl;
	while ((nl = strrchr(out, '\n')) && nl[1] == '\0')
		*nl = '\0';
	return install_error("dnsmasq refuses the snippet duet made (a bug in its template?): %s",
			     status < 0 ? strerror(-status) : out);
}
