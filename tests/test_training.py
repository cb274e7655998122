"""Compiled networks in training code: examples/train.py (loss falls, checkpoint, exact resume,
transfer from another run's checkpoint), cnndsl.freeze, and two processes under torchrun
(DistributedDataParallel replicas stay identical; FSDP's fully_shard trains as the unsharded model)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
from conftest import ROOT

import cnndsl
from cnndsl.training import unfreeze

torch.set_num_threads(1)  # 2 shared cores: one thread per test process is the fastest
EXAMPLE = ROOT / "examples" / "train.py"
TINY = ["--arch", "tiny", "--size", "32", "--quiet"]  # tiny.cnn: residual, concat, se, aux head, dropout


@pytest.fixture(scope="module")
def train():
    """examples/train.py as a module (its `main(argv)` returns the model, step and losses)."""
    spec = importlib.util.spec_from_file_location("cnndsl_example_train", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def pretrained(train, tmp_path_factory):
    """Task A: 10 classes, 50 steps of tiny at 32x32."""
    out = tmp_path_factory.mktemp("a") / "a.pt"
    return train.main([*TINY, "--classes", "10", "--steps", "50", "--out", str(out)])


def mean(xs):
    return sum(xs) / len(xs)


def test_loss_falls_and_the_task_is_learnt(pretrained):
    losses = pretrained.losses
    assert pretrained.step == len(losses) == 50
    assert mean(losses[-10:]) < 0.7 * mean(losses[:10]), losses
    assert pretrained.accuracy > 0.2  # chance is 0.1


def test_checkpoint_format(pretrained):
    ckpt = torch.load(pretrained.checkpoint, map_location="cpu", weights_only=True)
    assert ckpt["format"] == "cnndsl-train/1"
    assert ckpt["step"] == 50 and len(ckpt["losses"]) == 50
    assert ckpt["config"]["arch"] == "tiny" and ckpt["config"]["classes"] == 10
    assert ckpt["optimizer"]["state"]  # AdamW's moments are saved
    state = pretrained.model.state_dict()
    assert list(ckpt["model"]) == list(state)
    # cnndsl.load(weights=...) reads the checkpoint's "model" entry, strictly
    again = cnndsl.load("tiny", weights=pretrained.checkpoint)
    assert all(torch.equal(v, state[k]) for k, v in again.state_dict().items())


def test_resume_continues_exactly(train, tmp_path):
    half = train.main([*TINY, "--steps", "8", "--out", str(tmp_path / "r.pt")])
    resumed = train.main(["--resume", str(tmp_path / "r.pt"), "--steps", "16", "--quiet"])
    straight = train.main([*TINY, "--steps", "16", "--out", str(tmp_path / "s.pt")])
    assert half.step == 8 and resumed.step == 16 and len(resumed.losses) == 16
    assert resumed.losses[:8] == half.losses  # the history is carried over ...
    assert resumed.losses == straight.losses  # ... and the run continues as if never stopped
    ref = straight.model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in resumed.model.state_dict().items())
    assert torch.load(tmp_path / "r.pt", weights_only=True)["step"] == 16
    # already there: nothing to do
    assert train.main(["--resume", str(tmp_path / "r.pt"), "--steps", "16", "--quiet"]).losses == straight.losses


def head_keys(program: str, a: dict, b: dict) -> set[str]:
    """Keys whose shape differs between two builds: found by building, not by naming them."""
    sa, sb = cnndsl.load(program, **a).state_dict(), cnndsl.load(program, **b).state_dict()
    assert list(sa) == list(sb)
    return {k for k in sa if sa[k].shape != sb[k].shape}


def test_transfer_loads_all_but_the_heads(pretrained):
    heads = head_keys("tiny", {"classes": 10}, {"classes": 4})
    assert heads == {"5.1.weight", "5.1.bias", "8.weight", "8.bias"}  # the aux head's fc and the last fc
    model = cnndsl.load("tiny", classes=4)
    skipped = cnndsl.load_matching(model, pretrained.checkpoint)
    assert not skipped.missing and not skipped.unexpected
    assert {m[0] for m in skipped.misshaped} == heads
    source = pretrained.model.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, source[key]) is (key not in heads), key


def test_freeze_keeps_the_backbone(pretrained):
    model = cnndsl.load("tiny", classes=4)
    cnndsl.load_matching(model, pretrained.checkpoint)
    frozen = cnndsl.freeze(model, upto="stage1")
    expected = [k for k, _ in model.named_parameters() if k.startswith(("stem.", "stage1."))]
    assert frozen == expected and frozen
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    images, labels = torch.randn(8, 3, 32, 32), torch.arange(8) % 4
    out = model(images)
    torch.nn.functional.cross_entropy(out.out, labels).backward()
    opt.step()
    after = model.state_dict()
    for name, param in model.named_parameters():
        assert param.requires_grad is (name not in frozen)
    for key, value in before.items():
        if key.startswith(("stem.", "stage1.")):  # parameters and batch-norm statistics
            assert torch.equal(value, after[key]), key
    assert not torch.equal(before["stage2.0.0.conv.weight"], after["stage2.0.0.conv.weight"])
    assert not torch.equal(before["stage2.0.0.bn.running_mean"], after["stage2.0.0.bn.running_mean"])
    bn = model.get_submodule
    assert not bn("stage1.0.0.bn").training and bn("stage2.0.0.bn").training
    model.train()  # a later train() does not wake the frozen batch norms: the next forward puts them back
    model(images)
    assert not bn("stage1.0.0.bn").training
    unfreeze(model)
    assert all(p.requires_grad for p in model.parameters())
    model(images)
    assert bn("stage1.0.0.bn").training


def test_freeze_nested_label_and_unknown_label():
    model = cnndsl.load("tiny")
    frozen = cnndsl.freeze(model, upto="stage2.0", bn_eval=False)
    assert frozen == [k for k, _ in model.named_parameters() if k.startswith(("stem.", "stage1.", "stage2.0."))]
    assert any(not k.startswith("stage2.1.") for k in frozen) and not any(k.startswith("stage2.1.") for k in frozen)
    with pytest.raises(cnndsl.CnnError, match="no module named 'stage9'.*\n.*stem, stage1, stage2"):
        cnndsl.freeze(model, upto="stage9")


def test_example_fine_tunes_from_another_run(train, pretrained, tmp_path):
    """Task B (4 classes) from task A's checkpoint, backbone frozen through stage1."""
    result = train.main([*TINY, "--classes", "4", "--steps", "20", "--init", str(pretrained.checkpoint),
                         "--freeze", "stage1", "--out", str(tmp_path / "b.pt")])
    source, tuned = pretrained.model.state_dict(), result.model.state_dict()
    for key, value in tuned.items():
        if key.startswith(("stem.", "stage1.")):
            assert torch.equal(value, source[key]), key
    assert not torch.equal(tuned["stage2.0.0.conv.weight"], source["stage2.0.0.conv.weight"])
    assert tuned["8.weight"].shape == (4, 48)
    assert mean(result.losses[-5:]) < mean(result.losses[:5])
    # a resumed fine-tuning run keeps its freeze
    resumed = train.main(["--resume", str(tmp_path / "b.pt"), "--steps", "22", "--quiet"])
    assert torch.equal(resumed.model.state_dict()["stem.0.conv.weight"], source["stem.0.conv.weight"])


def test_import_cnndsl_training_imports_no_torch():
    code = "import sys, cnndsl, cnndsl.training; cnndsl.freeze; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_script_without_a_terminal(tmp_path):
    """As a script, stdout a pipe: progress lines instead of a bar, a summary, exit 0."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(EXAMPLE), "--arch", "tiny", "--size", "32", "--steps", "6",
                          "--batch-size", "8", "--out", str(tmp_path / "c.pt")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env, check=False)
    assert run.returncode == 0, run.stderr
    assert "step 6/6  loss" in run.stdout and "held-out accuracy" in run.stdout
    assert "\r" not in run.stdout + run.stderr  # no tqdm bar
    bad = subprocess.run([sys.executable, str(EXAMPLE), "--arch", "tiny", "--steps", "1", "--freeze", "nope",
                          "--out", str(tmp_path / "d.pt")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env, check=False)
    assert bad.returncode == 1 and "no module named 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_cuda_process_group_is_bound_to_its_device(train, monkeypatch):
    """Under torchrun on CUDA the NCCL group gets `device_id` (else torch warns "Guessing device ID
    based on global rank. This can cause a hang"); on CPU, gloo without one. No GPU here: the CUDA
    calls are stood in for, and what reaches init_process_group is checked."""
    calls = []
    monkeypatch.setattr(train.dist, "init_process_group", lambda backend, **kw: calls.append((backend, kw)))
    monkeypatch.setattr(train.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(train.dist, "get_rank", lambda: 1)
    monkeypatch.setattr(train.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert train.setup("cuda").device == torch.device("cuda", 1)
    assert train.setup("cpu").device == torch.device("cpu")
    assert calls == [("nccl", {"device_id": torch.device("cuda", 1)}), ("gloo", {})]


# ---------------------------------------------------------------------------------------------
# two processes: torchrun, gloo on CPU

WORKER = textwrap.dedent("""
    import importlib.util, json, sys
    from pathlib import Path

    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    import cnndsl

    example, out = sys.argv[1], Path(sys.argv[2])
    spec = importlib.util.spec_from_file_location("train", example)
    train = importlib.util.module_from_spec(spec)
    sys.modules["train"] = train
    spec.loader.exec_module(train)

    # 1. the example under DDP: every rank trains on its own batches; save each replica
    result = train.main(["--arch", "tiny", "--size", "32", "--steps", "4", "--batch-size", "8", "--quiet",
                         "--out", str(out / "ddp.pt")])
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.save(result.model.state_dict(), out / f"replica{rank}.pt")
    gen = torch.Generator().manual_seed(train.batch_seed(0, 0, rank))
    torch.save(train.gratings(8, 10, 32, gen)[0], out / f"batch{rank}.pt")

    # 2. FSDP2 (fully_shard): parameters sharded over the 2 ranks, trained 2 SGD steps, against the
    # unsharded network trained on the mean of both ranks' losses
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    program = "input 16x16x3; stem: conv 3x3x8 same bn relu; res: residual < conv 3x3x8 same bn relu > relu; se r=2; gap; fc: fc 4"
    torch.manual_seed(0)
    model = cnndsl.build(cnndsl.parse(program))
    ref = cnndsl.build(cnndsl.parse(program))
    ref.load_state_dict(model.state_dict())
    init = {k: v.detach().clone() for k, v in ref.named_parameters()}
    fully_shard(model.res)
    fully_shard(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    batches = [train.gratings(4, 4, 16, torch.Generator().manual_seed(100 * s + r)) for s in range(2) for r in range(world)]
    for s in range(2):
        x, y = batches[s * world + rank]
        F.cross_entropy(model(x), y).backward()
        opt.step(); opt.zero_grad()
        sum(F.cross_entropy(ref(x), y) for x, y in batches[s * world:(s + 1) * world]).div(world).backward()
        ref_opt.step(); ref_opt.zero_grad()
    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
    ref_state = ref.state_dict()
    params = {k: v.detach() for k, v in ref.named_parameters()}
    shard = sum(p.to_local().numel() for p in model.parameters())
    report = {"keys_equal": list(full) == list(ref_state),
              "max_diff": max(float((full[k] - params[k]).abs().max()) for k in params),
              "moved": max(float((full[k] - v).abs().max()) for k, v in init.items()),
              "local": shard, "total": sum(p.numel() for p in ref.parameters())}
    (out / f"fsdp{rank}.json").write_text(json.dumps(report))
    # shut down in step: no rank may tear gloo down while the other still talks to it, and the
    # DDP/FSDP objects holding the group go first (else gloo can abort at exit, SIGABRT)
    dist.barrier()
    del result, model, opt, full
    import gc; gc.collect()
    dist.barrier()
    dist.destroy_process_group()
""")


@pytest.fixture(scope="module")
def torchrun(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    (out / "worker.py").write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(out / "worker.py"), str(EXAMPLE), str(out)],
                         capture_output=True, text=True, timeout=300, cwd=out, env=env, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def test_ddp_replicas_are_identical(torchrun):
    r0 = torch.load(torchrun / "replica0.pt", weights_only=True)
    r1 = torch.load(torchrun / "replica1.pt", weights_only=True)
    assert list(r0) == list(r1)
    for key in r0:  # the parameters, and the batch-norm statistics that the example averages at the end
        assert torch.equal(r0[key], r1[key]), key
    # the ranks saw different images, and training moved the weights
    assert not torch.equal(torch.load(torchrun / "batch0.pt"), torch.load(torchrun / "batch1.pt"))
    torch.manual_seed(0)
    init = cnndsl.load("tiny").state_dict()
    assert not torch.equal(init["stem.0.conv.weight"], r0["stem.0.conv.weight"])
    # only rank 0 wrote the checkpoint: the bare network's keys, 4 steps
    ckpt = torch.load(torchrun / "ddp.pt", weights_only=True)
    assert ckpt["step"] == 4 and all(torch.equal(ckpt["model"][k], r0[k]) for k in r0)
    assert not list(torchrun.glob("ddp.pt.tmp"))


def test_fsdp_trains_as_the_unsharded_network(torchrun):
    for rank in (0, 1):
        report = json.loads((torchrun / f"fsdp{rank}.json").read_text())
        assert report["keys_equal"]  # the gathered full state_dict has cnndsl.load's keys
        assert report["moved"] > 1e-3 and report["max_diff"] < 1e-5, report
        assert report["local"] < report["total"]  # each rank holds a shard
