/* CPU state for entering a Linux kernel directly: the GDT and identity-mapped page tables the boot
 * protocol asks the loader to provide, and the registers at the entry point. */
#pragma once

#include <linux/kvm.h>
#include <stdbool.h>

#include "loader/bzimage.h"
#include "vmm/guest_mem.h"

/* Writes the GDT and, for 64-bit entry, page tables identity-mapping the first 4 GiB with 2 MiB
 * pages. Returns 0, or -1 when guest memory cannot hold them. */
int x86_write_boot_tables(const struct guest_mem *mem, bool long_mode);

/* Flat segments from that GDT; long mode with paging, or 32-bit protected mode without. */
void x86_boot_sregs(struct kvm_sregs *sregs, bool long_mode);
void x86_boot_regs(struct kvm_regs *regs, const struct boot_layout *boot);
