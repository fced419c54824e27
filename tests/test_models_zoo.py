"""Tests of the CNN zoo: registry, exact parameter counts, shapes, modes, a sharded step.

Big models are only traced (``jax.eval_shape``: shapes and parameter counts without
allocating); only small models (or small inputs) are run. Running AlexNet, VGG and
GoogLeNet at full size is behind ``@pytest.mark.heavy`` (GoogLeNet's modes at 112: ``slow``).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from param_derivations import (
    ALEXNET,
    ALEXNET_TORCHVISION,
    ALEXNET_TWO_TOWERS,
    GOOGLENET,
    GOOGLENET_TORCHVISION,
    ZFNET,
    aux_head,
    aux_head_tv,
    cifar_resnet,
)

from jaxdl import models

ZOO = [
    "alexnet",
    "zfnet",
    *(f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")),
    "googlenet",
    *(f"resnet{d}" for d in (18, 34, 50, 101, 152)),
    *(f"resnet{d}" for d in (20, 32, 44, 56, 110)),
    *(f"plain{d}" for d in (20, 32, 44, 56, 110)),
]


def key(seed=0):
    # 'rbg' compiles a model init several times faster than threefry on CPU.
    return jax.random.key(seed, impl="rbg")


def n_params(tree):
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


@functools.cache
def traced(name):
    """(output, variables) shapes of ``init_with_output`` in eval mode: no allocation."""
    model = models.create(name, num_classes=1000)
    x = jax.ShapeDtypeStruct((2, *models.default_input_shape(name)), jnp.float32)
    return jax.eval_shape(lambda x: model.init_with_output(key(), x, train=False), x)


# ----------------------------------------------------------------------------- counts
COUNTS = {
    # Reference figures of the issue (1000 classes; BN running statistics excluded).
    "vgg16": 138_357_544,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "resnet152": 60_192_808,
    # Derived by hand in param_derivations.py.
    "alexnet": ALEXNET,
    "zfnet": ZFNET,
    "googlenet": GOOGLENET + aux_head(512) + aux_head(528),
    "alexnet_torchvision": ALEXNET_TORCHVISION,
    "googlenet_torchvision": GOOGLENET_TORCHVISION + aux_head_tv(512) + aux_head_tv(528),
}


def test_hand_derivations_equal_the_stated_figures():
    # The derivations are written out independently; these are their values.
    assert ALEXNET == 62_378_344
    assert ALEXNET_TWO_TOWERS == 60_965_224  # the paper's "60 million"
    assert ZFNET == 62_357_608
    assert GOOGLENET == 6_998_552  # paper: ~6.8M (no biases, rounded)
    # torchvision's documented counts (googlenet: without the aux heads).
    assert ALEXNET_TORCHVISION == 61_100_840
    assert GOOGLENET_TORCHVISION == 6_624_904
    assert GOOGLENET_TORCHVISION + aux_head_tv(512) + aux_head_tv(528) == 13_004_888
    assert cifar_resnet(3) == 269_722  # ResNet-20, paper 0.27M
    assert cifar_resnet(9) == 853_018  # ResNet-56, paper 0.85M
    assert cifar_resnet(18) == 1_727_962  # ResNet-110, paper 1.7M


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_parameter_count_imagenet(name):
    _, variables = traced(name)
    assert n_params(variables["params"]) == COUNTS[name]


def test_parameter_count_variants():
    from jaxdl.models.alexnet import AlexNet
    from jaxdl.models.googlenet import GoogLeNet

    x = jnp.zeros((1, 227, 227, 3))
    v = jax.eval_shape(lambda: AlexNet(two_towers=True).init(key(), x, train=False))
    assert n_params(v["params"]) == ALEXNET_TWO_TOWERS
    _, v = traced("googlenet")
    main = {k: p for k, p in v["params"].items() if not k.startswith("aux")}
    assert n_params(main) == GOOGLENET
    v = jax.eval_shape(
        lambda: GoogLeNet(aux_classifiers=False).init(key(), jnp.zeros((1, 224, 224, 3)), False)
    )
    assert n_params(v["params"]) == GOOGLENET
    # VGG-16-BN: + scale and bias for each of the 13 convs' channels.
    bn_channels = 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512
    assert n_params(traced("vgg16_bn")[1]["params"]) == 138_357_544 + 2 * bn_channels


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_parameter_count_cifar(depth):
    n = (depth - 2) // 6
    for prefix in ("resnet", "plain"):  # option A adds no parameters: same counts
        _, v = traced(f"{prefix}{depth}")  # 1000 classes, like every traced model here
        assert n_params(v["params"]) == cifar_resnet(n, classes=1000), prefix


# ----------------------------------------------------------------------------- registry
def test_registry_has_the_zoo():
    assert set(ZOO) <= set(models.names())
    assert models.default_input_shape("alexnet") == (227, 227, 3)
    assert models.default_input_shape("resnet50") == (224, 224, 3)
    assert models.default_input_shape("resnet20") == (32, 32, 3)
    with pytest.raises(ValueError, match="Unknown model"):
        models.create("resnet21")
    with pytest.raises(ValueError, match="no field"):
        models.create("resnet20", widht=3)


@pytest.mark.parametrize("name", ZOO)
def test_output_shape_default_input(name):
    out, variables = traced(name)
    assert out.shape == (2, 1000) and out.dtype == jnp.float32
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(variables))
    has_bn = "batch_stats" in variables
    assert has_bn == (name.startswith(("resnet", "plain")) or name.endswith("_bn"))


def test_googlenet_training_outputs_and_bf16():
    model = models.create("googlenet", num_classes=7, dtype=jnp.bfloat16)
    x = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(key(), x, train=False), x)
    assert {"aux1", "aux2"} <= set(variables["params"])  # created even in eval-mode init
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(variables))
    out = jax.eval_shape(
        lambda v, x: model.apply(v, x, train=True, rngs={"dropout": key(1)}), variables, x
    )
    assert [o.shape for o in out] == [(2, 7)] * 3
    assert all(o.dtype == jnp.float32 for o in out)


def test_bad_depths():
    from jaxdl.models.resnet import CifarResNet, ResNet
    from jaxdl.models.vgg import VGG

    x = jnp.zeros((1, 32, 32, 3))
    for module, match in ((ResNet(depth=20), "CifarResNet"), (CifarResNet(depth=21), "6n\\+2")):
        with pytest.raises(ValueError, match=match):
            jax.eval_shape(lambda m=module: m.init(key(), x, train=False))
    with pytest.raises(ValueError, match="VGG depth"):
        jax.eval_shape(lambda: VGG(depth=12).init(key(), x, train=False))


# ----------------------------------------------------------------------------- modes
def host_variables(model, x, seed=0):
    """Variables drawn with numpy from the traced shapes (no init compile): kernels
    N(0, 2/fan_in), biases 0, BN scale 1 / bias 0, running mean 0 / var 1."""
    shapes = jax.eval_shape(lambda: model.init(key(), x, train=False))
    rng = np.random.default_rng(seed)

    def fill(path, s):
        name = path[-1].key
        if name == "kernel":
            return rng.normal(0, np.sqrt(2 / np.prod(s.shape[:-1])), s.shape).astype(np.float32)
        return np.full(s.shape, 1.0 if name in ("scale", "var") else 0.0, np.float32)

    return jax.tree_util.tree_map_with_path(fill, shapes)


@pytest.mark.parametrize(
    "name,kwargs,size,has_dropout,has_bn",
    [
        # plain20 is the same CifarResNet module with shortcut='none': same modes.
        # Smaller nets where the module allows it (ResNet depth 8: every kind of layer of
        # the 20-layer net; 8-channel convs): the modes, not the sizes, are tested.
        ("resnet20", {"depth": 8}, 32, False, True),
        ("alexnet", {"hidden_features": 32, "widths": (8, 8, 8, 8, 8)}, 67, True, False),
        ("zfnet", {"hidden_features": 32, "widths": (8, 8, 8, 8, 8)}, 63, True, False),
        ("vgg11_bn", {"classifier_widths": (32, 32)}, 32, True, True),
    ],
)
def test_train_eval_differ_only_where_they_should(name, kwargs, size, has_dropout, has_bn):
    model = models.create(name, num_classes=5, **kwargs)
    no_dropout = model.clone(dropout_rate=0.0) if has_dropout else model
    # Batch 2: at XLA:CPU's optimization level 0 running VGG is a good part of the cost.
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, size, size, 3)), jnp.float32)
    v = host_variables(model, x)

    @jax.jit
    def run(v, x):
        def train(m, seed):
            mutable = ["batch_stats"] if has_bn else False
            out = m.apply(v, x, train=True, rngs={"dropout": key(seed)}, mutable=mutable)
            return out[0] if has_bn else out

        outs = [model.apply(v, x, train=False), train(model, 1), train(model, 2)]
        return outs + ([train(no_dropout, 1)] if has_dropout else [])

    outs = [np.asarray(o) for o in run(v, x)]
    for out in outs:
        assert out.shape == (2, 5) and np.all(np.isfinite(out))
    ev, tr1, tr2 = outs[:3]
    tr_nodrop = outs[3] if has_dropout else tr1
    # Dropout: only in training, and then it depends on the key.
    assert (not np.allclose(tr1, tr2)) == has_dropout
    assert not np.allclose(tr1, ev) and not np.allclose(tr2, ev)
    # Without dropout, training mode differs from eval mode exactly when there is BN.
    assert (not np.allclose(tr_nodrop, ev, rtol=1e-5, atol=1e-5)) == has_bn


# ----------------------------------------------------------------------------- parallel
@pytest.mark.parametrize("name", ["resnet20", "plain20"], ids=["resnet8", "plain8"])
def test_one_sharded_train_step(name):
    """SGD + cross-entropy on 8 devices, batch on the 'data' axis = the 1-device step."""
    # The point is the sharded step, not the size: depth 8 (n = 1) keeps every kind of
    # layer of the 20-layer net (stem, stride-2 stages with option-A or no shortcuts, BN,
    # head) with a third of the blocks to compile; 16x16 images (global pooling: any
    # size); variables drawn on the host (no init to compile).
    model = models.create(name, num_classes=10, depth=8)
    tx = optax.sgd(0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 16, 16, 3)).astype(np.float32)
    y = rng.integers(0, 10, size=16)
    v = host_variables(model, jnp.zeros((1, 16, 16, 3)))

    def loss_fn(params, batch_stats, x, y):
        logits, new = model.apply(
            {"params": params, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"]
        )
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new

    @jax.jit
    def step(params, batch_stats, opt_state, x, y):
        (loss, new), g = jax.value_and_grad(loss_fn, has_aux=True)(params, batch_stats, x, y)
        updates, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, updates), new["batch_stats"], opt_state, loss

    mesh = jax.make_mesh((8,), ("data",))
    rep, data = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    state = jax.device_put((v["params"], v["batch_stats"], tx.init(v["params"])), rep)
    params, stats, _, loss = step(*state, jax.device_put(x, data), jax.device_put(y, data))
    assert np.isfinite(float(loss))
    assert len(params["fc"]["kernel"].sharding.device_set) == 8  # replicated result
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), params, v["params"])
    assert all(d > 0 for d in jax.tree.leaves(moved))
    assert not np.allclose(stats["stem"]["bn"]["mean"], 0.0)
    # 1 device vs 8 devices (global-batch BN stats) is tested in tests/test_normalization.py.


# ----------------------------------------------------------------------------- slow
@pytest.mark.heavy  # full-size forwards at 224 (about 40 s): beyond the slow stage's budget
@pytest.mark.parametrize("name", ["alexnet", "zfnet", "vgg16", "googlenet", "resnet50"])
def test_full_size_forward(name):
    model = models.create(name, num_classes=1000)
    x = jnp.asarray(
        np.random.default_rng(0).normal(size=(2, *models.default_input_shape(name))), jnp.float32
    )
    v = jax.jit(lambda x: model.init(key(), x, train=False))(x)
    ev = jax.jit(lambda v, x: model.apply(v, x, train=False))(v, x)
    tr = jax.jit(
        lambda v, x: model.apply(
            v, x, train=True, rngs={"dropout": key(1)}, mutable=["batch_stats"]
        )[0]
    )(v, x)
    assert ev.shape == (2, 1000) and np.all(np.isfinite(ev))
    for out in tr if isinstance(tr, tuple) else (tr,):
        assert out.shape == (2, 1000) and np.all(np.isfinite(out))


@pytest.mark.slow
def test_googlenet_modes_at_112():
    """GoogLeNet has dropout and no BN: without dropout, training = eval (+ aux heads)."""
    model = models.create("googlenet", num_classes=5)
    no_dropout = model.clone(dropout_rate=0.0, aux_dropout_rate=0.0)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 112, 112, 3)), jnp.float32)
    v = host_variables(model, x)  # at 112 the aux heads pool 7x7 maps to 1x1

    @jax.jit
    def run(v, x):
        def train(m, seed):
            return m.apply(v, x, train=True, rngs={"dropout": key(seed)})

        return (
            model.apply(v, x, train=False),
            train(model, 1),
            train(model, 2),
            train(no_dropout, 1),
        )

    ev, tr1, tr2, tr0 = run(v, x)
    assert ev.shape == (2, 5) and np.all(np.isfinite(ev))
    assert len(tr1) == 3 and all(o.shape == (2, 5) and np.all(np.isfinite(o)) for o in tr1)
    assert not np.allclose(tr1[0], tr2[0]) and not np.allclose(tr1[1], tr2[1])
    np.testing.assert_allclose(tr0[0], ev, rtol=1e-5, atol=1e-5)


def test_bf16_compute_tracks_float32():
    """bf16 compute with the same float32 variables: float32 logits, close to float32's."""
    # 16x16 images: the same 20 layers (global pooling), a quarter of the pixels.
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 16, 16, 3)), jnp.float32)
    f32 = models.create("resnet20", num_classes=10)
    v = host_variables(f32, x, seed=3)
    bf16 = f32.clone(dtype=jnp.bfloat16)
    run = jax.jit(lambda v, x: (f32.apply(v, x, train=False), bf16.apply(v, x, train=False)))
    a, b = run(v, x)
    assert b.dtype == jnp.float32 and np.all(np.isfinite(b))
    scale = float(jnp.max(jnp.abs(a)))
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=0.05 * scale)
    assert not np.array_equal(np.asarray(a), np.asarray(b))  # really computed in bf16
