/* kvmm: boot a Linux guest on KVM with its serial console on this terminal. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/console.h"
#include "cli/ctl.h"
#include "cli/display_module.h"
#include "cli/monitor.h"
#include "cli/options.h"
#include "loader/kernel.h"
#include "vmm/control.h"
#include "vmm/control_sock.h"
#include "vmm/log.h"
#include "vmm/privilege.h"
#include "vmm/seccomp.h"
#include "vmm/timeline.h"
#include "vmm/vm.h"

#ifndef KVMM_VERSION
#define KVMM_VERSION "0.0.0"
#endif

enum { EXIT_ERROR = 1, EXIT_USAGE = 2 };

struct file_buf {
	uint8_t *data;
	size_t len;
	struct stat st;
	int64_t read_ns; /* CLOCK_REALTIME before reading: the kernel cache's racy check */
};

/* Reads a whole regular file; errors name the option and the path. */
static int read_file(const char *opt, const char *path, struct file_buf *out)
{
	out->data = NULL;
	out->len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("%s %s: %s", opt, path, strerror(errno));
		return -1;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	out->read_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("%s %s: not a regular file", opt, path);
		goto fail;
	}
	out->st = st;
	if (st.st_size == 0) {
		log_error("%s %s: file is empty", opt, path);
		goto fail;
	}
	out->len = (size_t)st.st_size;
	out->data = malloc(out->len);
	if (!out->data) {
		log_error("%s %s: out of memory for %zu bytes", opt, path, out->len);
		goto fail;
	}
	for (size_t got = 0; got < out->len;) {
		ssize_t n = read(fd, out->data + got, out->len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error("%s %s: %s", opt, path, n < 0 ? strerror(errno) : "file shrank");
			goto fail;
		}
		got += (size_t)n;
	}
	close(fd);
	return 0;
fail:
	free(out->data);
	out->data = NULL;
	close(fd);
	return -1;
}

/* Opens a disk image the way the device will, so a bad path is reported before KVM is touched. */
static int check_disk(const struct disk_option *d)
{
	int fd = open(d->path, (d->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		log_error("--disk %s: %s", d->path, strerror(errno));
		return -1;
	}
	struct stat st;
	bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	close(fd);
	if (!regular) {
		log_error("--disk %s: not a regular file", d->path);
		return -1;
	}
	return 0;
}

/* The kernel, unpacked (or found in the cache) here, before KVM: a kernel kvmm cannot boot is
 * bad input like any other. */
static int open_kernel(struct kernel_image *k, const struct options *opts, const struct file_buf *f)
{
	char dir[4096];
	const char *cache = opts->kernel_cache;
	if (!cache)
		cache = kcache_default_dir(dir, sizeof(dir)) ? dir : NULL;
	else if (!strcmp(cache, "off"))
		cache = NULL;
	struct kernel_file kf = {f->data, f->len, &f->st, f->read_ns};
	struct kernel_options ko = {
	    opts->kernel_boot_classic ? KERNEL_BOOT_CLASSIC : KERNEL_BOOT_DIRECT, cache};
	char why[192];
	if (kernel_open(k, &kf, &ko, why, sizeof(why)) < 0) {
		log_error("--kernel %s: %s", opts->kernel, why);
		return -1;
	}
	timeline_mark(TL_KERNEL_OPEN);
	log_debug("kernel %s: %s: %s", opts->kernel, kernel_kind_name(k->kind), k->how);
	return 0;
}

/* --display sdl's code, loaded from kvmm-display.so. */
static struct display_module dmod;

/* What a failure between opening the socket and starting the VM leaves to close. */
static void close_socket_and_display(const struct options *opts, struct control_sock *sock,
				     struct display *disp)
{
	if (opts->display.sdl)
		dmod.close(disp);
	if (opts->api_sock)
		control_sock_close(sock);
}

static int exit_status(enum vm_stop why, int signo)
{
	if (signo)
		return 128 + signo;
	switch (why) {
	case VM_STOP_SHUTDOWN:
	case VM_STOP_QUIT:
		return 0;
	default:
		return EXIT_ERROR;
	}
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "ctl"))
		return ctl_main(argc - 1, argv + 1);
	struct options opts;
	if (options_parse(&opts, argc, argv) < 0)
		return EXIT_USAGE;
	if (opts.help) {
		options_usage(stdout);
		return 0;
	}
	if (opts.version) {
		printf("kvmm %s\n", KVMM_VERSION);
		return 0;
	}
	log_verbosity = opts.verbose;
	timeline_set_print(opts.boot_timeline);
	timeline_mark(TL_OPTIONS);

	/* Everything the user handed us is checked before KVM is touched, so bad input gets the
	 * same answer on a machine without KVM. */
	struct file_buf kernel, initrd = {0};
	if (read_file("--kernel", opts.kernel, &kernel) < 0)
		return EXIT_ERROR;
	static struct kernel_image kimg;
	if (open_kernel(&kimg, &opts, &kernel) < 0)
		return EXIT_ERROR;
	if (opts.initrd && read_file("--initrd", opts.initrd, &initrd) < 0)
		return EXIT_ERROR;
	if (opts.display.sdl && kimg.kind == KERNEL_ELF_PVH)
		return log_error("--display sdl: %s boots through PVH, which has no way to tell it "
				 "of a framebuffer: give its bzImage",
				 opts.kernel),
		       EXIT_ERROR;
	for (int i = 0; i < opts.ndisks; i++)
		if (check_disk(&opts.disks[i]) < 0)
			return EXIT_ERROR;
	char *cmdline = options_guest_cmdline(&opts);
	if (!cmdline)
		return log_error("out of memory"), EXIT_ERROR;
	if (kernel_check_cmdline(&kimg, cmdline) < 0)
		return EXIT_ERROR;
	static struct privilege priv;
	if ((opts.user || opts.chroot_dir) &&
	    privilege_resolve(&priv, opts.user, opts.chroot_dir) < 0)
		return EXIT_ERROR;
	/* Before KVM too: a socket path in use is bad input like any other. */
	static struct control_sock sock;
	if (opts.api_sock && control_sock_open(&sock, opts.api_sock) < 0)
		return EXIT_ERROR;
	/* The window opens before KVM (no display to open on is bad input too) and before any
	 * privilege drop or filter: SDL connects to the X server, loads its drivers and reads
	 * the X authority file here, so the display thread only draws and reads events. */
	static struct display disp;
	if (opts.display.sdl && (display_module_load(&dmod) < 0 ||
				 dmod.open(&disp, opts.display.width, opts.display.height) < 0)) {
		if (opts.api_sock)
			control_sock_close(&sock);
		return EXIT_ERROR;
	}
	/* The time zone read now, while /etc/localtime is reachable: glibc loads it on the first
	 * gmtime_r too (the RTC's), which would otherwise be an open on a filtered vCPU thread. */
	tzset();
	/* Every thread's filter compiled now, so a thread only installs one. */
	if (seccomp_prepare((enum seccomp_mode)opts.seccomp) < 0) {
		close_socket_and_display(&opts, &sock, &disp);
		return EXIT_ERROR;
	}
	if (opts.seccomp == SECCOMP_MODE_LOG)
		log_warn("--seccomp log: calls outside a thread's list are allowed, and the kernel "
			 "logs each (dmesg: type=1326 ... syscall=N)");
	seccomp_set_fatal_hook(console_raw_restore);

	/* SIGINT/TERM/HUP are taken by the console loop through a signalfd, so every thread,
	 * including the vCPU threads created below, must have them blocked. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct vm_config cfg = {
	    .kvm_path = opts.kvm_path,
	    .mem_size = opts.mem,
	    .ncpus = opts.cpus,
	    .kernel = &kimg,
	    .initrd = initrd.data,
	    .initrd_len = initrd.len,
	    .cmdline = cmdline,
	    .console_out_fd = STDOUT_FILENO,
	    .rng = opts.rng,
	    .acpi = opts.acpi,
	    .transport = opts.mmio ? VM_TRANSPORT_MMIO : VM_TRANSPORT_PCI,
	    .ndisks = opts.ndisks,
	    .nnics = opts.nnics,
	    .fb_width = opts.display.sdl ? opts.display.width : 0,
	    .fb_height = opts.display.sdl ? opts.display.height : 0,
	};
	for (int i = 0; i < opts.nnics; i++)
		cfg.nics[i] = (struct vm_nic){opts.nics[i].tap,
					      opts.nics[i].has_mac ? opts.nics[i].mac : NULL,
					      opts.nics[i].vhost};
	for (int i = 0; i < opts.ndisks; i++)
		cfg.disks[i] = (struct vm_disk){opts.disks[i].path, opts.disks[i].serial,
						opts.disks[i].ro, opts.disks[i].sync_io};
	/* kernel, initrd and cmdline stay: every reset loads them again. */
	static struct vm vm;
	if (vm_create(&vm, &cfg) < 0) {
		close_socket_and_display(&opts, &sock, &disp);
		return EXIT_ERROR;
	}
	static struct control ctl;
	control_init(&ctl, &vm, opts.no_reboot);
	console_raw_enter(STDIN_FILENO);
	if (opts.monitor != MONITOR_NONE)
		monitor_init(&ctl, &vm.console_out, STDIN_FILENO, STDOUT_FILENO);

	/* Everything privileged is open and no thread runs yet: credentials are per thread, so
	 * the ones started below inherit the dropped ones. */
	if ((opts.user || opts.chroot_dir) && privilege_apply(&priv) < 0) {
		console_raw_leave();
		close_socket_and_display(&opts, &sock, &disp);
		vm_destroy(&vm);
		control_destroy(&ctl);
		return EXIT_ERROR;
	}
	int signo = 0;
	/* Commands only once every vCPU runs: clients that connect earlier wait in the backlog. */
	if (vm_start(&vm) == 0 && (!opts.api_sock || control_sock_start(&sock, &ctl) == 0) &&
	    (!opts.display.sdl || dmod.start(&disp, &vm, &ctl) == 0) &&
	    seccomp_enter(SECCOMP_MAIN, "main") == 0) {
		control_started(&ctl);
		signo = console_loop(&vm, &ctl, STDIN_FILENO, (enum monitor_mode)opts.monitor);
	} else {
		vm_request_stop(&vm, VM_STOP_ERROR);
	}
	enum vm_stop stop = vm_stop_reason(&vm);
	/* Whatever ended it, what the guest wrote is on disk before kvmm goes. */
	vm_flush_disks(&vm);
	control_vm_stopped(&ctl, stop);
	close_socket_and_display(&opts, &sock, &disp);
	vm_destroy(&vm);
	control_destroy(&ctl);
	timeline_print(kimg.how); /* unless the guest's init printed it already */
	kernel_close(&kimg);
	console_raw_leave();
	free(kernel.data);
	free(initrd.data);
	free(cmdline);
	return exit_status(stop, signo);
}
