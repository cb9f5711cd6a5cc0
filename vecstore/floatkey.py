"""Floats as order-preserving integers, for engines that keep integers exactly
but floats only approximately (Chroma 1.5 and Qdrant's engine read some floats
back one ulp off: their JSON parsers round).

``float_key(a) < float_key(b)`` iff ``a < b``; ``-0.0`` and ``0.0`` share key
0.  The key is a signed int64; :func:`split_key` cuts it into two integers
below 2**32, for engines whose range comparisons go through ``float64``.
"""

from __future__ import annotations

import struct

_SIGN = 1 << 63
_LOW = (1 << 32) - 1


def float_key(value: float) -> int:
    """An int64 ordered as the floats are: ``a < b`` iff ``float_key(a) < float_key(b)``."""
    (bits,) = struct.unpack("<Q", struct.pack("<d", value))
    return -(bits ^ _SIGN) if bits & _SIGN else bits


def key_float(key: int) -> float:
    """The float :func:`float_key` encoded (``0.0`` for ``-0.0``)."""
    (value,) = struct.unpack("<d", struct.pack("<Q", -key | _SIGN if key < 0 else key))
    return float(value)


def split_key(key: int) -> tuple[int, int]:
    """``(high, low)``: ``key == high * 2**32 + low``, ``0 <= low < 2**32``, ``|high| <= 2**31``;
    tuples compare as the keys do, and both parts are exact in a ``float64``."""
    return key >> 32, key & _LOW


def join_key(high: int, low: int) -> int:
    return (int(high) << 32) | int(low)
