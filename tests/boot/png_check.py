#!/usr/bin/env python3
"""Checks a screendump (8-bit RGB PNG) for tests/boot/display.sh, with nothing but zlib:
  png_check.py size FILE              prints WIDTHxHEIGHT
  png_check.py lit FILE [ROWS]        prints how many pixels are not black (in the top ROWS)
  png_check.py pattern FILE           exits 0 when every pixel is tests/boot/fbtest.c's pattern,
                                      else prints how many differ and the first few
"""
import struct
import sys
import zlib


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]:
            raise SystemExit(f"{path}: bad CRC in {kind!r}")
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    if (depth, ctype, interlace) != (8, 2, 0):
        raise SystemExit(f"{path}: depth {depth} colour type {ctype} interlace {interlace}, "
                         "want 8-bit RGB, not interlaced")
    raw, bpp, stride = zlib.decompress(idat), 3, w * 3
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            elif ft != 0:
                raise SystemExit(f"{path}: filter type {ft} on row {y}")
        rows.append(line)
        prev = line
    return w, h, rows


def main():
    what, path = sys.argv[1], sys.argv[2]
    w, h, rows = read_png(path)
    if what == "size":
        print(f"{w}x{h}")
    elif what == "lit":
        top = int(sys.argv[3]) if len(sys.argv) > 3 else h
        print(sum(1 for y in range(min(top, h)) for x in range(w) if any(rows[y][3 * x:3 * x + 3])))
    elif what == "pattern":
        bad = []
        for y in range(h):
            for x in range(w):
                want = ((3 * x + y) & 255, (x ^ y) & 255, (x + 5 * y) & 255)
                got = tuple(rows[y][3 * x:3 * x + 3])
                if got != want:
                    bad.append((x, y, got, want))
        if bad:
            print(f"{len(bad)} of {w * h} pixels differ; first: " +
                  "; ".join(f"({x},{y}) {g} want {t}" for x, y, g, t in bad[:4]))
            sys.exit(1)
        print(f"all {w * h} pixels match the pattern")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
