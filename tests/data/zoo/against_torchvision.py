"""`cnndsl verify` of every torchvision builder a shipped file gives (tests/test_families.py's `SIZES`:
the file and its `--set` values) against torchvision itself: params, MACs, the state_dict keys and
shapes in order, and the outputs with torchvision's weights loaded. Run in an environment with torch
2.14.1 and torchvision 0.29.1 (never the project's own: torchvision does not import beside torch 2.13;
the tests do not run it), from the repository root:

    python tests/data/zoo/against_torchvision.py [BUILDER ...]

The files with a `res` param run at 64x64 (a size every one takes); the others at their `input`.
Prints one line per builder and exits 1 if any differs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from test_families import SIZES

SEGMENTATION = {"fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101"}
TARGET_ARGS = {  # the shipped files leave out what these builders add by default
    "inception_v3": {"aux_logits": False, "init_weights": True},
    "googlenet": {"init_weights": True},
    **{b: {"weights_backbone": None, "aux_loss": False} for b in SEGMENTATION},
}


def main(builders: list[str]) -> int:
    failed = 0
    for builder in builders or SIZES:
        file, settings = SIZES[builder]
        path = ROOT / "architectures" / f"{file}.cnn"
        sets = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
        if "param res" in path.read_text():
            sets += ["--set", "res=64"]
        package = "torchvision.models.segmentation" if builder in SEGMENTATION else "torchvision.models"
        extra = [a for k, v in TARGET_ARGS.get(builder, {}).items() for a in ("--target-arg", f"{k}={v}")]
        r = subprocess.run([sys.executable, "-m", "cnndsl", "verify", str(path), "--against", f"{package}.{builder}",
                            *extra, *sets], capture_output=True, text=True, cwd=ROOT, check=False)
        verdict = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr.strip()
        print(f"{builder:<22} {verdict}", flush=True)
        if r.returncode != 0:
            failed += 1
            print(r.stdout, r.stderr, sep="\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
