"""Train a cnndsl network on a synthetic image task: one process, or several with torchrun.

The task is made here, nothing is downloaded: class k of K is a grating (stripes) at the angle
k * 180 / K degrees, with a random period, phase, colour, contrast and Gaussian noise. It is
learnable (the loss falls within a few dozen steps) and not trivial; `--classes` sets both the
task and the network's head (`param classes`), so a 10-class run and a 4-class run are two tasks
that share their features: the transfer-learning demo.

    # pretrain on task A (10 classes), then fine-tune on task B (4 classes) from its checkpoint
    python examples/train.py --arch resnet18 --classes 10 --steps 300 --out runs/a.pt
    python examples/train.py --arch resnet18 --classes 4 --steps 100 --out runs/b.pt \\
        --init runs/a.pt --freeze layer2

    # continue a run to 600 steps (model, optimizer and step come from the checkpoint)
    python examples/train.py --resume runs/a.pt --steps 600

    # two processes (DistributedDataParallel; gloo on CPU, nccl on GPUs)
    torchrun --nproc_per_node=2 examples/train.py --arch resnet18 --steps 300 --out runs/ddp.pt

    # the trained network as ONNX
    cnndsl compile resnet18 --set classes=10 --onnx resnet18.onnx --weights runs/a.pt

Checkpoint format (`torch.save`; `torch.load(path, weights_only=True)` reads it, and so do
`cnndsl.load(..., weights=path)`, `cnndsl.load_matching` and `cnndsl compile --weights`, which take
its "model" entry):

    {"format": "cnndsl-train/1",
     "model": state_dict,               # the bare network's keys (no DDP "module." prefix)
     "optimizer": optimizer.state_dict(),
     "step": int,                       # optimizer steps done
     "losses": [float, ...],            # training loss of every step (mean over processes)
     "accuracy": float,                 # on 512 held-out images, after the last step
     "config": {"arch", "sets", "classes", "size", "batch_size", "lr", "weight_decay", "noise",
                "seed", "freeze", "init"}}

Every batch is a function of (seed, step, rank) and dropout is reseeded every step, so a resumed
run continues exactly as an uninterrupted one would. `--batch-size` is per process.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

import cnndsl

FORMAT = "cnndsl-train/1"
CONFIG_KEYS = ("arch", "sets", "classes", "size", "batch_size", "lr", "weight_decay", "noise", "seed", "freeze",
               "init")
EVAL_IMAGES = 512


# ---------------------------------------------------------------------------------------------
# the synthetic task


def gratings(n: int, classes: int, size: int, generator: torch.Generator, noise: float = 0.5, channels: int = 3):
    """`n` images (n x channels x size x size) and labels: stripes at angle label * pi / classes
    (jittered by up to a quarter of the gap between classes), period 3 to 8 pixels, random phase,
    colour and contrast, plus Gaussian noise of standard deviation `noise`."""
    labels = torch.randint(0, classes, (n,), generator=generator)
    gap = math.pi / classes
    angle = labels * gap + (torch.rand(n, generator=generator) - 0.5) * gap / 2
    period = 3 + 5 * torch.rand(n, generator=generator)
    phase = 2 * math.pi * torch.rand(n, generator=generator)
    coords = torch.arange(size, dtype=torch.float32) - size / 2
    y, x = coords[:, None], coords[None, :]
    along = x * angle.cos()[:, None, None] + y * angle.sin()[:, None, None]  # n x size x size
    wave = torch.sin(2 * math.pi * along / period[:, None, None] + phase[:, None, None])
    colour = torch.rand(n, channels, 1, 1, generator=generator) * 2 - 1  # per channel amplitude and sign
    contrast = 0.5 + torch.rand(n, 1, 1, 1, generator=generator)
    images = contrast * colour * wave[:, None] + noise * torch.randn(n, channels, size, size, generator=generator)
    return images, labels


def batch_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 1_009 + rank) % (2**63)


# ---------------------------------------------------------------------------------------------
# distributed setup: torchrun sets RANK, LOCAL_RANK and WORLD_SIZE


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str) -> Dist:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("train.py: --device cuda, but torch sees no CUDA device")
    if "RANK" not in os.environ or dist.is_initialized():
        return Dist(device=torch.device(device))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
        # bound to its GPU up front: NCCL neither guesses the device from the rank nor risks that hang
        dist.init_process_group("nccl", device_id=dev)
    else:
        dev = torch.device(device)
        dist.init_process_group("gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), dev)


def mean_over_processes(value: torch.Tensor, d: Dist) -> float:
    value = value.detach()
    if d.world > 1:
        value = value.clone()
        dist.all_reduce(value)  # gloo has no AVG: sum, then divide
        value /= d.world
    return float(value)


def average_buffers(model, d: Dist) -> None:
    """Batch-norm running statistics are per process under DDP (it copies rank 0's into every
    replica at each forward, then each replica updates them with its own batch). Average them over
    the processes, so that every replica, and the checkpoint, ends with the same statistics.
    (On GPUs, `torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)` syncs them at every step instead.)"""
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer /= d.world


# ---------------------------------------------------------------------------------------------
# model, loss, checkpoint


def build_model(config: dict):
    """The network of `config`: `--set` params, `classes`, and `res` = `size` when the program has
    a `res` param. A program with a fixed `input` line (resnet18 is 224x224x3) is still trained at
    `size`: its modules do not depend on the input size when it ends in `gap` (see the docs)."""
    params = dict(config["sets"])
    params.setdefault("classes", config["classes"])
    network = cnndsl.parse_file(config["arch"], **params)
    if "res" in network.params and "res" not in config["sets"]:
        network = cnndsl.parse_file(config["arch"], **params, res=config["size"])
    return network, cnndsl.build(network)


def check_size(model, network, size: int) -> None:
    """A network ending in `gap` runs at other sizes than its `input` line; one that flattens a
    fixed map into `fc` (LeNet-5, AlexNet 2012) does not: say so before training."""
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(2, network.input[2], size, size))
    except RuntimeError as exc:
        raise SystemExit(f"train.py: {network.name} does not run at {size}x{size} (its input line says "
                         f"{'x'.join(map(str, network.input))}): {str(exc).splitlines()[0]}\n"
                         f"use --size {network.input[0]}, or a program with a resolution param") from None
    finally:
        model.train()


def criterion(out, labels):
    """Cross-entropy; networks with auxiliary heads (training mode returns a named tuple
    `(out, aux1, ...)`) add 0.3 x each head's loss, as GoogLeNet and Inception v3 train."""
    if isinstance(out, tuple):
        main, *heads = out
        return F.cross_entropy(main, labels) + 0.3 * sum(F.cross_entropy(h, labels) for h in heads)
    return F.cross_entropy(out, labels)


@torch.no_grad()
def accuracy(model, config: dict, device, channels: int = 3) -> float:
    """Top-1 accuracy on EVAL_IMAGES held-out images (a seed no training batch uses)."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(batch_seed(config["seed"], -1, -1))
    right = 0
    for start in range(0, EVAL_IMAGES, 128):
        images, labels = gratings(min(128, EVAL_IMAGES - start), config["classes"], config["size"], gen,
                                  config["noise"], channels)
        right += int((model(images.to(device)).argmax(1).cpu() == labels).sum())
    model.train(was_training)
    return right / EVAL_IMAGES


def save_checkpoint(path: Path, model, optimizer, step: int, losses: list, acc, config: dict) -> None:
    """Write atomically (a crash mid-write leaves the previous checkpoint)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "losses": losses, "accuracy": acc, "config": config}, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | Path) -> dict:
    if not Path(path).is_file():
        raise SystemExit(f"train.py: no checkpoint to resume at {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise SystemExit(f"train.py: {path} is not a checkpoint of this script (format {FORMAT})")
    return ckpt


# ---------------------------------------------------------------------------------------------
# the loop


class Progress:
    """A tqdm bar on a terminal; elsewhere (CI logs, pipes) or without tqdm, a line every
    `every` steps. Only the main process shows anything."""

    def __init__(self, start: int, total: int, enabled: bool, every: int):
        self.enabled, self.every, self.total, self.t0, self.start = enabled, every, total, time.perf_counter(), start
        self.bar = None
        if enabled and sys.stderr.isatty() and shutil.get_terminal_size((0, 0)).columns > 0:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, initial=start, unit="step")

    def update(self, step: int, loss: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        elif step % self.every == 0 or step == self.total:
            rate = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
            print(f"step {step}/{self.total}  loss {loss:.4f}  ({rate:.1f} steps/s)", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class Result:
    model: torch.nn.Module  # the bare network (unwrapped from DDP)
    step: int
    losses: list
    accuracy: float | None
    checkpoint: Path | None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="resnet18", help="a .cnn file or a shipped architecture (default resnet18)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V",
                   help="override a param of the program (repeatable)")
    p.add_argument("--classes", type=int, default=10, help="classes of the task and the head (default 10)")
    p.add_argument("--size", type=int, default=64, help="image size in pixels (default 64)")
    p.add_argument("--steps", type=int, default=300, help="train until this step (default 300)")
    p.add_argument("--batch-size", type=int, default=32, help="images per step and process (default 32)")
    p.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate (default 2e-3)")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--noise", type=float, default=0.5, help="std of the images' Gaussian noise (default 0.5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="checkpoint file (default runs/ARCH.pt)")
    p.add_argument("--save-every", type=int, default=100, help="also save every N steps (0: only at the end)")
    p.add_argument("--resume", nargs="?", const="", default=None, metavar="CKPT",
                   help="continue a run from its checkpoint (default: --out); its settings are kept")
    p.add_argument("--init", metavar="CKPT", help="start from the weights of another run or a state_dict: "
                   "every tensor whose name and shape fit (all but a new head)")
    p.add_argument("--freeze", metavar="LABEL", help="freeze the network from its start through LABEL")
    p.add_argument("--device", default="auto", help="auto (cuda if there is one), cpu, cuda")
    p.add_argument("--log-every", type=int, default=0, help="without a terminal, print every N steps")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    return p.parse_args(argv)


def parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"train.py: --set takes NAME=VALUE, got '{item}'")
        out[key.strip()] = value.strip()  # cnndsl parses the value as a number
    return out


def main(argv=None) -> Result:
    args = parse_args(argv)
    d = setup(args.device)
    say = (lambda *a: print(*a, flush=True)) if d.main and not args.quiet else (lambda *a: None)

    config = {"arch": args.arch, "sets": parse_sets(args.sets), "classes": args.classes, "size": args.size,
              "batch_size": args.batch_size, "lr": args.lr, "weight_decay": args.weight_decay, "noise": args.noise,
              "seed": args.seed, "freeze": args.freeze, "init": args.init}
    out = Path(args.out or f"runs/{Path(args.arch).stem}.pt")
    ckpt = None
    if args.resume is not None:
        resume = Path(args.resume or out)
        ckpt = read_checkpoint(resume)
        config = {k: ckpt["config"][k] for k in CONFIG_KEYS}  # the run's own settings
        out = Path(args.out) if args.out else resume
        say(f"resuming {resume} at step {ckpt['step']}")

    torch.manual_seed(config["seed"])  # the same initial weights in every process
    network, model = build_model(config)
    channels = network.input[2]
    if tuple(network.input[:2]) != (config["size"], config["size"]):
        check_size(model, network, config["size"])
        say(f"note: {network.name} declares input {'x'.join(map(str, network.input))}; training at "
            f"{config['size']}x{config['size']}x{channels}")
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
    elif config["init"]:
        skipped = cnndsl.load_matching(model, config["init"])
        fresh = [k for k in model.state_dict() if k in skipped.missing or k in {m[0] for m in skipped.misshaped}]
        say(f"init from {config['init']}: kept fresh {', '.join(fresh) or 'nothing'}"
            + (f"; ignored {len(skipped.unexpected)} keys the network lacks" if skipped.unexpected else ""))
    if config["freeze"]:
        frozen = cnndsl.freeze(model, upto=config["freeze"])
        say(f"frozen through '{config['freeze']}': {len(frozen)} of {len(list(model.parameters()))} parameters")

    model.to(d.device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config["lr"], weight_decay=config["weight_decay"])
    step, losses = 0, []
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        step, losses = ckpt["step"], list(ckpt["losses"])
    net = model
    if d.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[d.device.index] if d.device.type == "cuda" else None)

    n_params = sum(p.numel() for p in model.parameters())
    say(f"{network.name}: {n_params:,} parameters, {config['classes']} classes, {config['size']}x{config['size']} "
        f"images, batch {config['batch_size']} x {d.world} process(es) on {d.device}, steps {step} -> {args.steps}")
    progress = Progress(step, args.steps, d.main and not args.quiet,
                        args.log_every or max(1, (args.steps - step) // 10))
    gen = torch.Generator()
    while step < args.steps:
        gen.manual_seed(batch_seed(config["seed"], step, d.rank))
        torch.manual_seed(batch_seed(config["seed"] + 1, step, d.rank))  # dropout
        images, labels = gratings(config["batch_size"], config["classes"], config["size"], gen, config["noise"],
                                  channels)
        loss = criterion(net(images.to(d.device)), labels.to(d.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        losses.append(mean_over_processes(loss, d))
        progress.update(step, losses[-1])
        if d.main and args.save_every and step % args.save_every == 0 and step < args.steps:
            save_checkpoint(out, model, optimizer, step, losses, None, config)
    progress.close()
    if d.world > 1:
        average_buffers(model, d)

    acc = accuracy(model, config, d.device, channels) if d.main else None
    if d.main:
        save_checkpoint(out, model, optimizer, step, losses, acc, config)
        first, last = losses[:10], losses[-10:]
        if first:
            say(f"loss {sum(first) / len(first):.3f} (first 10 steps) -> {sum(last) / len(last):.3f} (last 10); "
                f"held-out accuracy {acc:.1%} (chance {1 / config['classes']:.1%}); saved {out}")
    if d.world > 1:
        dist.barrier()
    return Result(model, step, losses, acc, out if d.main else None)


if __name__ == "__main__":
    try:
        main()
    except cnndsl.CnnError as err:  # a bad program, --set, --init or --freeze: the message, no traceback
        sys.exit(str(err))
    finally:
        if dist.is_initialized():
            import gc

            gc.collect()  # the DDP wrapper goes before its process group (gloo may abort otherwise)
            dist.barrier()
            dist.destroy_process_group()
