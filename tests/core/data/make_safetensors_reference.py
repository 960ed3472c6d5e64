#!/usr/bin/env python3
"""Reference data for tests/core/test_safetensors.cpp, made with Hugging Face's own `safetensors`
Python package (and torch), which this project does not use at run time.

Needs: python3 with safetensors (>= 0.4), torch (>= 2.3 for uint16/32/64) and numpy; Debian has no
python3-safetensors, so this was run on the project's GPU machine (Ubuntu 24.04, pip packages).
    python3 make_safetensors_reference.py <dir with fake_gpt2_random/ and tiny_gpt2_random_vocab21/> <out dir>
Writes into <out dir>:
  reference_all_dtypes.safetensors  every dtype, a scalar, an empty tensor, written by safetensors.torch.save_file
  reference_all_dtypes.json         what the reference loader reads back from it
  hf_gpt2_stats.json                per-tensor dtype, shape, float64 sum, min, max, first values of the two
                                    shared Hugging Face GPT-2 files, as safetensors.numpy.load_file reads them
"""
import json
import os
import sys

import numpy as np
import safetensors
import torch
from safetensors import safe_open
from safetensors.numpy import load_file as np_load_file
from safetensors.torch import load_file, save_file

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
versions = {"safetensors": safetensors.__version__, "torch": torch.__version__, "numpy": np.__version__}

stats = {"versions": versions, "files": {}}
for model in ("fake_gpt2_random", "tiny_gpt2_random_vocab21"):
    path = os.path.join(src, model, "model.safetensors")
    tensors = np_load_file(path)
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
    entry = {"metadata": meta, "tensors": {}}
    for name, a in tensors.items():
        a64 = a.astype(np.float64)
        entry["tensors"][name] = {
            "dtype": str(a.dtype),
            "shape": list(a.shape),
            "sum": float(a64.sum()),
            "abs_sum": float(np.abs(a64).sum()),
            "min": float(a64.min()),
            "max": float(a64.max()),
            "first": [float(x) for x in a64.reshape(-1)[:4]],
        }
    stats["files"][model] = entry
with open(os.path.join(out, "hf_gpt2_stats.json"), "w") as fh:
    json.dump(stats, fh, indent=1, sort_keys=True)

# Every dtype. Values are simple so the C++ test can rebuild the same bytes by hand.
t = {
    "f64": (torch.arange(6, dtype=torch.float64).reshape(2, 3) / 4.0 - 0.5),
    "f32": torch.tensor([1.5, -2.25, 3.0e38, -0.0], dtype=torch.float32),
    "f16": torch.tensor([0.5, -1.0, 65504.0, 6.103515625e-05], dtype=torch.float16),
    "bf16": torch.tensor([1.0, -2.5, 3.140625, 1.0e38], dtype=torch.bfloat16),
    "i64": torch.tensor([-(2**62), 1, 2**40], dtype=torch.int64),
    "i32": torch.tensor([[-(2**31), 2**31 - 1], [5, -5]], dtype=torch.int32),
    "i16": torch.tensor([-32768, 32767, 3], dtype=torch.int16),
    "i8": torch.tensor([-128, 127, 0, -1, 1], dtype=torch.int8),
    "u8": torch.tensor([0, 255, 128], dtype=torch.uint8),
    "bool": torch.tensor([True, False, True], dtype=torch.bool),
    "u16": torch.tensor([0, 65535, 513], dtype=torch.uint16),
    "u32": torch.tensor([0, 4294967295, 65536], dtype=torch.uint32),
    "u64": torch.tensor([0, 2**63 + 5, 12345678901], dtype=torch.uint64),
    "scalar": torch.tensor(2.5, dtype=torch.float32),
    "empty": torch.zeros((0, 3), dtype=torch.float32),
    "a.weight": torch.tensor([[1.0, 2.0]], dtype=torch.float32),
    "z.bias": torch.tensor([7.0], dtype=torch.float32),
}
path = os.path.join(out, "reference_all_dtypes.safetensors")
save_file(t, path, metadata={"format": "pt"})
back = load_file(path)
desc = {"versions": versions, "tensors": {}}
with safe_open(path, framework="pt") as f:
    desc["metadata"] = f.metadata()
    desc["order"] = list(f.keys())
for name, x in back.items():
    assert torch.equal(x, t[name]), name
    desc["tensors"][name] = {
        "dtype": str(x.dtype),
        "shape": list(x.shape),
        "values": [float(v) if x.is_floating_point() else int(v) for v in x.reshape(-1).tolist()],
    }
with open(path, "rb") as fh:
    raw = fh.read()
n = int.from_bytes(raw[:8], "little")
desc["header"] = raw[8 : 8 + n].decode()
desc["file_size"] = len(raw)
with open(os.path.join(out, "reference_all_dtypes.json"), "w") as fh:
    json.dump(desc, fh, indent=1, sort_keys=True)
print(json.dumps(versions), "header:", desc["header"])
