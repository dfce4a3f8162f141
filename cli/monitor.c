#include "monitor.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli/console.h"
#include "vmm/console_out.h"
#include "vmm/control.h"

#define PROMPT "(kvmm) "
/* How long libedit may wait for the rest of a key sequence that is not here yet. */
#define GETC_WAIT_MS 100

static struct {
	struct control *ctl;
	struct console_out *console;
	int in_fd, out_fd;
	bool tty;	    /* libedit edits lines; else plain lines (a pipe) */
	bool active;	    /* the prompt is shown */
	bool installed;	    /* libedit's line handler is in place */
	uint8_t queue[256]; /* typed bytes libedit has not read yet */
	size_t qhead, qlen;
	char *done_line; /* libedit finished a line: run it once libedit has returned */
	bool done_eof;	 /* or it ended one with EOF (Ctrl-D): just a fresh prompt */
	char line[1024]; /* a plain line being gathered */
	size_t line_len;
} mon = {.in_fd = -1, .out_fd = -1};

static void run_line(const char *line)
{
	FILE *out = mon.tty ? rl_outstream : stdout;
	char err[256];
	struct json_object *req = control_parse_line(line, err, sizeof(err));
	if (!req) {
		if (strcmp(err, "empty command"))
			fprintf(out, "error: %s\n", err);
		fflush(out);
		return;
	}
	struct control_origin origin = {.can_subscribe = false};
	struct json_object *reply = control_execute(mon.ctl, req, &origin);
	struct json_object *cmd;
	json_object_object_get_ex(req, "cmd", &cmd);
	control_print_reply(json_object_get_string(cmd), reply, out);
	fflush(out);
	json_object_put(reply);
	json_object_put(req);
}

/* libedit's reads: from what the console loop handed over, else (the rest of a key sequence
 * still arriving) from the terminal itself. */
static int monitor_getc(FILE *f)
{
	(void)f;
	if (mon.qlen) {
		uint8_t c = mon.queue[mon.qhead];
		mon.qhead = (mon.qhead + 1) % sizeof(mon.queue);
		mon.qlen--;
		return c;
	}
	/* Only briefly: the console loop must get back to the VM's events. A key sequence
	 * broken off here ends the line as EOF does (on_line(NULL)). */
	struct pollfd p = {.fd = mon.in_fd, .events = POLLIN};
	uint8_t c;
	while (poll(&p, 1, GETC_WAIT_MS) == 1) {
		ssize_t n = read(mon.in_fd, &c, 1);
		if (n == 1)
			return c;
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	return EOF;
}

static void on_line(char *line)
{
	if (!line) {
		/* Ctrl-D on an empty line: nothing to run, as in QEMU's monitor. */
		mon.done_eof = true;
		return;
	}
	free(mon.done_line);
	mon.done_line = line;
}

/* Tab completion: command words in the table, first word then second ("info st" ->
 * "info status"), and command names after "help". */
static char *complete_word(const char *text, int state)
{
	static size_t i;
	static char prefix[128]; /* the words before the one being completed, with a blank */
	if (!state) {
		i = 0;
		size_t point = (size_t)(rl_line_buffer ? strlen(rl_line_buffer) : 0);
		size_t tlen = strlen(text);
		size_t plen = point >= tlen ? point - tlen : 0;
		snprintf(prefix, sizeof(prefix), "%.*s", (int)plen, rl_line_buffer);
		if (!strncmp(prefix, "help ", 5))
			memmove(prefix, prefix + 5, strlen(prefix + 5) + 1);
	}
	size_t plen = strlen(prefix), tlen = strlen(text);
	const char *name;
	while ((name = control_command_name(i++))) {
		if (strncmp(name, prefix, plen) || strncmp(name + plen, text, tlen))
			continue;
		const char *word = name + plen;
		size_t wlen = strcspn(word, " ");
		/* Offer each first word once: "info" for all of info's commands. */
		bool seen = false;
		for (size_t k = 0; k + 1 < i && !seen; k++) {
			const char *o = control_command_name(k);
			seen = !strncmp(o, prefix, plen) && !strncmp(o + plen, word, wlen) &&
			       (o[plen + wlen] == ' ' || o[plen + wlen] == 0);
		}
		if (!seen)
			return strndup(word, wlen);
	}
	return NULL;
}

static char **complete(const char *text, int start, int end)
{
	(void)start, (void)end;
	rl_attempted_completion_over = 1; /* never file names */
	return rl_completion_matches(text, complete_word);
}

void monitor_init(struct control *ctl, struct console_out *console, int in_fd, int out_fd)
{
	mon.ctl = ctl;
	mon.console = console;
	mon.in_fd = in_fd;
	mon.out_fd = out_fd;
	mon.tty = isatty(in_fd) && isatty(out_fd);
	if (!mon.tty)
		return;
	rl_readline_name = "kvmm";
	rl_catch_signals = 0; /* signals are the console loop's, through its signalfd */
	rl_getc_function = monitor_getc;
	rl_attempted_completion_function = complete;
	rl_instream = fdopen(dup(in_fd), "r");
	rl_outstream = fdopen(dup(out_fd), "w");
	/* libedit initialised now, before the privilege drop and the main thread's seccomp filter:
	 * it reads terminfo and ~/.editrc, which a chroot hides and the filter would refuse. It
	 * edits only if the terminal echoes at this first call, which the raw console does not:
	 * line mode for it, then raw again. Its edit mode would turn signal keys back on: Ctrl-C
	 * at the prompt must not end the VM. */
	console_line_mode(true);
	rl_initialize();
	rl_parse_and_bind("settty -d -isig");
	console_line_mode(false);
}

bool monitor_active(void)
{
	return mon.active;
}

void monitor_enter(void)
{
	if (mon.active)
		return;
	mon.active = true;
	console_out_hold(mon.console, true);
	if (mon.tty) {
		console_line_mode(true);
		FILE *out = rl_outstream;
		fprintf(out, "\r\n");
		fflush(out);
		rl_callback_handler_install(PROMPT, on_line);
		mon.installed = true;
	} else {
		printf(PROMPT);
		fflush(stdout);
	}
}

void monitor_leave(void)
{
	if (!mon.active)
		return;
	mon.active = false;
	if (mon.installed) {
		rl_callback_handler_remove();
		mon.installed = false;
		fprintf(rl_outstream, "\n");
		fflush(rl_outstream);
		console_line_mode(false);
	}
	mon.qlen = mon.qhead = 0;
	console_out_hold(mon.console, false);
}

static void plain_input(const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n' && buf[i] != '\r') {
			if (mon.line_len < sizeof(mon.line) - 1)
				mon.line[mon.line_len++] = (char)buf[i];
			continue;
		}
		mon.line[mon.line_len] = 0;
		mon.line_len = 0;
		run_line(mon.line);
		if (mon.active)
			printf(PROMPT);
		fflush(stdout);
	}
}

void monitor_input(const uint8_t *buf, size_t n)
{
	if (!mon.active)
		return;
	if (!mon.tty) {
		plain_input(buf, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (mon.qlen == sizeof(mon.queue))
			break; /* a paste longer than a line: the rest is dropped */
		mon.queue[(mon.qhead + mon.qlen) % sizeof(mon.queue)] = buf[i];
		mon.qlen++;
	}
	while (mon.qlen && mon.active) {
		rl_callback_read_char();
		if (!mon.done_line && !mon.done_eof)
			continue;
		/* libedit done with the line (the terminal in line mode again): its output, then
		 * a fresh prompt, in that order. */
		char *line = mon.done_line;
		mon.done_line = NULL;
		mon.done_eof = false;
		rl_callback_handler_remove();
		if (line && *line)
			add_history(line);
		if (line)
			run_line(line);
		else
			fprintf(rl_outstream, "\n");
		free(line);
		if (mon.active)
			rl_callback_handler_install(PROMPT, on_line);
	}
}
