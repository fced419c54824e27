"""torchvision state_dicts -> jaxdl: same outputs as the PyTorch network, clear mismatch errors.

The PyTorch side is ``benchmarks/peers/torchvision_arch.py`` (torchvision's module
names and computations; torchvision itself need not import). Each equivalence test
draws random weights AND random BN statistics (so every BN tensor's mapping matters),
converts, runs both frameworks in float32 eval mode on the same random images and
asserts ``max |jaxdl - torch| <= TOL * max |torch|`` (TOL = 1e-4; measured values are
~1e-6 relative, printed with ``-s`` and tabulated in docs/pretrained.md).

Default stage (cheap): ResNet-18 at 64x64 (convs, BN, projection shortcuts),
torchvision's AlexNet at 224x224 (conv biases, padding, the [C,H,W] -> [H,W,C]
flatten permutation), GoogLeNet's auxiliary head alone on a 14x14 map (BN eps 1e-3,
adaptive pooling), the errors, and transfer. Every architecture at 224x224 (VGG's
classifier needs a 7x7 final map, so VGG is only tested there) is ``slow``.
"""

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="the conversion is proved against PyTorch networks (CI installs torch)"
)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from benchmarks.peers import torchvision_arch  # noqa: E402
from jaxdl import models  # noqa: E402
from jaxdl.models import torchvision_rules as tr  # noqa: E402
from jaxdl.models import torchvision_weights as tw  # noqa: E402
from jaxdl.models.googlenet import InceptionAux  # noqa: E402

TOL = 1e-4  # max abs difference, relative to the largest |logit|

# jaxdl name -> torchvision name
PAIRS = {
    **{f"resnet{d}": f"resnet{d}" for d in (18, 34, 50, 101, 152)},
    **{f"vgg{d}{b}": f"vgg{d}{b}" for d in (11, 13, 16, 19) for b in ("", "_bn")},
    "alexnet_torchvision": "alexnet",
    "googlenet_torchvision": "googlenet",
}


def torch_net(tv_name, seed=0, **kwargs):
    torch.manual_seed(seed)
    net = torchvision_arch.build(tv_name, **kwargs)
    return torchvision_arch.randomize_batch_norm(net, torch.Generator().manual_seed(seed)).eval()


def images(size, batch=2, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


def max_difference(name, size):
    """(max |jaxdl - torch|, max |torch|) of the logits on random images."""
    net = torch_net(PAIRS[name])
    x = images(size)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    variables = models.load_torchvision_weights(name, net.state_dict())
    model = models.create(name, num_classes=1000)
    out = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x.transpose(0, 2, 3, 1))
    diff, scale = float(np.max(np.abs(np.asarray(out) - ref))), float(np.max(np.abs(ref)))
    print(f"\n{name} @ {size}x{size}: max |diff| {diff:.3g}, max |logit| {scale:.3g}")
    return diff, scale


# ----------------------------------------------------------------------------- equivalence
@pytest.mark.parametrize("name,size", [("resnet18", 64), ("alexnet_torchvision", 224)])
def test_outputs_match_torch(name, size):
    diff, scale = max_difference(name, size)
    assert scale > 1e-3  # a non-degenerate comparison
    assert diff <= TOL * scale


@pytest.mark.heavy  # 15 networks at 224 against torch (~70 s); small sizes: test above
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_outputs_match_torch_full_size(name):
    diff, scale = max_difference(name, 224)
    assert scale > 1e-3
    assert diff <= TOL * scale


def test_googlenet_aux_head_matches_torch():
    """Aux head alone (eval): BasicConv2d's BN eps 1e-3, adaptive 4x4 pool, fc1 permutation."""
    net = torch_net("googlenet")
    x = np.random.default_rng(1).standard_normal((2, 512, 14, 14)).astype(np.float32)
    with torch.no_grad():
        ref = net.aux1(torch.from_numpy(x)).numpy()
    v = models.load_torchvision_weights("googlenet_torchvision", net.state_dict())
    sub = {"params": v["params"]["aux1"], "batch_stats": v["batch_stats"]["aux1"]}
    head = InceptionAux(1000, batch_norm=True, pool="adaptive")
    paper = InceptionAux(1000, batch_norm=True)  # 5x5/3 windows: another function
    # Both heads in one compiled program (op-by-op eager execution compiles every op).
    both = jax.jit(lambda v, x: (head.apply(v, x, train=False), paper.apply(v, x, False)))
    out, out_paper = (np.asarray(o) for o in both(sub, x.transpose(0, 2, 3, 1)))
    assert np.max(np.abs(out - ref)) <= TOL * np.max(np.abs(ref))
    assert np.max(np.abs(out_paper - ref)) > 100 * TOL * np.max(np.abs(ref))


@pytest.mark.parametrize("n,m", [(14, 4), (7, 4), (13, 5), (8, 4), (4, 4)])
def test_adaptive_avg_pool_matches_torch(n, m):
    from jaxdl.models.googlenet import adaptive_avg_pool

    x = np.random.default_rng(n).standard_normal((2, 3, n, n + 1))
    ref = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), (m, m)).numpy()
    out = adaptive_avg_pool(jnp.asarray(x.transpose(0, 2, 3, 1), jnp.float32), (m, m))
    np.testing.assert_allclose(np.asarray(out), ref.transpose(0, 2, 3, 1), atol=1e-6)


def test_flatten_permutation_against_float64_reference():
    """A linear layer after flatten: torch's W @ f.flatten() ([C,H,W] order) must equal
    jaxdl's kernel^T @ f.transpose(1, 2, 0).flatten() ([H,W,C] order)."""
    rng = np.random.default_rng(0)
    c, h, w, out = 5, 3, 4, 7
    weight = rng.standard_normal((out, c * h * w))
    f = rng.standard_normal((c, h, w))
    kernel = tr.to_jaxdl(tr.Rule("k", ("params", "k"), "dense_chw", (c, h, w)), weight)
    np.testing.assert_allclose(
        kernel.astype(np.float64).T @ f.transpose(1, 2, 0).reshape(-1),
        weight @ f.reshape(-1),
        rtol=1e-5,
    )


# ----------------------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def resnet18_sd():
    return {k: v.numpy() for k, v in torch_net("resnet18").state_dict().items()}


def test_dropped_key_is_named_with_its_shape(resnet18_sd):
    sd = dict(resnet18_sd)
    del sd["layer2.0.downsample.1.running_var"]
    with pytest.raises(
        tw.WeightsMismatchError, match=r"Missing tensor 'layer2\.0\.downsample"
    ) as e:
        models.load_torchvision_weights("resnet18", sd)
    assert "(128,)" in str(e.value) and "stage2_block1/shortcut/bn/var" in str(e.value)


def test_wrong_shape_is_named_with_both_shapes(resnet18_sd):
    sd = dict(resnet18_sd)
    sd["layer3.1.conv2.weight"] = np.zeros((256, 256, 1, 1), np.float32)
    with pytest.raises(tw.WeightsMismatchError, match=r"'layer3\.1\.conv2\.weight'") as e:
        models.load_torchvision_weights("resnet18", sd)
    assert "(256, 256, 1, 1)" in str(e.value) and "(256, 256, 3, 3)" in str(e.value)


def test_unexpected_key_and_other_errors(resnet18_sd, tmp_path, monkeypatch):
    with pytest.raises(tw.WeightsMismatchError, match="Unexpected tensor 'extra.weight'"):
        models.load_torchvision_weights("resnet18", {**resnet18_sd, "extra.weight": np.zeros(3)})
    with pytest.raises(tw.WeightsMismatchError, match="num_classes=None"):
        models.load_torchvision_weights("resnet18", resnet18_sd, num_classes=10)
    with pytest.raises(ValueError, match="alexnet_torchvision"):
        models.load_torchvision_weights("alexnet", resnet18_sd)
    with pytest.raises(ValueError, match="No torchvision conversion for model 'lenet5'"):
        models.load_torchvision_weights("lenet5", resnet18_sd)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        models.load_torchvision_weights("resnet18", tmp_path / "missing.pth")
    # A .pth needs torch (clear message); an .npz of the same tensors does not.
    torch.save(torch_net("resnet18").state_dict(), tmp_path / "r18.pth")
    np.savez(tmp_path / "r18.npz", **resnet18_sd)
    monkeypatch.setitem(__import__("sys").modules, "torch", None)
    with pytest.raises(ImportError, match="needs PyTorch"):
        tw.read_state_dict(tmp_path / "r18.pth")
    from_npz = tw.read_state_dict(tmp_path / "r18.npz")
    assert set(from_npz) == set(resnet18_sd)


def test_pth_npz_dict_and_prefixed_sources_convert_identically(resnet18_sd, tmp_path):
    net = torch_net("resnet18")
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "a.pth"
    )
    np.savez(tmp_path / "b.npz", **resnet18_sd)
    ref = models.load_torchvision_weights("resnet18", net.state_dict())
    for source in (tmp_path / "a.pth", tmp_path / "b.npz", resnet18_sd):
        jax.tree.map(
            np.testing.assert_array_equal, models.load_torchvision_weights("resnet18", source), ref
        )
    # The layouts themselves, against the source tensors.
    np.testing.assert_array_equal(
        ref["params"]["stem"]["conv"]["kernel"], resnet18_sd["conv1.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(ref["params"]["fc"]["kernel"], resnet18_sd["fc.weight"].T)
    np.testing.assert_array_equal(
        ref["batch_stats"]["stage1_block2"]["conv2"]["bn"]["var"],
        resnet18_sd["layer1.1.bn2.running_var"],
    )


def test_googlenet_without_aux_heads_and_eps_fold():
    net = torch_net("googlenet")
    sd = {k: v.numpy() for k, v in net.state_dict().items() if not k.startswith("aux")}
    v = models.load_torchvision_weights("googlenet_torchvision", sd)
    assert not any(k.startswith("aux") for k in v["params"])
    # eps 1e-3 folded into the variance: var + 1e-5 (jaxdl) == running_var + 1e-3 (torch)
    np.testing.assert_allclose(
        v["batch_stats"]["3a"]["b5"]["bn"]["var"] + 1e-5,
        sd["inception3a.branch3.1.bn.running_var"] + 1e-3,
        rtol=1e-6,
    )


# ----------------------------------------------------------------------------- transfer
def fresh_variables(name, num_classes, channels=3):
    """Stand-in for a fresh init (shapes from tracing, values random on the host)."""
    model = models.create(name, num_classes=num_classes)
    x = jnp.zeros((1, 64, 64, channels))
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    rng = np.random.default_rng(1)
    return jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(np.float32), shapes)


def test_transfer_keeps_the_trunk_and_a_fresh_head(resnet18_sd):
    fresh = fresh_variables("resnet18", 10)
    pre = models.load_torchvision_weights("resnet18", resnet18_sd, num_classes=None)
    merged, kept = tw.transfer(fresh, pre, "resnet18")
    assert kept == ["params/fc/bias", "params/fc/kernel"]
    assert merged["params"]["fc"]["kernel"] is fresh["params"]["fc"]["kernel"]
    np.testing.assert_array_equal(
        merged["params"]["stage4_block2"]["conv2"]["conv"]["kernel"],
        resnet18_sd["layer4.1.conv2.weight"].transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(
        merged["batch_stats"]["stem"]["bn"]["mean"], resnet18_sd["bn1.running_mean"]
    )
    # Same class count: nothing stays fresh.
    assert tw.transfer(fresh_variables("resnet18", 1000), pre, "resnet18")[1] == []
    # A 1-channel model: the stem does not fit, and that is not a head.
    with pytest.raises(tw.WeightsMismatchError, match="params/stem/conv/kernel"):
        tw.transfer(fresh_variables("resnet18", 10, channels=1), pre, "resnet18")


# ----------------------------------------------------------------------------- structure
@pytest.mark.parametrize("name", ["vgg11_bn", "vgg19", "resnet50", "googlenet_torchvision"])
def test_rules_cover_every_tensor_both_ways(name):
    """Key/shape plan only (no values): every torchvision tensor has exactly one rule,
    every jaxdl variable is filled, and the layouts' shapes agree. The networks are
    built on torch's 'meta' device (no memory) and jaxdl's are traced."""
    with torch.device("meta"):
        net = torchvision_arch.build(PAIRS[name])
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    shapes = {k: s for k, s in shapes.items() if not k.endswith("num_batches_tracked")}
    model = models.create(name, num_classes=1000)
    x = jnp.zeros((1, 224, 224, 3))
    template = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
    plan = tr.rules(name, template)
    flat = {p: s.shape for p, s in jax.tree_util.tree_flatten_with_path(template)[0]}
    assert sorted(r.key for r in plan) == sorted(shapes)
    assert len({r.path for r in plan}) == len(flat)
    for rule in plan:
        leaf = template
        for part in rule.path:
            leaf = leaf[part]
        assert tr.torch_shape(rule, leaf.shape) == shapes[rule.key], rule


def test_alexnet_dropout_before_fc_drops_the_inputs_of_fc6():
    """torchvision's AlexNet drops fc6's INPUTS (its fc6 outputs change with the mask);
    the paper drops fc6's OUTPUTS (after the ReLU), so fc6's own output is unaffected."""
    from jaxdl.models.alexnet import AlexNet

    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 67, 67, 3)), jnp.float32)
    small = {"widths": (4, 4, 4, 4, 4), "hidden_features": 8, "num_classes": 3, "lrn": False}
    nets = {before: AlexNet(dropout_before_fc=before, **small) for before in (False, True)}
    # Variables drawn on the host (the dropout's place changes no shape): no init to
    # compile; both nets' fc6 outputs in one compiled program.
    shapes = jax.eval_shape(lambda: nets[False].init(jax.random.key(0), x, train=False))
    rng = np.random.default_rng(1)
    v = jax.tree.map(lambda s: rng.normal(0, 0.5, s.shape).astype(np.float32), shapes)

    @jax.jit
    def fc6_outputs(v, x):
        def fc6(model, train):
            _, state = model.apply(
                v,
                x,
                train=train,
                rngs={"dropout": jax.random.key(1)},
                capture_intermediates=True,
            )
            return state["intermediates"]["fc6"]["__call__"][0]

        return {before: (fc6(m, True), fc6(m, False)) for before, m in nets.items()}

    outputs = fc6_outputs(v, x)
    for before in (False, True):
        dropped, clean = (np.asarray(a) for a in outputs[before])
        assert np.allclose(dropped, clean) != before
