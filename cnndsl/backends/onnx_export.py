"""IR -> ONNX: the PyTorch backend's module, exported by `torch.onnx.export` (`cnndsl compile --onnx`).

The module is built by `cnndsl.build` (so its weights load under the same keys as
`cnndsl.load(weights=...)`), put in eval mode (auxiliary heads and dropout are training-only) and
exported by the torch.export-based exporter, which needs the `onnx` and `onnxscript` packages
(`pip install 'cnndsl[onnx]'`). The graph has one input, `input` (N x C x H x W, the program's
`input` line, N dynamic), and one output, `output` (N x classes). The weights are stored inside
the `.onnx` file unless they pass the 2 GB protobuf limit (then beside it, in `OUT.onnx.data`).

Example:
    >>> from cnndsl.backends.onnx_export import export_onnx
    >>> export_onnx(cnndsl.parse_file("resnet18", classes=10), "resnet18.onnx", weights="runs/a.pt")
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path

from cnndsl.errors import CnnError
from cnndsl.ir import Network

PROTOBUF_LIMIT = 2**31 - 1  # bytes: a bigger model keeps its weights in external data
EXAMPLE_BATCH = 2  # the traced batch; not 1, which torch.export would specialize to a constant


def require_onnx() -> None:
    """Raise a CnnError naming the extra when the exporter's packages are not installed."""
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise CnnError(f"ONNX export needs the package{'s' if len(missing) > 1 else ''} {' and '.join(missing)}",
                       hint="pip install 'cnndsl[onnx]' (onnx, onnxscript; onnxruntime to run the file)")


def export_onnx(network: Network, path: str | Path, *, weights=None, opset: int | None = None) -> Path:
    """Export `network` to the ONNX file `path`, with `weights` loaded strictly first.

    Args:
        network: the program (`cnndsl.parse_file(...)`, with its params).
        path: the `.onnx` file to write.
        weights: a state_dict, a `.pt` / `.pth` / `.safetensors` file, or a training checkpoint
            that holds one under "model" or "state_dict" (examples/train.py writes those); as
            `cnndsl.load(weights=...)`. None exports the fresh initialization.
        opset: the ONNX opset; None is the exporter's default.

    Returns:
        The path written.

    Raises:
        CnnError: onnx or onnxscript is missing, the weights cannot be read or do not fit, or the
            network's output is not one tensor.
    """
    require_onnx()
    import torch

    from cnndsl.backends.torch_module import build

    model = build(network, weights=weights).eval()
    height, width, channels = network.input
    example = torch.randn(EXAMPLE_BATCH, channels, height, width)
    with torch.no_grad():
        out = model(example)
    if not isinstance(out, torch.Tensor):
        raise CnnError(f"ONNX export: the network '{network.name}' returns a {type(out).__name__}, not one tensor")
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    quiet = logging.getLogger("torch.onnx")  # "torchvision is not installed. Skipping torchvision::nms" ...
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation chatter
            torch.onnx.export(model, (example,), str(path), dynamo=True, input_names=["input"],
                              output_names=["output"], dynamic_shapes=({0: torch.export.Dim("batch")},),
                              opset_version=opset, external_data=size >= PROTOBUF_LIMIT, verbose=False)
    finally:
        quiet.setLevel(level)
    return path
