"""Read a TensorFlow checkpoint (the "tensor bundle" format) with numpy alone.

Only the weights of musicnn come as TF checkpoints; this ~100-line reader lets the project load them
without TensorFlow. A bundle ``PREFIX`` is two files: ``PREFIX.index``, an SSTable (LevelDB table
format) mapping each variable name to a ``BundleEntryProto`` (dtype, shape, shard, offset, size), and
``PREFIX.data-00000-of-00001`` holding the raw little-endian tensor bytes. Uncompressed tables, single
shards and numeric dtypes are all the format needs here; anything else raises ``CheckpointError``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from synesthete.exceptions import SynestheteError

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48  # two varint block handles padded to 40 bytes, then the 8-byte magic
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 19: "<f2"}


class CheckpointError(SynestheteError):
    """A checkpoint file is missing, malformed, or uses a feature this reader does not support."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _block(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of one table block (keys are prefix-compressed against the previous)."""
    if data[offset + size] != 0:
        raise CheckpointError("compressed checkpoint index blocks are not supported")
    block = data[offset : offset + size]
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * n_restarts
    entries, key, pos = [], b"", 0
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def _fields(msg: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a protobuf message: varints, fixed ints and byte strings."""
    out, pos = [], 0
    while pos < len(msg):
        tag, pos = _varint(msg, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(msg, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", msg, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(msg, pos)
            value, pos = msg[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", msg, pos)[0], pos + 4
        else:
            raise CheckpointError(f"unexpected protobuf wire type {wire}")
        out.append((number, value))
    return out


def _entry(value: bytes) -> tuple[int, tuple[int, ...], int, int, int]:
    """dtype, shape, shard, offset and size from a serialized BundleEntryProto."""
    dtype, shape, shard, offset, size = 0, (), 0, 0, 0
    for number, v in _fields(value):
        if number == 1:
            dtype = v
        elif number == 2:  # TensorShapeProto: repeated Dim (field 2) whose size is field 1
            shape = tuple(
                next((int(s) for n, s in _fields(dim) if n == 1), 0) for n, dim in _fields(v) if n == 2
            )
        elif number == 3:
            shard = v
        elif number == 4:
            offset = v
        elif number == 5:
            size = v
        elif number == 7:
            raise CheckpointError("sliced (partitioned) checkpoint variables are not supported")
    return dtype, shape, shard, offset, size


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every variable of the checkpoint ``prefix`` (the path before ``.index``), by name."""
    prefix = str(prefix)
    try:
        index = Path(prefix + ".index").read_bytes()
        data = Path(prefix + ".data-00000-of-00001").read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {prefix!r}: {e.strerror or e}") from e
    if len(index) < _FOOTER or struct.unpack_from("<Q", index, len(index) - 8)[0] != _TABLE_MAGIC:
        raise CheckpointError(f"{prefix}.index is not a TensorFlow checkpoint index")
    pos = len(index) - _FOOTER
    _, pos = _varint(index, pos)  # metaindex handle: unused
    _, pos = _varint(index, pos)
    index_offset, pos = _varint(index, pos)
    index_size, _ = _varint(index, pos)
    variables: dict[str, np.ndarray] = {}
    for _, handle in _block(index, index_offset, index_size):
        block_offset, p = _varint(handle, 0)
        block_size, _ = _varint(handle, p)
        for key, value in _block(index, block_offset, block_size):
            if key == b"":  # the BundleHeaderProto
                continue
            dtype, shape, shard, offset, size = _entry(value)
            if shard != 0:
                raise CheckpointError("multi-shard checkpoints are not supported")
            if dtype not in _DTYPES:
                raise CheckpointError(f"variable {key.decode()!r} has unsupported dtype {dtype}")
            array = np.frombuffer(
                data, dtype=_DTYPES[dtype], count=size // np.dtype(_DTYPES[dtype]).itemsize, offset=offset
            )
            variables[key.decode()] = array.reshape(shape).copy()
    return variables
