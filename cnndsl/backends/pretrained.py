"""Published pretrained weights by name: `cnndsl.load("resnet50", weights="torchvision:IMAGENET1K_V2")`.

`architectures/weights.json` (data, beside the architectures) maps a network's name to the published
checkpoints whose keys equal its `state_dict` keys: the URL, the published sha256 prefix (torchvision
also puts it in the file name), the key prefixes the shipped network leaves out (`drop`: the auxiliary
classifiers of Inception v3 and of the segmentation networks) and a note on how to use them. The file
is downloaded by `torch.hub` into its cache (`$TORCH_HOME/hub/checkpoints`, where torchvision keeps the
same files) and checked against the published hash; a file already there (put by hand, or by
torchvision) is checked here on every load, as torch.hub never re-checks a cached file. Then it is read
with `weights_only=True` and loaded strictly by the caller.

Example:
    >>> model = cnndsl.load("resnet50", weights="torchvision:IMAGENET1K_V2")  # downloads once, 98 MB
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from cnndsl.errors import CnnError, did_you_mean
from cnndsl.source import data_path

NAME = re.compile(r"[a-z][a-z0-9_]*:[A-Za-z0-9_]+")  # SOURCE:TAG, e.g. torchvision:IMAGENET1K_V1


def is_name(weights: Any) -> bool:
    """Whether `weights` names published weights (and is not a file that happens to look like one)."""
    return isinstance(weights, str) and NAME.fullmatch(weights) is not None and not Path(weights).exists()


def catalog() -> dict[str, dict[str, dict[str, Any]]]:
    """network name -> published name -> {"url", "sha256-prefix", "drop"?, "note"?}"""
    return json.loads(data_path("architectures", "weights.json").read_text(encoding="utf-8"))["networks"]


def entry(network: str, name: str) -> dict[str, Any]:
    """The catalog entry of `network`'s published weights `name`.

    Raises:
        CnnError: the network has no published weights, or none by that name (listing those it has).
    """
    known = catalog()
    if network not in known:
        raise CnnError(f"weights: no published weights for the network '{network}' (asked for '{name}')",
                       hint="networks with published weights: " + ", ".join(sorted(known)))
    published = known[network]
    if name not in published:
        close = did_you_mean(name, published)
        raise CnnError(f"weights: the network '{network}' has no published weights '{name}'",
                       hint=f"{close + ' ' if close else ''}available: {', '.join(published)}")
    return published[name]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def state_dict(network: str, name: str) -> dict[str, Any]:
    """The published weights `name` of `network`, from torch.hub's cache (downloaded first if absent),
    hash-checked, with the catalog's `drop` prefixes removed.

    Raises:
        CnnError: an unknown network or name; a download that fails (offline: where to put the file
            instead) or does not have the published hash; a cached file without it.
    """
    import torch

    e = entry(network, name)
    url, prefix = e["url"], e["sha256-prefix"]
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if path.is_file():
        if not sha256(path).startswith(prefix):
            raise CnnError(f"weights: the cached file {path} does not have the published hash of '{name}' "
                           f"(sha256 {prefix}...): it is damaged or another file",
                           hint=f"delete it to download it again from {url}")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # into a temporary file, moved to `path` only when complete and of the published hash
            torch.hub.download_url_to_file(url, str(path), hash_prefix=prefix)
        except OSError as exc:  # offline, refused, not found
            raise CnnError(f"weights: cannot download '{name}' of {network} from {url}: {exc}".splitlines()[0],
                           hint=f"download that file yourself and put it at {path} (torch.hub's cache: "
                                "$TORCH_HOME/hub/checkpoints, TORCH_HOME defaulting to ~/.cache/torch)") from None
        except RuntimeError as exc:  # "invalid hash value (expected ..., got ...)"
            raise CnnError(f"weights: the download of {url} does not have the published hash: {exc}",
                           hint="try again; if it persists, the file on the server is not the published one") from None
    state = torch.load(path, map_location="cpu", weights_only=True)
    drop = tuple(e.get("drop", ()))
    state = {k: v for k, v in state.items() if not k.startswith(drop)}
    # a file saved before PyTorch 0.4 has no BatchNorm `num_batches_tracked`; torch's BatchNorm fills it in
    # when it loads such a file, and so does this, before the strict key comparison
    for key in [k for k in state if k.endswith(".running_var")]:
        state.setdefault(key.removesuffix("running_var") + "num_batches_tracked", torch.tensor(0))
    return state


def resolve(weights: Any, model) -> Any:
    """`weights` as given, or, when it names published weights, their state_dict for `model`'s network."""
    if not is_name(weights):
        return weights
    return state_dict(getattr(model, "_network_name", type(model).__name__), weights)
