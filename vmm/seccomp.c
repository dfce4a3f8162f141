#define _GNU_SOURCE
#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/vhost.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"

/* System call numbers the reporter can name; x86-64 has about 460. */
#define NAMED_NR 512

/* The calls every thread makes whatever it does: memory for malloc (arenas: mmap, mprotect,
 * madvise), locks, the kick and give-up signals and their returns, clocks (as system calls
 * where the vDSO cannot serve them), json-c's hash seed, its log lines, its exit, and the crash
 * paths (a fatal signal restores the terminal and raises itself again). */
static const int base_calls[] = {
    SCMP_SYS(futex),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mprotect),
    SCMP_SYS(madvise),
    SCMP_SYS(brk),
    SCMP_SYS(mremap),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(time),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(gettid),
    SCMP_SYS(getpid),
    SCMP_SYS(tgkill),
    SCMP_SYS(write),
    SCMP_SYS(sched_yield),
    SCMP_SYS(getrandom),
};

/* A vCPU: KVM_RUN and the device models it runs on exits: eventfd kicks to the I/O thread,
 * queue fds added to its epoll, vhost started and stopped, a virtio-blk reset waiting for its
 * I/O. */
static const int vcpu_calls[] = {
    SCMP_SYS(ioctl), SCMP_SYS(read), SCMP_SYS(epoll_ctl), SCMP_SYS(io_uring_enter), SCMP_SYS(close),
};

/* The I/O thread: its epoll loop, eventfds, TAP reads and writes, virtio-rng, io_uring
 * completions, and disk I/O without io_uring (aio=sync). */
static const int io_calls[] = {
    SCMP_SYS(ioctl),	 SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(read),
    SCMP_SYS(readv),	 SCMP_SYS(writev),     SCMP_SYS(preadv),      SCMP_SYS(pwritev),
    SCMP_SYS(pread64),	 SCMP_SYS(pwrite64),   SCMP_SYS(fdatasync),   SCMP_SYS(io_uring_enter),
    SCMP_SYS(epoll_ctl),
};

/* The console writer: write (in the base) and a poll for room. */
static const int console_calls[] = {SCMP_SYS(poll), SCMP_SYS(ppoll)};

/* What a monitor or socket command may need, on the main thread and the control thread alike:
 * pause and reset (vCPU state, interrupt controllers, guest memory wiped and the kernel loaded
 * again, virtio-blk's I/O waited for, vhost stopped), the power button, `info net`'s TAP
 * counters from sysfs (read-only opens: see allow_read_only_open), disks flushed, quitting. */
static const int command_calls[] = {
    SCMP_SYS(ioctl),	 SCMP_SYS(read),  SCMP_SYS(io_uring_enter), SCMP_SYS(fdatasync),
    SCMP_SYS(epoll_ctl), SCMP_SYS(close), SCMP_SYS(fstat),	    SCMP_SYS(newfstatat),
    SCMP_SYS(lseek),	 SCMP_SYS(poll),  SCMP_SYS(ppoll),
};

/* The main thread beyond the commands: the console loop (stdin, its signalfd, the VM's
 * eventfds), libedit's prompt, and the exit path: threads joined, io_uring and KVM fds closed,
 * the socket file removed, the terminal restored. */
static const int main_calls[] = {
    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(signalfd4),
    SCMP_SYS(unlink),	  SCMP_SYS(readv),	 SCMP_SYS(writev),
    SCMP_SYS(fsync),	  SCMP_SYS(pselect6),	 SCMP_SYS(select),
};

/* The control socket: its listener, its clients, their commands. */
static const int control_calls[] = {
    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(accept4),  SCMP_SYS(recvfrom),
    SCMP_SYS(sendto),	  SCMP_SYS(sendmsg),	 SCMP_SYS(shutdown), SCMP_SYS(getsockopt),
};

/* `screendump FILE` from the monitor or a socket client: the PNG goes to a new temporary file
 * (see allow_create_open) renamed into place, or removed when writing failed. */
static const int screendump_calls[] = {
    SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2),
    SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(fcntl),
};

/* The display thread: SDL's event queue over its connection to the X server (or Wayland
 * compositor) and shared-memory images, its 60 Hz sleep; the commands it runs are powerdown
 * and quit (the window closed). */
static const int display_calls[] = {
    SCMP_SYS(poll),   SCMP_SYS(ppoll),	   SCMP_SYS(read),	SCMP_SYS(readv),
    SCMP_SYS(writev), SCMP_SYS(recvmsg),   SCMP_SYS(recvfrom),	SCMP_SYS(sendmsg),
    SCMP_SYS(sendto), SCMP_SYS(shmget),	   SCMP_SYS(shmat),	SCMP_SYS(shmdt),
    SCMP_SYS(shmctl), SCMP_SYS(ioctl),	   SCMP_SYS(fdatasync), SCMP_SYS(io_uring_enter),
    SCMP_SYS(select), SCMP_SYS(pselect6),  SCMP_SYS(fstat),	SCMP_SYS(newfstatat),
    SCMP_SYS(close),  SCMP_SYS(epoll_ctl), SCMP_SYS(shutdown),
};

/* ioctl is allowed per request, never whole. The terminal's: every thread may restore it on a
 * fatal path; the main thread also runs the monitor prompt. */
static const unsigned long tty_restore_ioctls[] = {TCSETS, TCSETSW, TCSETSF};
static const unsigned long tty_ioctls[] = {TCGETS, TIOCGWINSZ, TIOCSWINSZ, FIONREAD};
/* A vCPU's own. */
static const unsigned long run_ioctls[] = {KVM_RUN};
/* The display's: the framebuffer's dirty pages, and what X11's event queue asks its socket. */
static const unsigned long display_ioctls[] = {KVM_GET_DIRTY_LOG, FIONREAD};
/* Interrupt lines, irqfds, ioeventfds and MSI routes: device models on any thread. */
static const unsigned long irq_ioctls[] = {KVM_IRQ_LINE, KVM_IRQFD, KVM_IOEVENTFD,
					   KVM_SET_GSI_ROUTING};
/* virtio-net's offloads and vhost-net started or stopped by a driver (a vCPU) or a reset. */
static const unsigned long net_ioctls[] = {
    TUNSETOFFLOAD,	   TUNSETVNETHDRSZ,	 VHOST_GET_FEATURES,   VHOST_SET_FEATURES,
    VHOST_SET_OWNER,	   VHOST_SET_MEM_TABLE,	 VHOST_SET_VRING_NUM,  VHOST_SET_VRING_ADDR,
    VHOST_SET_VRING_BASE,  VHOST_GET_VRING_BASE, VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL,
    VHOST_NET_SET_BACKEND,
};
/* A reset's power-on state and `info cpus`/`info registers` of paused vCPUs, the clock kept
 * over a pause. */
static const unsigned long state_ioctls[] = {
    KVM_GET_REGS,	 KVM_SET_REGS,	      KVM_GET_SREGS,	 KVM_SET_SREGS,
    KVM_GET_FPU,	 KVM_SET_FPU,	      KVM_GET_MSRS,	 KVM_SET_MSRS,
    KVM_GET_LAPIC,	 KVM_SET_LAPIC,	      KVM_GET_MP_STATE,	 KVM_SET_MP_STATE,
    KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS,
    KVM_GET_XSAVE,	 KVM_SET_XSAVE,	      KVM_GET_XCRS,	 KVM_SET_XCRS,
    KVM_SET_CPUID2,	 KVM_KVMCLOCK_CTRL,   KVM_GET_CLOCK,	 KVM_SET_CLOCK,
    KVM_GET_IRQCHIP,	 KVM_SET_IRQCHIP,     KVM_GET_PIT2,	 KVM_SET_PIT2,
};

struct call_set {
	const int *calls;
	size_t n;
};
struct ioctl_set {
	const unsigned long *reqs;
	size_t n;
};
#define SET(a)                                                                                     \
	{                                                                                          \
		a, sizeof(a) / sizeof(a[0])                                                        \
	}
#define MAX_SETS 6

struct thread_policy {
	const char *name;
	struct call_set calls[4];
	struct ioctl_set ioctls[MAX_SETS];
	bool read_only_open; /* openat for reading: sysfs counters */
	bool create_open;    /* openat of a new file for writing: screendump's */
};

static const struct thread_policy policies[SECCOMP_NTHREADS] = {
    [SECCOMP_MAIN] = {"main",
		      {SET(base_calls), SET(command_calls), SET(main_calls), SET(screendump_calls)},
		      {SET(tty_restore_ioctls), SET(tty_ioctls), SET(irq_ioctls), SET(net_ioctls),
		       SET(state_ioctls)},
		      true,
		      true},
    [SECCOMP_VCPU] = {"vcpu",
		      {SET(base_calls), SET(vcpu_calls)},
		      {SET(tty_restore_ioctls), SET(run_ioctls), SET(irq_ioctls), SET(net_ioctls)},
		      false},
    [SECCOMP_IO] = {"io",
		    {SET(base_calls), SET(io_calls)},
		    {SET(tty_restore_ioctls), SET(irq_ioctls)},
		    false},
    [SECCOMP_CONSOLE] = {"console",
			 {SET(base_calls), SET(console_calls)},
			 {SET(tty_restore_ioctls)},
			 false},
    [SECCOMP_CONTROL] = {"control",
			 {SET(base_calls), SET(command_calls), SET(control_calls),
			  SET(screendump_calls)},
			 {SET(tty_restore_ioctls), SET(irq_ioctls), SET(net_ioctls),
			  SET(state_ioctls)},
			 true,
			 true},
    [SECCOMP_DISPLAY] = {"display",
			 {SET(base_calls), SET(display_calls)},
			 {SET(tty_restore_ioctls), SET(display_ioctls), SET(irq_ioctls)},
			 false},
};

static enum seccomp_mode mode = SECCOMP_MODE_OFF;
static struct sock_fprog programs[SECCOMP_NTHREADS];
static int test_kind = -1; /* KVMM_SECCOMP_TEST, read once */
static char names[NAMED_NR][24];
static void (*fatal_hook)(void);
static __thread char thread_label[32];

const char *seccomp_thread_name(enum seccomp_thread kind)
{
	return kind < SECCOMP_NTHREADS ? policies[kind].name : "?";
}

int seccomp_parse_mode(const char *s, enum seccomp_mode *m)
{
	if (!strcmp(s, "on") || !strcmp(s, "kill"))
		*m = SECCOMP_MODE_KILL;
	else if (!strcmp(s, "log"))
		*m = SECCOMP_MODE_LOG;
	else if (!strcmp(s, "off"))
		*m = SECCOMP_MODE_OFF;
	else
		return -1;
	return 0;
}

bool seccomp_allows(enum seccomp_thread kind, int nr)
{
	if (kind >= SECCOMP_NTHREADS)
		return false;
	const struct thread_policy *p = &policies[kind];
	for (size_t s = 0; s < 4; s++)
		for (size_t i = 0; i < p->calls[s].n; i++)
			if (p->calls[s].calls[i] == nr)
				return true;
	return nr == SCMP_SYS(openat) && (p->read_only_open || p->create_open);
}

size_t seccomp_allowed_count(enum seccomp_thread kind)
{
	size_t count = 0;
	for (int nr = 0; nr < NAMED_NR; nr++)
		count += seccomp_allows(kind, nr);
	return count;
}

size_t seccomp_ioctl_count(enum seccomp_thread kind)
{
	size_t count = 0;
	if (kind >= SECCOMP_NTHREADS)
		return 0;
	for (size_t s = 0; s < MAX_SETS; s++)
		for (size_t i = 0; i < policies[kind].ioctls[s].n; i++) {
			bool seen = false;
			for (size_t t = 0; t <= s && !seen; t++)
				for (size_t j = 0; j < policies[kind].ioctls[t].n && !seen; j++)
					seen = (t < s || j < i) &&
					       policies[kind].ioctls[t].reqs[j] ==
						   policies[kind].ioctls[s].reqs[i];
			count += !seen;
		}
	return count;
}

void seccomp_set_fatal_hook(void (*hook)(void))
{
	fatal_hook = hook;
}

/* Async-signal-safe formatting for the reporter: no stdio, no malloc. */
static size_t put(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at + 1 < cap)
		buf[at++] = *s++;
	return at;
}

static size_t put_num(char *buf, size_t at, size_t cap, long v)
{
	char digits[24];
	size_t n = 0;
	unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
	do
		digits[n++] = (char)('0' + u % 10);
	while ((u /= 10) && n < sizeof(digits));
	if (v < 0 && at + 1 < cap)
		buf[at++] = '-';
	while (n && at + 1 < cap)
		buf[at++] = digits[--n];
	return at;
}

/* SECCOMP_RET_TRAP lands here, on the thread that made the call. One line, the terminal back,
 * then kvmm dies of SIGSYS as a kill-process filter would have killed it, but with the thread
 * and the call named on stderr rather than only in the kernel's audit log. */
static void sigsys_report(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	char line[256];
	size_t n = put(line, 0, sizeof(line), "kvmm: seccomp: the ");
	n = put(line, n, sizeof(line), thread_label[0] ? thread_label : "unnamed");
	n = put(line, n, sizeof(line), " thread made system call ");
	int nr = si->si_syscall;
	if (nr >= 0 && nr < NAMED_NR && names[nr][0])
		n = put(line, n, sizeof(line), names[nr]);
	else
		n = put(line, n, sizeof(line), "?");
	n = put(line, n, sizeof(line), " (");
	n = put_num(line, n, sizeof(line), nr);
	n = put(
	    line, n, sizeof(line),
	    "), which its filter does not allow: stopping (--seccomp log finds every such call)\n");
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	if (fatal_hook)
		fatal_hook();
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(128 + sig); /* not reached: SIGSYS's default action ends the process */
}

/* Builds kind's filter and exports its BPF into *prog (malloc'd), through a memfd because
 * libseccomp 2.5 exports only to a file descriptor. */
static int compile(enum seccomp_thread kind, uint32_t deflt, struct sock_fprog *prog, char *why,
		   size_t whylen)
{
	scmp_filter_ctx ctx = seccomp_init(deflt);
	int fd = -1, r = -ENOMEM;
	if (!ctx)
		return err_set(why, whylen, "seccomp_init failed");
	const struct thread_policy *p = &policies[kind];
	/* Every system call runs the filter, and a vCPU makes one (KVM_RUN) per exit to kvmm: a
	 * binary search over the call numbers instead of a linear walk, with the hot ones first. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	static const int hot[] = {SCMP_SYS(ioctl), SCMP_SYS(futex),	 SCMP_SYS(write),
				  SCMP_SYS(read),  SCMP_SYS(epoll_wait), SCMP_SYS(io_uring_enter)};
	for (size_t i = 0; i < sizeof(hot) / sizeof(hot[0]); i++)
		seccomp_syscall_priority(ctx, hot[i], (uint8_t)(255 - i));
	for (size_t s = 0; s < 4; s++)
		for (size_t i = 0; i < p->calls[s].n; i++) {
			int nr = p->calls[s].calls[i];
			if (nr == SCMP_SYS(ioctl))
				continue; /* by request, below */
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
			/* -EEXIST: a call named by two of the thread's sets. */
			if (r < 0 && r != -EEXIST) {
				err_set(why, whylen, "system call %d: %s", nr, strerror(-r));
				goto out;
			}
		}
	/* The request is an int: compare its low 32 bits, whatever the caller left above. */
	for (size_t s = 0; s < MAX_SETS; s++)
		for (size_t i = 0; i < p->ioctls[s].n; i++) {
			r = seccomp_rule_add(
			    ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
			    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, p->ioctls[s].reqs[i]));
			if (r < 0 && r != -EEXIST) {
				err_set(why, whylen, "ioctl 0x%lx: %s", p->ioctls[s].reqs[i],
					strerror(-r));
				goto out;
			}
		}
	/* Opens for reading only: no path is checked (BPF cannot read it), but nothing can be
	 * created, written or truncated. */
	if (p->read_only_open &&
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				  SCMP_A2(SCMP_CMP_MASKED_EQ,
					  O_ACCMODE | O_CREAT | O_TRUNC | O_PATH, O_RDONLY))) < 0) {
		err_set(why, whylen, "openat rule: %s", strerror(-r));
		goto out;
	}
	/* Creating a new file, exclusively and not through a link, for writing: a screendump
	 * cannot truncate or overwrite anything that exists. */
	if (p->create_open &&
	    (r = seccomp_rule_add(
		 ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
		 SCMP_A2(SCMP_CMP_MASKED_EQ,
			 O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_NOFOLLOW | O_PATH,
			 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW))) < 0) {
		err_set(why, whylen, "openat rule: %s", strerror(-r));
		goto out;
	}
	fd = memfd_create("kvmm-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		err_set(why, whylen, "memfd_create: %s", strerror(errno));
		goto out;
	}
	if ((r = seccomp_export_bpf(ctx, fd)) < 0) {
		err_set(why, whylen, "seccomp_export_bpf: %s", strerror(-r));
		goto out;
	}
	off_t len = lseek(fd, 0, SEEK_END);
	if (len <= 0 || len % (off_t)sizeof(struct sock_filter) ||
	    len / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		r = -EINVAL;
		err_set(why, whylen, "exported filter of %lld bytes", (long long)len);
		goto out;
	}
	prog->filter = malloc((size_t)len);
	prog->len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
	if (!prog->filter || pread(fd, prog->filter, (size_t)len, 0) != len) {
		r = -EIO;
		err_set(why, whylen, "reading the exported filter back failed");
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return r < 0 ? -1 : 0;
}

int seccomp_prepare(enum seccomp_mode m)
{
	const char *t = getenv("KVMM_SECCOMP_TEST");
	test_kind = -1;
	for (int k = 0; t && k < SECCOMP_NTHREADS; k++)
		if (!strcmp(t, policies[k].name))
			test_kind = k;
	mode = m;
	if (m == SECCOMP_MODE_OFF)
		return 0;
	log_probe_stderr();
	/* PR_GET_SECCOMP fails with EINVAL where the kernel has no seccomp at all. */
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
		log_error("--seccomp: this kernel has no seccomp filters (%s); --seccomp off runs "
			  "without",
			  strerror(errno));
		return -1;
	}
	for (int nr = 0; nr < NAMED_NR; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (name)
			snprintf(names[nr], sizeof(names[nr]), "%s", name);
		free(name);
	}
	uint32_t deflt = m == SECCOMP_MODE_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
	for (int k = 0; k < SECCOMP_NTHREADS; k++) {
		char why[160];
		free(programs[k].filter);
		programs[k] = (struct sock_fprog){0};
		if (compile(k, deflt, &programs[k], why, sizeof(why)) < 0) {
			log_error("--seccomp: the %s thread's filter: %s", policies[k].name, why);
			return -1;
		}
	}
	struct sigaction sa = {.sa_sigaction = sigsys_report, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
	return 0;
}

int seccomp_enter(enum seccomp_thread kind, const char *label)
{
	if (kind >= SECCOMP_NTHREADS)
		return -1;
	snprintf(thread_label, sizeof(thread_label), "%s", label ? label : policies[kind].name);
	/* Named for ps, top and the kernel's seccomp log; the main thread keeps "kvmm", which
	 * pidof and pkill look for. */
	if (kind != SECCOMP_MAIN) {
		char comm[16] = "kvmm ";
		size_t n = strlen(thread_label);
		n = n < sizeof(comm) - 6 ? n : sizeof(comm) - 6;
		memcpy(comm + 5, thread_label, n);
		comm[5 + n] = 0;
		prctl(PR_SET_NAME, comm, 0, 0, 0);
	}
	if (mode != SECCOMP_MODE_OFF) {
		/* No new privileges first: what lets an unprivileged thread take a filter. */
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &programs[kind]) < 0) {
			log_error(
			    "seccomp: the %s thread cannot take its filter: %s (--seccomp off "
			    "runs without)",
			    thread_label, strerror(errno));
			return -1;
		}
		/* SIGSYS must reach the reporter even on threads that block every signal. */
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGSYS);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	if (test_kind == (int)kind) {
		log_warn("KVMM_SECCOMP_TEST=%s: the %s thread makes a system call no filter allows",
			 policies[kind].name, thread_label);
		syscall(SYS_getppid);
	}
	return 0;
}
