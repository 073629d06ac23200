"""Tests for mmdiff.checkpoints: released files, strict loading, EMA, the kit's own files."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from mmdiff.checkpoints import (FORMAT_VERSION, load_denoiser, load_lifter, read_checkpoint,
                                save_checkpoint)
from mmdiff.errors import CheckpointError
from mmdiff.models import (DenoiserConfig, DiffPoseDenoiser, GraFormer, GraFormerConfig,
                           MMDiffDenoiser)

from conftest import REFERENCE_FIXTURE

FIXTURE = REFERENCE_FIXTURE                  # the committed copy of ../shared/reference's fixture
TOL = dict(rtol=1e-4, atol=1e-4)


def small_denoiser(cls=MMDiffDenoiser, seed=0, n_head=4):
    torch.manual_seed(seed)
    return cls(DenoiserConfig(hid_dim=16, emd_dim=8, num_layers=2, n_head=n_head)).eval()


def small_lifter(seed=0):
    torch.manual_seed(seed)
    return GraFormer(GraFormerConfig(hid_dim=16, num_layers=2, n_head=4)).eval()


class NotATensor:
    """A pickled class that weights_only loading must refuse."""


def inputs(B=3):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(B, 17, 5, generator=g), torch.rand(B, 17, 2, generator=g),
            torch.tensor([0, 10, 50][:B]))


# ----------------------------------------------------------------------------- released files

def test_released_layouts_are_read_and_models_match_the_golden_outputs():
    io = np.load(FIXTURE / "io.npz")
    info = read_checkpoint(FIXTURE / "ckpt_mmdiff.pth")
    assert (info.kind, info.epoch, info.step, info.has_ema, info.is_kit) == \
        ("mmdiff", 799, 123456, True, False)
    assert info.model_config == {"hid_dim": 96, "num_layers": 5, "n_head": 4, "emd_dim": 96}
    lifter_info = read_checkpoint(FIXTURE / "ckpt_lifter.pth")
    assert lifter_info.kind == "lifter" and lifter_info.ema_state is None
    assert not any(k.startswith("module.") for k in lifter_info.state_dict)

    lifter = load_lifter(FIXTURE / "ckpt_lifter.pth", device="cpu")
    assert not lifter.training
    for ema in (False, True):       # the fixture's EMA equals the weights
        model = load_denoiser(FIXTURE / "ckpt_mmdiff.pth", device="cpu", ema=ema)
        assert not model.training
        with torch.no_grad():
            out = model(torch.from_numpy(io["x_t"]), torch.from_numpy(io["guide_2d"])[:, None],
                        torch.from_numpy(io["t"]))
        np.testing.assert_allclose(out.numpy(), io["denoiser_out"], **TOL)
    with torch.no_grad():
        np.testing.assert_allclose(lifter(torch.from_numpy(io["guide_2d"])).numpy(),
                                   io["lifter_out"], **TOL)


def test_wrong_loader_for_the_file_is_an_error():
    with pytest.raises(CheckpointError, match="not a lifter"):
        load_lifter(FIXTURE / "ckpt_mmdiff.pth", device="cpu")
    with pytest.raises(CheckpointError, match="not a denoiser"):
        load_denoiser(FIXTURE / "ckpt_lifter.pth", device="cpu")


# ----------------------------------------------------------------------------- strict loading

def write_released_style(path, model, prefix="", ema=None, extra=None):
    """A file in the reference's own layout (no meta), as its training loop writes it."""
    state = {prefix + k: v for k, v in model.state_dict().items()}
    state.update(extra or {})
    items = [state, {}, 3, 30] + ([ema] if ema is not None else [])
    torch.save(items, path)
    return path


def test_architecture_is_inferred_without_meta(tmp_path):
    for cls in (MMDiffDenoiser, DiffPoseDenoiser):
        model = small_denoiser(cls)
        path = write_released_style(tmp_path / f"{cls.kind}.pth", model, prefix="module.")
        loaded = load_denoiser(path, device="cpu")
        assert type(loaded) is cls
        assert (loaded.cfg.hid_dim, loaded.cfg.num_layers, loaded.cfg.emd_dim) == (16, 2, 8)
    lifter = small_lifter()
    extra = {"module.temb.dense.0.weight": torch.zeros(64, 16)}     # DiffPose's unused head
    path = write_released_style(tmp_path / "lifter.pth", lifter, prefix="module.", extra=extra)
    x = inputs()[1]
    torch.testing.assert_close(load_lifter(path, device="cpu")(x), lifter(x))


def test_missing_misshaped_and_unknown_keys_are_named(tmp_path):
    model = small_denoiser()
    state = model.state_dict()
    missing = dict(state)
    del missing["fc2.bias"]
    torch.save([missing, {}, 0, 0], tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"missing\.pth.*\n.*missing key 'fc2\.bias' "
                                              r"\(expected shape \(5,\)\)"):
        load_denoiser(tmp_path / "missing.pth", device="cpu")

    bad = dict(state)
    bad["fc3.weight"] = torch.zeros(34, 16)
    torch.save([bad, {}, 0, 0], tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match=r"'fc3\.weight': expected shape \(34, 17\), "
                                              r"found \(34, 16\)"):
        load_denoiser(tmp_path / "shape.pth", device="cpu")

    extra = dict(state)
    extra["temb.dense.2.weight"] = torch.zeros(3)                  # only a lifter tolerates temb.*
    torch.save([extra, {}, 0, 0], tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match=r"unexpected key 'temb\.dense\.2\.weight'"):
        load_denoiser(tmp_path / "extra.pth", device="cpu")


def test_unreadable_files_are_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.pth")

    torch.save([{"w": torch.zeros(1)}, NotATensor()], tmp_path / "unsafe.pth")
    with pytest.raises(CheckpointError, match="weights_only"):
        read_checkpoint(tmp_path / "unsafe.pth")
    torch.save({"epoch": 3}, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match="expected"):
        read_checkpoint(tmp_path / "odd.pth")


# ----------------------------------------------------------------------------- EMA

def test_ema_weights_are_picked_on_request(tmp_path):
    model = small_denoiser()
    ema = {n: p.detach() + 0.05 for n, p in model.named_parameters() if p.requires_grad}
    path = write_released_style(tmp_path / "ema.pth", model, ema=ema)  # frozen ones absent: fine
    raw = load_denoiser(path, device="cpu", ema=False)
    shadow = load_denoiser(path, device="cpu", ema=True)
    auto = load_denoiser(path, device="cpu", ema="auto")
    torch.testing.assert_close(raw.fc2.weight, model.fc2.weight)
    torch.testing.assert_close(shadow.fc2.weight, model.fc2.weight + 0.05)
    torch.testing.assert_close(auto.fc2.weight, shadow.fc2.weight)
    torch.testing.assert_close(shadow.gconv_output_t.weight, model.gconv_output_t.weight)

    no_ema = write_released_style(tmp_path / "plain.pth", model)
    with pytest.raises(CheckpointError, match="EMA weights requested"):
        load_denoiser(no_ema, device="cpu", ema=True)
    torch.testing.assert_close(load_denoiser(no_ema, device="cpu", ema="auto").fc2.weight,
                               model.fc2.weight)
    partial = dict(ema)
    del partial["fc1.weight"]
    write_released_style(tmp_path / "partial.pth", model, ema=partial)
    with pytest.raises(CheckpointError, match="lacks 1 trainable"):
        load_denoiser(tmp_path / "partial.pth", device="cpu", ema=True)


# ----------------------------------------------------------------------------- kit files

@pytest.mark.parametrize("cls", [MMDiffDenoiser, DiffPoseDenoiser])
def test_denoiser_round_trip_keeps_weights_config_and_meta(tmp_path, cls):
    model = small_denoiser(cls, seed=3, n_head=2)  # n_head is not in the weights: meta has it
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    ema = {n: p.detach().clone() for n, p in model.named_parameters()}
    path = save_checkpoint(tmp_path / "sub" / "ckpt.pth", model, optimizer=opt, epoch=7, step=70,
                           ema_state=ema, config={"train": {"epochs": 9}},
                           rng_state={"torch": torch.get_rng_state(), "numpy": {"state": 2**70}},
                           metrics={"mpjpe_mm": np.float64(41.5).item()})
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pth"]         # no temp file left
    raw = torch.load(path, weights_only=True)
    assert len(raw) == 6 and raw[2:4] == [7, 70]
    assert set(raw[0]) == set(model.state_dict())                          # reference-loadable
    info = read_checkpoint(path)
    assert info.is_kit and info.kind == cls.kind and info.meta["format_version"] == FORMAT_VERSION
    assert info.model_config["n_head"] == 2 and info.meta["config"]["train"]["epochs"] == 9
    assert info.meta["rng"]["numpy"]["state"] == 2**70
    loaded = load_denoiser(path, device="cpu", ema=True)
    torch.testing.assert_close(loaded(*inputs()), model(*inputs()))


def test_lifter_is_saved_with_module_prefix_for_the_reference_loader(tmp_path):
    lifter = small_lifter(seed=5)
    path = save_checkpoint(tmp_path / "lifter.pth", torch.nn.DataParallel(lifter), epoch=1)
    raw = torch.load(path, weights_only=True)
    assert all(k.startswith("module.") for k in raw[0])
    x = inputs()[1]
    torch.testing.assert_close(load_lifter(path, device="cpu")(x), lifter(x))


def test_overwrite_is_atomic_and_unsafe_meta_is_rejected_before_writing(tmp_path):
    model = small_denoiser()
    path = save_checkpoint(tmp_path / "c.pth", model, epoch=1)
    save_checkpoint(path, model, epoch=2)
    assert read_checkpoint(path).epoch == 2
    with pytest.raises(CheckpointError, match=r"meta\['metrics'\]\['curve'\] is a numpy\.ndarray"):
        save_checkpoint(path, model, epoch=3, metrics={"curve": np.zeros(3)})
    assert read_checkpoint(path).epoch == 2                       # old file intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pth"]
    with pytest.raises(CheckpointError, match="cannot save"):
        save_checkpoint(tmp_path / "x.pth", torch.nn.Linear(2, 2))
