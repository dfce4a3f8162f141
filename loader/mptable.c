#include "mptable.h"

#include <string.h>

#include "devices/pci.h"

struct mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };

#define MP_SPEC_1_4	  4
#define CPU_ENABLED	  1
#define CPU_BOOTPROCESSOR 2
#define APIC_VERSION	  0x14
#define IOAPIC_VERSION	  0x11
#define MP_BUS_PCI	  0
#define MP_BUS_ISA	  1
#define MP_PCI_SLOTS	  32
#define MP_IRQ_LEVEL_HIGH 0x0d /* polarity 01 (high), trigger 11 (level) */
/* Family 6 signature and FPU|APIC feature bits: only consulted by ancient kernels. */
#define CPU_SIGNATURE 0x600
#define CPU_FEATURES  0x201

static uint8_t checksum(const void *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + ((const uint8_t *)p)[i]);
	return (uint8_t)-sum;
}

static size_t entries_size(int ncpus)
{
	return (size_t)ncpus * sizeof(struct mpc_cpu) + 2 * sizeof(struct mpc_bus) +
	       sizeof(struct mpc_ioapic) +
	       (MP_ISA_IRQS + MP_PCI_SLOTS - 1) * sizeof(struct mpc_intsrc) +
	       2 * sizeof(struct mpc_intsrc);
}

size_t mptable_size(int ncpus)
{
	return sizeof(struct mpf_intel) + sizeof(struct mpc_table) + entries_size(ncpus);
}

size_t mptable_build(uint8_t *buf, size_t buflen, uint64_t base, int ncpus)
{
	if (ncpus < 1 || ncpus > MPTABLE_MAX_CPUS || buflen < mptable_size(ncpus))
		return 0;
	size_t total = mptable_size(ncpus);
	memset(buf, 0, total);

	struct mpf_intel *mpf = (struct mpf_intel *)buf;
	struct mpc_table *mpc = (struct mpc_table *)(mpf + 1);
	uint8_t *p = (uint8_t *)(mpc + 1);
	uint16_t count = 0;
	uint8_t ioapic_id = mptable_ioapic_id(ncpus);

	for (int i = 0; i < ncpus; i++, count++) {
		struct mpc_cpu *cpu = (struct mpc_cpu *)p;
		*cpu = (struct mpc_cpu){
		    .type = MP_PROCESSOR,
		    .apicid = (uint8_t)i,
		    .apicver = APIC_VERSION,
		    .cpuflag = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0),
		    .cpufeature = CPU_SIGNATURE,
		    .featureflag = CPU_FEATURES,
		};
		p += sizeof(*cpu);
	}
	/* Bus 0 is PCI (virtio devices will route INTx here); bus 1 is ISA. */
	static const struct mpc_bus buses[] = {
	    {MP_BUS, MP_BUS_PCI, {'P', 'C', 'I', ' ', ' ', ' '}},
	    {MP_BUS, MP_BUS_ISA, {'I', 'S', 'A', ' ', ' ', ' '}},
	};
	memcpy(p, buses, sizeof(buses));
	p += sizeof(buses);
	count += 2;

	*(struct mpc_ioapic *)p = (struct mpc_ioapic){
	    .type = MP_IOAPIC,
	    .apicid = ioapic_id,
	    .apicver = IOAPIC_VERSION,
	    .flags = 1, /* enabled */
	    .apicaddr = MP_IOAPIC_ADDR,
	};
	p += sizeof(struct mpc_ioapic);
	count++;

	/* KVM's default routing wires ISA IRQ n to IOAPIC pin n (the PIT included), so the table
	 * says exactly that; flags 0 means "conforming to the bus": edge, active high for ISA. */
	for (int irq = 0; irq < MP_ISA_IRQS; irq++, count++) {
		*(struct mpc_intsrc *)p = (struct mpc_intsrc){
		    .type = MP_INTSRC,
		    .irqtype = MP_INT,
		    .srcbus = MP_BUS_ISA,
		    .srcbusirq = (uint8_t)irq,
		    .dstapic = ioapic_id,
		    .dstirq = (uint8_t)irq,
		};
		p += sizeof(struct mpc_intsrc);
	}
	/* PCI INTA# of slots 1..31 (slot 0 is the host bridge), for drivers without MSI-X. Level,
	 * active high: KVM's IOAPIC takes KVM_IRQ_LINE level 1 as asserted. */
	for (int slot = 1; slot < MP_PCI_SLOTS; slot++, count++) {
		*(struct mpc_intsrc *)p = (struct mpc_intsrc){
		    .type = MP_INTSRC,
		    .irqtype = MP_INT,
		    .irqflag = MP_IRQ_LEVEL_HIGH,
		    .srcbus = MP_BUS_PCI,
		    .srcbusirq = (uint8_t)(slot << 2), /* device number, pin INTA# (0) */
		    .dstapic = ioapic_id,
		    .dstirq = (uint8_t)pci_intx_gsi((unsigned)slot),
		};
		p += sizeof(struct mpc_intsrc);
	}
	/* Every local APIC: LINT0 takes the 8259's ExtINT, LINT1 is NMI. */
	static const uint8_t lint_types[2] = {MP_EXTINT, MP_NMI};
	for (int lint = 0; lint < 2; lint++, count++) {
		*(struct mpc_intsrc *)p = (struct mpc_intsrc){
		    .type = MP_LINTSRC,
		    .irqtype = lint_types[lint],
		    .srcbus = MP_BUS_ISA,
		    .dstapic = 0xff,
		    .dstirq = (uint8_t)lint,
		};
		p += sizeof(struct mpc_intsrc);
	}

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(sizeof(*mpc) + entries_size(ncpus));
	mpc->spec = MP_SPEC_1_4;
	memcpy(mpc->oem, "KVMM    ", 8);
	memcpy(mpc->productid, "KVMM        ", 12);
	mpc->oemcount = count;
	mpc->lapic = MP_LAPIC_ADDR;
	mpc->checksum = checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(base + sizeof(*mpf));
	mpf->length = 1;
	mpf->specification = MP_SPEC_1_4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	return total;
}

int mptable_write(const struct guest_mem *mem, int ncpus)
{
	size_t len = mptable_size(ncpus);
	uint8_t *buf = gmem_ptr(mem, MPTABLE_ADDR, len);
	if (!buf || mptable_build(buf, len, MPTABLE_ADDR, ncpus) != len)
		return -1;
	return 0;
}
