"""Config loading: typed sections, unknown keys and wrong types rejected, overrides parsed."""
from __future__ import annotations

import pytest
import yaml

from mmdiff.config import Config, load_config, parse_overrides, save_config
from mmdiff.errors import ConfigError


def write(tmp_path, text, name="c.yml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_paper_settings_in_cpn_and_gt():
    cfg = load_config("cpn")
    assert (cfg.model.hid_dim, cfg.model.num_layers, cfg.model.n_head) == (96, 5, 4)
    assert cfg.model.dropout == 0.25 and cfg.train.ema_rate == 0.999
    assert (cfg.diffusion.beta_start, cfg.diffusion.beta_end,
            cfg.diffusion.num_timesteps) == (1e-4, 1e-3, 51)
    assert (cfg.sampler.steps, cfg.sampler.span, cfg.sampler.eta,
            cfg.sampler.skip) == (2, 12, 0.0, "uniform")
    assert (cfg.train.batch_size, cfg.optim.lr, cfg.optim.lr_gamma, cfg.optim.lr_decay_every) == (1024, 1e-3, 0.9, 60)
    assert cfg.optim.grad_clip == 1.0 and cfg.data.flip_aug
    assert cfg.diffusion.noise_scale == [0.1, 0.1, 1.0, 1.0, 1.0]
    gt = load_config("gt")
    assert gt.data.path_2d.endswith("data_2d_h36m_gt_gmm.npz")
    assert gt.lifter.checkpoint.endswith("gcn_xyz_gt.pth") and gt.model.hid_dim == 96


def test_demo_loads():
    cfg = load_config("demo")
    assert "synthetic" in cfg.data.path_3d


def test_unknown_key_names_file_section_and_suggests(tmp_path):
    path = write(tmp_path, "optim:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError, match=r"c\.yml.*'lrr'.*'optim'.*did you mean 'lr'"):
        load_config(path)


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown section 'trian'.*did you mean 'train'"):
        load_config(write(tmp_path, "trian:\n  epochs: 1\n"))


def test_wrong_type(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.epochs: expected int, found str"):
        load_config(write(tmp_path, "train:\n  epochs: many\n"))
    with pytest.raises(ConfigError, match=r"data\.flip_aug: expected bool"):
        load_config(write(tmp_path, "data:\n  flip_aug: 1\n"))
    with pytest.raises(ConfigError, match=r"noise_scale\[1\]"):
        load_config(write(tmp_path, "diffusion:\n  noise_scale: [1, x]\n"))


def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    assert load_config(write(tmp_path, "optim:\n  lr: 1e-3\n")).optim.lr == 1e-3


def test_overrides_take_the_type_of_the_default():
    cfg = load_config("cpn", ["optim.lr=3e-4", "train.epochs=7", "data.flip_aug=false",
                              "data.train_subjects=S1,S5", "diffusion.noise_scale=[1, 1, 1, 1, 1]"])
    assert cfg.optim.lr == 3e-4 and cfg.train.epochs == 7 and cfg.data.flip_aug is False
    assert cfg.data.train_subjects == ["S1", "S5"]
    assert cfg.diffusion.noise_scale == [1.0] * 5
    assert load_config("cpn", {"train.epochs": 3}).train.epochs == 3
    with pytest.raises(ConfigError, match="expected int"):
        load_config("cpn", ["train.epochs=1.5"])
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        load_config("cpn", ["train.epoch=1"])
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_overrides(["epochs"])


def test_base_chain_and_roundtrip(tmp_path):
    write(tmp_path, "train:\n  epochs: 3\n", "base.yml")
    child = write(tmp_path, "base: base.yml\noptim:\n  lr: 0.01\n")
    cfg = load_config(child)
    assert cfg.train.epochs == 3 and cfg.optim.lr == 0.01
    assert Config.from_dict(cfg.to_dict()) == cfg
    saved = save_config(cfg, tmp_path / "out" / "config.yml")
    assert load_config(saved) == cfg
    assert yaml.safe_load(saved.read_text())["train"]["epochs"] == 3


def test_replace_leaves_original_unchanged():
    cfg = Config()
    new = cfg.replace({"train.epochs": 2})
    assert cfg.train.epochs == 800 and new.train.epochs == 2


def test_missing_file():
    with pytest.raises(ConfigError, match="not found.*packaged configs"):
        load_config("nope.yml")


@pytest.mark.parametrize("old, new", [("eval.steps", "sampler.steps"),
                                      ("eval.schedule_steps", "sampler.span"),
                                      ("eval.skip_type", "sampler.skip"),
                                      ("eval.eta", "sampler.eta"),
                                      ("eval.lifter_flip", "eval.lifter_tta")])
def test_renamed_keys_fail_naming_the_new_key(tmp_path, old, new):
    section, key = old.split(".")
    path = tmp_path / "old.yml"
    path.write_text(f"base: cpn.yml\n{section}:\n  {key}: 2\n")
    with pytest.raises(ConfigError, match=f"old.yml: {old} was renamed: use {new}"):
        load_config(path)
    with pytest.raises(ConfigError, match=f"{old} was renamed: use {new}"):
        load_config("cpn", {old: "2"})


def test_a_config_stored_by_an_earlier_kit_is_read_under_the_new_names():
    """Checkpoints keep the config they were trained with: the old keys map onto the new ones
    (lifter_flip: "mirror" was the lifter's plain output, i.e. no lifter TTA)."""
    stored = Config().to_dict()
    stored["eval"] = {k: v for k, v in stored["eval"].items() if k != "lifter_tta"}
    stored["eval"].update(steps=4, schedule_steps=20, skip_type="quad", eta=0.5,
                          lifter_flip="mirror")
    del stored["sampler"]
    cfg = Config.from_dict(stored, "ckpt.pth")
    assert (cfg.sampler.steps, cfg.sampler.span, cfg.sampler.skip, cfg.sampler.eta) == \
        (4, 20, "quad", 0.5)
    assert cfg.eval.lifter_tta is False
