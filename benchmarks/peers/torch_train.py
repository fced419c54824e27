"""A timed PyTorch training step on synthetic data: the peer row of the throughput suite.

One step is what a PyTorch user runs: ``zero_grad`` -> forward (bf16 via
``torch.autocast`` when asked, on GPU and CPU alike) -> float32 cross-entropy (plus
0.3 x each auxiliary head's, as jaxdl's GoogLeNet step) -> ``backward`` -> SGD with
momentum 0.9. Model and input are ``channels_last``; the input and labels are
created on the device once. ``mode='compile'`` wraps forward + loss in
``torch.compile`` (AOTAutograd compiles the backward too); the optimizer step stays
eager (torch's default foreach SGD). On CUDA, cuDNN autotuning is on and float32
matmuls/convs may use TF32, the precision JAX's default gives float32 on the same GPU.
Each timed step ends with ``torch.cuda.synchronize()``.

References:
  Paszke et al. PyTorch: an imperative style, high-performance deep learning library.
  NeurIPS 2019. Ansel et al. PyTorch 2 (torch.compile). ASPLOS 2024.
"""

from typing import Any

from benchmarks.common import error_text, summarize, time_steps
from benchmarks.peers.torch_models import build, count_params

MODES = ("eager", "compile")
AUX_LOSS_WEIGHT = 0.3  # as jaxdl.training.steps.classification_steps


def run(
    name: str,
    dtype: str,
    mode: str,
    batch_size: int,
    image_shape: tuple[int, int, int],
    num_classes: int,
    steps: int,
    warmup: int,
    sync_every: int = 1,
    source: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """Times the PyTorch peer of ``name`` and returns one result row.

    Args:
      name: model name (see ``torch_models.PEERS``).
      dtype: 'float32' or 'bfloat16' (autocast; parameters stay float32).
      mode: 'eager' or 'compile'.
      batch_size: images per step (one device).
      image_shape: (H, W, C) of the synthetic input.
      num_classes: classifier outputs.
      steps, warmup, sync_every: see ``benchmarks.common.time_steps``.
      source: 'auto', 'native' or 'torchvision' (see ``torch_models.build``).
      seed: torch seed of weights and data.

    Returns:
      A dict with the timing summary, images/s, ``first_step_s`` (includes
      torch.compile's compilation), parameters, peak CUDA memory and the final loss.

    Example:
      >>> row = run("resnet20", "float32", "eager", 32, (32, 32, 3), 10, steps=3, warmup=1)
    """
    import torch
    import torch.nn.functional as F

    if mode not in MODES:
        raise ValueError(f"torch mode must be one of {MODES}, got {mode!r}.")
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"dtype must be 'float32' or 'bfloat16', got {dtype!r}.")
    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")
    torch.manual_seed(seed)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats(dev)
    h, w, c = image_shape
    model, impl = build(name, num_classes, h, source)
    params = count_params(model)
    model = model.to(dev, memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch_size, c, h, w, device=dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch_size,), device=dev)
    amp = dtype == "bfloat16"

    def loss_fn(x, y):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x)
        logits, aux = (out[0], tuple(out[1:])) if isinstance(out, tuple) else (out, ())
        loss = F.cross_entropy(logits.float(), y)
        for a in aux:
            loss = loss + AUX_LOSS_WEIGHT * F.cross_entropy(a.float(), y)
        return loss

    fn = torch.compile(loss_fn) if mode == "compile" else loss_fn

    def step():
        opt.zero_grad(set_to_none=True)
        loss = fn(x, y)
        loss.backward()
        opt.step()
        return loss

    def sync(_):
        if cuda:
            torch.cuda.synchronize(dev)

    samples, first_step_s = time_steps(step, sync, steps, warmup, sync_every)
    stats = summarize(samples)
    final_loss = float(step().detach())
    return {
        "impl": impl,
        "params": params,
        "device_kind": torch.cuda.get_device_name(dev) if cuda else "cpu",
        "devices": 1,
        "first_step_s": first_step_s,
        "compile_s": first_step_s if mode == "compile" else None,
        "step_time": stats,
        "median_step_s": stats["median_s"],
        "images_per_s": batch_size / stats["median_s"],
        "peak_bytes_in_use": int(torch.cuda.max_memory_allocated(dev)) if cuda else None,
        "final_loss": final_loss,
        "torch_settings": {
            "channels_last": True,
            "autocast_bf16": amp,
            "cudnn_benchmark": cuda,
            "tf32": cuda,
            "threads": torch.get_num_threads(),
        },
    }


def try_run(**kwargs) -> dict[str, Any]:
    """``run`` that turns any failure (OOM, missing compiler, ...) into ``{'error': ...}``."""
    try:
        return run(**kwargs)
    except Exception as exc:  # noqa: BLE001 - a failed row must not stop the suite
        return {"error": error_text(exc)}
    finally:
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            pass
