/* The screen's commands: info display, screendump FILE, sendkey KEYS. */
#include <inttypes.h>
#include <string.h>

#include "control_cmds.h"
#include "devices/keymap.h"
#include "vm.h"

#define SENDKEY_MAX 16 /* keys in one combination; QEMU allows as many */

int cmd_display(struct control *ctl, struct json_object *req, struct control_origin *o,
		struct json_object *result, char *err, size_t errlen)
{
	(void)req, (void)o;
	if (!need_vm(ctl, err, errlen))
		return -1;
	const struct framebuffer *fb = ctl->vm->fb;
	put(result, "present", json_object_new_boolean(fb != NULL));
	if (!fb)
		return 0;
	put(result, "width", json_object_new_int((int)fb->width));
	put(result, "height", json_object_new_int((int)fb->height));
	put(result, "bpp", json_object_new_int(FB_BPP * 8));
	put(result, "address", json_object_new_uint64(FB_BASE));
	put(result, "size", json_object_new_uint64(fb->size));
	put(result, "window", json_object_new_boolean(atomic_load(&fb->shown)));
	put(result, "frames", json_object_new_uint64(atomic_load(&fb->frames)));
	put(result, "fps", json_object_new_int((int)atomic_load(&fb->fps)));
	return 0;
}

void print_display(struct json_object *r, FILE *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(r, "present", &v))
		return;
	if (!json_object_get_boolean(v)) {
		fprintf(out, "no display (--display none)\n");
		return;
	}
	json_object_object_get_ex(r, "window", &v);
	fprintf(out,
		"%" PRIu64 "x%" PRIu64 " %" PRIu64 " bpp at 0x%" PRIx64 " (%" PRIu64
		" KiB), %s, %" PRIu64 " frames, %" PRIu64 " fps\n",
		get_u64(r, "width"), get_u64(r, "height"), get_u64(r, "bpp"), get_u64(r, "address"),
		get_u64(r, "size") >> 10, json_object_get_boolean(v) ? "in a window" : "no window",
		get_u64(r, "frames"), get_u64(r, "fps"));
}

int cmd_screendump(struct control *ctl, struct json_object *req, struct control_origin *o,
		   struct json_object *result, char *err, size_t errlen)
{
	(void)o;
	const char *file = get_string(req, "file");
	if (!file || !*file) {
		snprintf(err, errlen, "screendump: which file? (screendump FILE)");
		return -1;
	}
	if (!need_vm(ctl, err, errlen))
		return -1;
	if (!ctl->vm->fb) {
		snprintf(err, errlen, "screendump: the VM has no screen (--display sdl gives one)");
		return -1;
	}
	if (vm_screendump(ctl->vm, file, err, errlen) < 0)
		return -1;
	put(result, "file", json_object_new_string(file));
	put(result, "width", json_object_new_int((int)ctl->vm->fb->width));
	put(result, "height", json_object_new_int((int)ctl->vm->fb->height));
	return 0;
}

void print_screendump(struct json_object *r, FILE *out)
{
	fprintf(out, "%s: %" PRIu64 "x%" PRIu64 " PNG\n", get_string(r, "file"),
		get_u64(r, "width"), get_u64(r, "height"));
}

int cmd_sendkey(struct control *ctl, struct json_object *req, struct control_origin *o,
		struct json_object *result, char *err, size_t errlen)
{
	(void)o;
	const char *keys = get_string(req, "keys");
	if (!keys || !*keys) {
		snprintf(err, errlen, "sendkey: which keys? (sendkey ctrl-alt-delete)");
		return -1;
	}
	uint16_t codes[SENDKEY_MAX];
	int n = keymap_parse_combo(keys, codes, SENDKEY_MAX, err, errlen);
	if (n < 0 || !need_vm(ctl, err, errlen))
		return -1;
	if (!ctl->vm->kbd) {
		snprintf(err, errlen, "sendkey: the VM has no keyboard (--display sdl gives one)");
		return -1;
	}
	char why[128];
	if (vm_send_keys(ctl->vm, codes, (unsigned)n, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "sendkey: %s", why);
		return -1;
	}
	put(result, "keys", json_object_new_int(n));
	return 0;
}
