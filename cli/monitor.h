/* The monitor prompt on the user's terminal: `Ctrl-A c` switches between the guest's console
 * and "(kvmm) ", where the control plane's commands run (control.h, the same table as the
 * socket's). Line editing, history and completion of command names come from libedit. While
 * the prompt is shown the guest's output waits in the console buffer and appears when you
 * switch back. Runs on the main thread, fed from the console loop; never blocks it except to
 * read the rest of a key sequence that is arriving. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct control;
struct console_out;

/* in_fd/out_fd: the terminal (or, for --monitor stdio on a pipe, plain lines without editing). */
void monitor_init(struct control *ctl, struct console_out *console, int in_fd, int out_fd);
/* Shows the prompt: guest output held, the terminal in line mode for libedit. */
void monitor_enter(void);
/* Back to the guest: raw terminal again, held output released. */
void monitor_leave(void);
bool monitor_active(void);
/* Bytes typed while the prompt is shown (the console's escape keys already taken out). */
void monitor_input(const uint8_t *buf, size_t n);
