/* The compressed payload of a bzImage (the ELF vmlinux the kernel's own decompressor would unpack),
 * decompressed on the host with Debian's zlib, liblzma, liblz4 and libzstd. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum kcomp {
	KCOMP_UNKNOWN = 0,
	KCOMP_GZIP,
	KCOMP_BZIP2,
	KCOMP_LZMA,
	KCOMP_XZ,
	KCOMP_LZO,
	KCOMP_LZ4,
	KCOMP_ZSTD,
};

/* What the payload's magic bytes say it is. */
enum kcomp kcomp_detect(const uint8_t *in, size_t len);
const char *kcomp_name(enum kcomp c);

/* Decompresses a kernel payload. Linux appends the decompressed length as 4 little-endian bytes
 * to every compressed kernel; the output must have exactly that length and at most max_out bytes.
 * On success *out is malloc'd (caller frees) and 0 is returned; on failure -1 with a reason in err.
 * bzip2 and LZO kernels are not decompressed here (err says so). */
int kcomp_decompress(enum kcomp c, const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
		     size_t *out_len, char *err, size_t errlen);
