"""The order-preserving float keys Chroma and Qdrant Edge compare floats on."""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from vecstore.floatkey import float_key, join_key, key_float, split_key

finite = st.floats(allow_nan=False, allow_infinity=False)


def test_float_keys_are_ordered_and_reversible():
    rng = np.random.default_rng(0)
    xs = sorted({float(x) for x in rng.normal(scale=1e10, size=2000)} | {0.0, 5e-324, -5e-324, 1e308, -1e308})
    keys = [float_key(x) for x in xs]
    assert keys == sorted(keys) and len(set(keys)) == len(xs)
    assert [key_float(k) for k in keys] == xs
    assert float_key(-0.0) == float_key(0.0) == 0 and all(-(2**63) < k < 2**63 for k in keys)


@given(finite, finite)
def test_keys_and_their_halves_order_as_the_floats(a, b):
    ka, kb = float_key(a), float_key(b)
    assert (ka < kb) == (a < b) and (ka == kb) == (a == b)
    assert (split_key(ka) < split_key(kb)) == (a < b)
    high, low = split_key(ka)
    assert 0 <= low < 2**32 and abs(high) <= 2**31 and float(high) == high and float(low) == low
    assert join_key(high, low) == ka and key_float(ka) == a
    assert math.copysign(1.0, key_float(float_key(-0.0))) == 1.0
