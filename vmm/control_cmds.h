/* Inside the control plane: what control.c's command table and the commands in other files
 * (control_info.c: the info commands) share. Not for anyone else. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "control.h"

typedef int (*command_fn)(struct control *ctl, struct json_object *req,
			  struct control_origin *origin, struct json_object *result, char *err,
			  size_t errlen);
typedef void (*print_fn)(struct json_object *result, FILE *out);

/* json-c helpers: a result field, and what a request says. */
static inline void put(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static inline const char *get_string(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A list in a reply: its length, and the array in *a; 0 when key is missing or not an array (a
 * reply `kvmm ctl` read from a socket is anyone's, and json-c asserts on a non-array). */
static inline size_t get_array(struct json_object *o, const char *key, struct json_object **a)
{
	if (!json_object_object_get_ex(o, key, a) || !json_object_is_type(*a, json_type_array))
		return 0;
	return json_object_array_length(*a);
}

static inline uint64_t get_u64(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static inline bool need_vm(struct control *ctl, char *err, size_t errlen)
{
	if (ctl->vm)
		return true;
	snprintf(err, errlen, "no VM to run this on");
	return false;
}

/* The info commands, each with its printer for people (control_info.c). */
#define CONTROL_INFO(name)                                                                         \
	int cmd_##name(struct control *ctl, struct json_object *req,                               \
		       struct control_origin *origin, struct json_object *result, char *err,       \
		       size_t errlen);                                                             \
	void print_##name(struct json_object *result, FILE *out)
CONTROL_INFO(cpus);
CONTROL_INFO(mem);
CONTROL_INFO(pci);
CONTROL_INFO(block);
CONTROL_INFO(net);
/* The screen (control_display.c): info display, screendump, sendkey. */
CONTROL_INFO(display);
CONTROL_INFO(screendump);
CONTROL_INFO(sendkey);
