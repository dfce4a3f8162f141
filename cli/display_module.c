#include "display_module.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "vmm/log.h"

#define MODULE_NAME "kvmm-display.so"

int display_module_load(struct display_module *m)
{
	/* Beside the binary kvmm runs from, never from the library search path: what is loaded
	 * is the display code built with this kvmm. */
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0) {
		log_error("--display sdl: cannot find kvmm's own directory (/proc/self/exe): %s",
			  strerror(errno));
		return -1;
	}
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	size_t dir = slash ? (size_t)(slash - path) + 1 : 0;
	if (dir + sizeof(MODULE_NAME) > sizeof(path)) {
		log_error("--display sdl: kvmm's directory is too long for %s", MODULE_NAME);
		return -1;
	}
	memcpy(path + dir, MODULE_NAME, sizeof(MODULE_NAME));
	memset(m, 0, sizeof(*m));
	m->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!m->handle) {
		log_error("--display sdl: cannot load the display module: %s", dlerror());
		return -1;
	}
	/* POSIX dlsym returns functions as void *: converted once, here. */
	m->open = (int (*)(struct display *, unsigned, unsigned))dlsym(m->handle, "display_open");
	m->start = (int (*)(struct display *, struct vm *, struct control *))dlsym(m->handle,
										   "display_start");
	m->close = (void (*)(struct display *))dlsym(m->handle, "display_close");
	if (!m->open || !m->start || !m->close) {
		log_error("--display sdl: %s lacks display_open, display_start or display_close",
			  path);
		dlclose(m->handle);
		m->handle = NULL;
		return -1;
	}
	return 0;
}
