/* Per-thread system-call allow-lists (seccomp-BPF through libseccomp), as Firecracker gives
 * each of its threads a filter of its own: a vCPU thread that a guest subverts can still only
 * make the calls a vCPU needs. Every filter is compiled once by seccomp_prepare() in the main
 * thread, before any thread starts; each thread then installs its own with seccomp_enter(),
 * once its set-up is done and before it serves the guest. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum seccomp_mode {
	SECCOMP_MODE_KILL, /* default: a call outside the list ends kvmm with one line naming it */
	SECCOMP_MODE_LOG,  /* allowed, and the kernel logs it (dmesg: type=1326 ... syscall=N) */
	SECCOMP_MODE_OFF,
};

enum seccomp_thread {
	SECCOMP_MAIN,	 /* the console loop, the monitor, the exit path */
	SECCOMP_VCPU,	 /* KVM_RUN and the device models it calls */
	SECCOMP_IO,	 /* virtqueue work, io_uring completions, TAP reads */
	SECCOMP_CONSOLE, /* the console output writer */
	SECCOMP_CONTROL, /* the control socket: clients and the commands they send */
	SECCOMP_DISPLAY, /* the SDL window: X11 or Wayland traffic, the dirty log, input */
	SECCOMP_NTHREADS,
};

/* "main", "vcpu", "io", "console", "control". */
const char *seccomp_thread_name(enum seccomp_thread kind);

/* Parses --seccomp's value ("on" is kill). Returns 0, or -1 when s is none of them. */
int seccomp_parse_mode(const char *s, enum seccomp_mode *mode);

/* Compiles every thread kind's filter and installs the SIGSYS reporter. Returns 0, or -1 after
 * a one-line error (a kernel without seccomp filters, libseccomp failing). Nothing to do, and 0,
 * for SECCOMP_MODE_OFF. */
int seccomp_prepare(enum seccomp_mode mode);

/* The calling thread takes kind's filter; label names it in a report ("vcpu 1"). Returns 0, or
 * -1 after a one-line error. Test switch, compiled in and documented in README: when the
 * environment variable KVMM_SECCOMP_TEST names this kind, the thread then makes one call that
 * no list allows (getppid), to show that its filter is live. */
int seccomp_enter(enum seccomp_thread kind, const char *label);

/* How many system calls kind's list allows (each counted once, whatever its argument rules). */
size_t seccomp_allowed_count(enum seccomp_thread kind);

/* How many ioctl requests it allows (ioctl is never allowed whole). */
size_t seccomp_ioctl_count(enum seccomp_thread kind);

/* Whether kind's list allows system call nr at all. */
bool seccomp_allows(enum seccomp_thread kind, int nr);

/* Called by the SIGSYS reporter after its line and before kvmm dies, for what must be undone
 * even then (the terminal's mode): only async-signal-safe calls, and only ioctl(TCSETS*). */
void seccomp_set_fatal_hook(void (*hook)(void));
