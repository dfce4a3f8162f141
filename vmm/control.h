/* The control plane: one table of commands that the monitor prompt and the control socket both
 * run, over the lifecycle state machine and the board (vm.c). Requests and replies are JSON
 * objects (json-c): a request {"id":N,"cmd":"pause"} with any arguments as fields gets
 * {"id":N,"ok":true,"result":{...}} or {"id":N,"ok":false,"error":"..."}. State changes are
 * announced as events {"event":"suspended","detail":"paused",...} to whoever listens.
 * Commands run on the caller's thread (the main loop or the socket thread, never a vCPU), one
 * at a time. docs/control-protocol.md is the protocol's page. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "vmm/lifecycle.h"

struct vm;

/* Where a request came from: the socket lets a client subscribe to events. */
struct control_origin {
	bool can_subscribe;
	bool subscribed; /* set by the subscribe command */
};

struct control {
	struct vm *vm;
	pthread_mutex_t lock; /* one command at a time; lc under it */
	struct lifecycle lc;
	bool no_reboot; /* a guest reboot stops the VM instead of resetting it */
	/* Called with every event (lock held; must not block or run commands). Optional. */
	void (*on_event)(void *opaque, struct json_object *event);
	void *event_opaque;
};

/* vm may be NULL for tests of parsing and state alone: commands that need a machine fail. */
void control_init(struct control *ctl, struct vm *vm, bool no_reboot);
void control_destroy(struct control *ctl);
/* Announces the start (running (booted)): call once listeners are in place. */
void control_started(struct control *ctl);

/* Runs one request; returns the reply (the caller puts it). Never fails to reply: a request
 * that is not an object, lacks "cmd", names an unknown command or carries a bad argument gets
 * ok:false with a one-line error naming it, and the VM is untouched. */
struct json_object *control_execute(struct control *ctl, struct json_object *req,
				    struct control_origin *origin);
/* The same from one line of JSON text (the socket's framing); NULL for an empty line. */
struct json_object *control_execute_text(struct control *ctl, const char *line, size_t len,
					 struct control_origin *origin);

/* A command line as typed ("info status", "help pause") into a request object. Words are
 * matched against the table (two-word commands first); what follows the command is its one
 * argument, if it takes one. An unknown command gives a request the server refuses by name.
 * NULL (and why in err) for an empty line or an argument a command does not take. */
struct json_object *control_parse_line(const char *line, char *err, size_t errlen);

/* A reply for people: the result of cmd as text, or "error: ..." (to out, '\n' line ends). */
void control_print_reply(const char *cmd, struct json_object *reply, FILE *out);
/* An event for people: "event suspended (paused): paused (user)". */
void control_print_event(struct json_object *event, FILE *out);

/* The i-th command name (for completion), NULL past the end. */
const char *control_command_name(size_t i);

/* The guest reset the machine: reset in place (or, under no_reboot, stop: VM_STOP_SHUTDOWN). */
void control_guest_reset(struct control *ctl);
/* The VM stopped for a reason other than a command (the guest powered off, a signal, Ctrl-A
 * x, an error): the lifecycle's last state and its event. */
void control_vm_stopped(struct control *ctl, int vm_stop_reason);
/* "running (booted)" and so on, under the lock. */
void control_status(struct control *ctl, char *buf, size_t len);
