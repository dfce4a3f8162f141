/* cpuid_patch on a hand-made table: per-vCPU APIC IDs and topology, per the Intel SDM's CPUID
 * leaf 01H and leaf 0BH (extended topology) definitions. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "vmm/cpuid.h"

enum { E_LEAF1, E_B0, E_B1, E_B2, E_HV, NENT };

static struct kvm_cpuid2 *make_table(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + NENT * sizeof(c->entries[0]));
	ck_assert_ptr_nonnull(c);
	c->nent = NENT;
	/* leaf 1 as a host might report it: brand index 0x12, CLFLUSH 8 (x 8 bytes), and
	 * an unrelated APIC ID / logical count from the host CPU */
	c->entries[E_LEAF1] = (struct kvm_cpuid_entry2){.function = 1,
							.eax = 0x000806f8,
							.ebx = 0x3f100812,
							.ecx = 0x7ffafbff,
							.edx = 0xbfebfbff};
	for (unsigned i = 0; i < 3; i++)
		c->entries[E_B0 + i] =
		    (struct kvm_cpuid_entry2){.function = 0xb,
					      .index = i,
					      .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
					      .eax = 0xdead,
					      .ebx = 0xbeef,
					      .ecx = 0xcafe,
					      .edx = 0x77};
	c->entries[E_HV] = (struct kvm_cpuid_entry2){.function = 0x40000000,
						     .eax = 0x40000001,
						     .ebx = 0x4b4d564b,
						     .ecx = 0x564b4d56,
						     .edx = 0x0000004d};
	return c;
}

static void check_patch(unsigned apic_id, unsigned ncpus)
{
	struct kvm_cpuid2 *c = make_table();
	struct kvm_cpuid_entry2 hv = c->entries[E_HV], l1 = c->entries[E_LEAF1];
	cpuid_patch(c, apic_id, ncpus);

	struct kvm_cpuid_entry2 *e = &c->entries[E_LEAF1];
	ck_assert_uint_eq(e->ebx >> 24, apic_id);	     /* initial APIC ID */
	ck_assert_uint_ge((e->ebx >> 16) & 0xff, ncpus);     /* addressable logical IDs */
	ck_assert_uint_eq(e->ebx & 0xffff, l1.ebx & 0xffff); /* brand index, CLFLUSH kept */
	ck_assert_uint_eq(e->ecx & (1U << 31), 1U << 31);    /* hypervisor present */
	ck_assert_uint_eq(e->ecx & 0x7fffffff, l1.ecx & 0x7fffffff);
	ck_assert_uint_eq(e->eax, l1.eax);

	for (unsigned i = 0; i < 3; i++) {
		e = &c->entries[E_B0 + i];
		ck_assert_uint_eq(e->edx, apic_id);  /* x2APIC ID, every subleaf */
		ck_assert_uint_eq(e->ecx & 0xff, i); /* ECX[7:0] echoes the subleaf */
	}
	/* subleaf 0: SMT level (type 1), one thread per core */
	e = &c->entries[E_B0];
	ck_assert_uint_eq((e->ecx >> 8) & 0xff, 1);
	ck_assert_uint_eq(e->ebx & 0xffff, 1);
	/* subleaf 1: core level (type 2), ncpus logical processors; EAX[4:0] shifts the x2APIC ID
	 * right to get the package ID, so 2^shift must cover every vCPU */
	e = &c->entries[E_B1];
	ck_assert_uint_eq((e->ecx >> 8) & 0xff, 2);
	ck_assert_uint_eq(e->ebx & 0xffff, ncpus);
	ck_assert_uint_ge(1ULL << (e->eax & 0x1f), ncpus);
	ck_assert_uint_lt(apic_id >> (e->eax & 0x1f), 1); /* all in package 0 */
	/* subleaf 2: invalid level (type 0) with EBX 0 ends the enumeration */
	e = &c->entries[E_B2];
	ck_assert_uint_eq((e->ecx >> 8) & 0xff, 0);
	ck_assert_uint_eq(e->ebx & 0xffff, 0);

	ck_assert_mem_eq(&c->entries[E_HV], &hv, sizeof(hv));
	ck_assert_uint_eq(c->nent, NENT);
	free(c);
}

START_TEST(test_bsp_of_one)
{
	check_patch(0, 1);
}
END_TEST

START_TEST(test_ap_of_four)
{
	check_patch(3, 4);
}
END_TEST

START_TEST(test_vcpu_of_many)
{
	check_patch(5, 6);
	check_patch(200, 254);
}
END_TEST

START_TEST(test_each_vcpu_distinct)
{
	/* patching the same host table per vCPU gives each its own ID, nothing else differs */
	struct kvm_cpuid2 *a = make_table(), *b = make_table();
	cpuid_patch(a, 0, 2);
	cpuid_patch(b, 1, 2);
	ck_assert_uint_ne(a->entries[E_LEAF1].ebx >> 24, b->entries[E_LEAF1].ebx >> 24);
	ck_assert_uint_eq(a->entries[E_LEAF1].ebx & 0xffffff, b->entries[E_LEAF1].ebx & 0xffffff);
	ck_assert_uint_eq(a->entries[E_B1].ebx, b->entries[E_B1].ebx);
	ck_assert_uint_ne(a->entries[E_B1].edx, b->entries[E_B1].edx);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_find)
{
	struct kvm_cpuid2 *c = make_table();
	ck_assert_ptr_eq(cpuid_find(c, 1, 0), &c->entries[E_LEAF1]);
	ck_assert_ptr_eq(cpuid_find(c, 1, 7), &c->entries[E_LEAF1]); /* index not significant */
	ck_assert_ptr_eq(cpuid_find(c, 0xb, 1), &c->entries[E_B1]);
	ck_assert_ptr_eq(cpuid_find(c, 0xb, 2), &c->entries[E_B2]);
	ck_assert_ptr_null(cpuid_find(c, 0xb, 3));
	ck_assert_ptr_null(cpuid_find(c, 0x1f, 0));
	free(c);
}
END_TEST

static Suite *cpuid_suite(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc = tcase_create("patch");
	tcase_add_test(tc, test_bsp_of_one);
	tcase_add_test(tc, test_ap_of_four);
	tcase_add_test(tc, test_vcpu_of_many);
	tcase_add_test(tc, test_each_vcpu_distinct);
	tcase_add_test(tc, test_find);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(cpuid_suite());
}
