#include "elf.h"

#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "vmm/log.h"

/* xen/include/public/elfnote.h: the 32-bit physical entry of a PVH kernel. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define BOOT_AREA_END		 0x100000ULL

bool elf_is_elf(const uint8_t *image, size_t len)
{
	return len >= SELFMAG && !memcmp(image, ELFMAG, SELFMAG);
}

/* One program header in 64-bit form, whatever the class; false when it is outside the file. */
static bool read_phdr(const uint8_t *image, size_t len, bool is64, uint64_t phoff, unsigned i,
		      Elf64_Phdr *ph)
{
	size_t sz = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	uint64_t off = phoff + (uint64_t)i * sz;
	if (off < phoff || off > len || len - off < sz)
		return false;
	if (is64) {
		memcpy(ph, image + off, sz);
		return true;
	}
	Elf32_Phdr p;
	memcpy(&p, image + off, sz);
	*ph = (Elf64_Phdr){.p_type = p.p_type,
			   .p_offset = p.p_offset,
			   .p_paddr = p.p_paddr,
			   .p_filesz = p.p_filesz,
			   .p_memsz = p.p_memsz};
	return true;
}

/* Looks for Xen's PHYS32_ENTRY among the notes in [off, off + size). */
static uint64_t find_pvh_note(const uint8_t *image, uint64_t off, uint64_t size)
{
	while (size >= 12) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, image + off, 4);
		memcpy(&descsz, image + off + 4, 4);
		memcpy(&type, image + off + 8, 4);
		uint64_t name_len = ((uint64_t)namesz + 3) & ~3ULL;
		uint64_t desc_len = ((uint64_t)descsz + 3) & ~3ULL;
		if (12 + name_len + desc_len > size)
			return 0;
		const uint8_t *name = image + off + 12, *desc = name + name_len;
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && !memcmp(name, "Xen", 4) &&
		    (descsz == 4 || descsz == 8)) {
			uint32_t entry; /* a .quad on 64-bit kernels: the address is its low half */
			memcpy(&entry, desc, 4);
			return entry;
		}
		off += 12 + name_len + desc_len;
		size -= 12 + name_len + desc_len;
	}
	return 0;
}

int elf_parse(const uint8_t *image, size_t len, struct elf_kernel *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	if (!elf_is_elf(image, len) || len < EI_NIDENT)
		return err_set(err, errlen, "not an ELF file");
	k->is64 = image[EI_CLASS] == ELFCLASS64;
	if (!k->is64 && image[EI_CLASS] != ELFCLASS32)
		return err_set(err, errlen, "ELF class %u is neither 32- nor 64-bit",
			       image[EI_CLASS]);
	if (image[EI_DATA] != ELFDATA2LSB)
		return err_set(err, errlen, "big-endian ELF, not an x86 kernel");
	uint16_t machine, type, phentsize, phnum;
	uint64_t phoff;
	if (k->is64) {
		Elf64_Ehdr eh;
		if (len < sizeof(eh))
			return err_set(err, errlen, "truncated ELF header");
		memcpy(&eh, image, sizeof(eh));
		machine = eh.e_machine, type = eh.e_type, phentsize = eh.e_phentsize;
		phnum = eh.e_phnum, phoff = eh.e_phoff, k->entry = eh.e_entry;
	} else {
		Elf32_Ehdr eh;
		if (len < sizeof(eh))
			return err_set(err, errlen, "truncated ELF header");
		memcpy(&eh, image, sizeof(eh));
		machine = eh.e_machine, type = eh.e_type, phentsize = eh.e_phentsize;
		phnum = eh.e_phnum, phoff = eh.e_phoff, k->entry = eh.e_entry;
	}
	uint16_t want = k->is64 ? EM_X86_64 : EM_386;
	if (machine != want)
		return err_set(err, errlen, "ELF for machine %u, not %s (%u)", machine,
			       k->is64 ? "x86-64" : "i386", want);
	if (type != ET_EXEC)
		return err_set(err, errlen, "ELF type %u is not an executable (ET_EXEC)", type);
	if (phentsize != (k->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
		return err_set(err, errlen, "program header size %u is wrong for this class",
			       phentsize);
	if (phnum == 0 || phnum > ELF_MAX_PHDRS)
		return err_set(err, errlen, "%u program headers (1 to %d expected)", phnum,
			       ELF_MAX_PHDRS);

	k->start = UINT64_MAX;
	for (unsigned i = 0; i < phnum; i++) {
		Elf64_Phdr ph;
		if (!read_phdr(image, len, k->is64, phoff, i, &ph))
			return err_set(err, errlen, "program header %u is past the end of the file",
				       i);
		bool in_file = ph.p_offset <= len && ph.p_filesz <= len - ph.p_offset;
		if (ph.p_type == PT_NOTE && in_file && !k->pvh_entry)
			k->pvh_entry = find_pvh_note(image, ph.p_offset, ph.p_filesz);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (!in_file)
			return err_set(err, errlen,
				       "segment %u (%#llx bytes at file offset %#llx) is past "
				       "the end of the file",
				       i, (unsigned long long)ph.p_filesz,
				       (unsigned long long)ph.p_offset);
		if (ph.p_filesz > ph.p_memsz)
			return err_set(err, errlen, "segment %u has more file bytes than memory",
				       i);
		uint64_t end = ph.p_paddr + ph.p_memsz;
		if (end < ph.p_paddr)
			return err_set(err, errlen,
				       "segment %u at %#llx wraps past the end of memory", i,
				       (unsigned long long)ph.p_paddr);
		if (ph.p_paddr < BOOT_AREA_END)
			return err_set(err, errlen,
				       "segment %u at %#llx is below 1 MiB, where kvmm "
				       "keeps its boot tables",
				       i, (unsigned long long)ph.p_paddr);
		for (int j = 0; j < k->nseg; j++) {
			const struct elf_segment *s = &k->seg[j];
			if (ph.p_paddr < s->paddr + s->memsz && s->paddr < end)
				return err_set(
				    err, errlen, "segment %u at %#llx overlaps another at %#llx", i,
				    (unsigned long long)ph.p_paddr, (unsigned long long)s->paddr);
		}
		if (k->nseg == ELF_MAX_SEGMENTS)
			return err_set(err, errlen, "more than %d loadable segments",
				       ELF_MAX_SEGMENTS);
		k->seg[k->nseg++] =
		    (struct elf_segment){ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz};
		if (ph.p_paddr < k->start)
			k->start = ph.p_paddr;
		if (end > k->end)
			k->end = end;
	}
	if (k->nseg == 0)
		return err_set(err, errlen, "no loadable segments");
	return 0;
}

int elf_load(const struct guest_mem *mem, const struct elf_kernel *k, const uint8_t *image,
	     char *err, size_t errlen)
{
	for (int i = 0; i < k->nseg; i++) {
		const struct elf_segment *s = &k->seg[i];
		uint8_t *dst = gmem_ptr(mem, s->paddr, s->memsz);
		if (!dst)
			return err_set(err, errlen, "segment at %#llx-%#llx is not in guest RAM",
				       (unsigned long long)s->paddr,
				       (unsigned long long)(s->paddr + s->memsz));
		memcpy(dst, image + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}
