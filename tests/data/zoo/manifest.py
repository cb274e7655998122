"""Reference manifests from torchvision, in the format of this folder's README: run in an environment
with torch 2.14.1 and torchvision 0.29.1 (never the project's own; the tests do not run it):

    python tests/data/zoo/manifest.py tests/data/zoo squeezenet1_0 mobilenet_v3_small efficientnet_v2_s@384

A name measures at 224x224 unless it ends in `@SIZE` (the resolution torchvision's weights use).

Given `squeezenet1_1` or `mobilenet_v3_large`, it writes the published manifests byte for byte."""

import json
import sys

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode


def manifest(name, size=224):
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, size, size)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        y = model(x)
    return {"name": name, "source": f"torchvision {name}", "input": [size, size, 3],
            "params": sum(p.numel() for p in model.parameters()), "macs": fc.get_total_flops() // 2,
            "output": list(y.shape[1:]),
            "state_dict": [[k, list(v.shape)] for k, v in model.state_dict().items()]}


if __name__ == "__main__":
    print(torch.__version__, torchvision.__version__, file=sys.stderr)
    for arg in sys.argv[2:]:
        name, _, size = arg.partition("@")
        m = manifest(name, int(size or 224))
        with open(f"{sys.argv[1]}/{name}.json", "w") as f:
            f.write(json.dumps(m, indent=0))
        print(name, m["params"], m["macs"], m["output"], len(m["state_dict"]))
