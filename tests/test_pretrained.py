"""Published pretrained weights by name (`weights="torchvision:IMAGENET1K_V2"`, `cnndsl.backends.pretrained`):
the shipped catalog `architectures/weights.json`, and the mechanism on a small network with a file put in
a temporary torch.hub cache (TORCH_HOME) or "downloaded" from a file:// URL, never from the internet:
a strict load, the published hash checked on download and on a cached file, the offline error (where to
put the file), and unknown names."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

torch = pytest.importorskip("torch")
from conftest import ARCHITECTURES

import cnndsl
from cnndsl.backends import pretrained
from cnndsl.cli import main

torch.set_num_threads(1)

PROGRAM = """network minnet
input 8x8x3
conv1: conv 3x3x4 same nobias bn relu
gap
fc: fc 2
"""


# ------------------------------------------------------------------------------------ the shipped catalog


def test_catalog_names_shipped_networks_and_published_hashes():
    networks = json.loads((ARCHITECTURES / "weights.json").read_text())["networks"]
    # the networks whose state_dict keys equal torchvision's (tests/test_architectures.py checks the keys)
    assert set(networks) == {"alexnet", "vgg16", "vgg19", "googlenet", "inception_v3", "mobilenet_v2",
                             "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                             "resnext50_32x4d", "wide_resnet50_2", "squeezenet1_0", "squeezenet1_1", "mnasnet1_0",
                             "regnet_x_400mf", "convnext_tiny", "efficientnet_b0", "efficientnet_v2_s",
                             "mobilenet_v3_large", "mobilenet_v3_small", "shufflenet_v2_x1_0",
                             "fcn_resnet50", "deeplabv3_resnet50"}
    for network, published in networks.items():
        path = ARCHITECTURES / f"{network}.cnn"
        assert re.search(rf"^network {network}\b", path.read_text(), re.MULTILINE), network
        for name, e in published.items():
            assert pretrained.NAME.fullmatch(name), name
            assert re.fullmatch(r"torchvision:(IMAGENET1K_V[12]|COCO_WITH_VOC_LABELS_V1)", name), name
            # torch.hub reads the hash prefix from the file name: NAME-<sha256 prefix>.pth
            file = re.fullmatch(r"https://download\.pytorch\.org/models/([^/]+)-([0-9a-f]+)\.pth", e["url"])
            assert file and file.group(2) == e["sha256-prefix"], e["url"]
            assert torch.hub.HASH_REGEX.search(e["url"].rsplit("/", 1)[1]).group(1) == e["sha256-prefix"]
            # 8 hex digits, or 10 in the older files (MNASNet, ShuffleNet V2)
            assert re.fullmatch(r"[0-9a-f]{8}|[0-9a-f]{10}", e["sha256-prefix"]), e["sha256-prefix"]
    # torchvision's ResNet50_Weights.IMAGENET1K_V2, as published
    assert networks["resnet50"]["torchvision:IMAGENET1K_V2"]["url"] == \
        "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"
    # torchvision's MNASNet1_0_Weights.IMAGENET1K_V1: a 10-digit prefix, after a '.' in the name
    assert networks["mnasnet1_0"]["torchvision:IMAGENET1K_V1"]["sha256-prefix"] == "f206786ef8"
    # torchvision's checkpoints hold the auxiliary classifiers that the shipped networks leave out
    assert networks["inception_v3"]["torchvision:IMAGENET1K_V1"]["drop"] == ["AuxLogits."]
    for network in ("fcn_resnet50", "deeplabv3_resnet50"):
        assert list(networks[network]) == ["torchvision:COCO_WITH_VOC_LABELS_V1"]
        assert networks[network]["torchvision:COCO_WITH_VOC_LABELS_V1"]["drop"] == ["aux_classifier."]


def test_unknown_published_name_lists_the_available_ones():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.load("resnet18", weights="torchvision:IMAGENET1K_V2")
    assert "the network 'resnet18' has no published weights 'torchvision:IMAGENET1K_V2'" in err.value.message
    assert err.value.hint == "did you mean 'torchvision:IMAGENET1K_V1'? available: torchvision:IMAGENET1K_V1"
    with pytest.raises(cnndsl.CnnError) as err:
        pretrained.entry("resnet50", "torchvision:IMAGENET1K_V3")
    assert "available: torchvision:IMAGENET1K_V1, torchvision:IMAGENET1K_V2" in err.value.hint


def test_network_without_published_weights_lists_those_with():
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.build(cnndsl.parse(PROGRAM), weights="torchvision:IMAGENET1K_V1")
    assert "no published weights for the network 'minnet'" in err.value.message
    assert "alexnet, convnext_tiny, deeplabv3_resnet50, efficientnet_b0, efficientnet_v2_s, fcn_resnet50, googlenet" \
        in err.value.hint  # sorted


# ------------------------------------------------------------------- the mechanism, on a small network


def randomized(model) -> dict:
    gen = torch.Generator().manual_seed(1)
    return {k: (0.5 + torch.rand(v.shape, generator=gen)) if k.endswith("running_var")
            else torch.randn(v.shape, generator=gen) if v.is_floating_point() else v + 7
            for k, v in model.state_dict().items()}


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A temporary torch.hub cache; returns a function that publishes a state_dict for `minnet`:
    saves it, names it after its own sha256 prefix, and enters it into the catalog."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    catalog = {}
    monkeypatch.setattr(pretrained, "catalog", lambda: catalog)

    def publish(state, name="torchvision:TEST", where="cache", **extra):
        staged = tmp_path / "staged.pth"
        torch.save(state, staged)
        prefix = hashlib.sha256(staged.read_bytes()).hexdigest()[:8]
        file_name = f"minnet-{prefix}.pth"
        folder = checkpoints if where == "cache" else tmp_path / "server"
        folder.mkdir(exist_ok=True)
        staged.rename(folder / file_name)
        url = f"file://{folder / file_name}" if where == "server" else f"https://example.invalid/{file_name}"
        catalog.setdefault("minnet", {})[name] = {"url": url, "sha256-prefix": prefix, **extra}
        return folder / file_name

    return publish


def test_cached_file_loads_strictly(hub):
    want = randomized(cnndsl.build(cnndsl.parse(PROGRAM)))
    hub(want)  # the URL is unreachable: only the cached file can serve it
    model = cnndsl.build(cnndsl.parse(PROGRAM), weights="torchvision:TEST")
    got = model.state_dict()
    assert list(got) == list(want) and all(torch.equal(got[k], want[k]) for k in want)


def test_old_file_without_batch_count_and_with_a_dropped_head(hub):
    """A file saved before PyTorch 0.4 (no `num_batches_tracked`) that carries an auxiliary head the
    network leaves out (listed in `drop`) loads strictly; without `drop` the head is refused."""
    want = randomized(cnndsl.build(cnndsl.parse(PROGRAM)))
    old = {k: v for k, v in want.items() if not k.endswith("num_batches_tracked")}
    old["AuxLogits.fc.weight"] = torch.ones(2, 4)
    hub(old, drop=["AuxLogits."])
    model = cnndsl.build(cnndsl.parse(PROGRAM), weights="torchvision:TEST")
    assert torch.equal(model.state_dict()["conv1.bn.running_var"], want["conv1.bn.running_var"])
    assert int(model.state_dict()["conv1.bn.num_batches_tracked"]) == 0
    hub(old, name="torchvision:NODROP")
    with pytest.raises(cnndsl.CnnError, match=r"(?s)0 missing, 1 unexpected.*AuxLogits\.fc\.weight"):
        cnndsl.build(cnndsl.parse(PROGRAM), weights="torchvision:NODROP")


def test_transfer_learning_from_a_published_name(hub):
    state = randomized(cnndsl.build(cnndsl.parse(PROGRAM)))
    hub(state)
    model = cnndsl.build(cnndsl.parse(PROGRAM.replace("fc 2", "fc 5")))
    skipped = cnndsl.load_matching(model, "torchvision:TEST")
    assert [m[0] for m in skipped.misshaped] == ["fc.weight", "fc.bias"]
    assert torch.equal(model.state_dict()["conv1.conv.weight"], state["conv1.conv.weight"])


def test_damaged_cached_file_is_refused(hub):
    path = hub(randomized(cnndsl.build(cnndsl.parse(PROGRAM))))
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # still a readable zip: only the hash can tell
    path.write_bytes(bytes(data))
    with pytest.raises(cnndsl.CnnError) as err:
        cnndsl.build(cnndsl.parse(PROGRAM), weights="torchvision:TEST")
    assert f"the cached file {path} does not have the published hash" in err.value.message
    assert err.value.hint.startswith("delete it to download it again from https://example.invalid/minnet-")


def test_download_into_the_cache_checks_the_hash(hub, tmp_path):
    """Fetched from a file:// URL through torch.hub: it lands in the hub cache and loads; a file
    whose content does not match the hash in its published name is refused and not cached."""
    want = randomized(cnndsl.build(cnndsl.parse(PROGRAM)))
    served = hub(want, where="server")
    model = cnndsl.build(cnndsl.parse(PROGRAM), weights="torchvision:TEST")
    assert torch.equal(model.state_dict()["fc.weight"], want["fc.weight"])
    cached = tmp_path / "torch" / "hub" / "checkpoints" / served.name
    assert cached.read_bytes() == served.read_bytes()

    other = tmp_path / "server" / "minnet-00000000.pth"
    served.rename(other)
    pretrained.catalog()["minnet"]["torchvision:BAD"] = {"url": f"file://{other}", "sha256-prefix": "00000000"}
    with pytest.raises(cnndsl.CnnError, match="does not have the published hash"):
        cnndsl.build(cnndsl.parse(PROGRAM), weights="torchvision:BAD")
    assert not (cached.parent / other.name).exists()


def test_offline_says_what_to_download_and_where(hub, tmp_path, capsys):
    hub(randomized(cnndsl.build(cnndsl.parse(PROGRAM))))
    url = "http://127.0.0.1:9/minnet-0123abcd.pth"  # the discard port: refused at once, as offline
    pretrained.catalog()["minnet"]["torchvision:OFFLINE"] = {"url": url, "sha256-prefix": "0123abcd"}
    src = tmp_path / "minnet.cnn"
    src.write_text(PROGRAM)
    code = main(["compile", str(src), "--onnx", str(tmp_path / "m.onnx"), "--weights", "torchvision:OFFLINE"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"cnndsl: error: weights: cannot download 'torchvision:OFFLINE' of minnet from {url}" in err
    assert f"put it at {tmp_path / 'torch' / 'hub' / 'checkpoints' / 'minnet-0123abcd.pth'}" in err
    assert not (tmp_path / "m.onnx").exists()


def test_compile_onnx_with_a_published_name(hub, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from onnx import numpy_helper

    want = randomized(cnndsl.build(cnndsl.parse(PROGRAM)))
    hub(want)
    src, out = tmp_path / "minnet.cnn", tmp_path / "m.onnx"
    src.write_text(PROGRAM)
    assert main(["compile", str(src), "--onnx", str(out), "--weights", "torchvision:TEST"]) == 0
    arrays = [numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer]
    assert any(a.shape == (2, 4) and (a == want["fc.weight"].numpy()).all() for a in arrays)
