"""Human3.6M data: safe loaders for the published .npz files and per-frame pose samples.

    from mmdiff.data import load_samples, PoseDataset, TRAIN_SUBJECTS
    train = load_samples("data/data_3d_h36m.npz", "data/data_2d_h36m_cpn_ft_h36m_dbb_gmm.npz",
                         TRAIN_SUBJECTS)
    ds = PoseDataset(train, flip=True, seed=0)

GMM inputs (``mmdiff.data.gmm``) and the embedded dataset's generator (the sub-package
``mmdiff.data.synthetic``) are imported on their own.
"""
from mmdiff.data.dataset import PoseDataset, PoseSamples, build_samples, load_samples, load_split
from mmdiff.data.h36m import (ACTIONS, TEST_SUBJECTS, TRAIN_SUBJECTS, action_base,
                              load_metadata_2d, load_positions_2d, load_positions_3d,
                              save_positions_2d, save_positions_3d)
from mmdiff.data.npz import load_npz_key, save_npz_atomic

__all__ = ["ACTIONS", "TRAIN_SUBJECTS", "TEST_SUBJECTS", "action_base", "load_positions_3d",
           "load_positions_2d", "load_metadata_2d", "save_positions_3d", "save_positions_2d",
           "load_npz_key", "save_npz_atomic", "PoseSamples", "build_samples", "load_samples",
           "load_split", "PoseDataset"]
