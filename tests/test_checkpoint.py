"""Checkpoints: atomic saves, digest-verified restores, fallback past corrupted ones."""

import logging
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import optim
from jaxdl.training import checkpoint
from jaxdl.training.state import TrainState
from reliability.fault_injection import damage as damage_checkpoint


class _BNNet(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Dense(64)(x.reshape((x.shape[0], -1)))
        return nn.BatchNorm(use_running_average=not train)(x)


def _state(seed=0):
    model = _BNNet()
    return TrainState.create(
        model=model,
        tx=optax.adam(1e-3),
        rng=jax.random.PRNGKey(seed),
        example_input=jnp.zeros((1, 8, 8, 1)),
    )


def _saved(tmp_path, steps=(1, 2, 3)):
    ckpt = checkpoint.Checkpointer(tmp_path, max_to_keep=5)
    states = {}
    for s in steps:
        state = _state(s)
        stats = jax.tree.map(lambda x, s=s: x + s, state.model_state)  # non-trivial BN stats
        states[s] = state.replace(step=jnp.asarray(s, jnp.int32), model_state=stats)
        ckpt.save(s, states[s], {"history": [s]})
    ckpt.wait_until_finished()
    return ckpt, states


def _largest_state_file(step_dir: Path) -> Path:
    files = [p for p in (step_dir / "state").rglob("*") if p.is_file()]
    return max(files, key=lambda p: p.stat().st_size)


def _assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_array_equal(x, y)


def test_round_trip_restores_every_field(tmp_path):
    ckpt, states = _saved(tmp_path)
    restored, meta = ckpt.restore_latest(_state(99))
    assert int(restored.step) == 3 and meta["history"] == [3]
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(states[3])):
        np.testing.assert_array_equal(got, want)  # params, BN stats, Adam moments, rng
    assert float(restored.model_state["batch_stats"]["BatchNorm_0"]["mean"][0]) == 3.0


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupted_latest_falls_back_with_a_warning(tmp_path, caplog, damage):
    ckpt, states = _saved(tmp_path)
    damage_checkpoint(tmp_path / "3", damage)
    with caplog.at_level(logging.WARNING):
        restored, meta = checkpoint.Checkpointer(tmp_path).restore_latest(_state(99))
    assert int(restored.step) == 2 and meta["history"] == [2]
    _assert_same(restored, states[2])
    assert "step 3 is unreadable" in caplog.text


def test_all_checkpoints_corrupted_is_a_clear_error(tmp_path):
    _saved(tmp_path, steps=(1, 2))
    for step in (1, 2):
        f = _largest_state_file(tmp_path / str(step))
        f.write_bytes(f.read_bytes()[:10])
    with pytest.raises(checkpoint.CheckpointError, match="No readable checkpoint"):
        checkpoint.Checkpointer(tmp_path).restore_latest(_state(99))


def test_unfinished_write_is_never_picked_up(tmp_path):
    ckpt, _ = _saved(tmp_path, steps=(1,))
    # What a kill during an async write leaves behind: a temporary folder.
    tmp = tmp_path / "2.orbax-checkpoint-tmp-123"
    tmp.mkdir()
    (tmp / "junk").write_bytes(b"partial")
    fresh = checkpoint.Checkpointer(tmp_path)
    assert fresh.all_steps() == [1]
    restored, _ = fresh.restore_latest(_state(99))
    assert int(restored.step) == 1


def test_a_step_still_being_written_async_restores_once_written(tmp_path):
    # A hook that restores the best step right after it was saved (RestartFromBest) reads
    # a checkpoint whose async write may still be in flight.
    state = _state(1).replace(step=jnp.asarray(7, jnp.int32))
    ckpt = checkpoint.Checkpointer(tmp_path, max_to_keep=5)  # async by default
    ckpt.save(7, state, {"history": [7]})
    restored, meta = ckpt.restore(_state(99), 7)
    _assert_same(restored, state)
    assert int(restored.step) == 7 and meta["history"] == [7]
    ckpt.save(8, state, {"history": [8]})
    raw, _ = ckpt.restore_raw(8)
    np.testing.assert_array_equal(raw["step"], 7)
    ckpt.close()


def test_digest_detects_any_change():
    tree = {"a": np.arange(6.0).reshape(2, 3), "b": np.zeros(2, np.int32)}
    d = checkpoint.tree_digest(tree)
    assert d == checkpoint.tree_digest({k: v.copy() for k, v in tree.items()})
    changed = {**tree, "a": tree["a"].copy()}
    changed["a"][1, 2] = np.nextafter(changed["a"][1, 2], 10)
    assert checkpoint.tree_digest(changed) != d
    assert checkpoint.tree_digest({**tree, "b": tree["b"].astype(np.int64)}) != d


def test_digest_of_typed_prng_keys_hashes_their_key_data():
    """Optimizer states hold typed keys (gradient noise); they have no numpy buffer."""
    a = {"rng": jax.random.key(0), "w": np.ones(2)}
    digest = checkpoint.tree_digest(a)
    assert digest == checkpoint.tree_digest({"rng": jax.random.key(0), "w": np.ones(2)})
    assert digest != checkpoint.tree_digest({"rng": jax.random.key(1), "w": np.ones(2)})


def test_gradient_noise_state_checkpoints_and_restores(tmp_path: Path):
    tx = optax.chain(optim.add_gradient_noise(0.1, key=jax.random.key(3)), optax.sgd(0.1))
    state = TrainState.create(
        model=_BNNet(), tx=tx, rng=jax.random.PRNGKey(0), example_input=jnp.ones((1, 8, 8, 1))
    )
    ckpt = checkpoint.Checkpointer(tmp_path / "ckpt")
    ckpt.save(1, state, {})
    ckpt.wait_until_finished()
    restored, _ = ckpt.restore(state, 1)
    ckpt.close()
    assert checkpoint.tree_digest(restored) == checkpoint.tree_digest(state)


class _Wider(nn.Module):
    """_BNNet with another width or parameter dtype: a state the checkpoints do not fit."""

    width: int = 64
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Dense(self.width, param_dtype=self.param_dtype)(x.reshape((x.shape[0], -1)))
        return nn.BatchNorm(use_running_average=not train)(x)


@pytest.mark.parametrize(
    "model, first",
    [
        (
            _Wider(param_dtype=jnp.bfloat16),
            "['params']['Dense_0']['bias']: saved float32[64], here bfloat16[64]",
        ),
        (
            _Wider(width=32),
            "['params']['BatchNorm_0']['bias']: saved float32[64], here float32[32]",
        ),
    ],
    ids=["dtype", "shape"],
)
def test_a_state_of_other_dtype_or_shape_is_refused_and_nothing_moves(tmp_path, model, first):
    """A changed dtype once read as a digest mismatch ("the files changed on disk"), and
    every checkpoint was called unreadable; a changed shape as Orbax's truncation error."""
    ckpt, _ = _saved(tmp_path)
    target = TrainState.create(
        model=model, tx=optax.adam(1e-3), rng=jax.random.PRNGKey(0),
        example_input=jnp.zeros((1, 8, 8, 1)),
    )  # fmt: skip
    with pytest.raises(checkpoint.CheckpointMismatchError) as info:
        ckpt.restore_latest(target)
    message = str(info.value)
    assert message.startswith(
        f"Checkpoint step 3 in {tmp_path} does not fit the state to restore: "
    )
    assert message.split("restore: ", 1)[1].startswith(first + " (and ")
    assert message.endswith(
        "Restore it into a state built as it was saved (the run's config), or save this run in"
        " another directory."
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1", "2", "3"]  # nothing moved aside
    restored, _ = ckpt.restore_latest(_state(99))  # the right state still restores step 3
    assert int(restored.step) == 3
