/* A tiny AML writer: the few ACPI Machine Language constructs kvmm's DSDT needs, emitted as
 * bytes (ACPI 6.4 §20.2). Scopes, devices, methods, packages and buffers are opened, filled and
 * closed; closing one writes its PkgLength in front of what it holds. A writer that ran out of
 * memory or was misused (too deep, unbalanced) says so in aml_done() instead of crashing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 16

struct aml {
	uint8_t *buf;
	size_t len, cap;
	size_t open[AML_MAX_DEPTH];    /* where each open construct's contents start */
	unsigned count[AML_MAX_DEPTH]; /* elements so far, for packages */
	uint8_t kind[AML_MAX_DEPTH];
	int depth;
	bool bad;
};

void aml_init(struct aml *a);
/* The finished bytes (owned by a, freed by aml_free) and their length; NULL when the writer
 * failed or a construct is still open. */
const uint8_t *aml_done(struct aml *a, size_t *len);
void aml_free(struct aml *a);

/* PkgLength of a construct whose contents after the PkgLength are body bytes: writes 1 to 4
 * bytes to out and returns how many; 0 when it cannot be encoded (over 2^28 - 1). */
size_t aml_pkglen(size_t body, uint8_t out[4]);
/* An EISA ID ("PNP0A03") as the 32-bit value _HID takes; 0 for a malformed one. */
uint32_t aml_eisaid(const char *id);

/* Data objects. */
void aml_int(struct aml *a, uint64_t v); /* Zero, One, Byte, Word, DWord or QWord */
void aml_string(struct aml *a, const char *s);
/* A NameString: "PCI0", "\\_SB.PCI0", "^FOO"; each segment padded with '_' to 4. */
void aml_namestring(struct aml *a, const char *path);

/* Name(path, <the next object>) */
void aml_name(struct aml *a, const char *path);
void aml_name_int(struct aml *a, const char *path, uint64_t v);
void aml_name_string(struct aml *a, const char *path, const char *s);
void aml_name_eisaid(struct aml *a, const char *path, const char *id);

/* Opened constructs, each ended by aml_close(). */
void aml_scope(struct aml *a, const char *path);
void aml_device(struct aml *a, const char *path);
void aml_method(struct aml *a, const char *path, unsigned nargs, bool serialized);
void aml_package(struct aml *a); /* counts what is put in it */
void aml_buffer(struct aml *a);	 /* raw bytes (aml_bytes) or resource descriptors */
void aml_close(struct aml *a);

/* Return(<the next object>) */
void aml_return(struct aml *a);
void aml_bytes(struct aml *a, const void *p, size_t n);

/* Resource descriptors (ACPI 6.4 §6.4), for a buffer opened by aml_buffer(); aml_end_tag() ends
 * the template. */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);
void aml_res_irq(struct aml *a, unsigned irq); /* IRQNoFlags: edge, active high */
void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len);
/* Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi } */
void aml_res_edge_interrupt(struct aml *a, uint32_t gsi);
void aml_res_bus_numbers(struct aml *a, uint16_t min, uint16_t max);
void aml_res_io_window(struct aml *a, uint16_t min, uint16_t max);
void aml_res_mem32_window(struct aml *a, uint32_t min, uint32_t max);
void aml_res_mem64_window(struct aml *a, uint64_t min, uint64_t max);
void aml_res_end(struct aml *a);
