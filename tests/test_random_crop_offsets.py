"""``random_crop`` reaches every valid offset, in both axes, and nothing else.

The valid top-left offsets of an ``(h, w)`` window in the image padded by ``p`` on each
side are ``0 .. H + 2p - h`` (rows) and ``0 .. W + 2p - w`` (columns), both ends
included. Each output is matched against every window of the numpy-padded image
(``numpy.pad`` + slicing, never the op itself); exactly one window must match, which
reveals the offset the op drew. Over many examples every offset must occur, with
roughly uniform frequencies.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data import augment as aug

N = 400  # examples (one key each): P(a given offset of 6 never drawn) = (5/6)^400 ~ 1e-32


def _coded_images(n, H, W):
    """Images whose pixel (i, j) holds the distinct value 1 + i * W + j (0 is the padding)."""
    grid = 1.0 + np.arange(H * W, dtype=np.float32).reshape(H, W)
    x = np.broadcast_to(grid[None, :, :, None], (n, H, W, 1))
    return np.concatenate([x, -x], axis=-1)  # 2 channels


def _offsets(y, x, p, mode, size):
    """The unique offset of each output window in the numpy-padded input, [N, 2]."""
    h, w = size
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode=mode)
    Hp, Wp = padded.shape[1:3]
    found = []
    for i in range(len(y)):
        hits = [
            (oy, ox)
            for oy in range(Hp - h + 1)
            for ox in range(Wp - w + 1)
            if np.array_equal(padded[i, oy : oy + h, ox : ox + w], y[i])
        ]
        assert len(hits) == 1, (i, hits)
        found.append(hits[0])
    return np.array(found)


@pytest.mark.parametrize(
    "H, W, p, mode, size",
    [
        (6, 5, 1, "constant", (6, 5)),  # CIFAR-style: same size, offsets 0..2 per axis
        (6, 5, 2, "reflect", (6, 5)),  # offsets 0..4 per axis
        (6, 5, 1, "constant", (4, 2)),  # smaller window: rows 0..4, columns 0..5
        (7, 6, 0, "constant", (5, 2)),  # ImageNet-style, no padding: rows 0..2, cols 0..4
    ],
)
def test_random_crop_draws_every_valid_offset_uniformly(H, W, p, mode, size):
    x = _coded_images(N, H, W)
    fn = jax.jit(lambda k, im: aug.random_crop(k, im, padding=p, mode=mode, size=size))
    y = np.asarray(fn(jax.random.key(5), jnp.asarray(x)))
    assert y.shape == (N, *size, 2)
    off = _offsets(y, x, p, mode, size)
    for axis, (full, window) in enumerate(((H, size[0]), (W, size[1]))):
        last = full + 2 * p - window  # the largest valid offset along this axis
        counts = np.bincount(off[:, axis], minlength=last + 1)
        assert len(counts) == last + 1, f"axis {axis}: offset beyond {last}"
        assert np.all(counts > 0), (
            f"axis {axis}: offsets never drawn: {np.flatnonzero(counts == 0)}"
        )
        # Uniform: each count within 5 binomial standard deviations of N / (last + 1).
        q = 1.0 / (last + 1)
        np.testing.assert_array_less(np.abs(counts - N * q), 5 * np.sqrt(N * q * (1 - q)) + 1)
