#!/usr/bin/python3
"""Writes the .npy/.npz fixtures in tests/core/data/npy/ and npy_expected.json with numpy itself.

Run with Debian's Python and numpy (apt-get install python3-numpy):
    /usr/bin/python3 tests/core/data/make_npy_fixtures.py
The C++ tests (tests/core/test_npy.cpp) compare what atomscope reads against the values numpy
computed here (sums in float64, a few elements, shapes, dtypes). Fixtures are small and committed;
rerunning this script reproduces them (the random generator is seeded).
"""
import io
import json
import os
import struct
import zipfile
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "npy")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20240611)
expected = {"numpy_version": np.__version__, "npy": {}, "npz": {}}


def describe(a):
    flat = np.ascontiguousarray(a).reshape(-1)  # logical C order
    d = {
        "descr": a.dtype.str,
        "shape": list(a.shape),
        "fortran_order": bool(a.flags.f_contiguous and not a.flags.c_contiguous),
        "size": int(a.size),
        "sum": float(a.astype(np.float64).sum()) if a.size else 0.0,
        # first and last few elements in C (logical) order, as float64 (exact for all fixtures here)
        "head": [float(x) for x in flat[:5].astype(np.float64)],
        "tail": [float(x) for x in flat[-3:].astype(np.float64)] if a.size else [],
    }
    if a.ndim >= 2 and a.size:
        idx = tuple(s - 1 for s in a.shape)
        d["last_index"] = list(idx)
        d["at_last_index"] = float(a[idx])
        idx1 = tuple(min(1, s - 1) for s in a.shape)
        d["one_index"] = list(idx1)
        d["at_one_index"] = float(a[idx1])
    return d


def save_npy(name, a, version=None):
    path = os.path.join(OUT, name + ".npy")
    if version is None:
        np.save(path, a)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, a, version=version)
    back = np.load(path)
    assert back.dtype == a.dtype and back.shape == a.shape and np.array_equal(back, a, equal_nan=False)
    expected["npy"][name] = describe(a)
    expected["npy"][name]["format_version"] = list(version) if version else [1, 0]


# Little-endian numeric types, C order
save_npy("f4_3x4", (np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 1.25))
save_npy("f8_5", rng.standard_normal(5).astype(np.float64))
save_npy("f2_2x3", np.array([[0.5, -1.0, 65504.0], [6.1035156e-05, -0.0, 3.140625]], dtype=np.float16))
save_npy("i1_6", np.array([-128, -1, 0, 1, 64, 127], dtype=np.int8))
save_npy("i2_2x2", np.array([[-32768, 32767], [0, -2]], dtype=np.int16))
save_npy("i4_4", np.array([-2147483648, 2147483647, 7, -7], dtype=np.int32))
save_npy("i8_3", np.array([-(2**53), 2**53, 42], dtype=np.int64))
save_npy("u1_5", np.array([0, 1, 127, 128, 255], dtype=np.uint8))
save_npy("u2_3", np.array([0, 65535, 513], dtype=np.uint16))
save_npy("u4_3", np.array([0, 4294967295, 65536], dtype=np.uint32))
save_npy("u8_3", np.array([0, 2**53, 12345678901], dtype=np.uint64))
save_npy("b1_2x3", np.array([[True, False, True], [False, False, True]]))
# Fortran order
save_npy("f8_fortran_3x4x2", np.asfortranarray(rng.standard_normal((3, 4, 2))))
save_npy("i4_fortran_2x3", np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)))
# Big-endian
save_npy("f4_be_2x3", (np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5).astype(">f4"))
save_npy("f8_be_4", np.array([1.5, -2.25, 1e300, -0.0], dtype=">f8"))
save_npy("i8_be_3", np.array([-1, 2**40 + 3, -(2**62)], dtype=">i8"))
save_npy("u2_be_3", np.array([1, 256, 65534], dtype=">u2"))
save_npy("f2_be_3", np.array([1.0, -2.5, 0.099975586], dtype=">f2"))
# Scalars and empty arrays
save_npy("f8_scalar", np.array(3.5))
save_npy("f4_empty_0x3", np.zeros((0, 3), dtype=np.float32))
# Format versions 2.0 and 3.0
save_npy("f4_v2", np.linspace(0, 1, 7, dtype=np.float32), version=(2, 0))
save_npy("i2_v3", np.array([[1, -2, 3]], dtype=np.int16), version=(3, 0))

# npz: stored (np.savez) and deflated (np.savez_compressed)
npz_arrays = {
    "weights": rng.standard_normal((4, 3)).astype(np.float32),
    "ids": np.arange(10, dtype=np.int64),
    "mask": np.array([True, False, True]),
    "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(3, 2)),
    "zeros": np.zeros(4096, dtype=np.float64),
}
for name, fn in (("savez", np.savez), ("savez_compressed", np.savez_compressed)):
    path = os.path.join(OUT, name + ".npz")
    fn(path, **npz_arrays)
    with np.load(path) as z:
        expected["npz"][name] = {k: describe(z[k]) for k in z.files}
        with zipfile.ZipFile(path) as zf:
            expected["npz"][name]["__methods__"] = {i.filename: i.compress_type for i in zf.infolist()}
# positional arrays get numpy's default names arr_0, arr_1
np.savez(os.path.join(OUT, "savez_positional.npz"), np.arange(3, dtype=np.int32), np.ones((2, 2), np.float32))
with np.load(os.path.join(OUT, "savez_positional.npz")) as z:
    expected["npz"]["savez_positional"] = {k: describe(z[k]) for k in z.files}


# Hostile archives, built by hand (numpy would never write them).
def raw_zip(members):
    """members: list of (name, method, payload_bytes, declared_usize, crc). ZIP64 extras when needed."""
    buf = io.BytesIO()
    central = []
    for name, method, payload, usize, crc in members:
        off = buf.tell()
        nb = name.encode()
        z64 = usize >= 0xFFFFFFFF
        extra = struct.pack("<HHQQ", 1, 16, usize, len(payload)) if z64 else b""
        buf.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if z64 else 20, 0, method, 0, 0x21, crc,
                              0xFFFFFFFF if z64 else len(payload), 0xFFFFFFFF if z64 else usize, len(nb), len(extra)))
        buf.write(nb + extra + payload)
        central.append((nb, method, payload, usize, crc, off, extra, z64))
    cd = buf.tell()
    for nb, method, payload, usize, crc, off, extra, z64 in central:
        buf.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45 if z64 else 20, 0, method, 0, 0x21, crc,
                              0xFFFFFFFF if z64 else len(payload), 0xFFFFFFFF if z64 else usize, len(nb), len(extra),
                              0, 0, 0, 0, off))
        buf.write(nb + extra)
    end = buf.tell()
    buf.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), end - cd, cd, 0))
    return buf.getvalue()


def deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


zeros = io.BytesIO()
np.save(zeros, np.zeros(1 << 20, dtype=np.uint8))  # 1 MiB of zeros, a real npy
zeros = zeros.getvalue()
packed = deflate(zeros)
# 1) tiny compressed payload that declares 10 GiB uncompressed (ZIP64): a zip bomb's signature
with open(os.path.join(OUT, "bomb_declared_10GiB.npz"), "wb") as f:
    f.write(raw_zip([("x.npy", 8, packed, 10 << 30, zlib.crc32(zeros))]))
# 2) declares less than it inflates to (512 KiB declared, 1 MiB actual), ratio within limits
with open(os.path.join(OUT, "bomb_underdeclared.npz"), "wb") as f:
    f.write(raw_zip([("x.npy", 8, packed, 1 << 19, zlib.crc32(zeros))]))
# 3) a stored member whose CRC does not match
small = io.BytesIO()
np.save(small, np.arange(4, dtype=np.int32))
small = small.getvalue()
with open(os.path.join(OUT, "bad_crc.npz"), "wb") as f:
    f.write(raw_zip([("a.npy", 0, small, len(small), zlib.crc32(small) ^ 1)]))
# 4) our hand-made writer itself is sound: a valid archive numpy reads
with open(os.path.join(OUT, "handmade_ok.npz"), "wb") as f:
    f.write(raw_zip([("a.npy", 0, small, len(small), zlib.crc32(small))]))
with np.load(os.path.join(OUT, "handmade_ok.npz")) as z:
    assert np.array_equal(z["a"], np.arange(4, dtype=np.int32))
    expected["npz"]["handmade_ok"] = {k: describe(z[k]) for k in z.files}
expected["npz"]["bomb_declared_10GiB"] = {"compressed_bytes": len(packed), "declared_bytes": 10 << 30}

with open(os.path.join(HERE, "npy_expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print("wrote", len(expected["npy"]), "npy and", len(expected["npz"]), "npz fixtures to", OUT)
