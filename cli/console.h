/* The user's terminal as the guest's serial console: raw mode with guaranteed restore, the Ctrl-A
 * escape keys, and the event loop that feeds keystrokes to the UART without ever blocking a vCPU.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct control;

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

enum console_action {
	CONSOLE_NONE,
	CONSOLE_QUIT,
	CONSOLE_HELP,
	CONSOLE_MONITOR, /* Ctrl-A c: switch between the guest's console and the monitor */
};

struct console_escape {
	bool armed; /* the previous byte was Ctrl-A */
};

/* Copies in to out (out has room for n bytes) with escape sequences removed, stopping after the
 * first one that asks for an action. Returns the bytes consumed from in; *out_len gets the bytes
 * to send to the guest. Pure: unit-tested. */
size_t console_filter(struct console_escape *esc, const uint8_t *in, size_t n, uint8_t *out,
		      size_t *out_len, enum console_action *action);

/* Puts fd's terminal in raw mode (if it is one) and arranges restore on every exit path, fatal
 * signals included. */
void console_raw_enter(int fd);
/* The saved mode back, leaving the rest to console_raw_leave; async-signal-safe. */
void console_raw_restore(void);
void console_raw_leave(void);
/* For the monitor: on, the terminal as it was before kvmm (the base libedit edits on) but with
 * no signal or flow-control keys (Ctrl-C at the prompt must not end the VM); off, raw again. */
void console_line_mode(bool on);

enum monitor_mode {
	MONITOR_VC,    /* default: Ctrl-A c shows the prompt */
	MONITOR_STDIO, /* start at the prompt */
	MONITOR_NONE,  /* no prompt: Ctrl-A c does nothing */
};

/* Runs until the VM stops: reads in_fd into the UART (or the monitor), handles escape keys, the
 * guest's reset requests (through ctl) and SIGINT, SIGTERM and SIGHUP (which must be blocked in
 * every thread before the call). Returns the signal that ended it, or 0. */
int console_loop(struct vm *vm, struct control *ctl, int in_fd, enum monitor_mode mode);
