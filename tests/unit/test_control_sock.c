/* The control socket over a real Unix socket, with a control plane that has no VM: replies in
 * order, the 0600 mode, refusing a live path and replacing a stale one, an over-long line
 * refused and its client dropped, a half-closed client still answered, events for subscribers
 * only, a client that never reads dropped without stalling the others. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "unit.h"
#include "vmm/control.h"
#include "vmm/control_sock.h"

static char dir[32], path[64];
static struct control ctl;
static struct control_sock cs;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/kvmm-sock-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/api.sock", dir);
	control_init(&ctl, NULL, false);
	ck_assert_int_eq(control_sock_open(&cs, path), 0);
	ck_assert_int_eq(control_sock_start(&cs, &ctl), 0);
}

static void teardown(void)
{
	control_sock_close(&cs);
	control_destroy(&ctl);
	rmdir(dir);
}

static int client(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void say(int fd, const char *s)
{
	ck_assert_int_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* One line from fd within 5 s (static buffer), or NULL at EOF. */
static const char *hear(int fd)
{
	static char line[1 << 16];
	size_t n = 0;
	while (n < sizeof(line) - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		ssize_t r = read(fd, line + n, 1);
		if (r <= 0)
			return NULL;
		if (line[n] == '\n') {
			line[n] = 0;
			return line;
		}
		n++;
	}
	ck_abort_msg("line too long");
	return NULL;
}

START_TEST(test_replies_in_order_and_mode)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	int fd = client();
	say(fd, "{\"id\":1,\"cmd\":\"info status\"}\n\n{\"id\":2,\"cmd\":\"resume\"}\nnot json\n");
	ck_assert_str_eq(hear(fd),
			 "{\"id\":1,\"ok\":true,\"result\":{\"state\":\"running\",\"reason\":"
			 "\"booted\",\"status\":\"running (booted)\"}}");
	ck_assert_str_eq(hear(fd), "{\"id\":2,\"ok\":false,\"error\":\"resume: the VM is not "
				   "paused, it is running (booted)\"}");
	ck_assert_ptr_nonnull(strstr(hear(fd), "invalid JSON"));
	close(fd);
}
END_TEST

START_TEST(test_live_refused_stale_replaced)
{
	struct control_sock other;
	ck_assert_int_eq(control_sock_open(&other, path), -1); /* we listen there */
	/* A stale one: bound, never listened on, its process gone. */
	char stale[64];
	snprintf(stale, sizeof(stale), "%s/stale.sock", dir);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", stale);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	ck_assert_int_eq(control_sock_open(&other, stale), 0);
	control_sock_close(&other);
	ck_assert_int_eq(access(stale, F_OK), -1);
}
END_TEST

START_TEST(test_long_line_dropped)
{
	int fd = client();
	size_t len = 10 << 20;
	char *big = malloc(len);
	memset(big, 'x', len);
	ssize_t sent = 0;
	while (sent < (ssize_t)len) { /* kvmm stops reading, so this ends in an error */
		ssize_t n = send(fd, big + sent, len - (size_t)sent, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		sent += n;
	}
	free(big);
	const char *l = hear(fd);
	ck_assert_ptr_nonnull(l);
	ck_assert_ptr_nonnull(strstr(l, "request longer than 65536 bytes"));
	ck_assert_ptr_null(hear(fd)); /* then closed */
	close(fd);
	/* Others are served as before. */
	fd = client();
	say(fd, "{\"id\":9,\"cmd\":\"domstate\"}\n");
	ck_assert_ptr_nonnull(strstr(hear(fd), "\"id\":9,\"ok\":true"));
	close(fd);
}
END_TEST

START_TEST(test_half_closed_client_answered)
{
	int fd = client();
	say(fd, "{\"id\":5,\"cmd\":\"info version\"}\n");
	shutdown(fd, SHUT_WR);
	ck_assert_ptr_nonnull(strstr(hear(fd), "\"id\":5,\"ok\":true"));
	ck_assert_ptr_null(hear(fd));
	close(fd);
}
END_TEST

START_TEST(test_events_for_subscribers)
{
	int sub = client(), plain = client();
	say(sub, "{\"id\":1,\"cmd\":\"subscribe\"}\n");
	ck_assert_str_eq(hear(sub), "{\"id\":1,\"ok\":true,\"result\":{\"subscribed\":true}}");
	control_started(&ctl);
	ck_assert_ptr_nonnull(strstr(hear(sub), "\"event\":\"started\",\"detail\":\"booted\""));
	/* The other client got nothing but its own reply. */
	say(plain, "{\"id\":2,\"cmd\":\"domstate\"}\n");
	ck_assert_ptr_nonnull(strstr(hear(plain), "\"id\":2,"));
	control_vm_stopped(&ctl, 4 /* VM_STOP_ERROR */);
	ck_assert_ptr_nonnull(strstr(hear(sub), "\"event\":\"stopped\",\"detail\":\"failed\""));
	close(sub);
	close(plain);
}
END_TEST

/* Asks and never reads: its queue overflows and it is dropped; meanwhile a second client is
 * answered at once, every time. */
START_TEST(test_deaf_client_dropped)
{
	int deaf = client(), other = client();
	char burst[2200];
	size_t n = 0;
	while (n + 22 < sizeof(burst)) {
		memcpy(burst + n, "{\"cmd\":\"info status\"}\n", 22);
		n += 22;
	}
	burst[n] = 0;
	bool dropped = false;
	for (int i = 0; i < 20000 && !dropped; i++) {
		if (send(deaf, burst, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
			dropped = true;
		if (i % 500 == 0) {
			say(other, "{\"id\":3,\"cmd\":\"domstate\"}\n");
			ck_assert_ptr_nonnull(strstr(hear(other), "\"id\":3,\"ok\":true"));
		}
		if (errno == EAGAIN)
			usleep(1000);
	}
	ck_assert_msg(dropped, "a client that never reads was never dropped");
	close(deaf);
	close(other);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("control_sock");
	TCase *tc = tcase_create("control_sock");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_replies_in_order_and_mode);
	tcase_add_test(tc, test_live_refused_stale_replaced);
	tcase_add_test(tc, test_long_line_dropped);
	tcase_add_test(tc, test_half_closed_client_answered);
	tcase_add_test(tc, test_events_for_subscribers);
	tcase_add_test(tc, test_deaf_client_dropped);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
