/* Host-side kernel payload decompression: each format round-trips data compressed here by the
 * same library, framed as Linux frames its kernels (lz4's legacy frame; Linux's 4-byte length
 * after the stream), and truncated, corrupt or mislabelled payloads fail with a reason. */
#include <check.h>
#include <lz4.h>
#include <lzma.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "loader/decompress.h"
#include "unit.h"

#define DATA_LEN (3 * 1024 * 1024 + 12345)

static uint8_t *data;
static uint8_t *packed;
static size_t packed_len;
static char err[160];

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void setup(void)
{
	data = malloc(DATA_LEN);
	ck_assert_ptr_nonnull(data);
	/* compressible but not trivial: text-like runs with a changing counter */
	for (size_t i = 0; i < DATA_LEN; i++)
		data[i] = (uint8_t)("kvmm boots Linux "[i % 17] + (i / 4096) % 7);
	packed = malloc(2 * DATA_LEN);
	ck_assert_ptr_nonnull(packed);
}

static void teardown(void)
{
	free(data);
	free(packed);
}

static void pack(enum kcomp c)
{
	size_t n = 0;
	switch (c) {
	case KCOMP_GZIP: {
		z_stream z = {0};
		ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY),
				 Z_OK);
		z.next_in = data;
		z.avail_in = DATA_LEN;
		z.next_out = packed;
		z.avail_out = 2 * DATA_LEN;
		ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
		n = z.total_out; /* gzip's own trailer ends in the length */
		deflateEnd(&z);
		packed_len = n;
		return;
	}
	case KCOMP_XZ:
		ck_assert_int_eq(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, data, DATA_LEN,
							 packed, &n, 2 * DATA_LEN),
				 LZMA_OK);
		break;
	case KCOMP_LZMA: {
		lzma_options_lzma opt;
		lzma_lzma_preset(&opt, 6);
		lzma_stream s = LZMA_STREAM_INIT;
		ck_assert_int_eq(lzma_alone_encoder(&s, &opt), LZMA_OK);
		s.next_in = data;
		s.avail_in = DATA_LEN;
		s.next_out = packed;
		s.avail_out = 2 * DATA_LEN;
		ck_assert_int_eq(lzma_code(&s, LZMA_FINISH), LZMA_STREAM_END);
		n = (size_t)s.total_out;
		lzma_end(&s);
		break;
	}
	case KCOMP_LZ4: {
		/* legacy frame: magic, then blocks of at most 8 MiB each behind a 4-byte size; here
		 * 1 MiB blocks so that several are chained */
		put_le32(packed, 0x184c2102);
		n = 4;
		for (size_t off = 0; off < DATA_LEN; off += MiB) {
			int in = (int)(DATA_LEN - off < MiB ? DATA_LEN - off : MiB);
			int r =
			    LZ4_compress_default((const char *)data + off, (char *)packed + n + 4,
						 in, (int)(2 * DATA_LEN - n - 4));
			ck_assert_int_gt(r, 0);
			put_le32(packed + n, (uint32_t)r);
			n += 4 + (size_t)r;
		}
		break;
	}
	case KCOMP_ZSTD:
		n = ZSTD_compress(packed, 2 * DATA_LEN, data, DATA_LEN, 19);
		ck_assert(!ZSTD_isError(n));
		break;
	default:
		ck_abort_msg("no packer for %d", c);
	}
	put_le32(packed + n, DATA_LEN); /* Linux's size_append */
	packed_len = n + 4;
}

static int unpack(size_t len, size_t max, uint8_t **out, size_t *out_len)
{
	err[0] = '\0';
	return kcomp_decompress(kcomp_detect(packed, len), packed, len, max, out, out_len, err,
				sizeof(err));
}

static void expect_fail(size_t len, size_t max, const char *why)
{
	uint8_t *out = (uint8_t *)1;
	size_t n = 1;
	ck_assert_int_eq(unpack(len, max, &out, &n), -1);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(n, 0);
	ck_assert_msg(why == NULL || strstr(err, why), "reason '%s' does not say '%s'", err, why);
	ck_assert_uint_gt(strlen(err), 0);
}

static const enum kcomp formats[] = {KCOMP_GZIP, KCOMP_XZ, KCOMP_LZMA, KCOMP_LZ4, KCOMP_ZSTD};

START_TEST(test_round_trip)
{
	enum kcomp c = formats[_i];
	pack(c);
	ck_assert_int_eq(kcomp_detect(packed, packed_len), c);
	uint8_t *out;
	size_t n;
	ck_assert_msg(unpack(packed_len, GiB, &out, &n) == 0, "%s: %s", kcomp_name(c), err);
	ck_assert_uint_eq(n, DATA_LEN);
	ck_assert(memcmp(out, data, DATA_LEN) == 0);
	free(out);
}
END_TEST

START_TEST(test_truncated)
{
	enum kcomp c = formats[_i];
	pack(c);
	/* Cut in the middle, and cut just before the trailer. The trailer moves with the cut: the
	 * last 4 bytes of what remains are read as the length, as they would be in a bad file. */
	expect_fail(packed_len / 2, GiB, NULL);
	expect_fail(packed_len - 5, GiB, NULL);
	expect_fail(7, GiB, "truncated");
}
END_TEST

START_TEST(test_corrupt)
{
	enum kcomp c = formats[_i];
	pack(c);
	/* bytes garbled a quarter of the way in */
	for (size_t i = packed_len / 4; i < packed_len / 4 + 64; i++)
		packed[i] ^= 0x5a;
	if (c == KCOMP_LZ4)
		put_le32(packed + 4, 0x7fffffff); /* and a block size no block has */
	expect_fail(packed_len, GiB, NULL);
}
END_TEST

START_TEST(test_length_checks)
{
	enum kcomp c = formats[_i];
	pack(c);
	/* more than the caller allows (guest RAM, say) */
	expect_fail(packed_len, DATA_LEN - 1, "at most");
	/* a trailer that claims less than the stream holds */
	put_le32(packed + packed_len - 4, DATA_LEN - 100);
	expect_fail(packed_len, GiB, NULL);
	put_le32(packed + packed_len - 4, 0);
	expect_fail(packed_len, GiB, NULL);
}
END_TEST

/* An lzma header that asks for a dictionary of almost 4 GiB (the field is the encoder's to set;
 * no kernel's is over 64 MiB): refused before liblzma allocates it, as zstd refuses a window past
 * its default limit, instead of kvmm reserving 4 GiB for a file of a few MiB. */
START_TEST(test_lzma_dictionary_limit)
{
	pack(KCOMP_LZMA);
	/* .lzma header: properties, dictionary size, length; the size's low bytes stay 0, as
	 * Linux's magic (5d 00 00) needs */
	put_le32(packed + 1, 0xffff0000);
	expect_fail(packed_len, GiB, "memory");
}
END_TEST

START_TEST(test_unsupported)
{
	static const uint8_t bz2[] = "BZh91AY&SY\0\0\0\0";
	static const uint8_t lzo[] = "\x89LZO\0\r\n\x1a\n\0\0\0";
	static const uint8_t junk[] = "not compressed at all";
	uint8_t *out;
	size_t n;
	ck_assert_int_eq(kcomp_detect(bz2, sizeof(bz2)), KCOMP_BZIP2);
	ck_assert_int_eq(
	    kcomp_decompress(KCOMP_BZIP2, bz2, sizeof(bz2), GiB, &out, &n, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "bzip2 payload: kvmm does not decompress it"));
	ck_assert_int_eq(kcomp_detect(lzo, sizeof(lzo)), KCOMP_LZO);
	ck_assert_int_eq(kcomp_detect(junk, sizeof(junk)), KCOMP_UNKNOWN);
	ck_assert_int_eq(
	    kcomp_decompress(KCOMP_UNKNOWN, junk, sizeof(junk), GiB, &out, &n, err, sizeof(err)),
	    -1);
}
END_TEST

static Suite *decompress_suite(void)
{
	Suite *s = suite_create("decompress");
	TCase *tc = tcase_create("formats");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	int n = (int)(sizeof(formats) / sizeof(formats[0]));
	tcase_add_loop_test(tc, test_round_trip, 0, n);
	tcase_add_loop_test(tc, test_truncated, 0, n);
	tcase_add_loop_test(tc, test_corrupt, 0, n);
	tcase_add_loop_test(tc, test_length_checks, 0, n);
	tcase_add_test(tc, test_lzma_dictionary_limit);
	tcase_add_test(tc, test_unsupported);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(decompress_suite());
}
