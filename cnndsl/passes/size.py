"""The size policy: what `build` / `load` / `cnndsl compile` agree to make without being told
otherwise, checked on `analyze`'s exact figures before anything is allocated."""

from __future__ import annotations

from cnndsl.errors import CnnError
from cnndsl.passes.shapes import Analysis

# 4 G parameters (16 GB as float32), and 1 G activation elements written by one batch-1 forward
# (4 GB as float32).
MAX_PARAMS = 4_000_000_000
MAX_ACTIVATIONS = 1_000_000_000


def check_size(analysis: Analysis, max_params: int | None = MAX_PARAMS,
               max_activations: int | None = MAX_ACTIVATIONS) -> None:
    """Refuse, before anything is allocated, a network over the parameter or activation limit.

    Uses `analyze`'s exact figures: `params` (auxiliary heads included, as they are built) and
    `activations` (elements of every tensor an eval-mode forward at batch 1 writes). `None` lifts a limit.

    Raises:
        CnnError: what the network would need, the limit, and how to allow it.
    """
    net = analysis.network
    for what, need, limit, option, flag in (
            ("parameters", analysis.params, max_params, "max_params", "--max-params"),
            ("activation elements per sample", analysis.activations, max_activations, "max_activations",
             "--max-activations")):
        if limit is not None and need > limit:
            err = CnnError(
                f"the network '{net.name}' would need {need:,} {what} ({need * 4 / 1e9:,.1f} GB as float32), "
                f"over the limit of {limit:,}", net.span,
                f"to build it anyway pass {option}=None (or a larger number) to cnndsl.build / cnndsl.load, "
                f"or {flag} N on the command line")
            err.quote(net.texts)
            raise err
