/* The control plane's request parsers (vmm/control.c), as test_control.c drives them: without a
 * machine (commands that need one say there is none), over the lifecycle's states. The input is
 * what a client sends: lines, as the control socket frames them (vmm/control_sock.c cuts its
 * input at '\n' and hands each line to control_execute_text), or as typed at the monitor
 * (control_parse_line, then control_execute). Every reply is printed for people, as `kvmm ctl`
 * and the monitor do, and every line is also taken as a reply or event `kvmm ctl` reads from the
 * socket and prints (control_print_reply, control_print_event).
 *
 * Input: a flags byte (monitor or socket, which state the VM is in, whether the client may
 * subscribe), then the lines. */
#include "fuzz.h"
#include "vmm/control.h"
#include "vmm/control_sock.h"

static struct control ctl;
static FILE *out;
static unsigned events;

static void on_event(void *opaque, struct json_object *e)
{
	(void)opaque;
	FUZZ_CHECK(json_object_is_type(e, json_type_object));
	events++;
}

/* A reply is always an object with "ok", and an "error" string when not ok. */
static void check_reply(struct json_object *r)
{
	struct json_object *ok, *e;
	FUZZ_CHECK(json_object_is_type(r, json_type_object));
	FUZZ_CHECK(json_object_object_get_ex(r, "ok", &ok));
	if (!json_object_get_boolean(ok)) {
		FUZZ_CHECK(json_object_object_get_ex(r, "error", &e));
		FUZZ_CHECK(json_object_is_type(e, json_type_string));
	}
}

/* What `kvmm ctl` does with a line it reads: a reply or an event, printed. */
static void as_server_line(const char *line, const char *cmd)
{
	struct json_object *r = json_tokener_parse(line);
	if (!r)
		return;
	if (json_object_object_get_ex(r, "event", NULL) &&
	    !json_object_object_get_ex(r, "id", NULL))
		control_print_event(r, out);
	else
		control_print_reply(cmd, r, out);
	json_object_put(r);
}

static const char *cmd_name(uint8_t b)
{
	size_t n = 0;
	while (control_command_name(n))
		n++;
	return b < n ? control_command_name(b) : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!out && !(out = fopen("/dev/null", "w")))
		abort();
	struct fuzz_in in = {data, size};
	uint8_t flags = fuzz_u8(&in);
	bool monitor = flags & 1;
	struct control_origin origin = {.can_subscribe = flags & 2};
	const char *print_as = cmd_name(fuzz_u8(&in));

	control_init(&ctl, NULL, flags & 4);
	ctl.on_event = on_event;
	events = 0;
	switch ((flags >> 3) & 3) { /* the state the VM is in when the requests come */
	case 1:
		ctl.lc.state = VIR_DOMAIN_PAUSED;
		ctl.lc.reason = VIR_DOMAIN_PAUSED_USER;
		break;
	case 2: /* the guest powered off, an error, a quit */
		control_vm_stopped(&ctl, flags >> 5);
		break;
	default:
		control_started(&ctl);
		break;
	}

	/* One line at a time, at most what a socket client may send in one. */
	static char line[CONTROL_SOCK_LINE_MAX + 1];
	while (fuzz_more(&in)) {
		const uint8_t *nl = memchr(in.p, '\n', in.n);
		size_t n;
		const uint8_t *p = fuzz_bytes(&in, nl ? (size_t)(nl - in.p) : in.n, &n);
		if (nl)
			fuzz_u8(&in); /* the '\n' */
		if (n > CONTROL_SOCK_LINE_MAX)
			n = CONTROL_SOCK_LINE_MAX;
		memcpy(line, p, n);
		line[n] = '\0';

		struct json_object *reply = NULL;
		if (monitor) {
			char err[256] = "";
			struct json_object *req = control_parse_line(line, err, sizeof(err));
			if (!req) {
				FUZZ_CHECK(err[0] != '\0');
			} else {
				reply = control_execute(&ctl, req, &origin);
				struct json_object *cmd;
				FUZZ_CHECK(json_object_object_get_ex(req, "cmd", &cmd));
				control_print_reply(json_object_get_string(cmd), reply, out);
				json_object_put(req);
			}
		} else {
			/* The socket's framing: the bytes before '\n', whatever they are. */
			reply = control_execute_text(&ctl, (const char *)p, n, &origin);
			if (reply)
				control_print_reply(print_as, reply, out);
		}
		if (reply) {
			check_reply(reply);
			json_object_put(reply);
		}
		as_server_line(line, print_as);
	}

	char status[64];
	control_status(&ctl, status, sizeof(status));
	control_destroy(&ctl);
	return 0;
}
