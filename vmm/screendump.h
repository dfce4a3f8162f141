/* A screen as a PNG file (libpng): `screendump FILE` of the monitor and the socket. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Writes width x height XRGB8888 pixels (stride bytes a row) to path as an 8-bit RGB PNG,
 * through a temporary file renamed into place, so a reader never sees half an image. Returns 0,
 * or -1 with a one-line reason in err. */
int screendump_write_png(const char *path, const uint8_t *pixels, unsigned width, unsigned height,
			 unsigned stride, char *err, size_t errlen);
