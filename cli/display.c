#include "display.h"

#include <SDL2/SDL.h>
#include <errno.h>
#include <iconv.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/framebuffer.h"
#include "devices/keymap.h"
#include "devices/virtio_input.h"
#include "vmm/control.h"
#include "vmm/log.h"
#include "vmm/seccomp.h"
#include "vmm/vm.h"

#define FRAME_NS      (1000000000LL / 60)
#define TABLET_MAX    32767
#define TITLE	      "kvmm"
#define TITLE_GRABBED "kvmm - input grabbed: Ctrl-Alt-G releases"

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int display_open(struct display *d, unsigned width, unsigned height)
{
	memset(d, 0, sizeof(*d));
	d->width = width, d->height = height;
	/* kvmm takes SIGINT/TERM through its own signalfd; SDL must not install handlers. A
	 * software renderer unless SDL_RENDER_DRIVER says otherwise: no GL driver threads, and
	 * the frame is a memory copy (to an X shared-memory image) either way. */
	/* Asked before SDL: with no window system it would pick a driver that takes over the
	 * machine's own screen, or one that shows nothing, and libwayland would print its own
	 * complaint. Another driver is there by name (SDL_VIDEODRIVER=offscreen for tests). */
	if (!getenv("SDL_VIDEODRIVER") && !getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY")) {
		log_error("--display sdl: no X11 or Wayland display to open a window on (DISPLAY "
			  "and WAYLAND_DISPLAY are unset)");
		return -1;
	}
	/* X11 (Xwayland in a Wayland session) unless SDL_VIDEODRIVER names a driver: SDL's
	 * Wayland driver needs GL behind the window, and with an X server that does not answer
	 * SDL would fall back to its offscreen driver and show nothing. */
	if (!getenv("SDL_VIDEODRIVER") && !getenv("DISPLAY")) {
		log_error("--display sdl: WAYLAND_DISPLAY is set but DISPLAY is not: kvmm's window "
			  "needs X11 (Xwayland)");
		return -1;
	}
	if (!getenv("SDL_VIDEODRIVER"))
		SDL_SetHint(SDL_HINT_VIDEODRIVER, "x11");
	SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
	/* The close button is a window event of ours (window_closed), not SDL_QUIT as well. */
	SDL_SetHint(SDL_HINT_QUIT_ON_LAST_WINDOW_CLOSE, "0");
	/* The guest's keyboard, not an input method: SDL starts none (IBus would talk D-Bus on
	 * the display thread, and reconnect through calls its filter does not have). */
	setenv("SDL_IM_MODULE", "none", 1);
	SDL_SetHint(SDL_HINT_RENDER_DRIVER, "software");
	/* Nor GL behind the window's own framebuffer, which SDL's X11 driver would otherwise probe
	 * for (Mesa's software GL starts threads of its own, outside any filter). */
	SDL_SetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0");
	SDL_SetHint(SDL_HINT_VIDEO_ALLOW_SCREENSAVER, "1");
	if (SDL_Init(SDL_INIT_VIDEO) < 0) {
		log_error("--display sdl: no display to open a window on (SDL: %s)",
			  SDL_GetError());
		return -1;
	}
	const char *driver = SDL_GetCurrentVideoDriver();
	log_debug("--display sdl: SDL %s video driver", driver ? driver : "?");
	d->window = SDL_CreateWindow(TITLE, SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
				     (int)width, (int)height, 0);
	if (d->window)
		d->renderer = SDL_CreateRenderer(d->window, -1, 0);
	if (d->renderer)
		d->texture =
		    SDL_CreateTexture(d->renderer, SDL_PIXELFORMAT_RGB888,
				      SDL_TEXTUREACCESS_STREAMING, (int)width, (int)height);
	if (!d->texture) {
		log_error("--display sdl: cannot open a %ux%u window (SDL: %s)", width, height,
			  SDL_GetError());
		display_close(d);
		return -1;
	}
	/* Keys go to the guest as key codes, never as text: no text-input events, and the one
	 * character conversion SDL's X11 key path still makes (ISO-8859-1 to UTF-8) loaded now,
	 * while dlopen may open files: iconv's module stays loaded while this handle lives. */
	SDL_StopTextInput();
	d->iconv = iconv_open("UTF-8", "ISO-8859-1");
	SDL_SetRenderDrawColor(d->renderer, 0, 0, 0, 255);
	SDL_RenderClear(d->renderer);
	SDL_RenderPresent(d->renderer);
	return 0;
}

static void set_grab(struct display *d, bool on)
{
	d->grabbed = on;
	SDL_SetWindowGrab(d->window, on ? SDL_TRUE : SDL_FALSE);
	SDL_SetWindowKeyboardGrab(d->window, on ? SDL_TRUE : SDL_FALSE);
	SDL_SetWindowTitle(d->window, on ? TITLE_GRABBED : TITLE);
}

/* Runs a command as the monitor would; returns its reply (the caller puts it). */
static struct json_object *run_command(struct display *d, const char *cmd)
{
	struct json_object *req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	struct control_origin origin = {.can_subscribe = false};
	struct json_object *reply = control_execute(d->ctl, req, &origin);
	json_object_put(req);
	return reply;
}

static bool reply_flag(struct json_object *reply, const char *key)
{
	struct json_object *v, *res;
	if (!json_object_object_get_ex(reply, "ok", &v) || !json_object_get_boolean(v))
		return false;
	if (!key)
		return true;
	return json_object_object_get_ex(reply, "result", &res) &&
	       json_object_object_get_ex(res, key, &v) && json_object_get_boolean(v);
}

/* The window's close button: the guest's power button, as a desktop's would be; a second
 * close, or a guest with no button that answers, quits. */
static void window_closed(struct display *d)
{
	if (!d->close_pressed) {
		d->close_pressed = true;
		struct json_object *reply = run_command(d, "powerdown");
		bool pressed = reply_flag(reply, "button_enabled");
		json_object_put(reply);
		if (pressed) {
			log_info("window closed: the guest's power button is pressed (close it "
				 "again to quit)");
			return;
		}
	}
	log_info("window closed: quitting");
	json_object_put(run_command(d, "quit"));
}

static void send_pointer(struct display *d, int x, int y, int wheel)
{
	x = x < 0 ? 0 : x >= (int)d->width ? (int)d->width - 1 : x;
	y = y < 0 ? 0 : y >= (int)d->height ? (int)d->height - 1 : y;
	d->px = x, d->py = y;
	/* A paused guest takes no input: its rings stay as they are until it runs again, and
	 * then it gets the pointer as it is by then (resume_input). */
	if (vm_is_paused(d->vm)) {
		d->pointer_owed = true;
		return;
	}
	uint32_t ax = (uint32_t)((uint64_t)x * TABLET_MAX / (d->width - 1));
	uint32_t ay = (uint32_t)((uint64_t)y * TABLET_MAX / (d->height - 1));
	virtio_input_tablet(d->vm->tablet, ax, ay, d->buttons, wheel);
}

static bool key_bit(const uint64_t *set, unsigned code)
{
	return set[code / 64] >> (code % 64) & 1;
}

static void key_set(uint64_t *set, unsigned code, bool on)
{
	if (on)
		set[code / 64] |= 1ULL << (code % 64);
	else
		set[code / 64] &= ~(1ULL << (code % 64));
}

static void key_event(struct display *d, const SDL_KeyboardEvent *k)
{
	bool down = k->type == SDL_KEYDOWN;
	SDL_Keymod mod = SDL_GetModState();
	if (down && k->keysym.scancode == SDL_SCANCODE_G && (mod & KMOD_CTRL) && (mod & KMOD_ALT)) {
		if (d->grabbed)
			set_grab(d, false);
		return; /* ours, not the guest's */
	}
	/* The guest's own autorepeat (EV_REP) makes the repeats. */
	int code = keymap_by_hid((unsigned)k->keysym.scancode);
	if (k->repeat || code <= 0 || code > KEYMAP_MAX_CODE)
		return;
	/* Paused: presses are dropped, releases of keys the guest holds are owed to it, so no
	 * key stays down in a guest that never saw it go up. */
	if (vm_is_paused(d->vm)) {
		if (!down && key_bit(d->keys_down, (unsigned)code))
			key_set(d->keys_owed, (unsigned)code, true);
		return;
	}
	if (virtio_input_key(d->vm->kbd, (uint16_t)code, down) == 0 || !down)
		key_set(d->keys_down, (unsigned)code, down);
}

/* After a pause: the releases made meanwhile, and the pointer where it is now. */
static void resume_input(struct display *d)
{
	if (vm_is_paused(d->vm))
		return;
	for (unsigned w = 0; w < KEY_WORDS; w++)
		while (d->keys_owed[w]) {
			unsigned code = w * 64 + (unsigned)__builtin_ctzll(d->keys_owed[w]);
			key_set(d->keys_owed, code, false);
			key_set(d->keys_down, code, false);
			virtio_input_key(d->vm->kbd, (uint16_t)code, false);
		}
	if (d->pointer_owed) {
		d->pointer_owed = false;
		send_pointer(d, d->px, d->py, 0);
	}
}

static unsigned button_bit(uint8_t sdl_button)
{
	switch (sdl_button) {
	case SDL_BUTTON_LEFT:
		return VIRTIO_INPUT_BTN_LEFT;
	case SDL_BUTTON_RIGHT:
		return VIRTIO_INPUT_BTN_RIGHT;
	case SDL_BUTTON_MIDDLE:
		return VIRTIO_INPUT_BTN_MIDDLE;
	default:
		return 0;
	}
}

static bool handle_event(struct display *d, const SDL_Event *ev)
{
	switch (ev->type) {
	case SDL_WINDOWEVENT:
		if (ev->window.event == SDL_WINDOWEVENT_CLOSE)
			window_closed(d);
		else if (ev->window.event == SDL_WINDOWEVENT_FOCUS_LOST && d->grabbed)
			set_grab(d, false);
		return ev->window.event == SDL_WINDOWEVENT_EXPOSED ||
		       ev->window.event == SDL_WINDOWEVENT_SIZE_CHANGED;
	case SDL_KEYDOWN:
	case SDL_KEYUP:
		key_event(d, &ev->key);
		break;
	case SDL_MOUSEMOTION:
		send_pointer(d, ev->motion.x, ev->motion.y, 0);
		break;
	case SDL_MOUSEBUTTONDOWN:
		if (!d->grabbed && ev->button.button == SDL_BUTTON_LEFT)
			set_grab(d, true);
		d->buttons |= button_bit(ev->button.button);
		send_pointer(d, ev->button.x, ev->button.y, 0);
		break;
	case SDL_MOUSEBUTTONUP:
		d->buttons &= ~button_bit(ev->button.button);
		send_pointer(d, ev->button.x, ev->button.y, 0);
		break;
	case SDL_MOUSEWHEEL:
		send_pointer(d, d->px, d->py, ev->wheel.y);
		break;
	default:
		break;
	}
	return false;
}

static void tick_second(struct display *d, uint64_t now)
{
	if (now - d->last_fps_ns < 1000000000u)
		return;
	unsigned fps = d->frames_this_second;
	atomic_store(&d->vm->fb->fps, fps);
	d->frames_this_second = 0;
	d->last_fps_ns = now;
	/* The rate in the title while the guest draws: what the redraw benchmark reads off. */
	if (fps != d->fps_shown) {
		d->fps_shown = fps;
		char title[96];
		snprintf(title, sizeof(title), "%s%s%u fps", d->grabbed ? TITLE_GRABBED : TITLE,
			 d->grabbed ? ", " : " - ", fps);
		SDL_SetWindowTitle(d->window, fps ? title : d->grabbed ? TITLE_GRABBED : TITLE);
	}
}

static void teardown(struct display *d);

static void *display_thread(void *arg)
{
	struct display *d = arg;
	if (seccomp_enter(SECCOMP_DISPLAY, "display") < 0) {
		vm_request_stop(d->vm, VM_STOP_ERROR);
		teardown(d);
		return NULL;
	}
	struct framebuffer *fb = d->vm->fb;
	uint64_t next = now_ns();
	d->last_fps_ns = next;
	bool warned = false;
	while (!atomic_load(&d->quit) && vm_stop_reason(d->vm) == VM_RUNNING) {
		/* A fixed 60 Hz tick: events and the dirty log are looked at once a frame, and an
		 * idle screen costs one dirty-log ioctl per tick. */
		next += FRAME_NS;
		uint64_t now = now_ns();
		if (next < now)
			next = now; /* fell behind (a stall): no burst of catch-up frames */
		struct timespec until = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
			;
		bool present = false;
		SDL_Event ev;
		while (SDL_PollEvent(&ev))
			present |= handle_event(d, &ev);
		resume_input(d);
		unsigned y0, y1;
		if (framebuffer_collect(fb, &y0, &y1) < 0 && !warned) {
			warned = true;
			log_warn("display: KVM_GET_DIRTY_LOG: %s; the window shows no more changes",
				 strerror(errno));
		}
		if (y1 > y0) {
			SDL_Rect rows = {0, (int)y0, (int)d->width, (int)(y1 - y0)};
			SDL_UpdateTexture(d->texture, &rows, fb->pixels + (size_t)y0 * fb->stride,
					  (int)fb->stride);
			present = true;
		}
		if (present) {
			SDL_RenderCopy(d->renderer, d->texture, NULL, NULL);
			SDL_RenderPresent(d->renderer);
			atomic_fetch_add(&fb->frames, 1);
			d->frames_this_second++;
		}
		tick_second(d, now_ns());
	}
	teardown(d);
	return NULL;
}

int display_start(struct display *d, struct vm *vm, struct control *ctl)
{
	d->vm = vm, d->ctl = ctl;
	atomic_store(&vm->fb->shown, true);
	int r = pthread_create(&d->thread, NULL, display_thread, d);
	if (r) {
		log_error("display thread: %s", strerror(r));
		return -1;
	}
	d->started = true;
	return 0;
}

/* SDL's last calls go over the same connection as the others, so they are made where those
 * are: by the display thread as it ends, under its filter (main's has no X11 in it), or by main
 * when the thread never ran. */
static void teardown(struct display *d)
{
	if (d->texture)
		SDL_DestroyTexture(d->texture);
	if (d->renderer)
		SDL_DestroyRenderer(d->renderer);
	if (d->window)
		SDL_DestroyWindow(d->window);
	d->texture = d->renderer = d->window = NULL;
	SDL_Quit();
	if (d->iconv != (iconv_t)-1 && d->iconv)
		iconv_close(d->iconv);
	d->iconv = NULL;
}

void display_close(struct display *d)
{
	if (d->started) {
		atomic_store(&d->quit, true);
		pthread_join(d->thread, NULL);
		d->started = false;
	} else {
		teardown(d);
	}
}
