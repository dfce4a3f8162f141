#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/console.h"
#include "devices/framebuffer.h"
#include "loader/mptable.h"
#include "vmm/log.h"
#include "vmm/seccomp.h"

int parse_size(const char *s, uint64_t *bytes)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -1;
	unsigned shift = 20; /* bare number: MiB */
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K':
			shift = 10;
			break;
		case 'M':
			shift = 20;
			break;
		case 'G':
			shift = 30;
			break;
		case 'T':
			shift = 40;
			break;
		default:
			return -1;
		}
		end++;
		if (toupper((unsigned char)end[0]) == 'I' && toupper((unsigned char)end[1]) == 'B')
			end += 2;
		else if (toupper((unsigned char)end[0]) == 'B')
			end++;
		if (*end)
			return -1;
	}
	if (v > (UINT64_MAX >> shift))
		return -1;
	*bytes = (uint64_t)v << shift;
	return 0;
}

static int parse_mem(const char *opt, const char *arg, uint64_t *mem)
{
	uint64_t v;
	if (parse_size(arg, &v) < 0) {
		log_error("%s '%s': not a size (use e.g. 512M, 2G, 1048576K, or MiB as a number)",
			  opt, arg);
		return -1;
	}
	if (v < KVMM_MIN_MEM || v > KVMM_MAX_MEM) {
		log_error("%s '%s': must be between %lluM and %lluG", opt, arg,
			  (unsigned long long)(KVMM_MIN_MEM >> 20),
			  (unsigned long long)(KVMM_MAX_MEM >> 30));
		return -1;
	}
	if (v & 0xfff) {
		log_error("%s '%s': not a multiple of 4K", opt, arg);
		return -1;
	}
	*mem = v;
	return 0;
}

static int parse_cpus(const char *opt, const char *arg, int *cpus)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (!isdigit((unsigned char)arg[0]) || *end || errno) {
		log_error("%s '%s': not a number", opt, arg);
		return -1;
	}
	if (v < 1 || v > MPTABLE_MAX_CPUS) {
		log_error("%s '%s': must be between 1 and %d", opt, arg, MPTABLE_MAX_CPUS);
		return -1;
	}
	*cpus = (int)v;
	return 0;
}

int parse_disk(const char *arg, struct disk_option *disk)
{
	memset(disk, 0, sizeof(*disk));
	char *copy = strdup(arg);
	if (!copy)
		return log_error("out of memory"), -1;
	char *save = NULL;
	char *path = strtok_r(copy, ",", &save);
	if (!path || arg[0] == ',') {
		log_error("--disk '%s': no image path", arg);
		free(copy);
		return -1;
	}
	disk->path = path;
	for (char *kv; (kv = strtok_r(NULL, ",", &save));) {
		if (strcmp(kv, "ro") == 0) {
			disk->ro = true;
		} else if (strncmp(kv, "serial=", 7) == 0) {
			disk->serial = kv + 7;
			/* virtio-blk's GET_ID holds 20 bytes */
			if (strlen(disk->serial) > 20 || !*disk->serial) {
				log_error("--disk '%s': serial '%s' must be 1 to 20 characters",
					  arg, disk->serial);
				free(copy);
				return -1;
			}
		} else if (strcmp(kv, "aio=io_uring") == 0 || strcmp(kv, "aio=sync") == 0) {
			disk->sync_io = strcmp(kv, "aio=sync") == 0;
		} else {
			log_error(
			    "--disk '%s': unknown option '%s' (ro, serial=ID, aio=io_uring|sync)",
			    arg, kv);
			free(copy);
			return -1;
		}
	}
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char end;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6 ||
	    strlen(s) != 17)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return (mac[0] & 1) ? -1 : 0; /* a multicast address cannot be a NIC's */
}

int parse_net(const char *arg, struct net_option *nic)
{
	memset(nic, 0, sizeof(*nic));
	char *copy = strdup(arg);
	if (!copy)
		return log_error("out of memory"), -1;
	int ret = 0;
	char *save = NULL;
	for (char *kv = strtok_r(copy, ",", &save); kv && ret == 0;
	     kv = strtok_r(NULL, ",", &save)) {
		if (strncmp(kv, "tap=", 4) == 0) {
			if (strlen(kv + 4) == 0 || strlen(kv + 4) >= sizeof(nic->tap)) {
				log_error("--net '%s': tap name '%s' must be 1 to %zu characters",
					  arg, kv + 4, sizeof(nic->tap) - 1);
				ret = -1;
			} else {
				snprintf(nic->tap, sizeof(nic->tap), "%s", kv + 4);
			}
		} else if (strncmp(kv, "mac=", 4) == 0) {
			if (parse_mac(kv + 4, nic->mac) < 0) {
				log_error(
				    "--net '%s': '%s' is not a unicast MAC like 52:54:00:12:34:56",
				    arg, kv + 4);
				ret = -1;
			}
			nic->has_mac = true;
		} else if (strncmp(kv, "vhost=", 6) == 0) {
			if (strcmp(kv + 6, "on") == 0 || strcmp(kv + 6, "off") == 0) {
				nic->vhost = strcmp(kv + 6, "on") == 0;
			} else {
				log_error("--net '%s': '%s' must be vhost=on or vhost=off", arg,
					  kv);
				ret = -1;
			}
		} else {
			log_error(
			    "--net '%s': unknown option '%s' (tap=NAME, mac=MAC, vhost=on|off)",
			    arg, kv);
			ret = -1;
		}
	}
	if (ret == 0 && !nic->tap[0]) {
		log_error("--net '%s': needs tap=NAME", arg);
		ret = -1;
	}
	free(copy);
	return ret;
}

static int parse_dimension(const char *arg, const char *kv, unsigned *out)
{
	const char *v = strchr(kv, '=') + 1;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || *end || errno || n > 65535) {
		log_error("--display '%s': '%s' is not a number of pixels", arg, kv);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

int parse_display(const char *arg, struct display_option *d)
{
	*d = (struct display_option){.width = DISPLAY_DEFAULT_WIDTH,
				     .height = DISPLAY_DEFAULT_HEIGHT};
	if (!strcmp(arg, "none"))
		return 0;
	if (strcmp(arg, "sdl") && strncmp(arg, "sdl,", 4)) {
		log_error("--display '%s': must be none or sdl[,width=W,height=H]", arg);
		return -1;
	}
	d->sdl = true;
	char *copy = strdup(arg);
	if (!copy)
		return log_error("out of memory"), -1;
	int ret = 0;
	/* strsep, not strtok: an empty option ("sdl,", "sdl,,width=800") is an error too. */
	char *rest = copy;
	strsep(&rest, ","); /* "sdl" */
	while (rest && ret == 0) {
		char *kv = strsep(&rest, ",");
		if (!strncmp(kv, "width=", 6))
			ret = parse_dimension(arg, kv, &d->width);
		else if (!strncmp(kv, "height=", 7))
			ret = parse_dimension(arg, kv, &d->height);
		else {
			log_error("--display '%s': unknown option '%s' (width=W, height=H)", arg,
				  kv);
			ret = -1;
		}
	}
	free(copy);
	const char *why = ret == 0 ? framebuffer_check_mode(d->width, d->height) : NULL;
	if (why) {
		log_error("--display '%s': %s", arg, why);
		ret = -1;
	}
	return ret;
}

enum {
	OPT_KERNEL = 256,
	OPT_DISPLAY,
	OPT_SECCOMP,
	OPT_USER,
	OPT_CHROOT,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_MEM,
	OPT_CPUS,
	OPT_KVM,
	OPT_HELP,
	OPT_VERSION,
	OPT_VERBOSE,
	OPT_RNG,
	OPT_NO_RNG,
	OPT_DISK,
	OPT_NET,
	OPT_TRANSPORT,
	OPT_MONITOR,
	OPT_API_SOCK,
	OPT_NO_REBOOT,
	OPT_NO_ACPI,
	OPT_KERNEL_BOOT,
	OPT_KERNEL_CACHE,
	OPT_BOOT_TIMELINE,
};

/* Long options may also be written with one dash, which gives QEMU's spellings for free. */
static const struct option long_options[] = {
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"cmdline", required_argument, NULL, OPT_CMDLINE},
    {"append", required_argument, NULL, OPT_CMDLINE},
    {"mem", required_argument, NULL, OPT_MEM},
    {"m", required_argument, NULL, OPT_MEM},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"smp", required_argument, NULL, OPT_CPUS},
    {"kvm-device", required_argument, NULL, OPT_KVM},
    {"rng", no_argument, NULL, OPT_RNG},
    {"disk", required_argument, NULL, OPT_DISK},
    {"net", required_argument, NULL, OPT_NET},
    {"transport", required_argument, NULL, OPT_TRANSPORT},
    {"no-rng", no_argument, NULL, OPT_NO_RNG},
    {"monitor", required_argument, NULL, OPT_MONITOR},
    {"api-sock", required_argument, NULL, OPT_API_SOCK},
    {"no-reboot", no_argument, NULL, OPT_NO_REBOOT},
    {"no-acpi", no_argument, NULL, OPT_NO_ACPI},
    {"kernel-boot", required_argument, NULL, OPT_KERNEL_BOOT},
    {"kernel-cache", required_argument, NULL, OPT_KERNEL_CACHE},
    {"boot-timeline", no_argument, NULL, OPT_BOOT_TIMELINE},
    {"seccomp", required_argument, NULL, OPT_SECCOMP},
    {"display", required_argument, NULL, OPT_DISPLAY},
    {"user", required_argument, NULL, OPT_USER},
    {"runas", required_argument, NULL, OPT_USER},
    {"chroot", required_argument, NULL, OPT_CHROOT},
    {"help", no_argument, NULL, OPT_HELP},
    {"h", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"v", no_argument, NULL, OPT_VERBOSE},
    {NULL, 0, NULL, 0},
};

int options_parse(struct options *opts, int argc, char **argv)
{
	memset(opts, 0, sizeof(*opts));
	opts->mem = KVMM_DEFAULT_MEM;
	opts->cpus = 1;
	opts->kvm_path = KVMM_DEFAULT_KVM;
	opts->rng = true;
	opts->acpi = true;
	opterr = 0;
	optind = 1;
	for (;;) {
		int c = getopt_long_only(argc, argv, ":", long_options, NULL);
		if (c == -1)
			break;
		switch (c) {
		case OPT_KERNEL:
			opts->kernel = optarg;
			break;
		case OPT_INITRD:
			opts->initrd = optarg;
			break;
		case OPT_CMDLINE:
			opts->cmdline = optarg;
			break;
		case OPT_MEM:
			if (parse_mem("--mem", optarg, &opts->mem) < 0)
				return -1;
			break;
		case OPT_CPUS:
			if (parse_cpus("--cpus", optarg, &opts->cpus) < 0)
				return -1;
			break;
		case OPT_KVM:
			opts->kvm_path = optarg;
			break;
		case OPT_RNG:
			opts->rng = true;
			break;
		case OPT_DISK:
			if (opts->ndisks >= KVMM_MAX_DISKS) {
				log_error("--disk '%s': at most %d disks", optarg, KVMM_MAX_DISKS);
				return -1;
			}
			if (parse_disk(optarg, &opts->disks[opts->ndisks]) < 0)
				return -1;
			opts->ndisks++;
			break;
		case OPT_NET:
			if (opts->nnics >= KVMM_MAX_NICS) {
				log_error("--net '%s': at most %d NICs", optarg, KVMM_MAX_NICS);
				return -1;
			}
			if (parse_net(optarg, &opts->nics[opts->nnics]) < 0)
				return -1;
			opts->nnics++;
			break;
		case OPT_NO_RNG:
			opts->rng = false;
			break;
		case OPT_TRANSPORT:
			if (strcmp(optarg, "pci") == 0 || strcmp(optarg, "mmio") == 0) {
				opts->mmio = strcmp(optarg, "mmio") == 0;
			} else {
				log_error("--transport '%s': must be pci or mmio", optarg);
				return -1;
			}
			break;
		case OPT_MONITOR:
			if (!strcmp(optarg, "none")) {
				opts->monitor = MONITOR_NONE;
			} else if (!strcmp(optarg, "stdio")) {
				opts->monitor = MONITOR_STDIO;
			} else if (!strcmp(optarg, "vc")) {
				opts->monitor = MONITOR_VC;
			} else {
				log_error("--monitor '%s': must be vc, stdio or none", optarg);
				return -1;
			}
			break;
		case OPT_API_SOCK:
			if (!*optarg) {
				log_error("--api-sock '': needs a path");
				return -1;
			}
			opts->api_sock = optarg;
			break;
		case OPT_NO_REBOOT:
			opts->no_reboot = true;
			break;
		case OPT_NO_ACPI:
			opts->acpi = false;
			break;
		case OPT_KERNEL_BOOT:
			if (strcmp(optarg, "direct") && strcmp(optarg, "classic")) {
				log_error("--kernel-boot '%s': must be direct or classic", optarg);
				return -1;
			}
			opts->kernel_boot_classic = !strcmp(optarg, "classic");
			break;
		case OPT_KERNEL_CACHE:
			if (!*optarg || (strcmp(optarg, "off") && optarg[0] != '/')) {
				log_error(
				    "--kernel-cache '%s': must be an absolute directory or off",
				    optarg);
				return -1;
			}
			opts->kernel_cache = optarg;
			break;
		case OPT_BOOT_TIMELINE:
			opts->boot_timeline = true;
			break;
		case OPT_DISPLAY:
			if (parse_display(optarg, &opts->display) < 0)
				return -1;
			break;
		case OPT_SECCOMP: {
			enum seccomp_mode m;
			if (seccomp_parse_mode(optarg, &m) < 0) {
				log_error("--seccomp '%s': must be on, log or off", optarg);
				return -1;
			}
			opts->seccomp = (int)m;
			break;
		}
		case OPT_USER:
			if (!*optarg) {
				log_error("--user '': needs a user name or number");
				return -1;
			}
			opts->user = optarg;
			break;
		case OPT_CHROOT:
			if (optarg[0] != '/') {
				log_error("--chroot '%s': must be an absolute directory", optarg);
				return -1;
			}
			opts->chroot_dir = optarg;
			break;
		case OPT_HELP:
			opts->help = true;
			break;
		case OPT_VERSION:
			opts->version = true;
			break;
		case OPT_VERBOSE:
			opts->verbose++;
			break;
		case ':':
			log_error("option '%s' needs a value", argv[optind - 1]);
			return -1;
		default:
			log_error("unknown option '%s' (see kvmm --help)", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see kvmm --help)", argv[optind]);
		return -1;
	}
	if (!opts->help && !opts->version && !opts->kernel) {
		log_error("no kernel given: use --kernel PATH (see kvmm --help)");
		return -1;
	}
	return 0;
}

/* Whether cmdline has a parameter starting with prefix (a whole word: "netconsole=" is not
 * "console="). */
static bool has_param(const char *cmdline, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = cmdline; (p = strstr(p, prefix)) != NULL; p += n)
		if (p == cmdline || p[-1] == ' ')
			return true;
	return false;
}

char *options_guest_cmdline(const struct options *opts)
{
	const char *user = opts->cmdline ? opts->cmdline : "";
	/* A user who names their own console gets exactly that one. */
	const char *base = has_param(user, "console=") ? "reboot=k"
			   : opts->display.sdl	       ? "console=tty0 " KVMM_BASE_CMDLINE
						       : KVMM_BASE_CMDLINE;
	size_t len = strlen(base) + 1 + strlen(user) + 1;
	char *s = malloc(len);
	if (s)
		snprintf(s, len, "%s%s%s", base, *user ? " " : "", user);
	return s;
}

void options_usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: kvmm --kernel BZIMAGE|VMLINUX [options]\n"
	    "Boot a Linux x86-64 kernel in a KVM virtual machine; its serial console is this "
	    "terminal.\n"
	    "\n"
	    "  --kernel PATH     bzImage or ELF vmlinux to boot (-kernel)\n"
	    "  --kernel-boot direct|classic\n"
	    "                    bzImage: unpack it on the host and enter the kernel (direct,\n"
	    "                    default), or let its own decompressor run in the guest (classic)\n"
	    "  --kernel-cache DIR|off\n"
	    "                    where unpacked kernels are kept; default\n"
	    "                    $XDG_CACHE_HOME/kvmm/kernels or ~/.cache/kvmm/kernels\n"
	    "  --boot-timeline   print when each boot step happened, up to the guest's init\n"
	    "  --initrd PATH     initial ramdisk (-initrd)\n"
	    "  --cmdline STR     kernel command line, after \"" KVMM_BASE_CMDLINE "\" (-append)\n"
	    "  --mem SIZE        guest RAM: 512M, 2G, 1048576K, or MiB as a bare number; "
	    "default 256M (-m)\n"
	    "  --cpus N          vCPUs, 1 to the host's KVM limit; default 1 (-smp)\n"
	    "  --disk PATH[,ro][,serial=ID][,aio=io_uring|sync]\n"
	    "                    raw image as a virtio-blk disk (/dev/vda, vdb, ...); repeatable\n"
	    "  --net tap=NAME[,mac=MAC][,vhost=on|off]\n"
	    "                    virtio-net NIC on a TAP interface; repeatable\n"
	    "  --transport pci|mmio\n"
	    "                    how virtio devices appear: PCI (default) or virtio-mmio, for\n"
	    "                    kernels with VIRTIO_MMIO_CMDLINE_DEVICES\n"
	    "  --rng, --no-rng   a virtio-rng device fed from getrandom(); on by default\n"
	    "  --monitor vc|stdio|none\n"
	    "                    the monitor prompt: Ctrl-A c switches to it (vc, default), kvmm\n"
	    "                    starts at it (stdio), or there is none\n"
	    "  --api-sock PATH   control socket (line-delimited JSON); see `kvmm ctl --help`\n"
	    "  --no-reboot       a guest reboot ends kvmm (exit 0) instead of resetting in place\n"
	    "  --no-acpi         no ACPI tables or power button: the guest finds its CPUs and\n"
	    "                    interrupts through the MP table alone, and cannot power off\n"
	    "  --display none|sdl[,width=W,height=H]\n"
	    "                    the guest's screen in an SDL2 window (default 1024x768, 32 bpp),\n"
	    "                    with a virtio keyboard and tablet; none (default): serial only\n"
	    "  --kvm-device PATH KVM device, default " KVMM_DEFAULT_KVM "\n"
	    "  --seccomp on|log|off\n"
	    "                    each thread's system-call allow-list: a call outside it ends "
	    "kvmm\n"
	    "                    (on, default), is only logged by the kernel (log), or no filters\n"
	    "  --user NAME       once /dev/kvm, disks, TAPs and the socket are open, run as NAME\n"
	    "                    (its uid, gid and groups); --runas is the same\n"
	    "  --chroot DIR      then, before --user, make DIR the root directory\n"
	    "  -v, --verbose     report unhandled guest I/O and other debugging details\n"
	    "  --help, --version\n"
	    "\n"
	    "  kvmm ctl --sock PATH [--json] COMMAND [ARG]\n"
	    "                    run a monitor command on a running kvmm's control socket\n"
	    "\n"
	    "Console keys: Ctrl-A x quits, Ctrl-A c switches to the monitor and back, Ctrl-A h\n"
	    "lists the keys, Ctrl-A a sends Ctrl-A. A guest reboot resets the VM in place.\n"
	    "Exit status: 0 when the guest powers off (or reboots, with --no-reboot) or you quit,\n"
	    "1 on an error, 2 on bad usage, 128+N after signal N.\n");
}
