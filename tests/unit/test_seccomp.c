/* The per-thread filters, installed for real in forked children (seccomp needs no KVM): what
 * each kind allows, that a call outside its list ends the process by SIGSYS with one line
 * naming the thread and the call, that log mode lets it through, and the test switch. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "unit.h"
#include "vmm/seccomp.h"

/* exit_group itself: ASan's _exit runs its own exit work (sigaltstack, leak checks), which no
 * filter allows and kvmm's release build never does. */
static void child_exit(int status)
{
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

struct child {
	int status;
	char err[1024]; /* what it wrote on stderr */
};

/* Runs fn in a child whose stderr is a pipe; the child exits 0 if fn returns. */
static void run_child(void (*fn)(void), struct child *c)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		fn();
		child_exit(0);
	}
	close(p[1]);
	size_t got = 0;
	ssize_t n;
	while ((n = read(p[0], c->err + got, sizeof(c->err) - 1 - got)) > 0)
		got += (size_t)n;
	c->err[got] = 0;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &c->status, 0), pid);
}

static bool killed_by_sigsys(const struct child *c)
{
	return WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGSYS;
}

static bool exited_ok(const struct child *c)
{
	return WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
}

START_TEST(test_modes_parse)
{
	enum seccomp_mode m;
	ck_assert_int_eq(seccomp_parse_mode("on", &m), 0);
	ck_assert_int_eq(m, SECCOMP_MODE_KILL);
	ck_assert_int_eq(seccomp_parse_mode("log", &m), 0);
	ck_assert_int_eq(m, SECCOMP_MODE_LOG);
	ck_assert_int_eq(seccomp_parse_mode("off", &m), 0);
	ck_assert_int_eq(m, SECCOMP_MODE_OFF);
	ck_assert_int_eq(seccomp_parse_mode("yes", &m), -1);
	ck_assert_int_eq(seccomp_parse_mode("", &m), -1);
}
END_TEST

/* What no thread may do, whatever a guest makes of it: start programs, new processes or
 * threads, trace, open sockets, change credentials, mount, load modules. */
START_TEST(test_lists_exclude_the_dangerous)
{
	static const int never[] = {
	    SCMP_SYS(execve),
	    SCMP_SYS(execveat),
	    SCMP_SYS(fork),
	    SCMP_SYS(vfork),
	    SCMP_SYS(clone),
	    SCMP_SYS(clone3),
	    SCMP_SYS(ptrace),
	    SCMP_SYS(socket),
	    SCMP_SYS(connect),
	    SCMP_SYS(bind),
	    SCMP_SYS(setuid),
	    SCMP_SYS(setresuid),
	    SCMP_SYS(mount),
	    SCMP_SYS(chroot),
	    SCMP_SYS(init_module),
	    SCMP_SYS(kill),
	    SCMP_SYS(process_vm_writev),
	    SCMP_SYS(getppid),
	    SCMP_SYS(seccomp),
	    SCMP_SYS(prctl),
	};
	for (int k = 0; k < SECCOMP_NTHREADS; k++) {
		printf("seccomp: %-7s thread: %zu system calls, %zu ioctl requests\n",
		       seccomp_thread_name(k), seccomp_allowed_count(k), seccomp_ioctl_count(k));
		ck_assert_uint_gt(seccomp_allowed_count(k), 10);
		ck_assert(seccomp_allows(k, SCMP_SYS(write)));
		ck_assert(seccomp_allows(k, SCMP_SYS(futex)));
		for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
			ck_assert_msg(!seccomp_allows(k, never[i]), "%s allows %d",
				      seccomp_thread_name(k), never[i]);
	}
	/* Each thread has what its job needs and no more than that. */
	ck_assert(seccomp_allows(SECCOMP_CONTROL, SCMP_SYS(accept4)));
	ck_assert(!seccomp_allows(SECCOMP_VCPU, SCMP_SYS(accept4)));
	ck_assert(!seccomp_allows(SECCOMP_VCPU, SCMP_SYS(openat)));
	ck_assert(!seccomp_allows(SECCOMP_IO, SCMP_SYS(openat)));
	ck_assert(!seccomp_allows(SECCOMP_CONSOLE, SCMP_SYS(read)));
	ck_assert(!seccomp_allows(SECCOMP_CONSOLE, SCMP_SYS(ioctl)) ||
		  seccomp_ioctl_count(SECCOMP_CONSOLE) == 3);
	ck_assert(seccomp_allows(SECCOMP_IO, SCMP_SYS(io_uring_enter)));
	ck_assert(!seccomp_allows(SECCOMP_IO, SCMP_SYS(io_uring_setup)));
	ck_assert_uint_lt(seccomp_allowed_count(SECCOMP_CONSOLE),
			  seccomp_allowed_count(SECCOMP_VCPU));
	ck_assert_uint_eq(seccomp_ioctl_count(SECCOMP_CONSOLE), 3); /* the terminal's restore */
	ck_assert_uint_gt(seccomp_ioctl_count(SECCOMP_VCPU), seccomp_ioctl_count(SECCOMP_IO));
	ck_assert_uint_gt(seccomp_ioctl_count(SECCOMP_MAIN), seccomp_ioctl_count(SECCOMP_VCPU));
	ck_assert_str_eq(seccomp_thread_name(SECCOMP_VCPU), "vcpu");
}
END_TEST

static void console_then_getppid(void)
{
	if (seccomp_prepare(SECCOMP_MODE_KILL) < 0 || seccomp_enter(SECCOMP_CONSOLE, "console"))
		child_exit(3);
	const char ok[] = "allowed write\n";
	if (write(STDERR_FILENO, ok, sizeof(ok) - 1) < 0)
		child_exit(4);
	syscall(SYS_getppid);
	child_exit(5); /* not reached */
}

START_TEST(test_kill_reports_thread_and_call)
{
	struct child c;
	run_child(console_then_getppid, &c);
	ck_assert_msg(killed_by_sigsys(&c), "status 0x%x, stderr: %s", c.status, c.err);
	ck_assert_ptr_nonnull(strstr(c.err, "allowed write\n"));
	char want[128];
	snprintf(want, sizeof(want),
		 "kvmm: seccomp: the console thread made system call getppid (%d)",
		 (int)SYS_getppid);
	ck_assert_msg(strstr(c.err, want), "stderr: %s", c.err);
	/* One line. */
	const char *line = strstr(c.err, "kvmm: seccomp:");
	ck_assert_ptr_null(strchr(strchr(line, '\n') + 1, '\n'));
}
END_TEST

static void log_mode_getppid(void)
{
	if (seccomp_prepare(SECCOMP_MODE_LOG) < 0 || seccomp_enter(SECCOMP_CONSOLE, "console"))
		child_exit(3);
	if (syscall(SYS_getppid) <= 0)
		child_exit(6);
}

START_TEST(test_log_mode_allows)
{
	struct child c;
	run_child(log_mode_getppid, &c);
	ck_assert_msg(exited_ok(&c), "status 0x%x, stderr: %s", c.status, c.err);
}
END_TEST

/* ioctl by request: a vCPU may KVM_RUN (here on a bad fd: EBADF, so allowed) but not ask the
 * terminal for its mode. */
static void vcpu_ioctls(void)
{
	if (seccomp_prepare(SECCOMP_MODE_KILL) < 0 || seccomp_enter(SECCOMP_VCPU, "vcpu 3"))
		child_exit(3);
	if (ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF)
		child_exit(7);
	struct termios t;
	tcgetattr(STDIN_FILENO, &t); /* TCGETS */
	child_exit(5);
}

START_TEST(test_ioctl_by_request)
{
	struct child c;
	run_child(vcpu_ioctls, &c);
	ck_assert_msg(killed_by_sigsys(&c), "status 0x%x, stderr: %s", c.status, c.err);
	ck_assert_msg(strstr(c.err, "the vcpu 3 thread made system call ioctl"), "stderr: %s",
		      c.err);
}
END_TEST

/* The control thread reads sysfs counters: read-only opens pass, an open for writing does not. */
static void control_opens(void)
{
	if (seccomp_prepare(SECCOMP_MODE_KILL) < 0 || seccomp_enter(SECCOMP_CONTROL, "control"))
		child_exit(3);
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		child_exit(8);
	close(fd);
	open("/dev/null", O_WRONLY | O_CLOEXEC);
	child_exit(5);
}

START_TEST(test_read_only_opens)
{
	struct child c;
	run_child(control_opens, &c);
	ck_assert_msg(killed_by_sigsys(&c), "status 0x%x, stderr: %s", c.status, c.err);
	ck_assert_msg(strstr(c.err, "the control thread made system call openat"), "stderr: %s",
		      c.err);
}
END_TEST

/* KVMM_SECCOMP_TEST=io: the io thread's own entry makes the forbidden call; another kind's
 * entry does not. */
static void test_switch_io(void)
{
	setenv("KVMM_SECCOMP_TEST", "io", 1);
	if (seccomp_prepare(SECCOMP_MODE_KILL) < 0)
		child_exit(3);
	seccomp_enter(SECCOMP_IO, "io");
	child_exit(5);
}

static void test_switch_other(void)
{
	setenv("KVMM_SECCOMP_TEST", "io", 1);
	if (seccomp_prepare(SECCOMP_MODE_KILL) < 0 || seccomp_enter(SECCOMP_CONSOLE, "console") < 0)
		child_exit(3);
}

START_TEST(test_switch_names_thread)
{
	struct child c;
	run_child(test_switch_io, &c);
	ck_assert_msg(killed_by_sigsys(&c), "status 0x%x, stderr: %s", c.status, c.err);
	ck_assert_msg(strstr(c.err, "the io thread made system call getppid"), "stderr: %s", c.err);
	run_child(test_switch_other, &c);
	ck_assert_msg(exited_ok(&c), "status 0x%x, stderr: %s", c.status, c.err);
}
END_TEST

/* Off: no filter, and the switch's call simply happens. */
static void off_mode(void)
{
	setenv("KVMM_SECCOMP_TEST", "vcpu", 1);
	if (seccomp_prepare(SECCOMP_MODE_OFF) < 0 || seccomp_enter(SECCOMP_VCPU, "vcpu 0") < 0)
		child_exit(3);
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_getppid) <= 0)
		child_exit(6);
}

START_TEST(test_off_mode)
{
	struct child c;
	run_child(off_mode, &c);
	ck_assert_msg(exited_ok(&c), "status 0x%x, stderr: %s", c.status, c.err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("seccomp");
	TCase *tc = tcase_create("filters");
	tcase_add_test(tc, test_modes_parse);
	tcase_add_test(tc, test_lists_exclude_the_dangerous);
	tcase_add_test(tc, test_kill_reports_thread_and_call);
	tcase_add_test(tc, test_log_mode_allows);
	tcase_add_test(tc, test_ioctl_by_request);
	tcase_add_test(tc, test_read_only_opens);
	tcase_add_test(tc, test_switch_names_thread);
	tcase_add_test(tc, test_off_mode);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
