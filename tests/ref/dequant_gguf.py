"""Reference dequantization by gguf-py (llama.cpp's gguf package), for tests/test_dequant.cpp.

    dequant_gguf.py DIR ROWS TYPE...

For each TYPE (a GGMLQuantizationType name: F32, F16, BF16, Q4_0, ..., Q6_K) reads DIR/TYPE.bin,
the raw bytes of a tensor of ROWS rows, and writes DIR/TYPE.f32: gguf.quants.dequantize of it as
little-endian float32, row after row.
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize


def main():
    folder, rows, types = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    for name in types:
        raw = np.fromfile(f"{folder}/{name}.bin", dtype=np.uint8)
        data = raw.reshape((rows, raw.size // rows))
        values = dequantize(data, GGMLQuantizationType[name])
        assert values.dtype == np.float32, (name, values.dtype)
        values.astype("<f4", copy=False).tofile(f"{folder}/{name}.f32")


if __name__ == "__main__":
    main()
