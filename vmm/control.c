#include "control.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "control_cmds.h"
#include "log.h"
#include "vm.h"

#ifndef KVMM_VERSION
#define KVMM_VERSION "0.0.0"
#endif

#define ERR_LEN 256

struct command {
	const char *name;
	const char *aliases[3]; /* other names (QEMU's, virsh's), NULL-terminated */
	const char *arg;	/* the one argument it takes, or NULL */
	const char *summary;
	command_fn run;
	print_fn print; /* NULL: nothing to show but success */
};

static const struct command commands[];

static void status_locked(struct control *ctl, struct json_object *result)
{
	char text[64];
	lifecycle_format(&ctl->lc, text, sizeof(text));
	put(result, "state", json_object_new_string(lifecycle_state_name(ctl->lc.state)));
	put(result, "reason",
	    json_object_new_string(lifecycle_reason_name(ctl->lc.state, ctl->lc.reason)));
	put(result, "status", json_object_new_string(text));
}

/* With the lock held: tell listeners what just happened. */
static void announce(struct control *ctl, const struct lc_event *ev)
{
	if (!ctl->on_event)
		return;
	struct json_object *e = json_object_new_object();
	struct timeval tv;
	gettimeofday(&tv, NULL);
	put(e, "event", json_object_new_string(ev->name));
	put(e, "detail", json_object_new_string(ev->detail));
	char text[64];
	lifecycle_format(&ctl->lc, text, sizeof(text));
	put(e, "status", json_object_new_string(text));
	struct json_object *ts = json_object_new_object();
	put(ts, "seconds", json_object_new_int64(tv.tv_sec));
	put(ts, "microseconds", json_object_new_int64(tv.tv_usec));
	put(e, "timestamp", ts);
	ctl->on_event(ctl->event_opaque, e);
	json_object_put(e);
}

/* Runs op on the lifecycle: allowed from this state, done by the board, announced. */
static int lifecycle_op(struct control *ctl, enum lc_op op, int (*work)(struct vm *),
			struct json_object *result, char *err, size_t errlen)
{
	if (!lifecycle_allowed(&ctl->lc, op, err, errlen) || !need_vm(ctl, err, errlen))
		return -1;
	if (work && work(ctl->vm) < 0) {
		snprintf(err, errlen, "failed: see kvmm's log");
		return -1;
	}
	struct lc_event ev;
	lifecycle_apply(&ctl->lc, op, &ev);
	announce(ctl, &ev);
	status_locked(ctl, result);
	return 0;
}

static int cmd_pause(struct control *ctl, struct json_object *req, struct control_origin *o,
		     struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o;
	return lifecycle_op(ctl, LC_PAUSE, vm_pause, result, err, errlen);
}

static int cmd_resume(struct control *ctl, struct json_object *req, struct control_origin *o,
		      struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o;
	return lifecycle_op(ctl, LC_RESUME, vm_resume, result, err, errlen);
}

static int cmd_reset(struct control *ctl, struct json_object *req, struct control_origin *o,
		     struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o;
	return lifecycle_op(ctl, LC_RESET, vm_reset, result, err, errlen);
}

/* Presses the power button; the guest decides what follows (usually its own shutdown, then
 * S5, which ends kvmm with shut off (shutdown)). */
static int cmd_powerdown(struct control *ctl, struct json_object *req, struct control_origin *o,
			 struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o;
	if (!lifecycle_allowed(&ctl->lc, LC_POWERDOWN, err, errlen) || !need_vm(ctl, err, errlen))
		return -1;
	int enabled = vm_power_button(ctl->vm);
	if (enabled < 0) {
		snprintf(err, errlen,
			 "powerdown: the VM has no ACPI (--no-acpi), so no power button");
		return -1;
	}
	/* A guest that has not enabled its button (acpi=off, no button driver yet) will not act on
	 * the press (ACPICA clears a latched one when its handler arrives): the VM is not shutting
	 * down, and the reply says why. */
	if (enabled) {
		struct lc_event ev;
		lifecycle_apply(&ctl->lc, LC_POWERDOWN, &ev);
		announce(ctl, &ev);
	}
	status_locked(ctl, result);
	put(result, "button_enabled", json_object_new_boolean(enabled));
	return 0;
}

static void print_powerdown(struct json_object *r, FILE *out)
{
	struct json_object *en;
	fprintf(out, "%s\n", get_string(r, "status"));
	if (json_object_object_get_ex(r, "button_enabled", &en) && !json_object_get_boolean(en))
		fprintf(out, "(the guest has not enabled its power button: no ACPI button driver "
			     "yet, or acpi=off; it will not react)\n");
}

static int quit_vm(struct vm *vm)
{
	/* What the guest wrote reaches the disk before the process goes. */
	vm_flush_disks(vm);
	vm_request_stop(vm, VM_STOP_QUIT);
	return 0;
}

static int cmd_quit(struct control *ctl, struct json_object *req, struct control_origin *o,
		    struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o;
	return lifecycle_op(ctl, LC_QUIT, quit_vm, result, err, errlen);
}

static int cmd_status(struct control *ctl, struct json_object *req, struct control_origin *o,
		      struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o, (void)err, (void)errlen;
	status_locked(ctl, result);
	return 0;
}

static void print_status(struct json_object *r, FILE *out)
{
	fprintf(out, "%s\n", get_string(r, "status"));
}

static int cmd_version(struct control *ctl, struct json_object *req, struct control_origin *o,
		       struct json_object *result, char *err, size_t errlen)
{
	(void)ctl, (void)req, (void)o, (void)err, (void)errlen;
	put(result, "version", json_object_new_string(KVMM_VERSION));
	put(result, "kvm_api", json_object_new_int(KVM_API_VERSION));
	return 0;
}

static void print_version(struct json_object *r, FILE *out)
{
	fprintf(out, "kvmm %s (KVM API %d)\n", get_string(r, "version"),
		(int)get_u64(r, "kvm_api"));
}

static int cmd_subscribe(struct control *ctl, struct json_object *req, struct control_origin *o,
			 struct json_object *result, char *err, size_t errlen)
{
	(void)ctl, (void)req;
	if (!o || !o->can_subscribe) {
		snprintf(err, errlen, "subscribe: events go to control socket clients only");
		return -1;
	}
	o->subscribed = true;
	put(result, "subscribed", json_object_new_boolean(true));
	return 0;
}

static const struct command *find(const char *name);

static struct json_object *describe(const struct command *c)
{
	struct json_object *j = json_object_new_object();
	put(j, "name", json_object_new_string(c->name));
	struct json_object *aliases = json_object_new_array();
	for (int i = 0; c->aliases[i]; i++)
		json_object_array_add(aliases, json_object_new_string(c->aliases[i]));
	put(j, "aliases", aliases);
	if (c->arg)
		put(j, "arg", json_object_new_string(c->arg));
	put(j, "summary", json_object_new_string(c->summary));
	return j;
}

static int cmd_help(struct control *ctl, struct json_object *req, struct control_origin *o,
		    struct json_object *result, char *err, size_t errlen)
{
	(void)ctl, (void)o;
	struct json_object *list = json_object_new_array();
	put(result, "commands", list);
	const char *which = get_string(req, "command");
	if (which && *which) {
		const struct command *c = find(which);
		if (!c) {
			snprintf(err, errlen, "help: unknown command '%s'", which);
			return -1;
		}
		json_object_array_add(list, describe(c));
		return 0;
	}
	for (const struct command *c = commands; c->name; c++)
		json_object_array_add(list, describe(c));
	return 0;
}

static void print_help(struct json_object *r, FILE *out)
{
	struct json_object *list;
	size_t count = get_array(r, "commands", &list);
	for (size_t i = 0; i < count; i++) {
		struct json_object *c = json_object_array_get_idx(list, i), *aliases;
		char usage[64];
		const char *arg = get_string(c, "arg");
		snprintf(usage, sizeof(usage), "%s%s%s%s", get_string(c, "name"), arg ? " [" : "",
			 arg ? arg : "", arg ? "]" : "");
		fprintf(out, "%-22s %s", usage, get_string(c, "summary"));
		size_t naliases = get_array(c, "aliases", &aliases);
		if (naliases) {
			fprintf(out, " (also");
			for (size_t k = 0; k < naliases; k++)
				fprintf(
				    out, " %s",
				    json_object_get_string(json_object_array_get_idx(aliases, k)));
			fprintf(out, ")");
		}
		fprintf(out, "\n");
	}
}

static const struct command commands[] = {
    {"help", {NULL}, "command", "list the commands, or describe one", cmd_help, print_help},
    {"info status",
     {"domstate", NULL},
     NULL,
     "the VM's state, as virsh domstate --reason says it",
     cmd_status,
     print_status},
    {"info cpus", {NULL}, NULL, "each vCPU: running or halted, RIP, CR3", cmd_cpus, print_cpus},
    {"info mem", {NULL}, NULL, "guest RAM regions and their memslots", cmd_mem, print_mem},
    {"info pci", {NULL}, NULL, "PCI devices: bus:dev.fn, vendor:device, BARs", cmd_pci, print_pci},
    {"info block",
     {NULL},
     NULL,
     "each disk: path, ro, requests and bytes read and written",
     cmd_block,
     print_block},
    {"info net",
     {NULL},
     NULL,
     "each NIC: TAP, MAC, packets and bytes each way, vhost",
     cmd_net,
     print_net},
    {"info display",
     {NULL},
     NULL,
     "the screen: mode, framebuffer address, frames shown and their rate",
     cmd_display,
     print_display},
    {"info version", {NULL}, NULL, "kvmm's version", cmd_version, print_version},
    {"screendump",
     {NULL},
     "file",
     "write the screen as it is now to FILE, a PNG",
     cmd_screendump,
     print_screendump},
    {"sendkey",
     {NULL},
     "keys",
     "press keys together, QEMU's names joined by '-' (ctrl-alt-delete, shift-a, ret)",
     cmd_sendkey,
     NULL},
    {"pause",
     {"stop", "suspend", NULL},
     NULL,
     "stop every vCPU and the devices' work",
     cmd_pause,
     print_status},
    {"resume", {"cont", NULL}, NULL, "run a paused VM again", cmd_resume, print_status},
    {"reset",
     {NULL},
     NULL,
     "power-on reset in place: the guest boots again",
     cmd_reset,
     print_status},
    {"powerdown",
     {"system_powerdown", "shutdown", NULL},
     NULL,
     "press the ACPI power button: the guest shuts down and powers off",
     cmd_powerdown,
     print_powerdown},
    {"quit", {"destroy", NULL}, NULL, "flush the disks and stop the VM", cmd_quit, print_status},
    {"subscribe",
     {NULL},
     NULL,
     "(socket) send this client every event from now on",
     cmd_subscribe,
     NULL},
    {NULL, {NULL}, NULL, NULL, NULL, NULL},
};

static const struct command *find(const char *name)
{
	for (const struct command *c = commands; c->name; c++) {
		if (!strcmp(c->name, name))
			return c;
		for (int i = 0; c->aliases[i]; i++)
			if (!strcmp(c->aliases[i], name))
				return c;
	}
	return NULL;
}

const char *control_command_name(size_t i)
{
	static size_t n;
	if (!n)
		while (commands[n].name)
			n++;
	return i < n ? commands[i].name : NULL;
}

void control_init(struct control *ctl, struct vm *vm, bool no_reboot)
{
	memset(ctl, 0, sizeof(*ctl));
	ctl->vm = vm;
	ctl->no_reboot = no_reboot;
	pthread_mutex_init(&ctl->lock, NULL);
	struct lc_event ev;
	lifecycle_init(&ctl->lc, &ev);
}

void control_destroy(struct control *ctl)
{
	pthread_mutex_destroy(&ctl->lock);
}

void control_started(struct control *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	announce(ctl, &(struct lc_event){"started", "booted"});
	pthread_mutex_unlock(&ctl->lock);
}

static struct json_object *reply_error(struct json_object *id, const char *err)
{
	struct json_object *r = json_object_new_object();
	if (id)
		put(r, "id", json_object_get(id));
	put(r, "ok", json_object_new_boolean(false));
	put(r, "error", json_object_new_string(err));
	return r;
}

struct json_object *control_execute(struct control *ctl, struct json_object *req,
				    struct control_origin *origin)
{
	if (!json_object_is_type(req, json_type_object))
		return reply_error(NULL, "a request is a JSON object: {\"id\":N,\"cmd\":\"...\"}");
	struct json_object *id = NULL;
	json_object_object_get_ex(req, "id", &id);
	const char *name = get_string(req, "cmd");
	if (!name)
		return reply_error(id, "the request has no \"cmd\" string");
	const struct command *c = find(name);
	char err[ERR_LEN];
	if (!c) {
		snprintf(err, sizeof(err), "unknown command '%.64s' (help lists them)", name);
		return reply_error(id, err);
	}
	json_object_object_foreach(req, key, val)
	{
		(void)val;
		if (strcmp(key, "id") && strcmp(key, "cmd") && (!c->arg || strcmp(key, c->arg))) {
			snprintf(err, sizeof(err), "%s: unexpected argument '%.64s'", c->name, key);
			return reply_error(id, err);
		}
		if (c->arg && !strcmp(key, c->arg) && !json_object_is_type(val, json_type_string)) {
			snprintf(err, sizeof(err), "%s: argument '%s' must be a string", c->name,
				 key);
			return reply_error(id, err);
		}
	}
	struct json_object *result = json_object_new_object();
	pthread_mutex_lock(&ctl->lock);
	int r = c->run(ctl, req, origin, result, err, sizeof(err));
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0) {
		json_object_put(result);
		return reply_error(id, err);
	}
	struct json_object *reply = json_object_new_object();
	if (id)
		put(reply, "id", json_object_get(id));
	put(reply, "ok", json_object_new_boolean(true));
	put(reply, "result", result);
	return reply;
}

struct json_object *control_execute_text(struct control *ctl, const char *line, size_t len,
					 struct control_origin *origin)
{
	while (len && isspace((unsigned char)line[len - 1]))
		len--;
	if (!len)
		return NULL;
	struct json_tokener *tok = json_tokener_new();
	struct json_object *req = json_tokener_parse_ex(tok, line, (int)len);
	enum json_tokener_error e = json_tokener_get_error(tok);
	size_t used = (size_t)json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	char err[ERR_LEN];
	if (!req || e != json_tokener_success || used != len) {
		snprintf(err, sizeof(err), "invalid JSON: %s",
			 e != json_tokener_success ? json_tokener_error_desc(e)
						   : "trailing characters after the object");
		json_object_put(req);
		return reply_error(NULL, err);
	}
	struct json_object *reply = control_execute(ctl, req, origin);
	json_object_put(req);
	return reply;
}

struct json_object *control_parse_line(const char *line, char *err, size_t errlen)
{
	while (isspace((unsigned char)*line))
		line++;
	size_t n = strlen(line);
	while (n && isspace((unsigned char)line[n - 1]))
		n--;
	if (!n) {
		snprintf(err, errlen, "empty command");
		return NULL;
	}
	/* The first two words, split on runs of blanks ("info  status" is "info status"), and
	 * where the text after each begins. */
	char words[2][64] = {{0}};
	const char *p = line, *end = line + n, *after[2] = {end, end};
	int nw = 0;
	while (p < end && nw < 2) {
		const char *s = p;
		while (p < end && !isspace((unsigned char)*p))
			p++;
		snprintf(words[nw], sizeof(words[nw]), "%.*s", (int)(p - s), s);
		while (p < end && isspace((unsigned char)*p))
			p++;
		after[nw++] = p;
	}
	const struct command *c = NULL;
	int used = 0;
	if (nw >= 2) {
		char two[130];
		snprintf(two, sizeof(two), "%s %s", words[0], words[1]);
		if ((c = find(two)))
			used = 2;
	}
	if (!c && (c = find(words[0])))
		used = 1;
	struct json_object *req = json_object_new_object();
	if (!c) {
		/* The server names it in its refusal. */
		put(req, "cmd", json_object_new_string(words[0]));
		return req;
	}
	/* The argument: everything after the command's words, blanks squeezed. */
	const char *rest = after[used - 1];
	put(req, "cmd", json_object_new_string(c->name));
	if (rest < end) {
		if (!c->arg) {
			snprintf(err, errlen, "%s takes no argument (got '%.*s')", c->name,
				 (int)(end - rest) > 64 ? 64 : (int)(end - rest), rest);
			json_object_put(req);
			return NULL;
		}
		char *arg = strndup(rest, (size_t)(end - rest));
		char *o = arg;
		for (char *q = arg; *q; q++)
			if (!isspace((unsigned char)*q) ||
			    (o > arg && !isspace((unsigned char)o[-1])))
				*o++ = isspace((unsigned char)*q) ? ' ' : *q;
		*o = 0;
		put(req, c->arg, json_object_new_string(arg));
		free(arg);
	}
	return req;
}

void control_print_reply(const char *cmd, struct json_object *reply, FILE *out)
{
	struct json_object *ok, *result;
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		const char *e = get_string(reply, "error");
		fprintf(out, "error: %s\n", e ? e : "(no reason given)");
		return;
	}
	const struct command *c = cmd ? find(cmd) : NULL;
	if (c && c->print && json_object_object_get_ex(reply, "result", &result))
		c->print(result, out);
}

void control_print_event(struct json_object *event, FILE *out)
{
	fprintf(out, "event %s (%s): %s\n", get_string(event, "event"), get_string(event, "detail"),
		get_string(event, "status"));
}

void control_guest_reset(struct control *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	struct lc_event ev;
	/* Checked again under the lock: a reset command or a quit may have come first. */
	if (!vm_reset_pending(ctl->vm) || lifecycle_is_over(&ctl->lc) ||
	    vm_stop_reason(ctl->vm) != VM_RUNNING) {
		pthread_mutex_unlock(&ctl->lock);
		return;
	}
	if (ctl->no_reboot) {
		lifecycle_apply(&ctl->lc, LC_GUEST_SHUTDOWN, &ev);
		announce(ctl, &ev);
		vm_request_stop(ctl->vm, VM_STOP_SHUTDOWN);
	} else {
		log_debug("guest rebooted: resetting in place");
		if (vm_reset(ctl->vm) == 0) {
			lifecycle_apply(&ctl->lc, LC_GUEST_REBOOT, &ev);
			announce(ctl, &ev);
		}
	}
	pthread_mutex_unlock(&ctl->lock);
}

void control_vm_stopped(struct control *ctl, int why)
{
	pthread_mutex_lock(&ctl->lock);
	if (!lifecycle_is_over(&ctl->lc)) {
		struct lc_event ev;
		enum lc_op op = why == VM_STOP_SHUTDOWN ? LC_GUEST_SHUTDOWN
				: why == VM_STOP_QUIT	? LC_QUIT
							: LC_FAIL;
		lifecycle_apply(&ctl->lc, op, &ev);
		announce(ctl, &ev);
	}
	pthread_mutex_unlock(&ctl->lock);
}

void control_status(struct control *ctl, char *buf, size_t len)
{
	pthread_mutex_lock(&ctl->lock);
	lifecycle_format(&ctl->lc, buf, len);
	pthread_mutex_unlock(&ctl->lock);
}
