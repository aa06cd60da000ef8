# SPDX-License-Identifier: MIT
"""The safetensors format: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
data_offsets}, "__metadata__": {...}}, then the raw little-endian tensor bytes."""
import json
import os
import struct

import torch

from . import QpeftInputError

_DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}
_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
_MAX_HEADER = 100 << 20


def read(path):
    """All tensors of a safetensors file as {name: tensor} (CPU, the file's dtype) and its metadata.
    QpeftInputError naming the file for anything malformed."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise QpeftInputError(f"cannot read '{path}': {e.strerror}") from None
    if len(data) < 8:
        raise QpeftInputError(f"'{path}' is not a safetensors file (shorter than its 8-byte header length)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > min(_MAX_HEADER, len(data) - 8):
        raise QpeftInputError(f"'{path}': header length {n} exceeds the file")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise QpeftInputError(f"'{path}': the header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise QpeftInputError(f"'{path}': the header is not a JSON object")
    body = memoryview(data)[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, t in header.items():
        try:
            dtype, size = _DTYPES[t["dtype"]]
            shape = [int(d) for d in t["shape"]]
            begin, end = (int(v) for v in t["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise QpeftInputError(f"'{path}': tensor '{name}' has an unsupported dtype or a malformed entry") from None
        count = 1
        for d in shape:
            count *= d
        if not 0 <= begin <= end <= len(body) or end - begin != count * size or min(shape, default=0) < 0:
            raise QpeftInputError(f"'{path}': tensor '{name}' has offsets [{begin}, {end}) that do not fit its "
                                  f"shape {shape} and dtype {t['dtype']} in a body of {len(body)} bytes")
        raw = bytearray(body[begin:end])
        flat = torch.frombuffer(raw, dtype=torch.int16).view(dtype) if size == 2 and count else \
            torch.frombuffer(raw, dtype=dtype) if count else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(shape)
    return tensors, metadata


def write(path, tensors, metadata=None):
    """Writes {name: tensor} in the given order, atomically (a temporary file renamed into place)."""
    path = str(path)
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.bfloat16, torch.float16) else \
            t.numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the body starts 8-byte aligned, as the reference writer keeps it
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
