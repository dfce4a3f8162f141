#include "console.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "cli/monitor.h"
#include "vmm/control.h"
#include "vmm/log.h"
#include "vmm/vm.h"

static const char help_text[] = "\r\n"
				"kvmm console keys:\r\n"
				"  Ctrl-A x   quit (stops the VM)\r\n"
				"  Ctrl-A c   switch between the console and the monitor\r\n"
				"  Ctrl-A h   this help\r\n"
				"  Ctrl-A a   send Ctrl-A to the guest\r\n";

size_t console_filter(struct console_escape *esc, const uint8_t *in, size_t n, uint8_t *out,
		      size_t *out_len, enum console_action *action)
{
	size_t i, o = 0;
	*action = CONSOLE_NONE;
	for (i = 0; i < n && *action == CONSOLE_NONE; i++) {
		uint8_t c = in[i];
		if (!esc->armed) {
			if (c == CONSOLE_ESCAPE)
				esc->armed = true;
			else
				out[o++] = c;
			continue;
		}
		esc->armed = false;
		switch (c) {
		case 'x':
		case 'X':
			*action = CONSOLE_QUIT;
			break;
		case 'h':
		case 'H':
		case '?':
			*action = CONSOLE_HELP;
			break;
		case 'c':
		case 'C':
			*action = CONSOLE_MONITOR;
			break;
		case 'a':
		case CONSOLE_ESCAPE:
			out[o++] = CONSOLE_ESCAPE;
			break;
		default:
			break; /* unknown escape: swallowed, as in QEMU */
		}
	}
	*out_len = o;
	return i;
}

static struct termios saved_termios;
static int raw_fd = -1;

void console_raw_leave(void)
{
	if (raw_fd >= 0)
		tcsetattr(raw_fd, TCSAFLUSH, &saved_termios);
	raw_fd = -1;
}

void console_raw_restore(void)
{
	if (raw_fd >= 0)
		tcsetattr(raw_fd, TCSANOW, &saved_termios);
}

/* Only async-signal-safe calls here: tcsetattr is one. */
static void fatal_signal(int sig)
{
	if (raw_fd >= 0)
		tcsetattr(raw_fd, TCSANOW, &saved_termios);
	signal(sig, SIG_DFL);
	raise(sig);
}

void console_line_mode(bool on)
{
	if (raw_fd < 0)
		return;
	struct termios t = saved_termios;
	if (on) {
		t.c_lflag &= ~(tcflag_t)ISIG;
		t.c_iflag &= ~(tcflag_t)IXON;
		/* And no characters for them, should an editor turn ISIG back on. */
		t.c_cc[VINTR] = t.c_cc[VQUIT] = t.c_cc[VSUSP] = _POSIX_VDISABLE;
	} else {
		cfmakeraw(&t);
	}
	tcsetattr(raw_fd, TCSANOW, &t);
}

void console_raw_enter(int fd)
{
	if (!isatty(fd) || tcgetattr(fd, &saved_termios) < 0)
		return;
	struct termios raw = saved_termios;
	cfmakeraw(&raw);
	if (tcsetattr(fd, TCSANOW, &raw) < 0)
		return;
	raw_fd = fd;
	atexit(console_raw_leave);
	static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGQUIT};
	struct sigaction sa = {.sa_handler = fatal_signal};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
}

static void drain(int fd)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v));
	(void)r;
}

int console_loop(struct vm *vm, struct control *ctl, int in_fd, enum monitor_mode mode)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		log_warn("signalfd: %s; SIGTERM will not stop the VM cleanly", strerror(errno));

	struct console_escape esc = {0};
	uint8_t in[256], pending[256];
	size_t npending = 0;
	bool in_open = in_fd >= 0;
	int ended_by = 0;
	if (mode == MONITOR_STDIO)
		monitor_enter();

	while (vm_stop_reason(vm) == VM_RUNNING) {
		/* Input the UART had no room for waits here, and stdin is not read until it is
		 * delivered: the kernel's tty buffer holds the rest, nothing is dropped. */
		if (npending && !vm_is_paused(vm)) {
			size_t n = serial_rx_push(&vm->serial, pending, npending);
			memmove(pending, pending + n, npending - n);
			npending -= n;
		}
		/* While paused, typed input waits here (and in the tty) for the resume. */
		struct pollfd p[5] = {
		    {.fd = vm->stop_fd, .events = POLLIN},
		    {.fd = sfd, .events = POLLIN},
		    {.fd = vm->rx_ready_fd, .events = POLLIN},
		    {.fd = (in_open && npending < sizeof(pending) / 2) ? in_fd : -1,
		     .events = POLLIN},
		    {.fd = vm->reset_fd, .events = POLLIN},
		};
		if (poll(p, 5, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			vm_request_stop(vm, VM_STOP_ERROR);
			break;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				ended_by = (int)si.ssi_signo;
				vm_request_stop(vm, VM_STOP_QUIT);
			}
		}
		if (p[2].revents & POLLIN)
			drain(vm->rx_ready_fd);
		if ((p[4].revents & POLLIN) && vm_take_reset_request(vm))
			control_guest_reset(ctl);
		if (p[3].revents & (POLLIN | POLLHUP | POLLERR)) {
			size_t room = sizeof(pending) - npending;
			ssize_t n = read(in_fd, in, room < sizeof(in) ? room : sizeof(in));
			if (n <= 0) {
				if (n == 0 || (errno != EINTR && errno != EAGAIN))
					in_open = false; /* EOF: the guest keeps running */
				continue;
			}
			size_t done = 0;
			while (done < (size_t)n) {
				size_t out_len;
				enum console_action act;
				uint8_t typed[sizeof(in)];
				done += console_filter(&esc, in + done, (size_t)n - done, typed,
						       &out_len, &act);
				if (monitor_active()) {
					monitor_input(typed, out_len);
				} else {
					/* Room for all of it: polled only while half is free. */
					memcpy(pending + npending, typed, out_len);
					npending += out_len;
				}
				if (act == CONSOLE_MONITOR && mode != MONITOR_NONE) {
					if (monitor_active())
						monitor_leave();
					else
						monitor_enter();
				}
				if (act == CONSOLE_QUIT)
					vm_request_stop(vm, VM_STOP_QUIT);
				else if (act == CONSOLE_HELP)
					/* In order with the guest's output; with 64 KiB of it
					 * unread, the help is cut short rather than waited for. */
					console_out_write(&vm->console_out, help_text,
							  sizeof(help_text) - 1);
			}
		}
	}
	monitor_leave();
	if (sfd >= 0)
		close(sfd);
	return ended_by;
}
