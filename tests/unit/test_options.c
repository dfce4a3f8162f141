/* Command-line parsing: sizes, options_parse (with its QEMU aliases) and the guest command line. */
#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"
#include "unit.h"

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	ck_assert_msg(parse_size(s, &v) == 0, "parse_size(\"%s\") refused", s);
	ck_assert_msg(v == want, "parse_size(\"%s\") = %llu, want %llu", s, (unsigned long long)v,
		      (unsigned long long)want);
}

static void size_bad(const char *s)
{
	uint64_t v = 0;
	ck_assert_msg(parse_size(s, &v) == -1, "parse_size(\"%s\") accepted (%llu)", s,
		      (unsigned long long)v);
}

START_TEST(test_size_suffixes)
{
	size_ok("512M", 512 * MiB);
	size_ok("2G", 2 * GiB);
	size_ok("1048576K", GiB);
	size_ok("1T", 1ULL << 40);
	size_ok("512", 512 * MiB); /* bare number: MiB, like QEMU's -m */
	size_ok("512m", 512 * MiB);
	size_ok("2g", 2 * GiB);
	size_ok("64k", 64 * 1024);
	size_ok("1GiB", GiB);
	size_ok("1GB", GiB);
	size_ok("1gib", GiB);
	size_ok("256MiB", 256 * MiB);
	size_ok("0", 0); /* a size; options_parse decides it is too small */
	/* the largest that fits 64 bits */
	size_ok("17179869183G", (17179869183ULL) << 30);
}
END_TEST

START_TEST(test_size_rejects)
{
	size_bad("");
	size_bad("12Q");
	size_bad("-1");
	size_bad("+1G");
	size_bad("0x10");
	size_bad("1.5G");
	size_bad(" 1G");
	size_bad("1G ");
	size_bad("1 G");
	size_bad("G");
	size_bad("1GG");
	size_bad("1Gi");
	size_bad("1GiBx");
	size_bad("99999999999999999999"); /* > 2^64 before any suffix */
	size_bad("17179869184G");	  /* 2^34 GiB = 2^64 bytes */
	size_bad("17592186044416");	  /* 2^44 MiB = 2^64 bytes */
	size_bad("18446744073709551615K");
	ck_assert_int_eq(parse_size(NULL, &(uint64_t){0}), -1);
}
END_TEST

static struct options opts;

/* options_parse on a NULL-terminated list of arguments after "kvmm". */
static int parse(const char *first, ...)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = (char *)"kvmm";
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		ck_assert_int_lt(argc, 31);
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;
	return options_parse(&opts, argc, argv);
}

START_TEST(test_defaults)
{
	ck_assert_int_eq(parse("--kernel", "bz", NULL), 0);
	ck_assert_str_eq(opts.kernel, "bz");
	ck_assert_ptr_null(opts.initrd);
	ck_assert_ptr_null(opts.cmdline);
	ck_assert_uint_eq(opts.mem, 256 * MiB);
	ck_assert_int_eq(opts.cpus, 1);
	ck_assert(!opts.help);
}
END_TEST

START_TEST(test_long_options)
{
	ck_assert_int_eq(parse("--kernel", "bz", "--initrd", "rd", "--cmdline", "quiet", "--mem",
			       "1G", "--cpus", "4", NULL),
			 0);
	ck_assert_str_eq(opts.kernel, "bz");
	ck_assert_str_eq(opts.initrd, "rd");
	ck_assert_str_eq(opts.cmdline, "quiet");
	ck_assert_uint_eq(opts.mem, GiB);
	ck_assert_int_eq(opts.cpus, 4);
	ck_assert_int_eq(parse("--kernel=bz", "--mem=1048576K", "--cpus=2", NULL), 0);
	ck_assert_uint_eq(opts.mem, GiB);
	ck_assert_int_eq(opts.cpus, 2);
	ck_assert(!opts.mmio);
	ck_assert_int_eq(parse("--kernel=bz", "--transport", "mmio", NULL), 0);
	ck_assert(opts.mmio);
	ck_assert_int_eq(parse("--kernel=bz", "--transport=pci", NULL), 0);
	ck_assert(!opts.mmio);
	ck_assert_int_eq(parse("--kernel=bz", "--transport", "usb", NULL), -1);
}
END_TEST

START_TEST(test_qemu_aliases)
{
	ck_assert_int_eq(parse("-kernel", "bz", "-initrd", "rd", "-append", "root=/dev/ram0", "-m",
			       "512", "-smp", "3", NULL),
			 0);
	ck_assert_str_eq(opts.kernel, "bz");
	ck_assert_str_eq(opts.initrd, "rd");
	ck_assert_str_eq(opts.cmdline, "root=/dev/ram0");
	ck_assert_uint_eq(opts.mem, 512 * MiB);
	ck_assert_int_eq(opts.cpus, 3);
}
END_TEST

START_TEST(test_mem_rejects)
{
	ck_assert_int_eq(parse("--kernel", "bz", "--mem", "0", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--mem", "12Q", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--mem", "", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "-m", "1.5G", NULL), -1);
	/* below KVMM_MIN_MEM, above KVMM_MAX_MEM, not page-sized */
	ck_assert_int_eq(parse("--kernel", "bz", "--mem", "15M", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--mem", "2T", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--mem", "1048577K", NULL), -1);
	/* the bounds themselves are fine */
	ck_assert_int_eq(parse("--kernel", "bz", "--mem", "16M", NULL), 0);
	ck_assert_uint_eq(opts.mem, KVMM_MIN_MEM);
	ck_assert_int_eq(parse("--kernel", "bz", "--mem", "1T", NULL), 0);
	ck_assert_uint_eq(opts.mem, KVMM_MAX_MEM);
}
END_TEST

START_TEST(test_cpus_rejects)
{
	ck_assert_int_eq(parse("--kernel", "bz", "--cpus", "0", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--cpus", "100000", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--cpus", "abc", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--cpus", "2x", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--cpus", "-1", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--cpus", "", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--cpus", " 2", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--cpus", "+2", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--cpus", "99999999999999999999", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "--cpus", "254", NULL), 0);
	ck_assert_int_eq(opts.cpus, 254);
	ck_assert_int_eq(parse("--kernel", "bz", "--cpus", "255", NULL), -1);
}
END_TEST

START_TEST(test_usage_errors)
{
	ck_assert_int_eq(parse(NULL), -1);		  /* no kernel */
	ck_assert_int_eq(parse("--mem", "1G", NULL), -1); /* still no kernel */
	ck_assert_int_eq(parse("--kernel", "bz", "--bogus", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "bz", "-x", NULL), -1);
	ck_assert_int_eq(parse("--kernel", NULL), -1); /* missing value */
	ck_assert_int_eq(parse("--kernel", "bz", "stray", NULL), -1);
	ck_assert_int_eq(parse("--help", NULL), 0);
	ck_assert(opts.help);
	ck_assert_int_eq(parse("-h", NULL), 0);
	ck_assert(opts.help);
	ck_assert_int_eq(parse("--version", NULL), 0);
	ck_assert(opts.version);
}
END_TEST

START_TEST(test_reparse_after_errors)
{
	/* getopt keeps global state; every call must start from a clean slate */
	ck_assert_int_eq(parse("--kernel", "a", "--cpus", "abc", "--mem", "1G", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "b", "--mem", "1G", NULL), 0);
	ck_assert_str_eq(opts.kernel, "b");
	ck_assert_int_eq(opts.cpus, 1);
	ck_assert_uint_eq(opts.mem, GiB);
	ck_assert_int_eq(parse("-xyz", "--kernel", "c", NULL), -1);
	ck_assert_int_eq(parse("--kernel", "d", NULL), 0);
	ck_assert_str_eq(opts.kernel, "d");
	ck_assert_uint_eq(opts.mem, KVMM_DEFAULT_MEM); /* defaults restored */
	ck_assert_int_eq(parse("--help", NULL), 0);
	ck_assert_int_eq(parse("--mem", "1G", NULL), -1); /* help not remembered */
}
END_TEST

static char *guest_cmdline(const char *user)
{
	struct options o = {.cmdline = user};
	char *s = options_guest_cmdline(&o);
	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(test_guest_cmdline_base)
{
	char *s = guest_cmdline(NULL);
	ck_assert_str_eq(s, KVMM_BASE_CMDLINE);
	free(s);
	s = guest_cmdline("quiet root=/dev/vda");
	ck_assert_str_eq(s, KVMM_BASE_CMDLINE " quiet root=/dev/vda");
	free(s);
}
END_TEST

START_TEST(test_guest_cmdline_user_console)
{
	char *s = guest_cmdline("console=hvc0 quiet");
	ck_assert_ptr_null(strstr(s, "console=ttyS0"));
	ck_assert_ptr_nonnull(strstr(s, "console=hvc0 quiet"));
	ck_assert_ptr_nonnull(strstr(s, "reboot=k"));
	free(s);
	s = guest_cmdline("quiet console=ttyS0,9600");
	ck_assert_ptr_nonnull(strstr(s, "console=ttyS0,9600"));
	ck_assert_ptr_eq(strstr(s, "console="), strstr(s, "console=ttyS0,9600")); /* only one */
	free(s);
}
END_TEST

/* Regression: options_guest_cmdline() once looked for the substring "console=", so a user
 * parameter that merely ends in it (netconsole=, or e.g. "xconsole=1") drops the base
 * console=ttyS0 and the guest's output never reaches the terminal.
 * Case: --cmdline "netconsole=@/,@10.0.0.1/" gave "reboot=k netconsole=@/,@10.0.0.1/". */
START_TEST(test_guest_cmdline_netconsole_keeps_base)
{
	char *s = guest_cmdline("netconsole=@/,@10.0.0.1/");
	ck_assert_msg(strstr(s, "console=ttyS0") != NULL, "base console dropped: \"%s\"", s);
	free(s);
}
END_TEST

START_TEST(test_display)
{
	ck_assert_int_eq(parse("--kernel", "bz", NULL), 0);
	ck_assert(!opts.display.sdl); /* none by default */
	ck_assert_int_eq(parse("--kernel", "bz", "--display", "sdl", NULL), 0);
	ck_assert(opts.display.sdl);
	ck_assert_uint_eq(opts.display.width, DISPLAY_DEFAULT_WIDTH);
	ck_assert_uint_eq(opts.display.height, DISPLAY_DEFAULT_HEIGHT);
	ck_assert_int_eq(parse("--kernel", "bz", "--display", "sdl,height=600,width=800", NULL), 0);
	ck_assert_uint_eq(opts.display.width, 800);
	ck_assert_uint_eq(opts.display.height, 600);
	ck_assert_int_eq(parse("--kernel", "bz", "--display", "none", NULL), 0);
	ck_assert(!opts.display.sdl);
	/* console=tty0 first with a screen, so the kernel's messages show there too */
	struct options o = {.display = {.sdl = true}};
	char *c = options_guest_cmdline(&o);
	ck_assert_str_eq(c, "console=tty0 " KVMM_BASE_CMDLINE);
	free(c);
	struct display_option d;
	const char *bad[] = {"vnc",
			     "sdl,width=",
			     "sdl,width=-8",
			     "sdl,width=8x",
			     "sdl,width=99999999999",
			     "sdl,width=100",
			     "sdl,height=5000",
			     "sdl,width=1020",
			     "sdl,depth=32",
			     "sdlx",
			     ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse_display(bad[i], &d) == -1, "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_disk_keys)
{
	struct disk_option d;
	ck_assert_int_eq(parse_disk("a.img", &d), 0);
	ck_assert_str_eq(d.path, "a.img");
	ck_assert(!d.ro && !d.sync_io && !d.serial);
	free(d.path); /* the options keep it for the process's life; a test does not */
	ck_assert_int_eq(parse_disk("b.img,ro,serial=S1,aio=sync", &d), 0);
	ck_assert_str_eq(d.path, "b.img");
	ck_assert_str_eq(d.serial, "S1");
	ck_assert(d.ro && d.sync_io);
	free(d.path);
	ck_assert_int_eq(parse_disk("c.img,aio=io_uring", &d), 0);
	ck_assert(!d.sync_io);
	free(d.path);
	ck_assert_int_eq(parse_disk("c.img,aio=threads", &d), -1);
	ck_assert_int_eq(parse_disk("c.img,serial=", &d), -1);
	ck_assert_int_eq(parse_disk(",ro", &d), -1);
}
END_TEST

START_TEST(test_net_keys)
{
	struct net_option n;
	ck_assert_int_eq(parse_net("tap=kvmm0", &n), 0);
	ck_assert_str_eq(n.tap, "kvmm0");
	ck_assert(!n.has_mac && !n.vhost);
	ck_assert_int_eq(parse_net("tap=t1,mac=52:54:00:ab:cd:ef,vhost=on", &n), 0);
	ck_assert(n.has_mac && n.vhost);
	ck_assert_int_eq(n.mac[3], 0xab);
	ck_assert_int_eq(n.mac[5], 0xef);
	ck_assert_int_eq(parse_net("vhost=off,tap=t2", &n), 0);
	ck_assert(!n.vhost);
	ck_assert_str_eq(n.tap, "t2");
}
END_TEST

START_TEST(test_net_rejects)
{
	struct net_option n;
	ck_assert_int_eq(parse_net("tap=t,vhost=maybe", &n), -1);
	ck_assert_int_eq(parse_net("tap=t,vhost=", &n), -1);
	ck_assert_int_eq(parse_net("tap=t,mac=53:54:00:00:00:01", &n), -1); /* multicast */
	ck_assert_int_eq(parse_net("tap=t,mac=52:54:00:00:00", &n), -1);
	ck_assert_int_eq(parse_net("tap=0123456789abcdef", &n), -1);  /* 16 characters */
	ck_assert_int_eq(parse_net("mac=52:54:00:00:00:01", &n), -1); /* no tap */
	ck_assert_int_eq(parse_net("tap=t,queues=2", &n), -1);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("parse_size");
	tcase_add_test(tc, test_size_suffixes);
	tcase_add_test(tc, test_size_rejects);
	suite_add_tcase(s, tc);

	tc = tcase_create("options_parse");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_long_options);
	tcase_add_test(tc, test_qemu_aliases);
	tcase_add_test(tc, test_mem_rejects);
	tcase_add_test(tc, test_cpus_rejects);
	tcase_add_test(tc, test_usage_errors);
	tcase_add_test(tc, test_reparse_after_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("guest_cmdline");
	tcase_add_test(tc, test_guest_cmdline_base);
	tcase_add_test(tc, test_guest_cmdline_user_console);
	tcase_add_test(tc, test_guest_cmdline_netconsole_keeps_base);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse_disk_net");
	tcase_add_test(tc, test_display);
	tcase_add_test(tc, test_disk_keys);
	tcase_add_test(tc, test_net_keys);
	tcase_add_test(tc, test_net_rejects);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(options_suite());
}
