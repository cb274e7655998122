"""`cnndsl compile FILE [-o OUT.py] [--onnx OUT.onnx [--weights CKPT]] [--set k=v]...`: standalone PyTorch
source of a program, or its ONNX export (`cnndsl.backends.onnx_export`)."""

from __future__ import annotations

import sys
from pathlib import Path

from cnndsl.commands import add_set, load
from cnndsl.errors import CnnError


def add_parser(sub):
    p = sub.add_parser("compile", help="write the network as standalone PyTorch source",
                       description="Emit readable PyTorch source (one nn.Module class per block, the network as a "
                                   "class named after it) that does not import cnndsl; its state_dict keys equal "
                                   "those of cnndsl.load.")
    p.add_argument("file", metavar="FILE", help="a .cnn file, or a shipped architecture by name")
    p.add_argument("-o", "--output", metavar="OUT.py", help="write here instead of standard output")
    p.add_argument("--max-params", metavar="N", default="4G",
                   help="refuse a network with more parameters (default 4G; 'none': no limit)")
    p.add_argument("--max-activations", metavar="N", default="1G",
                   help="refuse a network whose batch-1 forward writes more activation elements (default 1G)")
    p.add_argument("--onnx", metavar="OUT.onnx", help="export the network to ONNX instead (needs the onnx extra); "
                   "with -o, write the source too")
    p.add_argument("--weights", metavar="CKPT", help="with --onnx: load these weights strictly first (a state_dict "
                   "file, a training checkpoint holding one under 'model', or published weights by name, e.g. "
                   "torchvision:IMAGENET1K_V2, downloaded once into torch.hub's cache)")
    add_set(p)
    return p


def limit(text: str, flag: str) -> int | None:
    """`--max-params 4G` -> 4_000_000_000; `none` -> None (no limit)."""
    from cnndsl.sweep import parse_budget

    return None if text.strip().lower() == "none" else parse_budget(text, flag)


def run(args) -> int:
    from cnndsl.backends.torch_source import emit
    from cnndsl.passes.shapes import analyze
    from cnndsl.passes.size import check_size

    # the emitted module (and an ONNX export) would allocate all of it: refuse first, as cnndsl.build does
    check_size(analyze(load(args.file, args)), limit(args.max_params, "--max-params"),
               limit(args.max_activations, "--max-activations"))
    if args.weights and not args.onnx:
        raise CnnError("--weights goes with --onnx: the emitted source holds no weights",
                       hint="load them into the emitted module with load_state_dict, or add --onnx OUT.onnx")
    if args.onnx:
        from cnndsl.backends.onnx_export import export_onnx

        export_onnx(load(args.file, args), args.onnx, weights=args.weights)
        print(f"wrote {args.onnx}", file=sys.stderr)
        if not args.output:
            return 0
    text = emit(load(args.file, args))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
