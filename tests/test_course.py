"""mmdiff.course: the lessons' "which data" and "load ckpts/demo or train briefly" helpers."""
from __future__ import annotations

import pytest
import torch

from mmdiff import course
from mmdiff.checkpoints import save_checkpoint
from mmdiff.errors import ConfigError
from mmdiff.models.graformer import GraFormer, GraFormerConfig


def test_which_data_falls_back_to_the_embedded_set(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                            # no data/ here: the real files are absent
    made = []
    monkeypatch.setattr(course, "ensure_data", lambda cfg: made.append(cfg.data.path_3d))
    cfg, real = course.which_data(fast=True)
    assert not real and made == [cfg.data.path_3d] and "synth" in cfg.data.path_3d
    assert cfg.train.batch_size == cfg.lifter_train.batch_size == course.FAST_BATCH
    assert "embedded (synthetic)" in capsys.readouterr().out
    full, _ = course.which_data(verbose=False)
    assert full.train.batch_size != course.FAST_BATCH


@pytest.mark.slow           # which_data writes the embedded data set into tmp_path first
def test_which_data_takes_the_real_files_when_present(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg, _ = course.which_data(verbose=False)
    real_cfg = course.load_config("cpn.yml")
    for p in (real_cfg.data.path_3d, real_cfg.data.path_2d):
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(b"")
    cfg, real = course.which_data(verbose=False)
    assert real and cfg.data.path_3d == real_cfg.data.path_3d


def test_load_or_train_loads_the_demo_checkpoint(tmp_path):
    lifter = GraFormer(GraFormerConfig(hid_dim=16, num_layers=1, n_head=2))
    save_checkpoint(tmp_path / "lifter.pth", lifter, config=None)
    cfg = course.load_config("demo.yml")
    got = course.load_or_train(cfg, "lifter", "cpu", demo_dir=tmp_path)
    assert got.source.endswith("lifter.pth") and not got.model.training
    for a, b in zip(got.model.state_dict().values(), lifter.state_dict().values()):
        torch.testing.assert_close(a, b)
    missing = course.load_or_train(cfg, "diffpose", "cpu", demo_dir=tmp_path, required=False)
    assert missing.model is None and "missing" in missing.source
    with pytest.raises(ConfigError, match="kind"):
        course.load_or_train(cfg, "graformer", demo_dir=tmp_path)


def test_fast_label_names_the_smoke_test():
    assert "FAST MODE" in course.fast_label(True)
    assert course.fast_label(False, "ckpts/demo/mmdiff.pth") == ""
    assert "not the shipped" in course.fast_label(False, "a 4-step training run")


def test_stored_study_says_how_to_make_a_missing_one(tmp_path):
    assert "mmdiff study ablations" in course.stored_study("ablations", tmp_path)
    assert "`mmdiff study why_diffusion --hypotheses`" in \
        course.stored_study("why_diffusion_hypotheses", tmp_path)
