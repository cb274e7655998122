"""Helpers for training code: freeze a backbone up to a label, for transfer learning.

    >>> import cnndsl
    >>> model = cnndsl.load("resnet18", classes=4)
    >>> skipped = cnndsl.load_matching(model, "runs/pretrained.pt")   # all but the new head
    >>> frozen = cnndsl.freeze(model, upto="layer3")                  # conv1 ... layer3
    >>> opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])

The module's parameters are registered in source order (docs/naming.md), so "up to a label" is
every module from the first statement through the statement (or nested module) named `upto`.
Importing this module does not import torch; calling `freeze` uses the model's own classes.
"""

from __future__ import annotations

from cnndsl.errors import CnnError

_FROZEN = "_cnndsl_frozen"  # attribute set on frozen modules; no label can start with '_'


def freeze(model, upto: str, *, bn_eval: bool = True) -> list[str]:
    """Freeze every parameter of `model` from its first module through the module named `upto`.

    Args:
        model: a module built by `cnndsl.load` / `cnndsl.build` (or any `nn.Module` whose
            registration order is its execution order). Call this before wrapping the model in
            `DistributedDataParallel` or FSDP, and before making the optimizer.
        upto: a module name as in `model.named_modules()`: a top-level label (`"layer3"`), or a
            nested one (`"layer3.0"`); the named module is frozen too.
        bn_eval: keep the frozen batch-norm layers in eval mode, also after a later
            `model.train()` (a forward pre-hook on `model` re-applies it), so their running
            statistics do not move either. Without it only the parameters are frozen.

    Returns:
        The names of the frozen parameters, in order. They get `requires_grad = False`; pass only
        `[p for p in model.parameters() if p.requires_grad]` to the optimizer.

    Raises:
        CnnError: `upto` names no module of `model` (the message lists the top-level names).
    """
    modules = list(model.named_modules())  # pre-order = registration order, the root first
    inside = [i for i, (name, _) in enumerate(modules) if name == upto or name.startswith(upto + ".")]
    if not upto or not inside:
        top = ", ".join(name for name, _ in model.named_children())
        raise CnnError(f"freeze: the model has no module named '{upto}'", hint=f"top-level modules: {top}")
    end = max(inside)
    frozen: list[str] = []
    for name, module in modules[:end + 1]:
        # a module listed before the end whose subtree goes past it (an ancestor of `upto`, or
        # the root) keeps its own subtree's later children: only direct parameters are frozen here
        for pname, param in module.named_parameters(recurse=False):
            param.requires_grad_(False)
            frozen.append(f"{name}.{pname}" if name else pname)
        if bn_eval and _is_batch_norm(module) and name:
            setattr(module, _FROZEN, True)
            module.eval()
    if bn_eval and _keep_frozen_bn_in_eval not in model._forward_pre_hooks.values():
        model.register_forward_pre_hook(_keep_frozen_bn_in_eval)
    return frozen


def unfreeze(model) -> None:
    """Undo `freeze`: every parameter trainable again, batch norms follow `model.train()` again."""
    for module in model.modules():
        if getattr(module, _FROZEN, False):
            delattr(module, _FROZEN)
            module.train(model.training)
    for param in model.parameters():
        param.requires_grad_(True)
    for key, hook in list(model._forward_pre_hooks.items()):
        if hook is _keep_frozen_bn_in_eval:
            del model._forward_pre_hooks[key]


def _is_batch_norm(module) -> bool:
    from torch.nn.modules.batchnorm import _BatchNorm

    return isinstance(module, _BatchNorm)


def _keep_frozen_bn_in_eval(model, args):  # a module-level function: the model stays picklable
    if model.training:
        for module in model.modules():
            if module.training and getattr(module, _FROZEN, False):
                module.eval()
