#include "decompress.h"

#include <lz4.h>
#include <lzma.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "vmm/log.h"

/* lib/decompress_unlz4.c: Linux's kernels use lz4's legacy frame, blocks of at most 8 MiB. */
#define LZ4_LEGACY_MAGIC 0x184c2102U
#define LZ4_LEGACY_BLOCK (8U << 20)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum kcomp kcomp_detect(const uint8_t *in, size_t len)
{
	static const struct {
		enum kcomp c;
		uint8_t n;
		uint8_t magic[6];
	} magics[] = {
	    {KCOMP_GZIP, 2, {0x1f, 0x8b}},
	    {KCOMP_BZIP2, 3, {'B', 'Z', 'h'}},
	    {KCOMP_LZMA, 3, {0x5d, 0x00, 0x00}},
	    {KCOMP_XZ, 6, {0xfd, '7', 'z', 'X', 'Z', 0x00}},
	    {KCOMP_LZO, 4, {0x89, 'L', 'Z', 'O'}},
	    {KCOMP_LZ4, 4, {0x02, 0x21, 0x4c, 0x18}},
	    {KCOMP_ZSTD, 4, {0x28, 0xb5, 0x2f, 0xfd}},
	};
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if (len >= magics[i].n && !memcmp(in, magics[i].magic, magics[i].n))
			return magics[i].c;
	return KCOMP_UNKNOWN;
}

const char *kcomp_name(enum kcomp c)
{
	static const char *const names[] = {"unknown", "gzip", "bzip2", "lzma",
					    "xz",      "lzo",  "lz4",	"zstd"};
	return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "unknown";
}

static int inflate_gzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *got,
			char *err, size_t errlen)
{
	z_stream z = {0};
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return err_set(err, errlen, "gzip: zlib init failed");
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
	z.next_out = out;
	z.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
	int r = inflate(&z, Z_FINISH);
	*got = z.total_out;
	inflateEnd(&z);
	if (r == Z_STREAM_END)
		return 0;
	if (r == Z_BUF_ERROR && z.avail_out == 0)
		return err_set(err, errlen, "gzip: more data than the %zu bytes announced", cap);
	return err_set(err, errlen, "gzip: %s", r == Z_BUF_ERROR ? "truncated" : "corrupt data");
}

/* What liblzma may allocate, its dictionary above all, which the stream's header sizes: Linux
 * compresses with at most 64 MiB (lzma -9; xz_wrap.sh: 32 MiB), and a header asking for up to
 * 4 GiB is the file's to write. zstd's default window limit does the same for zstd. */
#define LZMA_MEMLIMIT (256ULL << 20)

static int decode_lzma(bool xz, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		       size_t *got, char *err, size_t errlen)
{
	lzma_stream s = LZMA_STREAM_INIT;
	/* One stream only: what follows it is Linux's 4-byte length, not xz padding. */
	lzma_ret r =
	    xz ? lzma_stream_decoder(&s, LZMA_MEMLIMIT, 0) : lzma_alone_decoder(&s, LZMA_MEMLIMIT);
	const char *what = xz ? "xz" : "lzma";
	if (r != LZMA_OK)
		return err_set(err, errlen, "%s: liblzma init failed (%d)", what, r);
	s.next_in = in;
	s.avail_in = len;
	s.next_out = out;
	s.avail_out = cap;
	r = lzma_code(&s, LZMA_FINISH);
	*got = (size_t)s.total_out;
	lzma_end(&s);
	if (r == LZMA_STREAM_END)
		return 0;
	if (r == LZMA_BUF_ERROR && s.avail_out == 0)
		return err_set(err, errlen, "%s: more data than the %zu bytes announced", what,
			       cap);
	if (r == LZMA_MEMLIMIT_ERROR)
		return err_set(err, errlen, "%s: unpacking needs more than %llu MiB of memory",
			       what, LZMA_MEMLIMIT >> 20);
	return err_set(err, errlen, "%s: %s", what,
		       r == LZMA_BUF_ERROR ? "truncated" : "corrupt data");
}

static int decode_lz4(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *got,
		      char *err, size_t errlen)
{
	size_t pos = 0;
	*got = 0;
	while (len - pos >= 4) {
		uint32_t n = le32(in + pos);
		if (n == LZ4_LEGACY_MAGIC) { /* a frame starts (again, if concatenated) */
			pos += 4;
			continue;
		}
		/* The last 4 bytes are Linux's length of the whole output, not a block. */
		if (len - pos == 4 && *got > 0)
			return 0;
		pos += 4;
		if (n > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK) || n > len - pos)
			return err_set(err, errlen, "lz4: %s",
				       n > len - pos ? "truncated" : "corrupt block");
		size_t room = cap - *got;
		int r =
		    LZ4_decompress_safe((const char *)in + pos, (char *)out + *got, (int)n,
					(int)(room > LZ4_LEGACY_BLOCK ? LZ4_LEGACY_BLOCK : room));
		if (r < 0)
			return err_set(err, errlen,
				       "lz4: corrupt data (or more than the %zu bytes "
				       "announced)",
				       cap);
		*got += (size_t)r;
		pos += n;
	}
	return *got ? 0 : err_set(err, errlen, "lz4: no blocks");
}

static int decode_zstd(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *got,
		       char *err, size_t errlen)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	if (!d)
		return err_set(err, errlen, "zstd: out of memory");
	/* Linux compresses with --ultra -22 (a 128 MiB window at most). */
	ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
	ZSTD_inBuffer ib = {in, len, 0};
	ZSTD_outBuffer ob = {out, cap, 0};
	size_t r;
	do {
		r = ZSTD_decompressStream(d, &ob, &ib);
	} while (!ZSTD_isError(r) && r != 0 && ib.pos < ib.size && ob.pos < ob.size);
	*got = ob.pos;
	ZSTD_freeDStream(d);
	if (ZSTD_isError(r))
		return err_set(err, errlen, "zstd: %s", ZSTD_getErrorName(r));
	if (r != 0)
		return err_set(err, errlen, "zstd: %s",
			       ob.pos == ob.size ? "more data than announced" : "truncated");
	return 0;
}

int kcomp_decompress(enum kcomp c, const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
		     size_t *out_len, char *err, size_t errlen)
{
	*out = NULL;
	*out_len = 0;
	if (c == KCOMP_BZIP2 || c == KCOMP_LZO || c == KCOMP_UNKNOWN)
		return err_set(err, errlen, "%s payload: kvmm does not decompress it",
			       kcomp_name(c));
	if (len < 8)
		return err_set(err, errlen, "%s payload of %zu bytes is truncated", kcomp_name(c),
			       len);
	size_t want = le32(in + len - 4);
	if (want == 0 || want > max_out)
		return err_set(err, errlen, "%s payload says it unpacks to %zu bytes (at most %zu)",
			       kcomp_name(c), want, max_out);
	/* One byte of slack: a stream that would write more than announced is caught, not cut. */
	uint8_t *buf = malloc(want + 1);
	if (!buf)
		return err_set(err, errlen, "out of memory for %zu bytes", want);
	size_t got = 0;
	int r;
	switch (c) {
	case KCOMP_GZIP:
		r = inflate_gzip(in, len, buf, want + 1, &got, err, errlen);
		break;
	case KCOMP_LZMA:
	case KCOMP_XZ:
		r = decode_lzma(c == KCOMP_XZ, in, len, buf, want + 1, &got, err, errlen);
		break;
	case KCOMP_LZ4:
		r = decode_lz4(in, len, buf, want + 1, &got, err, errlen);
		break;
	default:
		r = decode_zstd(in, len, buf, want + 1, &got, err, errlen);
		break;
	}
	if (r == 0 && got != want)
		r = err_set(err, errlen, "%s payload unpacked to %zu bytes, its trailer says %zu",
			    kcomp_name(c), got, want);
	if (r < 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	*out_len = got;
	return 0;
}
