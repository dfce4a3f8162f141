/* Runs a command on a fresh pseudo-terminal and talks to it like a person at a keyboard:
 *
 *   pty_chat [-t SECS] [-e TEXT | -s TEXT]... [--status N] [--cooked] -- CMD [ARGS...]
 *
 * -e waits until TEXT appears in the output (after what earlier -e steps matched), -s types TEXT
 * (C escapes \r \n \\ \xHH understood). After the last step it waits for CMD to exit; --status
 * checks its exit status, --cooked checks that it left the terminal in canonical mode with echo
 * (i.e. restored it). Everything CMD prints is copied to stdout. Exit 0 when every check held. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static char seen[1 << 20];
static size_t nseen, matched_upto;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t unescape(const char *in, char *out)
{
	size_t o = 0;
	for (const char *p = in; *p; p++) {
		if (*p != '\\' || !p[1]) {
			out[o++] = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'r':
			out[o++] = '\r';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 'x': {
			char hex[3] = {p[1], p[1] ? p[2] : 0, 0};
			out[o++] = (char)strtol(hex, NULL, 16);
			p += 2;
			break;
		}
		default:
			out[o++] = *p;
		}
	}
	return o;
}

/* Reads what the child printed for up to timeout seconds; returns false on EOF/timeout. */
static bool pump(int fd, double deadline)
{
	double left = deadline - now();
	if (left <= 0)
		return false;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = poll(&p, 1, (int)(left * 1000) + 1);
	if (r <= 0)
		return r < 0 && errno == EINTR;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n <= 0)
		return false;
	fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
	if (nseen + (size_t)n < sizeof(seen)) {
		memcpy(seen + nseen, buf, (size_t)n);
		nseen += (size_t)n;
	}
	return true;
}

static bool expect(int fd, const char *text, double timeout)
{
	double deadline = now() + timeout;
	for (;;) {
		char *hit = memmem(seen + matched_upto, nseen - matched_upto, text, strlen(text));
		if (hit) {
			matched_upto = (size_t)(hit - seen) + strlen(text);
			return true;
		}
		if (!pump(fd, deadline))
			return false;
	}
}

int main(int argc, char **argv)
{
	double timeout = 60;
	int want_status = -1;
	bool want_cooked = false;
	int first_cmd = 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			first_cmd = i + 1;
			break;
		}
	if (!first_cmd || first_cmd >= argc) {
		fprintf(stderr, "usage: pty_chat [-t S] [-e TEXT|-s TEXT]... [--status N] "
				"[--cooked] -- CMD...\n");
		return 2;
	}
	struct winsize ws = {.ws_row = 24, .ws_col = 80};
	int master;
	pid_t pid = forkpty(&master, NULL, NULL, &ws);
	if (pid < 0) {
		perror("pty_chat: forkpty");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[first_cmd], argv + first_cmd);
		perror("pty_chat: exec");
		_exit(127);
	}
	int failed = 0;
	for (int i = 1; i < first_cmd - 1 && !failed; i++) {
		if (strcmp(argv[i], "-t") == 0 && i + 1 < first_cmd) {
			timeout = atof(argv[++i]);
		} else if (strcmp(argv[i], "-e") == 0 && i + 1 < first_cmd) {
			const char *text = argv[++i];
			if (!expect(master, text, timeout)) {
				fprintf(stderr, "\npty_chat: did not see \"%s\" within %.0f s\n",
					text, timeout);
				failed = 1;
			}
		} else if (strcmp(argv[i], "-s") == 0 && i + 1 < first_cmd) {
			char buf[4096];
			size_t n = unescape(argv[++i], buf);
			/* One key at a time, as typed: the guest must not lose input it is not
			 * reading at that instant. */
			for (size_t k = 0; k < n; k++)
				if (write(master, &buf[k], 1) != 1)
					failed = 1;
		} else if (strcmp(argv[i], "--status") == 0 && i + 1 < first_cmd) {
			want_status = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--cooked") == 0) {
			want_cooked = true;
		} else {
			fprintf(stderr, "pty_chat: bad argument '%s'\n", argv[i]);
			failed = 2;
		}
	}
	if (failed)
		kill(pid, SIGKILL);

	/* Drain output until the child exits (or the timeout passes). */
	double deadline = now() + timeout;
	int status = 0;
	pid_t w;
	while ((w = waitpid(pid, &status, WNOHANG)) == 0) {
		if (!pump(master, deadline) && now() > deadline) {
			fprintf(stderr, "\npty_chat: command still running after %.0f s\n",
				timeout);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 1;
		}
	}
	if (want_cooked) {
		/* On Linux the master reports the slave's settings. */
		struct termios t;
		if (tcgetattr(master, &t) < 0 || !(t.c_lflag & ICANON) || !(t.c_lflag & ECHO)) {
			fprintf(stderr, "\npty_chat: terminal left in raw mode\n");
			failed = 1;
		}
	}
	while (pump(master, now() + 0.2))
		;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "\npty_chat: command killed by signal %d\n", WTERMSIG(status));
		return 1;
	}
	if (want_status >= 0 && WEXITSTATUS(status) != want_status) {
		fprintf(stderr, "\npty_chat: command exited %d, expected %d\n", WEXITSTATUS(status),
			want_status);
		return 1;
	}
	if (!failed)
		fprintf(stderr, "\npty_chat: all checks passed\n");
	return failed ? 1 : 0;
}
