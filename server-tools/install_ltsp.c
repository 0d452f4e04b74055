/* duet install: duet's entry in LTSP's iPXE menu, /srv/tftp/ltsp/ltsp.ipxe.
 * The two pieces of duet/ltsp-entry.ipxe go where docs/netboot.md ("Adding
 * duet to LTSP's menu") puts them, each between marker lines:
 *
 *   item --gap  Boot an image from the network in LTSP mode:
 *   # duet begin ...
 *   item --key u duet   duet: Windows and LTSP on one screen
 *   # duet end
 *   ...
 *   # duet begin ...
 *   :duet
 *   chain --autofree /duet/duet.ipxe || goto failed
 *   # duet end
 *   ### END LOCAL CONTENT
 *
 * Every run first takes out all duet blocks, then adds them again, so the
 * file reaches the same bytes however often it runs, and a run after
 * `ltsp -o ipxe` (which rewrites the menu items) puts the item back. */
#include "install.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

#define MARK_BEGIN "# duet begin"
#define MARK_END "# duet end"
#define MARK_BEGIN_LINE MARK_BEGIN ": added by `duet install`, `duet install --uninstall` removes it\n"

/* A growing string. */
struct text {
	char *s;
	size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		while (t->len + n + 1 > cap)
			cap *= 2;
		char *bigger = realloc(t->s, cap);
		if (!bigger) {
			fprintf(stderr, "duet: install: out of memory\n");
			exit(1);
		}
		t->s = bigger;
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void text_adds(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

/* line_is: whether the line at p (up to its newline) is word, give or take
 * spaces and a \r around it. */
static bool line_is(const char *p, size_t n, const char *word)
{
	while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	return n == strlen(word) && !memcmp(p, word, n);
}

static bool line_starts(const char *p, size_t n, const char *prefix)
{
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	return n >= strlen(prefix) && !memcmp(p, prefix, strlen(prefix));
}

static size_t line_len(const char *p)
{
	const char *nl = strchr(p, '\n');
	return nl ? (size_t)(nl - p) + 1 : strlen(p);
}

/* The two pieces of ltsp-entry.ipxe: its one item line and the :duet label
 * with the lines after it that are not comments. */
static int parse_entry(const char *entry, struct text *item, struct text *label)
{
	int items = 0;
	bool in_label = false;
	for (const char *p = entry; *p;) {
		size_t n = line_len(p);
		if (line_is(p, n, ":duet"))
			in_label = true;
		if (in_label && !line_starts(p, n, "#") && !line_is(p, n, "")) {
			text_add(label, p, n);
			if (p[n - 1] != '\n')
				text_adds(label, "\n");
		} else if (!in_label && line_starts(p, n, "item ")) {
			text_add(item, p, n);
			if (p[n - 1] != '\n')
				text_adds(item, "\n");
			items++;
		}
		p += n;
	}
	return items == 1 && label->s && strchr(label->s, '\n') != strrchr(label->s, '\n') ? 0 : -1;
}

char *ltsp_menu_edit(const char *text, const char *entry, const char **why)
{
	struct text clean = { 0 };
	bool in_block = false;
	bool hand_made = false;

	*why = NULL;
	text_adds(&clean, "");
	for (const char *p = text; *p;) {
		size_t n = line_len(p);
		if (!in_block && line_starts(p, n, MARK_BEGIN)) {
			in_block = true;
		} else if (in_block) {
			if (line_is(p, n, MARK_END))
				in_block = false;
		} else {
			if (line_is(p, n, ":duet"))
				hand_made = true;
			text_add(&clean, p, n);
		}
		p += n;
	}
	if (in_block) {
		free(clean.s);
		*why = "has a '" MARK_BEGIN "' line without a '" MARK_END "' after it: fix it by hand";
		return NULL;
	}
	if (!entry)
		return clean.s;
	if (hand_made) {
		*why = "has a :duet label of its own (added by hand): left as it is";
		return clean.s;
	}

	struct text item = { 0 }, label = { 0 };
	if (parse_entry(entry, &item, &label) < 0) {
		free(item.s);
		free(label.s);
		free(clean.s);
		*why = "ltsp-entry.ipxe: expected one 'item' line and a ':duet' label with a command";
		return NULL;
	}

	/* Where the item goes: after LTSP's "Boot an image ..." gap, else right
	 * after the menu line. Where the label goes: before the end of the
	 * LOCAL CONTENT block, else at the end of the file. */
	const char *after_gap = NULL, *after_menu = NULL, *local_end = NULL;
	for (const char *p = clean.s; *p;) {
		size_t n = line_len(p);
		if (!after_gap && line_starts(p, n, "item --gap") &&
		    memmem(p, n, "Boot an image from the network", 30))
			after_gap = p + n;
		if (!after_menu && line_starts(p, n, "menu "))
			after_menu = p + n;
		if (!local_end && line_starts(p, n, "### END LOCAL CONTENT"))
			local_end = p;
		p += n;
	}
	const char *item_at = after_gap ? after_gap : after_menu;
	if (!item_at) {
		free(item.s);
		free(label.s);
		free(clean.s);
		*why = "has no iPXE menu (no 'menu' line) to add duet's item to";
		return NULL;
	}
	const char *label_at = local_end ? local_end : clean.s + clean.len;

	struct text out = { 0 };
	struct cut { const char *at, *piece; } cuts[2] = {
		{ item_at, item.s }, { label_at, label.s },
	};
	if (cuts[1].at < cuts[0].at) {
		struct cut first = cuts[1];
		cuts[1] = cuts[0];
		cuts[0] = first;
	}
	const char *from = clean.s, *end = clean.s + clean.len;
	for (int i = 0; i < 2; i++) {
		text_add(&out, from, (size_t)(cuts[i].at - from));
		if (out.len && out.s[out.len - 1] != '\n')
			text_adds(&out, "\n");
		text_adds(&out, MARK_BEGIN_LINE);
		text_adds(&out, cuts[i].piece);
		text_adds(&out, MARK_END "\n");
		from = cuts[i].at;
	}
	text_add(&out, from, (size_t)(end - from));
	free(item.s);
	free(label.s);
	free(clean.s);
	return out.s;
}

int install_ltsp_menu(struct install *in, const char *ltsp_ipxe, const char *entry, bool add)
{
	char *text, *entry_text = NULL;
	int err = read_file(ltsp_ipxe, 1 << 20, &text, NULL);
	if (err < 0)
		return install_error("%s: %s", ltsp_ipxe, strerror(-err));
	if (add) {
		err = read_file(entry, 1 << 20, &entry_text, NULL);
		if (err < 0) {
			free(text);
			return install_error("%s: %s", entry, strerror(-err));
		}
	}
	const char *why;
	char *edited = ltsp_menu_edit(text, entry_text, &why);
	free(entry_text);
	if (!edited) {
		free(text);
		return install_error("%s %s", ltsp_ipxe, why);
	}
	if (why)
		install_note("note: %s %s", ltsp_ipxe, why);
	int result = 0;
	if (strcmp(edited, text)) {
		install_change(in, "edit", "%s (%s duet's menu entry)", ltsp_ipxe,
			       add ? "add" : "remove");
		struct stat st;
		mode_t mode = stat(ltsp_ipxe, &st) == 0 ? (st.st_mode & 07777) : 0644;
		if (!in->dry_run) {
			err = write_file_atomic(ltsp_ipxe, edited, strlen(edited), mode);
			if (err < 0)
				result = install_error("%s: %s", ltsp_ipxe, strerror(-err));
		}
	}
	free(text);
	free(edited);
	return result;
}
