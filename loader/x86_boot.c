#include "x86_boot.h"

#include <string.h>

#define X86_CR0_PE   0x1ULL
#define X86_CR0_ET   0x10ULL
#define X86_CR0_PG   0x80000000ULL
#define X86_CR4_PAE  0x20ULL
#define X86_EFER_LME 0x100ULL
#define X86_EFER_LMA 0x400ULL

#define PTE_PRESENT 0x1ULL
#define PTE_RW	    0x2ULL
#define PTE_PS	    0x80ULL

/* boot.rst: __BOOT_CS is 0x10 and __BOOT_DS is 0x18. */
#define GDT_CODE    2
#define GDT_DATA    3
#define GDT_TSS	    4
#define GDT_ENTRIES 5

static const uint64_t gdt_long[GDT_ENTRIES] = {
    [GDT_CODE] = 0x00af9b000000ffffULL, /* 64-bit code, L=1 */
    [GDT_DATA] = 0x00cf93000000ffffULL,
    [GDT_TSS] = 0x008f8b000000ffffULL,
};

static const uint64_t gdt_prot[GDT_ENTRIES] = {
    [GDT_CODE] = 0x00cf9b000000ffffULL, /* 32-bit code, D=1 */
    [GDT_DATA] = 0x00cf93000000ffffULL,
    [GDT_TSS] = 0x008f8b000000ffffULL,
};

int x86_write_boot_tables(const struct guest_mem *mem, bool long_mode)
{
	if (!gmem_write(mem, BOOT_GDT_ADDR, long_mode ? gdt_long : gdt_prot, sizeof(gdt_long)))
		return -1;
	if (!long_mode)
		return 0;
	/* PML4 -> one PDPT -> four page directories of 2 MiB pages: 0..4 GiB, enough for the
	 * kernel, zero page, command line and an initrd below the PCI hole. The kernel replaces
	 * these with its own tables within its first instructions. */
	uint64_t pml4 = BOOT_PML4_ADDR, pdpt = pml4 + 0x1000, pd = pdpt + 0x1000;
	uint64_t *p4 = gmem_ptr(mem, pml4, 0x1000);
	uint64_t *p3 = gmem_ptr(mem, pdpt, 0x1000);
	uint64_t *p2 = gmem_ptr(mem, pd, 4 * 0x1000);
	if (!p4 || !p3 || !p2)
		return -1;
	memset(p4, 0, 0x1000);
	memset(p3, 0, 0x1000);
	p4[0] = pdpt | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		p3[i] = (pd + i * 0x1000) | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		p2[i] = (i << 21) | PTE_PRESENT | PTE_RW | PTE_PS;
	return 0;
}

static struct kvm_segment segment_from_gdt(uint64_t desc, unsigned index)
{
	return (struct kvm_segment){
	    .base = ((desc >> 16) & 0xffffff) | (((desc >> 56) & 0xff) << 24),
	    .limit = (uint32_t)((desc & 0xffff) | (((desc >> 48) & 0xf) << 16)),
	    .selector = (uint16_t)(index * 8),
	    .type = (desc >> 40) & 0xf,
	    .present = (desc >> 47) & 1,
	    .dpl = (desc >> 45) & 3,
	    .db = (desc >> 54) & 1,
	    .s = (desc >> 44) & 1,
	    .l = (desc >> 53) & 1,
	    .g = (desc >> 55) & 1,
	    .avl = (desc >> 52) & 1,
	};
}

void x86_boot_sregs(struct kvm_sregs *sregs, bool long_mode)
{
	const uint64_t *gdt = long_mode ? gdt_long : gdt_prot;
	struct kvm_segment code = segment_from_gdt(gdt[GDT_CODE], GDT_CODE);
	struct kvm_segment data = segment_from_gdt(gdt[GDT_DATA], GDT_DATA);
	struct kvm_segment tss = segment_from_gdt(gdt[GDT_TSS], GDT_TSS);
	/* The limit field holds 4 KiB units when G is set; KVM wants it in bytes. */
	code.limit = data.limit = 0xffffffff;
	tss.limit = 0xfffff;

	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = tss;
	sregs->gdt.base = BOOT_GDT_ADDR;
	sregs->gdt.limit = GDT_ENTRIES * 8 - 1;
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	sregs->cr0 = (sregs->cr0 | X86_CR0_PE | X86_CR0_ET);
	if (long_mode) {
		sregs->cr0 |= X86_CR0_PG;
		sregs->cr3 = BOOT_PML4_ADDR;
		sregs->cr4 |= X86_CR4_PAE;
		sregs->efer |= X86_EFER_LME | X86_EFER_LMA;
	} else {
		sregs->cr0 &= ~X86_CR0_PG;
		sregs->cr4 &= ~X86_CR4_PAE;
		sregs->efer &= ~(X86_EFER_LME | X86_EFER_LMA);
	}
}

void x86_boot_regs(struct kvm_regs *regs, const struct boot_layout *boot)
{
	memset(regs, 0, sizeof(*regs));
	regs->rflags = 0x2; /* bit 1 is reserved and must be set; interrupts off */
	regs->rip = boot->entry;
	regs->rsi = boot->zero_page;
	regs->rbx = boot->start_info;
	regs->rsp = regs->rbp = BOOT_STACK_ADDR;
}
