#!/usr/bin/python3
"""Hand-made hostile inputs for the tensor readers, kept as regression inputs next to any crashing
inputs the fuzzers (tests/fuzz) find. tests/core/test_safetensors.cpp and test_npy.cpp require
each file here named ok_* to load and every other file to raise the module's error (never crash,
never another exception). numpy 1.24 loads the ok_*.npy files too.
    /usr/bin/python3 tests/core/data/regressions/make_hostile_inputs.py
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def st(header, data=b"", declared=None):
    h = header.encode()
    return struct.pack("<Q", len(h) if declared is None else declared) + h + data


# --- safetensors
put("st_deep_nesting.safetensors", st("[" * 5000 + "]" * 5000))
put("st_header_len_u64_max.safetensors", st("{}", declared=2**64 - 1))
put("ok_st_empty_tensors_same_offset.safetensors",  # valid: zero-size tensors share offsets
    st('{"e1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"e2":{"dtype":"I8","shape":[3,0],"data_offsets":[0,0]},'
       '"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e3":{"dtype":"BOOL","shape":[0],"data_offsets":[4,4]}}    ',
       b"\0\0\x80\x3f"))
put("st_offsets_wrap.safetensors", st('{"a":{"dtype":"U8","shape":[4],"data_offsets":[18446744073709551615,3]}}', b"abcd"))
put("st_zero_product_huge_dim.safetensors",
    st('{"a":{"dtype":"F64","shape":[0,18446744073709551615],"data_offsets":[0,0]}}'))
put("st_duplicate_metadata_key.safetensors", st('{"__metadata__":{"k":"a","k":"b"}}'))
put("ok_st_metadata_null.safetensors", st('{"__metadata__":null}'))


# --- npy
def npy(header, data=b"", major=1, hlen=None):
    h = header.encode()
    n = len(h) if hlen is None else hlen
    return b"\x93NUMPY" + bytes([major, 0]) + (struct.pack("<H", n) if major == 1 else struct.pack("<I", n)) + h + data


put("ok_npy_py2_long_ints.npy", npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 3L), }\n", bytes(24)))
put("npy_v2_header_len_4g.npy", npy("{}", major=2, hlen=0xFFFFFFFF))
put("npy_65_dims.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "1, " * 65 + "), }\n", bytes(4)))
put("npy_zero_dim_huge.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 9223372036854775808), }\n"))
put("ok_npy_fortran_0d.npy", npy("{'descr': '<f8', 'fortran_order': True, 'shape': (), }\n", struct.pack("<d", 2.5)))


# --- npz
def eocd(entries, cd_size, cd_off, comment=b""):
    return struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, cd_size, cd_off, len(comment)) + comment


put("npz_zip64_locator_self.npz", struct.pack("<IIQI", 0x07064B50, 0, 0, 1) + eocd(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
put("npz_entries_huge.npz", eocd(0xFFFF, 46, 0))
name = b"a.npy"
cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF, len(name), 6, 0, 0, 0, 0, 0)
put("npz_zip64_extra_short.npz", cd + name + struct.pack("<HHH", 1, 2, 0) + eocd(1, len(cd) + len(name) + 6, 0))
payload = bytes(range(7, 107))
local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, zlib.crc32(payload), len(payload), 300, len(name), 0) + name
central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, zlib.crc32(payload), len(payload), 300,
                      len(name), 0, 0, 0, 0, 0, 0) + name
put("npz_deflate_corrupt.npz", local + payload + central + eocd(1, len(central), len(local) + len(payload)))
# A valid archive whose end records are ZIP64 (EOCD fields saturated, ZIP64 record + locator), as
# zipfile writes for more than 65535 members or offsets past 4 GiB; Python's zipfile reads it.
import io
member = io.BytesIO()
member.write(b"\x93NUMPY\x01\x00")
hdr = b"{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }"
hdr += b" " * (64 - 10 - len(hdr) - 1) + b"\n"
member = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + struct.pack("<3h", -7, 0, 300)
name = b"z64.npy"
local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, zlib.crc32(member), len(member), len(member),
                    len(name), 0) + name
central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, zlib.crc32(member), len(member),
                      len(member), len(name), 0, 0, 0, 0, 0, 0) + name
cd_off = len(local) + len(member)
z64_off = cd_off + len(central)
z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, len(central), cd_off)
loc = struct.pack("<IIQI", 0x07064B50, 0, z64_off, 1)
data = local + member + central + z64 + loc + eocd(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
put("ok_npz_zip64_end_records.npz", data)
import zipfile
with zipfile.ZipFile(io.BytesIO(data)) as zf:
    assert zf.read("z64.npy") == member

print("wrote", len([f for f in os.listdir(HERE) if not f.endswith(".py")]), "files to", HERE)
