/* The command table without a machine: parsing typed lines, the JSON request and reply shapes,
 * every error reply, the state machine's refusals through the table, events, and the text
 * printed for people. Commands that need a VM answer that there is none. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "vmm/control.h"

static struct control ctl;
static int nevents;
static char last_event[256];

static void on_event(void *opaque, struct json_object *e)
{
	(void)opaque;
	nevents++;
	snprintf(last_event, sizeof(last_event), "%s",
		 json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
}

static void setup(void)
{
	control_init(&ctl, NULL, false);
	ctl.on_event = on_event;
	nevents = 0;
	last_event[0] = 0;
}

static void teardown(void)
{
	control_destroy(&ctl);
}

/* Runs a JSON text request and returns the reply's text (static). */
static const char *run(const char *text, struct control_origin *origin)
{
	static char buf[8192];
	struct json_object *r = control_execute_text(&ctl, text, strlen(text), origin);
	if (!r)
		return NULL;
	snprintf(buf, sizeof(buf), "%s", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
	json_object_put(r);
	return buf;
}

static const char *parsed(const char *line)
{
	static char buf[512];
	char err[256];
	struct json_object *r = control_parse_line(line, err, sizeof(err));
	if (!r) {
		snprintf(buf, sizeof(buf), "ERR %s", err);
		return buf;
	}
	snprintf(buf, sizeof(buf), "%s", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
	json_object_put(r);
	return buf;
}

START_TEST(test_parse_lines)
{
	ck_assert_str_eq(parsed("info status"), "{\"cmd\":\"info status\"}");
	ck_assert_str_eq(parsed("  info \t  status  "), "{\"cmd\":\"info status\"}");
	/* Aliases resolve to the table's name. */
	ck_assert_str_eq(parsed("domstate"), "{\"cmd\":\"info status\"}");
	ck_assert_str_eq(parsed("cont"), "{\"cmd\":\"resume\"}");
	ck_assert_str_eq(parsed("stop"), "{\"cmd\":\"pause\"}");
	ck_assert_str_eq(parsed("suspend"), "{\"cmd\":\"pause\"}");
	ck_assert_str_eq(parsed("destroy"), "{\"cmd\":\"quit\"}");
	/* The argument is the rest of the line, blanks squeezed. */
	ck_assert_str_eq(parsed("help"), "{\"cmd\":\"help\"}");
	ck_assert_str_eq(parsed("help  info   status"),
			 "{\"cmd\":\"help\",\"command\":\"info status\"}");
	ck_assert_str_eq(parsed("pause now"), "ERR pause takes no argument (got 'now')");
	ck_assert_str_eq(parsed("info status please"),
			 "ERR info status takes no argument (got 'please')");
	ck_assert_str_eq(parsed("   "), "ERR empty command");
	/* Unknown words go to the server, which names them. */
	ck_assert_str_eq(parsed("frobnicate 3"), "{\"cmd\":\"frobnicate\"}");
	ck_assert_str_eq(parsed("info"), "{\"cmd\":\"info\"}");
}
END_TEST

START_TEST(test_reply_shapes)
{
	const char *r = run("{\"id\":7,\"cmd\":\"info status\"}", NULL);
	ck_assert_str_eq(r, "{\"id\":7,\"ok\":true,\"result\":{\"state\":\"running\",\"reason\":"
			    "\"booted\",\"status\":\"running (booted)\"}}");
	/* Any JSON id comes back as it was; none, none. */
	r = run("{\"id\":\"abc\",\"cmd\":\"domstate\"}", NULL);
	ck_assert_ptr_nonnull(strstr(r, "\"id\":\"abc\""));
	r = run("{\"cmd\":\"info version\"}", NULL);
	ck_assert_ptr_null(strstr(r, "\"id\""));
	ck_assert_ptr_nonnull(strstr(r, "\"ok\":true"));
	ck_assert_ptr_nonnull(strstr(r, "\"version\":\"" KVMM_VERSION "\""));
}
END_TEST

START_TEST(test_error_replies)
{
	ck_assert_str_eq(run("{\"id\":1,\"cmd\":\"frob\"}", NULL),
			 "{\"id\":1,\"ok\":false,\"error\":\"unknown command 'frob' (help lists "
			 "them)\"}");
	ck_assert_str_eq(
	    run("{\"id\":2}", NULL),
	    "{\"id\":2,\"ok\":false,\"error\":\"the request has no \\\"cmd\\\" string\"}");
	ck_assert_str_eq(run("{\"cmd\":42}", NULL),
			 "{\"ok\":false,\"error\":\"the request has no \\\"cmd\\\" string\"}");
	ck_assert_str_eq(run("[1,2]", NULL),
			 "{\"ok\":false,\"error\":\"a request is a JSON object: "
			 "{\\\"id\\\":N,\\\"cmd\\\":\\\"...\\\"}\"}");
	ck_assert_str_eq(run("{\"cmd\":\"pause\",\"force\":true}", NULL),
			 "{\"ok\":false,\"error\":\"pause: unexpected argument 'force'\"}");
	ck_assert_str_eq(run("{\"cmd\":\"help\",\"command\":3}", NULL),
			 "{\"ok\":false,\"error\":\"help: argument 'command' must be a string\"}");
	ck_assert_str_eq(run("{\"cmd\":\"help\",\"command\":\"frob\"}", NULL),
			 "{\"ok\":false,\"error\":\"help: unknown command 'frob'\"}");
	const char *r = run("{\"cmd\":\"info status\"", NULL);
	ck_assert_ptr_nonnull(strstr(r, "\"error\":\"invalid JSON: "));
	r = run("{\"cmd\":\"info status\"} {}", NULL);
	ck_assert_ptr_nonnull(strstr(r, "trailing characters"));
	r = run("\xff\xfe\x01garbage", NULL);
	ck_assert_ptr_nonnull(strstr(r, "invalid JSON"));
	/* Blank lines are no request at all. */
	ck_assert_ptr_null(run("  \r\n", NULL));
	/* A very long command name is cut in the error, not echoed whole. */
	char big[600] = "{\"cmd\":\"";
	memset(big + 8, 'x', 500);
	strcpy(big + 508, "\"}");
	r = run(big, NULL);
	ck_assert_uint_lt(strlen(r), 200);
	ck_assert_int_eq(nevents, 0);
}
END_TEST

/* The state machine through the table: refusals name the state and change nothing. */
START_TEST(test_state_refusals)
{
	ck_assert_str_eq(run("{\"cmd\":\"resume\"}", NULL),
			 "{\"ok\":false,\"error\":\"resume: the VM is not paused, it is running "
			 "(booted)\"}");
	/* Without a machine the lifecycle's checks still come first, then the missing VM. */
	ck_assert_str_eq(run("{\"cmd\":\"pause\"}", NULL),
			 "{\"ok\":false,\"error\":\"no VM to run this on\"}");
	ck_assert_str_eq(run("{\"cmd\":\"info cpus\"}", NULL),
			 "{\"ok\":false,\"error\":\"no VM to run this on\"}");
	ctl.lc.state = VIR_DOMAIN_PAUSED;
	ctl.lc.reason = VIR_DOMAIN_PAUSED_USER;
	ck_assert_str_eq(run("{\"cmd\":\"stop\"}", NULL),
			 "{\"ok\":false,\"error\":\"pause: the VM is already paused (user)\"}");
	char status[64];
	control_status(&ctl, status, sizeof(status));
	ck_assert_str_eq(status, "paused (user)");
	ck_assert_int_eq(nevents, 0);
}
END_TEST

START_TEST(test_subscribe_only_on_socket)
{
	struct control_origin monitor = {.can_subscribe = false};
	ck_assert_str_eq(run("{\"cmd\":\"subscribe\"}", &monitor),
			 "{\"ok\":false,\"error\":\"subscribe: events go to control socket clients "
			 "only\"}");
	ck_assert(!monitor.subscribed);
	struct control_origin sock = {.can_subscribe = true};
	ck_assert_str_eq(run("{\"id\":3,\"cmd\":\"subscribe\"}", &sock),
			 "{\"id\":3,\"ok\":true,\"result\":{\"subscribed\":true}}");
	ck_assert(sock.subscribed);
}
END_TEST

START_TEST(test_events)
{
	control_started(&ctl);
	ck_assert_int_eq(nevents, 1);
	ck_assert_ptr_nonnull(strstr(last_event, "\"event\":\"started\",\"detail\":\"booted\","
						 "\"status\":\"running (booted)\""));
	ck_assert_ptr_nonnull(strstr(last_event, "\"timestamp\":{\"seconds\":"));
	control_vm_stopped(&ctl, 99 /* an error */);
	ck_assert_int_eq(nevents, 2);
	ck_assert_ptr_nonnull(strstr(last_event, "\"event\":\"stopped\",\"detail\":\"failed\""));
	/* Once stopped, nothing more happens, and nothing more is announced. */
	control_vm_stopped(&ctl, 99);
	ck_assert_int_eq(nevents, 2);
	ck_assert_str_eq(run("{\"cmd\":\"reset\"}", NULL),
			 "{\"ok\":false,\"error\":\"the VM is shut off (failed): nothing left to "
			 "run\"}");
}
END_TEST

START_TEST(test_help_covers_the_table)
{
	const char *r = run("{\"cmd\":\"help\"}", NULL);
	for (size_t i = 0; control_command_name(i); i++) {
		char want[64];
		snprintf(want, sizeof(want), "\"name\":\"%s\"", control_command_name(i));
		ck_assert_msg(strstr(r, want), "help lacks %s", control_command_name(i));
	}
	ck_assert_ptr_null(control_command_name(1000));
	r = run("{\"cmd\":\"help\",\"command\":\"cont\"}", NULL);
	ck_assert_ptr_nonnull(strstr(r, "\"name\":\"resume\",\"aliases\":[\"cont\"]"));
}
END_TEST

/* What people read: a result as text, an error as one line. */
START_TEST(test_print)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	static const char *const reqs[][2] = {
	    {"info status", "{\"cmd\":\"info status\"}"},
	    {"resume", "{\"cmd\":\"resume\"}"},
	    {"help", "{\"cmd\":\"help\",\"command\":\"pause\"}"},
	};
	for (size_t i = 0; i < 3; i++) {
		struct json_object *r =
		    control_execute_text(&ctl, reqs[i][1], strlen(reqs[i][1]), NULL);
		control_print_reply(reqs[i][0], r, out);
		json_object_put(r);
	}
	fclose(out);
	ck_assert_str_eq(text, "running (booted)\n"
			       "error: resume: the VM is not paused, it is running (booted)\n"
			       "pause                  stop every vCPU and the devices' work (also "
			       "stop suspend)\n");
	free(text);
}
END_TEST

/* kvmm ctl prints what it reads from the socket, which is anyone's: a list that is not a list (a
 * number, a string, an object, null) prints as no entries, where json-c's array functions
 * would stop the process on an assertion. */
START_TEST(test_print_malformed_replies)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	static const char *const lists[][2] = {
	    {"help", "commands"},    {"info cpus", "cpus"},   {"info mem", "regions"},
	    {"info pci", "devices"}, {"info block", "disks"}, {"info net", "nics"},
	};
	static const char *const bad[] = {"5", "\"x\"", "{}", "null"};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			char reply[128];
			snprintf(reply, sizeof(reply), "{\"ok\":true,\"result\":{\"%s\":%s}}",
				 lists[i][1], bad[k]);
			struct json_object *r = json_tokener_parse(reply);
			ck_assert_ptr_nonnull(r);
			control_print_reply(lists[i][0], r, out);
			json_object_put(r);
		}
	}
	/* Lists inside entries: a command's aliases, a device's BARs. */
	static const char *const nested[][2] = {
	    {"help", "{\"ok\":true,\"result\":{\"commands\":[{\"name\":\"x\",\"summary\":"
		     "\"y\",\"aliases\":7}]}}"},
	    {"info pci", "{\"ok\":true,\"result\":{\"devices\":[{\"bdf\":\"00:01.0\",\"bars\":"
			 "\"no\"}]}}"},
	};
	for (size_t i = 0; i < sizeof(nested) / sizeof(nested[0]); i++) {
		struct json_object *r = json_tokener_parse(nested[i][1]);
		ck_assert_ptr_nonnull(r);
		control_print_reply(nested[i][0], r, out);
		json_object_put(r);
	}
	fclose(out);
	ck_assert_ptr_nonnull(strstr(text, "no disks\n"));
	ck_assert_ptr_nonnull(strstr(text, "no NICs\n"));
	ck_assert_ptr_nonnull(strstr(text, "00:01.0"));
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("control");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parse_lines);
	tcase_add_test(tc, test_reply_shapes);
	tcase_add_test(tc, test_error_replies);
	tcase_add_test(tc, test_state_refusals);
	tcase_add_test(tc, test_subscribe_only_on_socket);
	tcase_add_test(tc, test_events);
	tcase_add_test(tc, test_help_covers_the_table);
	tcase_add_test(tc, test_print);
	tcase_add_test(tc, test_print_malformed_replies);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
