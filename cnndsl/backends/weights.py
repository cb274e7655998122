"""Weights I/O: a state_dict from a mapping or a `.pt` / `.pth` / `.safetensors` file, loaded
strictly (`load_weights`, one error listing every key that does not fit) or as far as it fits
(`load_matching`, for transfer learning). torch is imported only when a file is read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnndsl.backends import pretrained  # published weights by name (weights="torchvision:...")
from cnndsl.errors import CnnError


def read_state(weights) -> Mapping[str, Any]:
    """A state_dict from a mapping or a `.pt` / `.pth` / `.safetensors` file."""
    if isinstance(weights, Mapping):
        state = weights
    else:
        p = Path(weights)
        if not p.is_file():
            raise CnnError(f"weights: no such file: {p}")
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(p))
        else:
            import torch

            try:
                state = torch.load(p, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001 - a pickle with code in it, or not a torch file at all
                raise CnnError(f"weights: cannot read {p}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
        if not isinstance(state, Mapping):
            raise CnnError(f"weights: {p} holds a {type(state).__name__}, not a state_dict")
    for key in ("state_dict", "model"):  # a training checkpoint that wraps the state_dict
        if key in state and isinstance(state[key], Mapping) and not hasattr(state[key], "shape"):
            state = state[key]
    return state


@dataclass(frozen=True)
class Mismatch:
    """How a state_dict differs from a model's: keys missing from it, keys the model lacks, and
    keys whose shapes differ (key, checkpoint shape, model shape)."""

    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    misshaped: tuple[tuple[str, tuple, tuple], ...]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.misshaped)

    def report(self, limit: int = 10) -> str:
        def shown(items, fmt):
            more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
            return ", ".join(fmt(i) for i in items[:limit]) + more

        lines = [f"  missing ({len(self.missing)}): {shown(self.missing, str)}" if self.missing else "",
                 f"  unexpected ({len(self.unexpected)}): {shown(self.unexpected, str)}" if self.unexpected else "",
                 f"  mis-shaped ({len(self.misshaped)}): " + shown(
                     self.misshaped, lambda m: f"{m[0]} (weights {list(m[1])}, model {list(m[2])})")
                 if self.misshaped else ""]
        return "\n".join(line for line in lines if line)


def compare(model, state: Mapping[str, Any]) -> Mismatch:
    own = model.state_dict()
    return Mismatch(
        missing=tuple(k for k in own if k not in state),
        unexpected=tuple(k for k in state if k not in own),
        misshaped=tuple((k, tuple(state[k].shape), tuple(own[k].shape)) for k in own
                        if k in state and tuple(state[k].shape) != tuple(own[k].shape)))


def load_weights(model, weights) -> None:
    """Load `weights` into `model` strictly: any difference is one CnnError listing the keys."""
    state = read_state(pretrained.resolve(weights, model))
    diff = compare(model, state)
    if diff:
        raise CnnError(
            f"the weights do not fit the network '{getattr(model, '_network_name', type(model).__name__)}': "
            f"{len(diff.missing)} missing, {len(diff.unexpected)} unexpected, {len(diff.misshaped)} mis-shaped "
            f"keys\n{diff.report()}",
            hint="to load every key that fits and keep the rest fresh (a new head for transfer learning), "
                 "use cnndsl.load_matching(model, weights)")
    model.load_state_dict(state, strict=True)


def load_matching(model, weights) -> Mismatch:
    """Load every key of `weights` whose name and shape fit `model`; return what was skipped.

    The transfer-learning call: `model = cnndsl.load("resnet50", classes=10)`, then
    `skipped = load_matching(model, "resnet50.pth")` loads all but the new head
    (`skipped.misshaped` names `fc.weight` and `fc.bias`).
    """
    state = read_state(pretrained.resolve(weights, model))
    diff = compare(model, state)
    bad = {m[0] for m in diff.misshaped}
    fitting = {k: v for k, v in state.items() if k in model.state_dict() and k not in bad}
    model.load_state_dict(fitting, strict=False)
    return diff
