"""PyTorch's own MNIST example recipe, time to a target test accuracy: the peer of
``benchmarks/time_to_accuracy.py --task mnist --peer torch``.

The recipe of pytorch/examples ``mnist/main.py``, written here from its description
(not a copy): conv 3x3 1->32, ReLU, conv 3x3 32->64, ReLU, max pool 2, dropout 0.25,
flatten, dense 9216->128, ReLU, dropout 0.5, dense 128->10, log-softmax + NLL loss
(1,199,882 parameters); Adadelta at learning rate 1.0 with ``StepLR`` (step 1 epoch,
gamma 0.7); batch 64, shuffled every epoch, the last partial batch kept (938 steps
an epoch on 60,000 images); inputs ``(x / 255 - 0.1307) / 0.3081``; the 10,000 test
images evaluated in batches of 1000 after every epoch. The run stops at the first
epoch whose test accuracy reaches ``--target`` (else after ``--max_epochs``, the
example's 14).

Differences from the example, both in PyTorch's favour: the images are read once with
jaxdl's reader (``jaxdl.data.load``; MNIST is embedded in the package, no download;
jaxdl.data imports no JAX), normalised once into one tensor, and each batch is an
index into it, where the example's DataLoader decodes and transforms every image
through torchvision each epoch. Threads are PyTorch's defaults unless ``--threads``.

Times are seconds since this process started (from ``/proc``, so interpreter start
and ``import torch`` count): at every evaluated epoch and when the target is reached
(``time_to_target_s``). The orchestrator also times the whole process from outside.

Usage (from the repository root):
  python -m benchmarks.peers.torch_mnist_example --seed 0 --target 0.99 --max_epochs 14

References:
  pytorch/examples, mnist/main.py (Basic MNIST Example).
  Zeiler. ADADELTA: an adaptive learning rate method. arXiv:1212.5701, 2012.
"""

import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import process_age_s  # noqa: E402

MEAN, STD = 0.1307, 0.3081
BATCH, TEST_BATCH = 64, 1000
LR, GAMMA = 1.0, 0.7


def build_model():
    """The example's network (see the module docstring); outputs log-probabilities."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)  # 28 -> 26
            self.conv2 = nn.Conv2d(32, 64, 3, 1)  # 26 -> 24
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)  # 64 x 12 x 12 after the pool
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):  # x [B, 1, 28, 28]
            x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
            x = self.dropout1(torch.max_pool2d(x, 2))
            x = self.dropout2(torch.relu(self.fc1(torch.flatten(x, 1))))
            return torch.log_softmax(self.fc2(x), dim=1)

    return Net()


def optimizer(model):
    """Adadelta (lr 1.0) and its StepLR schedule (x 0.7 after every epoch)."""
    import torch

    opt = torch.optim.Adadelta(model.parameters(), lr=LR)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=GAMMA)


def load(split: str, subset: int | None, data_dir: str | None, device):
    """Normalised images [N, 1, 28, 28] float32 and int64 labels of an MNIST split."""
    import torch

    from jaxdl.data import load as load_split

    data = load_split("mnist", f"{split}[:{subset}]" if subset else split, data_dir=data_dir).data
    x = torch.from_numpy(data["image"]).permute(0, 3, 1, 2).float().div_(255.0)
    x = x.sub_(MEAN).div_(STD).contiguous()
    return x.to(device), torch.from_numpy(data["label"]).long().to(device)


def train_step(model, opt, x, y):
    """One optimizer step on the batch ``(x, y)`` (the example's); returns the loss tensor."""
    import torch.nn.functional as F

    opt.zero_grad()
    loss = F.nll_loss(model(x), y)
    loss.backward()
    opt.step()
    return loss


def evaluate(model, x, y) -> tuple[float, float]:
    """Mean NLL and accuracy over every example, in batches of 1000, dropout off."""
    import torch
    import torch.nn.functional as F

    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), TEST_BATCH):
            out = model(x[i : i + TEST_BATCH])
            loss += float(F.nll_loss(out, y[i : i + TEST_BATCH], reduction="sum"))
            correct += int((out.argmax(1) == y[i : i + TEST_BATCH]).sum())
    model.train()
    return loss / len(x), correct / len(x)


def run(
    seed: int,
    target: float,
    max_epochs: int,
    train_subset: int | None = None,
    test_subset: int | None = None,
    data_dir: str | None = None,
    threads: int | None = None,
) -> dict:
    """Trains until the test accuracy reaches ``target`` (or ``max_epochs``); one record."""
    import torch

    started = process_age_s()
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.perf_counter()
    x_train, y_train = load("train", train_subset, data_dir, device)
    x_test, y_test = load("test", test_subset, data_dir, device)
    load_s = time.perf_counter() - t0
    model = build_model().to(device)
    opt, schedule = optimizer(model)
    n = len(x_train)
    history, reached = [], None
    for epoch in range(1, max_epochs + 1):
        t_epoch, lr = time.perf_counter(), opt.param_groups[0]["lr"]
        model.train()
        for idx in torch.randperm(n, device=device).split(BATCH):
            loss = train_step(model, opt, x_train[idx], y_train[idx])
        train_s = time.perf_counter() - t_epoch
        test_loss, acc = evaluate(model, x_test, y_test)
        schedule.step()
        history.append({
            "epoch": epoch, "accuracy": acc, "test_loss": test_loss, "last_loss": loss.item(),
            "lr": lr, "train_s": train_s, "epoch_s": time.perf_counter() - t_epoch,
            "process_s": process_age_s(),
        })  # fmt: skip
        print(
            f"  torch seed {seed} epoch {epoch}: test accuracy {acc:.4f} "
            f"at {history[-1]['process_s']:.2f} s since process start",
            flush=True,
        )
        if acc >= target:
            reached = history[-1]["process_s"]
            break
    return {
        "framework": "torch",
        "recipe": "pytorch/examples mnist/main.py (Adadelta 1.0, StepLR 0.7, batch 64)",
        "seed": seed,
        "target": target,
        "reached": reached is not None,
        "time_to_target_s": reached,
        "epochs_run": len(history),
        "final_accuracy": history[-1]["accuracy"],
        "best_accuracy": max(h["accuracy"] for h in history),
        "history": history,
        "params": sum(p.numel() for p in model.parameters()),
        "timing": "seconds since this process started (/proc), data loading included",
        "process_s_at_start": started,
        "data": {"train_size": n, "test_size": len(x_test), "load_s": load_s},
        "torch": torch.__version__,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
    }


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1, help="torch.manual_seed (the example's 1)")
    p.add_argument("--target", type=float, default=0.99, help="test accuracy to reach")
    p.add_argument("--max_epochs", type=int, default=14, help="epoch budget (the example's)")
    p.add_argument("--train_subset", type=int, help="use train[:N] only (harness checks)")
    p.add_argument("--test_subset", type=int, help="use test[:N] only (harness checks)")
    p.add_argument("--data_dir", help="MNIST folder for jaxdl.data.load (default: embedded)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--out", type=pathlib.Path, help="JSON path (default: print the record)")
    args = p.parse_args(argv)
    if args.max_epochs < 1:
        p.error("--max_epochs must be >= 1")
    return args


def main(argv=None) -> dict:
    """Runs one seed; writes its JSON record to ``--out`` (else prints it)."""
    args = parse_args(argv)
    record = run(
        args.seed, args.target, args.max_epochs, args.train_subset, args.test_subset,
        args.data_dir, args.threads,
    )  # fmt: skip
    text = json.dumps(record, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        print(f"written: {args.out}", flush=True)
    else:
        print(text, flush=True)
    return record


if __name__ == "__main__":
    main()
