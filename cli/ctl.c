#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "vmm/control.h"
#include "vmm/control_sock.h"

enum { CTL_OK = 0, CTL_ERROR = 1, CTL_USAGE = 2, CTL_UNREACHABLE = 3 };

/* How long a command may take to answer: a reset reloads the kernel, nothing takes longer. */
#define REPLY_TIMEOUT_MS 30000

static void usage(FILE *out)
{
	fprintf(out, "Usage: kvmm ctl --sock PATH [--json] COMMAND [ARG]\n"
		     "       kvmm ctl --sock PATH [--json] events\n"
		     "Runs a monitor command in the kvmm whose --api-sock is PATH and prints the\n"
		     "reply; `events` prints every event until the VM stops. `help` lists the\n"
		     "commands. Exit status: 0 ok, 1 error reply, 2 bad usage, 3 socket "
		     "unreachable.\n");
}

struct reader {
	int fd;
	char buf[CONTROL_SOCK_OUT_MAX];
	size_t len;
};

/* The next line from the socket (NUL-terminated, without '\n'), or NULL at EOF, on error or
 * after timeout_ms (-1: none). */
static char *read_line(struct reader *r, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(r->buf, '\n', r->len);
		if (nl) {
			size_t n = (size_t)(nl - r->buf);
			char *line = strndup(r->buf, n);
			memmove(r->buf, nl + 1, r->len - n - 1);
			r->len -= n + 1;
			return line;
		}
		if (r->len == sizeof(r->buf))
			return NULL;
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		int pr = poll(&p, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return NULL;
		ssize_t n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		r->len += (size_t)n;
	}
}

static int send_request(int fd, struct json_object *req)
{
	size_t len;
	const char *s = json_object_to_json_string_length(req, JSON_C_TO_STRING_PLAIN, &len);
	char *line = malloc(len + 1);
	if (!line)
		return -1;
	memcpy(line, s, len);
	line[len] = '\n';
	size_t off = 0;
	while (off < len + 1) {
		ssize_t n = send(fd, line + off, len + 1 - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(line);
			return -1;
		}
		off += (size_t)n;
	}
	free(line);
	return 0;
}

static int follow_events(struct reader *r, bool json)
{
	for (;;) {
		char *line = read_line(r, -1);
		if (!line)
			return CTL_OK; /* the VM stopped: the stream ends */
		struct json_object *e = json_tokener_parse(line);
		if (json)
			printf("%s\n", line);
		else if (e && json_object_object_get_ex(e, "event", NULL))
			control_print_event(e, stdout);
		fflush(stdout);
		json_object_put(e);
		free(line);
	}
}

int ctl_main(int argc, char **argv)
{
	const char *sock = NULL;
	bool json = false;
	int i = 1;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--sock") || !strcmp(argv[i], "-sock")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "kvmm ctl: option '--sock' needs a value\n");
				return CTL_USAGE;
			}
			sock = argv[++i];
		} else if (!strncmp(argv[i], "--sock=", 7)) {
			sock = argv[i] + 7;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return CTL_OK;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			fprintf(stderr, "kvmm ctl: unknown option '%s' (see kvmm ctl --help)\n",
				argv[i]);
			return CTL_USAGE;
		} else {
			break;
		}
	}
	if (!sock) {
		fprintf(stderr,
			"kvmm ctl: no socket given: use --sock PATH (see kvmm ctl --help)\n");
		return CTL_USAGE;
	}
	if (i >= argc) {
		fprintf(stderr, "kvmm ctl: no command given (try: kvmm ctl --sock %s help)\n",
			sock);
		return CTL_USAGE;
	}
	bool events = i + 1 == argc && !strcmp(argv[i], "events");
	struct json_object *req;
	if (events) {
		req = json_object_new_object();
		json_object_object_add(req, "cmd", json_object_new_string("subscribe"));
	} else {
		size_t len = 1;
		for (int k = i; k < argc; k++)
			len += strlen(argv[k]) + 1;
		char *line = calloc(1, len);
		if (!line)
			return CTL_ERROR;
		for (int k = i; k < argc; k++) {
			strcat(line, argv[k]);
			if (k + 1 < argc)
				strcat(line, " ");
		}
		char err[256];
		req = control_parse_line(line, err, sizeof(err));
		free(line);
		if (!req) {
			fprintf(stderr, "kvmm ctl: %s\n", err);
			return CTL_USAGE;
		}
	}
	json_object_object_add(req, "id", json_object_new_int(1));

	struct sockaddr_un sa;
	if (control_sock_address(sock, &sa) < 0) {
		fprintf(stderr, "kvmm ctl: --sock %s: longer than %zu bytes\n", sock,
			sizeof(sa.sun_path) - 1);
		json_object_put(req);
		return CTL_USAGE;
	}
	struct reader *r = calloc(1, sizeof(*r));
	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "kvmm ctl: cannot reach %s: %s\n", sock, strerror(errno));
		json_object_put(req);
		return CTL_UNREACHABLE;
	}
	int rc = CTL_ERROR;
	char *line = NULL;
	struct json_object *reply = NULL, *ok;
	if (send_request(r->fd, req) < 0) {
		fprintf(stderr, "kvmm ctl: %s: %s\n", sock, strerror(errno));
		rc = CTL_UNREACHABLE;
		goto out;
	}
	/* The reply is the line with our id; an event may come first (a subscriber's). */
	for (;;) {
		if (!(line = read_line(r, REPLY_TIMEOUT_MS))) {
			fprintf(stderr, "kvmm ctl: %s: no reply (the VM stopped?)\n", sock);
			rc = CTL_UNREACHABLE;
			goto out;
		}
		reply = json_tokener_parse(line);
		if (!reply) {
			fprintf(stderr, "kvmm ctl: %s: the reply is not JSON\n", sock);
			goto out;
		}
		if (json_object_object_get_ex(reply, "id", NULL) ||
		    !json_object_object_get_ex(reply, "event", NULL))
			break;
		if (events && json)
			printf("%s\n", line);
		else if (events)
			control_print_event(reply, stdout);
		json_object_put(reply);
		reply = NULL;
		free(line);
		line = NULL;
	}
	bool good = json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok);
	if (json) {
		printf("%s\n", line);
	} else if (!good) {
		control_print_reply(NULL, reply, stderr);
	} else if (!events) {
		struct json_object *cmd;
		json_object_object_get_ex(req, "cmd", &cmd);
		control_print_reply(json_object_get_string(cmd), reply, stdout);
	}
	fflush(stdout);
	rc = good ? CTL_OK : CTL_ERROR;
	if (good && events)
		rc = follow_events(r, json);
out:
	free(line);
	json_object_put(reply);
	json_object_put(req);
	close(r->fd);
	free(r);
	return rc;
}
