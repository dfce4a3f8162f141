#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target: tests/fuzz/corpus/NAME/*, a few small inputs
each, in the format the target's header comment gives (fields little-endian). The seeds are what
a driver, a client or a kernel file looks like when it works, so the fuzzers start from there
instead of discovering a virtio handshake byte by byte. Deterministic; run it again after
changing an input format, and commit what it writes:

    python3 tests/fuzz/make-corpus.py
"""
import gzip
import lzma
import os
import shutil
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def u8(v):
    return struct.pack("<B", v & 0xFF)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def desc(addr, length, flags=0, nxt=0):
    return u64(addr) + u32(length) + u16(flags) + u16(nxt)


NEXT, WRITE, INDIRECT = 1, 2, 4
SEEDS = {}


def seed(target, name, data):
    SEEDS.setdefault(target, []).append((name, data))


# --- virtq: size, flags, desc/avail/used (u16), last_avail, image length, image, ops -------------

DESC, AVAIL, USED = 0x000, 0x080, 0x0C0  # for a queue of 8


def image(size, descs, heads, avail_idx=None, base=0, extra=()):
    """Guest memory from 0: descriptor table at DESC, avail ring with heads, the rest zero."""
    mem = bytearray(size)
    for i, d in enumerate(descs):
        mem[DESC + 16 * i : DESC + 16 * i + 16] = d
    idx = base
    for h in heads:
        mem[AVAIL + 4 + 2 * (idx % 8) : AVAIL + 6 + 2 * (idx % 8)] = u16(h)
        idx += 1
    mem[AVAIL + 2 : AVAIL + 4] = u16(idx if avail_idx is None else avail_idx)
    for off, data in extra:
        mem[off : off + len(data)] = data
    return bytes(mem).rstrip(b"\0")  # the rest of RAM is zeroes anyway


def virtq(flags, mem, ops, last_avail=0):
    return u8(3) + u8(flags) + u16(DESC) + u16(AVAIL) + u16(USED) + u16(last_avail) + \
        u16(len(mem)) + mem + ops


POP, SERVE, DRAIN, STORE, NOTIFY, SETNOTIFY, IOV, COPY, RESET = range(9)
mem = image(0x300, [desc(0x200, 16, NEXT, 1), desc(0x280, 64, WRITE)], [0])
seed("virtq", "read-write", virtq(0, mem, u8(POP) + u8(SERVE) + u32(64) + u8(NOTIFY) +
                                  u8(DRAIN)))
seed("virtq", "iov-copy", virtq(0, mem, u8(POP) + u8(IOV) + u8(1) + u16(8) + u16(40) + u8(3) +
                                u8(COPY) + u8(0) + u32(4) + u32(8) + u8(SERVE) + u32(1)))
ind = image(0x340, [desc(0x300, 32, INDIRECT)], [0],
            extra=[(0x300, desc(0x200, 8, NEXT, 1) + desc(0x280, 8, WRITE))])
seed("virtq", "indirect", virtq(2, ind, u8(DRAIN)))
wrap = image(0x300, [desc(0x200, 8), desc(0x208, 8, WRITE)], [0, 1], base=0xFFFE)
seed("virtq", "event-idx-wrap", virtq(1, wrap, u8(SETNOTIFY | 0x10) + u8(DRAIN) + u8(NOTIFY) +
                                      u8(STORE) + u16(AVAIL + 2) + u8(1) + u64(1) + u8(DRAIN),
                                      last_avail=0xFFFE))
loop = image(0x300, [desc(0x200, 8, NEXT, 1), desc(0x208, 8, NEXT, 0)], [0])
seed("virtq", "loop", virtq(0, loop, u8(POP) + u8(RESET) + u8(POP)))
# Two chains popped into slots, then served out of order, as virtio-blk completes them.
two = image(0x300, [desc(0x200, 16, NEXT, 1), desc(0x280, 1, WRITE), desc(0x210, 16, NEXT, 3),
                    desc(0x281, 1, WRITE)], [0, 2])
seed("virtq", "out-of-order", virtq(0, two, u8(POP) + u8(POP | 0x10) + u8(SERVE | 0x10) + u32(1) +
                                    u8(SERVE) + u32(1) + u8(NOTIFY)))

# --- virtio_pci: flags, then (op, offset, size, value) ------------------------------------------

W = {1: 0, 2: 1, 4: 2, 8: 3}


def pci_bar_wr(off, v, size):
    return u8(0x02 | 0x40 | W[size] << 4) + u16(off) + u64(v)


def pci_bar_rd(off, size):
    return u8(0x02 | W[size] << 4) + u16(off)


def pci_cfg_wr(reg, v, size):
    return u8(0x00 | 0x40 | W[size] << 4) + u8(reg) + u32(v)


def pci_cfg_rd(reg, size):
    return u8(0x00 | W[size] << 4) + u8(reg)


def pci_mem(off, v):
    return u8(0x07 | W[8] << 4) + u16(off) + u64(v)


PCI_SETTLE, PCI_RESET = u8(9), u8(10)
ring = pci_mem(DESC, 0x200) + pci_mem(DESC + 8, 64 | WRITE << 32) + pci_mem(AVAIL, 1 << 16)
# The driver's handshake, each step an op: status, VERSION_1, FEATURES_OK, queue 0, DRIVER_OK.
hand_ops = [pci_bar_wr(0x14, 3, 1), pci_bar_wr(0x08, 1, 4), pci_bar_wr(0x0C, 1, 4),
            pci_bar_wr(0x14, 0xB, 1), pci_bar_wr(0x16, 0, 2), pci_bar_wr(0x18, 8, 2),
            pci_bar_wr(0x20, DESC, 8), pci_bar_wr(0x28, AVAIL, 8), pci_bar_wr(0x30, USED, 8),
            pci_bar_wr(0x1C, 1, 2), pci_bar_wr(0x14, 0xF, 1)]
handshake = b"".join(hand_ops)
seed("virtio_pci", "intx-kick", u8(1) + handshake + ring + pci_bar_wr(0x3000, 0, 2) +
     PCI_SETTLE + pci_bar_rd(0x1000, 1) + pci_bar_rd(0x14, 1))
msix = (pci_bar_wr(0x4000, 0xFEE00000, 4) + pci_bar_wr(0x4008, 0x41, 4) +
        pci_bar_wr(0x400C, 0, 4) + pci_bar_wr(0x4010, 0xFEE00000, 4) +
        pci_bar_wr(0x401C, 0, 4) + pci_bar_wr(0x10, 0, 2))
seed("virtio_pci", "msix-kick", u8(3) + msix + handshake + pci_bar_wr(0x1A, 1, 2) + ring +
     pci_bar_wr(0x3000, 0, 2) + PCI_SETTLE + pci_bar_rd(0x5000, 8) + pci_bar_rd(0x4010, 4))
seed("virtio_pci", "probe", u8(0) + b"".join(pci_cfg_rd(r, 4) for r in
                                             (0, 4, 8, 0x10, 0x2C, 0x34, 0x40, 0x50, 0x60)) +
     pci_cfg_wr(0x10, 0xFFFFFFFF, 4) + pci_cfg_rd(0x10, 4) + pci_cfg_wr(0x14, 0xFFFFFFFF, 4) +
     pci_cfg_rd(0x14, 4) + pci_cfg_wr(0x10, 0xD0000000, 4) + pci_cfg_wr(0x14, 0, 4) +
     pci_cfg_wr(0x04, 0x6, 2) + pci_bar_rd(0x12, 2) + pci_bar_rd(0x2000, 4) +
     pci_bar_rd(0x2010, 8) + PCI_RESET + pci_cfg_rd(0x04, 2))
seed("virtio_pci", "event-idx", u8(0x81) + u64(1 << 3) +
     pci_bar_wr(0x14, 3, 1) + pci_bar_wr(0x00, 0, 4) + pci_bar_rd(0x04, 4) +
     pci_bar_wr(0x08, 0, 4) + pci_bar_wr(0x0C, 1 << 29 | 1 << 28 | 1 << 3, 4) +
     b"".join(hand_ops[1:]) + ring + pci_bar_wr(0x3004, 0, 2) + pci_bar_wr(0x3000, 0, 4) +
     PCI_SETTLE + pci_bar_wr(0x14, 0, 1))

# --- virtio_mmio: flags, then (op, offset/4, size, value) ---------------------------------------


def mmio_wr(off, v):
    return u8(0x00 | 0x40 | W[4] << 4) + u8(off // 4) + u32(v)


def mmio_rd(off):
    return u8(0x00 | W[4] << 4) + u8(off // 4)


def mmio_mem(off, v):
    return u8(0x04 | W[8] << 4) + u16(off) + u64(v)


MMIO_SETTLE, MMIO_RESET = u8(6), u8(7)
mring = mmio_mem(DESC, 0x200) + mmio_mem(DESC + 8, 64 | WRITE << 32) + mmio_mem(AVAIL, 1 << 16)
mhand_ops = [mmio_rd(0x000), mmio_rd(0x004), mmio_rd(0x008), mmio_wr(0x070, 3),
             mmio_wr(0x014, 1), mmio_rd(0x010), mmio_wr(0x024, 1), mmio_wr(0x020, 1),
             mmio_wr(0x070, 0xB), mmio_wr(0x030, 0), mmio_rd(0x034), mmio_wr(0x038, 8),
             mmio_wr(0x080, DESC), mmio_wr(0x090, AVAIL), mmio_wr(0x0A0, USED),
             mmio_wr(0x044, 1), mmio_wr(0x070, 0xF)]
mhand = b"".join(mhand_ops)
seed("virtio_mmio", "kick", u8(0) + mhand + mring + mmio_wr(0x050, 0) + MMIO_SETTLE +
     mmio_rd(0x060) + mmio_wr(0x064, 1) + mmio_rd(0x070))
seed("virtio_mmio", "config", u8(0x80) + u64(1 << 5) + mmio_rd(0x100) + mmio_rd(0x104) +
     u8(0x03 | W[2] << 4) + u16(0x116) + u8(0x03 | W[8] << 4) + u16(0x110) + mmio_rd(0x0FC) +
     mmio_wr(0x030, 7) + mmio_rd(0x034) + mmio_wr(0x030, 0x10000) + MMIO_RESET)
seed("virtio_mmio", "event-idx", u8(0) + mmio_wr(0x070, 3) + mmio_wr(0x024, 0) +
     mmio_wr(0x020, 1 << 29 | 1 << 28) + b"".join(mhand_ops[4:]) +
     mring + mmio_wr(0x050, 1) + mmio_wr(0x050, 0) + MMIO_SETTLE + mmio_wr(0x070, 0))

# --- virtio_blk: flags, features, queue size, desc/avail/used, then ops -------------------------

F_FLUSH, F_DISCARD, F_WZ, F_INDIRECT, F_EVENT_IDX = 1 << 9, 1 << 13, 1 << 14, 1 << 28, 1 << 29
HDR, STATUS, DATA = 0x200, 0x300, 0x400


# A queue of 16: five requests of three descriptors, each with its own header, status and data.
BDESC, BAVAIL, BUSED = 0x000, 0x100, 0x140


def blk_hdr(flags, features=F_FLUSH | F_DISCARD | F_WZ | F_INDIRECT):
    return u8(flags) + u32(features) + u8(4) + u16(BDESC) + u16(BAVAIL) + u16(BUSED)


def run(off, data):
    return u8(1) + u16(off) + u8(len(data)) + data


def store16(off, v):
    return u8(0x00 | W[2] << 4) + u16(off) + u64(v)


KICK, WAIT = u8(2), u8(3)


def blk_req(typ, sector, data_len, data_write, head=0, avail_idx=1, payload=b"", kick=True):
    hdr, status, data, d0 = HDR + 16 * head, STATUS + head, 0x1000 * (head + 1), 3 * head
    if data_len:
        d = (desc(hdr, 16, NEXT, d0 + 1) +
             desc(data, data_len, NEXT | (WRITE if data_write else 0), d0 + 2) +
             desc(status, 1, WRITE))
    else:
        d = desc(hdr, 16, NEXT, d0 + 2) + desc(0, 0) + desc(status, 1, WRITE)
    ops = run(BDESC + 16 * d0, d) + run(hdr, u32(typ) + u32(0) + u64(sector))
    if payload:
        ops += run(data, payload)
    ops += store16(BAVAIL + 4 + 2 * ((avail_idx - 1) % 16), d0) + store16(BAVAIL + 2, avail_idx)
    return ops + (KICK + WAIT if kick else b"")


seed("virtio_blk", "read", blk_hdr(0) + blk_req(0, 3, 512, True))
seed("virtio_blk", "write", blk_hdr(0) + blk_req(1, 5, 512, False, payload=b"\x5a" * 64))
seed("virtio_blk", "flush-getid", blk_hdr(0) + blk_req(4, 0, 0, False) +
     blk_req(8, 0, 20, True, head=1, avail_idx=2))
seed("virtio_blk", "discard-zeroes", blk_hdr(0) +
     blk_req(11, 0, 16, False, payload=u64(8) + u32(8) + u32(0)) +
     blk_req(13, 0, 16, False, head=1, avail_idx=2, payload=u64(16) + u32(4) + u32(0)))
seed("virtio_blk", "uring-reset", blk_hdr(1) + blk_req(0, 0, 512, True, kick=False) +
     blk_req(1, 1, 512, False, head=1, avail_idx=2, kick=False) + KICK + u8(4 | 0x80) + WAIT +
     blk_req(0, 2, 4096, True, head=2) + blk_req(4, 0, 0, False, head=3, avail_idx=2))
seed("virtio_blk", "ro-bad", blk_hdr(2, F_EVENT_IDX) + blk_req(1, 0, 512, False) +
     blk_req(0, 127, 1024, True, head=1, avail_idx=2) +
     blk_req(99, 0, 512, True, head=2, avail_idx=3) + blk_req(0, 0, 512, True, avail_idx=4) +
     u8(5 | W[8] << 4) + u8(0))

# --- virtio_net: features, per queue size/desc/avail/used, then ops -----------------------------

F_MRG = 1 << 15
RXD, RXA, RXU, TXD, TXA, TXU = 0x000, 0x080, 0x0C0, 0x200, 0x280, 0x2C0


def net_hdr(features):
    return (u32(features) + u8(3) + u16(RXD) + u16(RXA) + u16(RXU) + u8(3) + u16(TXD) +
            u16(TXA) + u16(TXU))


def post_rx(n, size):
    ops = b""
    for i in range(n):
        ops += run(RXD + 16 * i, desc(0x800 + i * 0x400, size, WRITE))
        ops += store16(RXA + 4 + 2 * i, i)
    return ops + store16(RXA + 2, n) + u8(2 | 0x10)


def host_packet(data):
    return u8(3) + u8(len(data)) + data


frame = bytes(12) + b"\xff" * 6 + b"\x52\x54\x00\x12\x34\x56" + b"\x08\x06" + bytes(28)
tx = run(TXD, desc(0x600, len(frame))) + run(0x600, frame) + store16(TXA + 4, 0) + \
    store16(TXA + 2, 1) + u8(2)
seed("virtio_net", "tx", net_hdr(0) + tx)
seed("virtio_net", "rx", net_hdr(0) + post_rx(2, 0x400) + host_packet(frame) + u8(5))
seed("virtio_net", "rx-mergeable", net_hdr(F_MRG) + post_rx(4, 0x100) + u8(4) + u32(700) +
     u8(5) + host_packet(frame) + u8(5))
seed("virtio_net", "rx-wait-reset", net_hdr(F_MRG | F_EVENT_IDX) + host_packet(frame) + u8(5) +
     post_rx(1, 0x40) + u8(4) + u32(3000) + u8(5) + u8(6 | 0x80) + post_rx(2, 0x400) +
     u8(7 | W[4] << 4) + u8(6))

# --- serial: (op, register, value) --------------------------------------------------------------


def ser_wr(reg, v):
    return u8(2 | reg << 3) + u8(v)


def ser_rd(reg):
    return u8(0 | reg << 3)


linux_init = (ser_wr(3, 0x80) + ser_wr(0, 1) + ser_wr(1, 0) + ser_wr(3, 3) + ser_wr(2, 7) +
              ser_wr(4, 0x0B) + ser_wr(1, 0x05) + ser_rd(2) + ser_rd(5) + ser_rd(6))
seed("serial", "console", linux_init + b"".join(ser_wr(0, c) for c in b"hello\n") + ser_rd(5) +
     u8(4) + u8(3) + b"ls\r" + ser_rd(2) + ser_rd(5) + ser_rd(0) + ser_rd(0) + ser_rd(0))
seed("serial", "refused", linux_init + ser_wr(1, 0x07) + u8(5 | 0x80) +
     b"".join(ser_wr(0, c) for c in b"0123456789abcdefXY") + ser_rd(5) + ser_rd(2) + u8(5) +
     ser_rd(2) + ser_rd(5) + ser_wr(2, 0x07))
seed("serial", "loopback", ser_wr(4, 0x1F) + ser_rd(6) + ser_wr(0, 0x41) + ser_wr(0, 0x42) +
     ser_rd(5) + ser_rd(0) + ser_wr(2, 1) + ser_wr(0, 0x43) + ser_wr(4, 0) + u8(4) + u8(20) +
     bytes(range(20)) + ser_rd(0) + u8(6) + ser_rd(5))

# --- i8042 (and the RTC): clock, then (op, port, value) -----------------------------------------


def kbd_cmd(v):
    return u8(0x30) + u8(v)


def kbd_data(v):
    return u8(0x10) + u8(v)


KSTATUS, KREAD = u8(0x20), u8(0x00)


def rtc_read(reg):
    return u8(0x12) + u8(reg) + u8(0x22)


seed("i8042", "linux-probe", u64(1700000000) + kbd_cmd(0x20) + KSTATUS + KREAD +
     kbd_cmd(0x60) + kbd_data(0x65) + kbd_cmd(0xAA) + KREAD + kbd_cmd(0xA9) + KREAD +
     kbd_cmd(0xD3) + kbd_data(0x5A) + KSTATUS + KREAD + kbd_data(0xFF) + KREAD + KREAD +
     kbd_data(0xF2) + KREAD + KREAD + KREAD + kbd_data(0xEE) + KREAD)
seed("i8042", "reset", u64(0) + kbd_cmd(0xD1) + kbd_data(0xFE) + kbd_cmd(0xFE) +
     kbd_cmd(0xF0) + u8(0x03 | 0x80) + KSTATUS)
seed("i8042", "rtc", u64(4102444800) + b"".join(rtc_read(r) for r in
                                                (0, 2, 4, 6, 7, 8, 9, 0x0A, 0x0B, 0x0D, 0x32)) +
     u8(0x12) + u8(0x0B) + u8(0x32) + u8(0x06) + rtc_read(0) + rtc_read(0x40) + u8(0x03))

# --- bzimage: the kernel file -------------------------------------------------------------------


def elf64(segments, note=None, entry=0x100000):
    """An x86-64 ET_EXEC with PT_LOAD segments [(paddr, data, memsz)] and maybe a PVH note."""
    phnum = len(segments) + (1 if note is not None else 0)
    off = 64 + 56 * phnum
    body, phdrs = b"", b""
    for paddr, data, memsz in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, 7, off + len(body), paddr, paddr, len(data), memsz,
                             0x1000)
        body += data
    if note is not None:
        n = u32(4) + u32(4) + u32(18) + b"Xen\0" + u32(note)
        phdrs += struct.pack("<IIQQQQQQ", 4, 4, off + len(body), 0, 0, len(n), len(n), 4)
        body += n
    eh = (b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) +
          struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, 64, 0, 0, 64, 56, phnum, 0, 0, 0))
    return eh + phdrs + body


def bzimage(kernel, version=0x020F, xloadflags=1, payload=None, setup_sects=1):
    """A bzImage per Documentation/arch/x86/boot.rst: setup sectors, then the kernel."""
    sects = setup_sects or 4
    img = bytearray((sects + 1) * 512)
    img[0x1F1] = setup_sects
    img[0x1F4:0x1F8] = u32(len(kernel) // 16)
    img[0x1FE:0x200] = u16(0xAA55)
    img[0x200] = 0xEB
    img[0x201] = 0x26C - 0x202
    img[0x202:0x206] = b"HdrS"
    img[0x206:0x208] = u16(version)
    img[0x211] = 0x01  # LOADED_HIGH
    img[0x22C:0x230] = u32(0x7FFFFFFF)
    img[0x230:0x234] = u32(0x200000)
    img[0x234] = 1
    img[0x236:0x238] = u16(xloadflags)
    img[0x238:0x23C] = u32(255)
    if payload is not None:
        img[0x248:0x24C] = u32(0x20)  # payload_offset, from the kernel's start
        img[0x24C:0x250] = u32(len(payload))
    img[0x258:0x260] = u64(0x100000)
    img[0x260:0x264] = u32(0x100000)  # init_size
    return bytes(img) + kernel


def with_payload(payload):
    kernel = bytes(0x20) + payload
    kernel += bytes(-len(kernel) % 16)
    return bzimage(kernel, payload=payload)


vmlinux = elf64([(0x100000, b"\xf4" * 32, 0x2000)])
seed("bzimage", "classic", bzimage(bytes(range(256))))
seed("bzimage", "old-protocol", bzimage(bytes(512), version=0x0206, xloadflags=0,
                                        setup_sects=0) + b"\x01")
# Linux's payloads carry the unpacked size in their last 4 bytes (gzip's ISIZE is that already).
seed("bzimage", "gzip-elf", with_payload(gzip.compress(vmlinux, mtime=0)))
seed("bzimage", "xz-elf", with_payload(lzma.compress(vmlinux, format=lzma.FORMAT_XZ,
                                                     check=lzma.CHECK_CRC32) + u32(len(vmlinux))))
seed("bzimage", "lzma-elf", with_payload(lzma.compress(vmlinux, format=lzma.FORMAT_ALONE) +
                                         u32(len(vmlinux))))
seed("bzimage", "vmlinux-pvh", elf64([(0x100000, b"\xf4" * 16, 0x1000),
                                      (0x200000, b"\x90" * 16, 0x10)], note=0x100010) + b"\x01")
seed("bzimage", "vmlinux-64", vmlinux)

# --- control: flags, the command index replies print as, then lines -----------------------------

seed("control", "socket", u8(2) + u8(1) + b"\n".join([
    b'{"id":1,"cmd":"info status"}', b'{"cmd":"help"}', b'{"cmd":"help","command":"pause"}',
    b'{"id":"x","cmd":"pause"}', b'{"cmd":"subscribe"}', b'[1,2]', b'{"cmd":"frob","x":1}',
    b'{"cmd":"info version"} {}', b'  ']) + b"\n")
seed("control", "monitor", u8(1 | 8) + u8(0) + b"\n".join([
    b"info status", b"help  info   status", b"cont", b"stop", b"pause now", b"quit",
    b"info cpus", b"powerdown"]))
seed("control", "replies", u8(0) + u8(2) + b"\n".join([
    b'{"id":1,"ok":true,"result":{"cpus":[{"cpu":0,"state":"running","rip":1,"cr3":2}]}}',
    b'{"ok":true,"result":{"commands":[{"name":"pause","aliases":["stop"],"summary":"s"}]}}',
    b'{"ok":false,"error":"no VM to run this on"}',
    b'{"event":"suspended","detail":"paused","status":"paused (user)"}']))
# Replies kvmm ctl may read from a socket that is not kvmm's: lists that are not lists.
seed("control", "bad-replies", u8(0) + u8(2) + b"\n".join([
    b'{"ok":true,"result":{"cpus":5}}', b'{"ok":true,"result":{"disks":{}}}',
    b'{"ok":true,"result":{"devices":[{"bdf":"00:01.0","bars":"x"}]}}', b'{"event":7}']))
seed("control", "stopped", u8(0x10 | 0x20) + u8(3) + b'{"cmd":"reset"}\n{"cmd":"info mem"}\n' +
     b'{"ok":true,"result":{"ram_size":1048576,"regions":[{"slot":0,"gpa":0,"size":4096}]}}')

# --- aml: flags (0: AML program, 1: tables), then ops or the configuration ----------------------


def s(text):
    return u16(len(text)) + text


A = dict(INT=0, STRING=1, NAMESTRING=2, NAME=3, NAME_INT=4, NAME_STRING=5, EISAID=6, SCOPE=7,
         DEVICE=8, METHOD=9, PACKAGE=10, BUFFER=11, CLOSE=12, RETURN=13, BYTES=14, IO=15, IRQ=16,
         MEM32=17, EDGE=18, BUS=19, IOWIN=20, MEM32WIN=21, MEM64WIN=22, END=23, PKGLEN=24)
prog = (u8(A["SCOPE"]) + s(b"\\_SB") + u8(A["DEVICE"]) + s(b"PCI0") + u8(A["EISAID"]) +
        s(b"_HID") + s(b"PNP0A03") + u8(A["NAME_INT"]) + s(b"_UID") + u64(0) + u8(A["NAME"]) +
        s(b"_CRS") + u8(A["BUFFER"]) + u8(A["BUS"]) + u16(0) + u16(0xFF) + u8(A["IO"]) +
        u16(0xCF8) + u8(8) + u8(A["IOWIN"]) + u16(0) + u16(0xCF7) + u8(A["MEM32WIN"]) +
        u32(0xC0000000) + u32(0xFEAFFFFF) + u8(A["MEM64WIN"]) + u64(1 << 32) +
        u64((1 << 36) - 1) + u8(A["MEM32"]) + u32(0xFEB00000) + u32(0x1000) + u8(A["EDGE"]) +
        u32(5) + u8(A["IRQ"]) + u32(4) + u8(A["END"]) + u8(A["CLOSE"]) + u8(A["CLOSE"]) +
        u8(A["CLOSE"]) + u8(A["NAME"]) + s(b"\\_S5") + u8(A["PACKAGE"]) + u8(A["INT"]) + u64(5) +
        u8(A["INT"]) + u64(0x12345678) + u8(A["STRING"]) + s(b"LNRO0005") + u8(A["CLOSE"]) +
        u8(A["METHOD"]) + s(b"_STA") + u8(1) + u8(A["RETURN"]) + u8(A["INT"]) + u64(0xF) +
        u8(A["CLOSE"]) + u8(A["PKGLEN"]) + u32(4093) + u8(A["NAMESTRING"]) + s(b"^A.B.C"))
seed("aml", "dsdt-like", u8(0) + prog)
seed("aml", "unbalanced", u8(0) + u8(A["CLOSE"]) + u8(A["PACKAGE"]) * 3 + u8(A["BYTES"]) +
     u16(300) + bytes(300) + u8(A["CLOSE"]) + u8(A["NAME_STRING"]) + s(b"TOOLONG") + s(b"x"))


def acpi_cfg(ncpus, nmmio, cap, ram_top=1 << 30, slots=0x6):
    cfg = u16(ncpus) + u64(ram_top) + u32(slots) + u8(nmmio)
    for i in range(8):
        cfg += u64(0xFEB00000 + 0x1000 * i) + u32([5, 6, 7, 10, 11, 14, 15, 3][i])
    return u8(1) + cfg + u32(0xE0000) + u32(cap)


seed("aml", "tables-1cpu", acpi_cfg(1, 0, 0x20000))
seed("aml", "tables-mmio", acpi_cfg(4, 3, 0x20000, ram_top=6 << 30, slots=0xFFFFFFFE))
seed("aml", "tables-tight", acpi_cfg(254, 8, 0x1000))


def main():
    for target, seeds in SEEDS.items():
        d = os.path.join(ROOT, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in seeds:
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        total = sum(len(data) for _, data in seeds)
        print(f"{target}: {len(seeds)} seeds, {total} bytes")


if __name__ == "__main__":
    main()
