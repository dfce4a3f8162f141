#include "aml.h"

#include <stdlib.h>
#include <string.h>

/* Opcodes (ACPI 6.4 §20.3). */
enum {
	ZERO_OP = 0x00,
	ONE_OP = 0x01,
	NAME_OP = 0x08,
	BYTE_PREFIX = 0x0a,
	WORD_PREFIX = 0x0b,
	DWORD_PREFIX = 0x0c,
	STRING_PREFIX = 0x0d,
	QWORD_PREFIX = 0x0e,
	SCOPE_OP = 0x10,
	BUFFER_OP = 0x11,
	PACKAGE_OP = 0x12,
	METHOD_OP = 0x14,
	DUAL_NAME_PREFIX = 0x2e,
	MULTI_NAME_PREFIX = 0x2f,
	EXT_OP_PREFIX = 0x5b,
	DEVICE_OP = 0x82, /* after EXT_OP_PREFIX */
	RETURN_OP = 0xa4,
};

enum { OPEN_TERMS, OPEN_PACKAGE, OPEN_BUFFER };

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

const uint8_t *aml_done(struct aml *a, size_t *len)
{
	if (a->bad || a->depth != 0 || !a->buf)
		return NULL;
	*len = a->len;
	return a->buf;
}

static bool reserve(struct aml *a, size_t n)
{
	if (a->bad)
		return false;
	if (a->len + n > a->cap) {
		size_t cap = a->cap ? a->cap : 256;
		while (cap < a->len + n)
			cap *= 2;
		uint8_t *b = realloc(a->buf, cap);
		if (!b) {
			a->bad = true;
			return false;
		}
		a->buf = b;
		a->cap = cap;
	}
	return true;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (n == 0 || !reserve(a, n)) /* no bytes: the buffer may not exist yet */
		return;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void le(struct aml *a, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		byte(a, (uint8_t)(v >> (8 * i)));
}

/* A data object directly inside a package is one of its elements. */
static void element(struct aml *a)
{
	if (a->depth > 0 && a->kind[a->depth - 1] == OPEN_PACKAGE)
		a->count[a->depth - 1]++;
}

size_t aml_pkglen(size_t body, uint8_t out[4])
{
	/* The PkgLength counts itself: one byte holds up to 63, then each extra byte adds 8
	 * bits on top of the lead byte's low nibble. */
	if (body + 1 <= 0x3f) {
		out[0] = (uint8_t)(body + 1);
		return 1;
	}
	for (size_t n = 2; n <= 4; n++) {
		size_t total = body + n;
		if (total < ((size_t)1 << (4 + 8 * (n - 1)))) {
			out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
			for (size_t i = 1; i < n; i++)
				out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
			return n;
		}
	}
	return 0;
}

uint32_t aml_eisaid(const char *id)
{
	if (strlen(id) != 7)
		return 0;
	uint32_t v = 0;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return 0;
		v |= (uint32_t)(id[i] - '@') << (26 - 5 * i);
	}
	for (int i = 3; i < 7; i++) {
		char c = id[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
						    : 16;
		if (d > 15)
			return 0;
		v |= d << (4 * (6 - i));
	}
	/* Stored big-endian: the compressed vendor letters come first in memory. */
	return __builtin_bswap32(v);
}

void aml_int(struct aml *a, uint64_t v)
{
	element(a);
	if (v == 0)
		byte(a, ZERO_OP);
	else if (v == 1)
		byte(a, ONE_OP);
	else if (v <= 0xff)
		byte(a, BYTE_PREFIX), le(a, v, 1);
	else if (v <= 0xffff)
		byte(a, WORD_PREFIX), le(a, v, 2);
	else if (v <= 0xffffffffU)
		byte(a, DWORD_PREFIX), le(a, v, 4);
	else
		byte(a, QWORD_PREFIX), le(a, v, 8);
}

void aml_string(struct aml *a, const char *s)
{
	element(a);
	byte(a, STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

void aml_namestring(struct aml *a, const char *path)
{
	const char *p = path;
	if (*p == '\\')
		byte(a, '\\'), p++;
	else
		while (*p == '^')
			byte(a, '^'), p++;
	char segs[255][4];
	size_t n = 0;
	while (*p) {
		size_t l = strcspn(p, ".");
		if (l == 0 || l > 4 || n == 255) {
			a->bad = true;
			return;
		}
		memset(segs[n], '_', 4);
		memcpy(segs[n], p, l);
		n++;
		p += l;
		if (*p == '.')
			p++;
	}
	if (n == 0)
		byte(a, 0x00); /* NullName */
	else if (n == 2)
		byte(a, DUAL_NAME_PREFIX);
	else if (n > 2)
		byte(a, MULTI_NAME_PREFIX), byte(a, (uint8_t)n);
	aml_bytes(a, segs, 4 * n);
}

void aml_name(struct aml *a, const char *path)
{
	byte(a, NAME_OP);
	aml_namestring(a, path);
}

void aml_name_int(struct aml *a, const char *path, uint64_t v)
{
	aml_name(a, path);
	aml_int(a, v);
}

void aml_name_string(struct aml *a, const char *path, const char *s)
{
	aml_name(a, path);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *path, const char *id)
{
	uint32_t v = aml_eisaid(id);
	if (!v)
		a->bad = true;
	aml_name(a, path);
	/* Always a DWord, as iasl's EISAID() writes it. */
	byte(a, DWORD_PREFIX);
	le(a, v, 4);
}

/* Opens a construct whose PkgLength goes at the current position. */
static void open(struct aml *a, uint8_t kind)
{
	if (a->depth == AML_MAX_DEPTH) {
		a->bad = true;
		return;
	}
	a->open[a->depth] = a->len;
	a->count[a->depth] = 0;
	a->kind[a->depth] = kind;
	a->depth++;
}

void aml_scope(struct aml *a, const char *path)
{
	byte(a, SCOPE_OP);
	open(a, OPEN_TERMS);
	aml_namestring(a, path);
}

void aml_device(struct aml *a, const char *path)
{
	byte(a, EXT_OP_PREFIX);
	byte(a, DEVICE_OP);
	open(a, OPEN_TERMS);
	aml_namestring(a, path);
}

void aml_method(struct aml *a, const char *path, unsigned nargs, bool serialized)
{
	byte(a, METHOD_OP);
	open(a, OPEN_TERMS);
	aml_namestring(a, path);
	byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
}

void aml_package(struct aml *a)
{
	element(a);
	byte(a, PACKAGE_OP);
	open(a, OPEN_PACKAGE);
	byte(a, 0); /* NumElements, known at aml_close */
}

void aml_buffer(struct aml *a)
{
	element(a);
	byte(a, BUFFER_OP);
	open(a, OPEN_BUFFER);
}

void aml_close(struct aml *a)
{
	if (a->bad)
		return;
	if (a->depth == 0) {
		a->bad = true;
		return;
	}
	int d = --a->depth;
	size_t start = a->open[d], body = a->len - start;
	uint8_t prefix[4 + 9];
	size_t np = 0;
	if (a->kind[d] == OPEN_PACKAGE) {
		if (a->count[d] > 255) {
			a->bad = true;
			return;
		}
		a->buf[start] = (uint8_t)a->count[d];
	} else if (a->kind[d] == OPEN_BUFFER) {
		/* BufferSize, an integer, comes before the bytes and inside the PkgLength. */
		struct aml tmp;
		aml_init(&tmp);
		aml_int(&tmp, body);
		if (tmp.bad) {
			a->bad = true;
			aml_free(&tmp);
			return;
		}
		uint8_t pl[4];
		size_t npl = aml_pkglen(body + tmp.len, pl);
		if (npl == 0) {
			a->bad = true;
			aml_free(&tmp);
			return;
		}
		memcpy(prefix, pl, npl);
		memcpy(prefix + npl, tmp.buf, tmp.len);
		np = npl + tmp.len;
		aml_free(&tmp);
	}
	if (np == 0) {
		np = aml_pkglen(body, prefix);
		if (np == 0) {
			a->bad = true;
			return;
		}
	}
	if (!reserve(a, np))
		return;
	memmove(a->buf + start + np, a->buf + start, body);
	memcpy(a->buf + start, prefix, np);
	a->len += np;
}

void aml_return(struct aml *a)
{
	byte(a, RETURN_OP);
}

/* Small resource items (§6.4.2). */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	/* IO(Decode16, base, base, 1, len) */
	uint8_t d[8] = {
	    0x47, 0x01, (uint8_t)base, (uint8_t)(base >> 8), (uint8_t)base, (uint8_t)(base >> 8),
	    0x01, len};
	aml_bytes(a, d, sizeof(d));
}

void aml_res_irq(struct aml *a, unsigned irq)
{
	uint16_t mask = (uint16_t)(1u << (irq & 15));
	uint8_t d[3] = {0x22, (uint8_t)mask, (uint8_t)(mask >> 8)};
	aml_bytes(a, d, sizeof(d));
}

void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
	uint8_t d[3 + 9] = {0x86, 9, 0, 0x01 /* ReadWrite */};
	for (int i = 0; i < 4; i++) {
		d[4 + i] = (uint8_t)(base >> (8 * i));
		d[8 + i] = (uint8_t)(len >> (8 * i));
	}
	aml_bytes(a, d, sizeof(d));
}

void aml_res_edge_interrupt(struct aml *a, uint32_t gsi)
{
	/* flags: consumer (bit 0), edge (bit 1), active high, exclusive; one interrupt */
	uint8_t d[3 + 6] = {0x89, 6, 0, 0x03, 1};
	for (int i = 0; i < 4; i++)
		d[5 + i] = (uint8_t)(gsi >> (8 * i));
	aml_bytes(a, d, sizeof(d));
}

/* Large address space descriptors (§6.4.3.5): a bridge's window it produces for its children,
 * with fixed minimum and maximum. */
#define ADDR_PRODUCER_FIXED 0x0c

static void address(struct aml *a, uint8_t tag, uint8_t type, uint8_t tflags, unsigned width,
		    uint64_t min, uint64_t max)
{
	uint16_t len = (uint16_t)(3 + 5 * width);
	uint8_t head[6] = {tag,	 (uint8_t)len,	      (uint8_t)(len >> 8),
			   type, ADDR_PRODUCER_FIXED, tflags};
	aml_bytes(a, head, sizeof(head));
	le(a, 0, width);	     /* granularity */
	le(a, min, width);	     /* minimum */
	le(a, max, width);	     /* maximum */
	le(a, 0, width);	     /* translation offset */
	le(a, max - min + 1, width); /* length */
}

void aml_res_bus_numbers(struct aml *a, uint16_t min, uint16_t max)
{
	address(a, 0x88, 2, 0, 2, min, max);
}

void aml_res_io_window(struct aml *a, uint16_t min, uint16_t max)
{
	address(a, 0x88, 1, 0x03 /* EntireRange */, 2, min, max);
}

void aml_res_mem32_window(struct aml *a, uint32_t min, uint32_t max)
{
	address(a, 0x87, 0, 0x01 /* ReadWrite, NonCacheable */, 4, min, max);
}

void aml_res_mem64_window(struct aml *a, uint64_t min, uint64_t max)
{
	address(a, 0x8a, 0, 0x01, 8, min, max);
}

void aml_res_end(struct aml *a)
{
	uint8_t d[2] = {0x79, 0x00}; /* checksum 0: "the template is valid" */
	aml_bytes(a, d, sizeof(d));
}
