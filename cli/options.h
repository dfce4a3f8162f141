/* Command-line options of kvmm. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define KVMM_DEFAULT_MEM (256ULL << 20)
#define KVMM_MIN_MEM	 (16ULL << 20)
#define KVMM_MAX_MEM	 (1ULL << 40)
#define KVMM_DEFAULT_KVM "/dev/kvm"
/* Always present unless the user names a console of their own. */
/* With --display sdl, console=tty0 comes first: the kernel's messages on the screen too, and
 * ttyS0 (the last) still /dev/console. */
#define KVMM_BASE_CMDLINE "console=ttyS0 reboot=k"

#define KVMM_MAX_DISKS 8

struct disk_option {
	char *path; /* malloc'd copies; they live as long as the process */
	char *serial;
	bool ro;
	bool sync_io; /* aio=sync: no io_uring */
};

#define KVMM_MAX_NICS 4

/* --display sdl's mode when it names none (QEMU's and kvmtool's default too). */
#define DISPLAY_DEFAULT_WIDTH  1024
#define DISPLAY_DEFAULT_HEIGHT 768

struct net_option {
	char tap[16];
	uint8_t mac[6];
	bool has_mac;
	bool vhost; /* data path in the host kernel's vhost-net */
};

struct display_option {
	bool sdl; /* --display sdl; false: none */
	unsigned width, height;
};

struct options {
	const char *kernel;
	const char *initrd;
	const char *cmdline; /* user's, NULL for none */
	const char *kvm_path;
	uint64_t mem;
	int cpus;
	int verbose;
	bool rng;
	bool mmio;		  /* --transport mmio */
	int monitor;		  /* enum monitor_mode (cli/console.h) */
	const char *api_sock;	  /* --api-sock PATH, NULL for none */
	bool acpi;		  /* ACPI tables and PM registers; --no-acpi: off */
	bool no_reboot;		  /* a guest reboot ends kvmm instead of resetting in place */
	bool kernel_boot_classic; /* --kernel-boot classic */
	const char *kernel_cache; /* --kernel-cache DIR or "off"; NULL: the default */
	bool boot_timeline;	  /* --boot-timeline */
	int seccomp;		  /* enum seccomp_mode (vmm/seccomp.h); default on (kill) */
	const char *user;	  /* --user NAME: privileges dropped to it after set-up */
	const char *chroot_dir;	  /* --chroot DIR, before --user */
	int ndisks;
	struct disk_option disks[KVMM_MAX_DISKS];
	int nnics;
	struct net_option nics[KVMM_MAX_NICS];
	struct display_option display;
	bool help, version;
};

/* Parses a memory size: a number with an optional K, M, G or T suffix (powers of 1024, case
 * insensitive, an optional trailing "B" or "iB"); a bare number means MiB, as in QEMU's -m.
 * Returns 0, or -1 when s is not such a size or overflows 64 bits. */
int parse_size(const char *s, uint64_t *bytes);

/* Parses "PATH[,ro][,serial=ID]". Returns 0, or -1 after a one-line error naming the value. */
int parse_disk(const char *arg, struct disk_option *disk);

/* Parses "none" or "sdl[,width=W][,height=H]" (default 1024x768). Returns 0, or -1 after a
 * one-line error naming the value. */
int parse_display(const char *arg, struct display_option *d);

/* Parses "tap=NAME[,mac=52:54:00:12:34:56]". Returns 0, or -1 after a one-line error. */
int parse_net(const char *arg, struct net_option *nic);

/* Fills opts from argv. Returns 0, or -1 after printing a one-line error naming the bad value. */
int options_parse(struct options *opts, int argc, char **argv);

/* The command line handed to the guest: the base, then the user's. Caller frees. */
char *options_guest_cmdline(const struct options *opts);

void options_usage(FILE *out);
