"""3D pose error metrics and the per-action table of the Human3.6M protocols.

All functions take numpy arrays or torch tensors of the same shape, (..., J, 3) in metres
(root-relative poses for the Human3.6M protocols), and return the same kind: a numpy float or a
0-d tensor for a mean, arrays/tensors otherwise. numpy inputs are computed in float64. Multiply
by 1000 for the millimetres of the papers.

    protocol 1   mpjpe      mean Euclidean joint error
    protocol 2   p_mpjpe    after a similarity Procrustes alignment (rotation, scale, translation)
                 n_mpjpe    after the least-squares scale only
                 pck, auc   MPI-INF-3DHP: share of joints closer than 150 mm; mean PCK over
                            the 31 thresholds 0, 5, ..., 150 mm
                 mpjve      mean per-joint velocity error over consecutive frames
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mmdiff.data.h36m import ACTIONS, action_base
from mmdiff.errors import DataError


# --- numpy/torch plumbing -------------------------------------------------------------------
def _as_torch(pred, target, name: str, min_dims: int = 2):
    """Both inputs as tensors (float64 for numpy), checked to share a (..., J, 3) shape."""
    is_numpy = not isinstance(pred, torch.Tensor)
    p = torch.as_tensor(np.asarray(pred, dtype=np.float64)) if is_numpy else pred
    t = torch.as_tensor(np.asarray(target, dtype=np.float64)) if is_numpy else \
        torch.as_tensor(target, dtype=p.dtype, device=p.device)
    if p.shape != t.shape or p.ndim < min_dims or p.shape[-1] != 3:
        raise DataError(f"{name}: expected pred and target of one shape (..., J, 3), found "
                        f"{tuple(p.shape)} and {tuple(t.shape)}")
    return p, t.to(p.dtype), is_numpy


def _out(x: torch.Tensor, is_numpy: bool):
    if not is_numpy:
        return x
    x = x.detach().cpu().numpy()
    return np.float64(x) if x.ndim == 0 else x


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _reduce(per_pose: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_pose.mean()
    if reduction == "none":
        return per_pose
    raise DataError(f"reduction must be 'mean' or 'none', found {reduction!r}")


# --- protocol 1 and 2 -----------------------------------------------------------------------
def mpjpe(pred, target, reduction: str = "mean"):
    """Mean per-joint position error (protocol 1).

    pred, target: (..., J, 3) metres. Returns the mean over everything (reduction="mean") or the
    per-pose error (...,) (reduction="none"), in metres.
    """
    p, t, is_numpy = _as_torch(pred, target, "mpjpe")
    per_pose = torch.linalg.vector_norm(p - t, dim=-1).mean(-1)          # (...,)
    return _out(_reduce(per_pose, reduction), is_numpy)


def procrustes_align(pred, target):
    """Similarity transform of ``pred`` closest to ``target`` (least squares), per pose.

    pred, target: (..., J, 3). Finds scale s, rotation R (det +1: a reflection is never used)
    and translation t minimising sum_j |s R pred_j + t - target_j|^2 (Umeyama). Returns the
    aligned pred, (..., J, 3), same kind as the input.
    """
    p, t, is_numpy = _as_torch(pred, target, "procrustes_align")
    mu_p, mu_t = p.mean(-2, keepdim=True), t.mean(-2, keepdim=True)     # (..., 1, 3)
    p0, t0 = p - mu_p, t - mu_t                                         # (..., J, 3)
    h = p0.transpose(-1, -2) @ t0                                       # (..., 3, 3)
    u, s, vt = torch.linalg.svd(h)
    d = torch.sign(torch.linalg.det(vt.transpose(-1, -2) @ u.transpose(-1, -2)))  # (...,)
    d = torch.where(d == 0, torch.ones_like(d), d)
    diag = torch.ones_like(s)
    diag[..., -1] = d                                                    # (..., 3)
    rot = vt.transpose(-1, -2) @ (diag.unsqueeze(-1) * u.transpose(-1, -2))  # R = V D U^T
    var_p = (p0 ** 2).sum((-2, -1))                                      # (...,)
    scale = (s * diag).sum(-1) / var_p.clamp_min(torch.finfo(p.dtype).tiny)  # (...,)
    aligned = scale[..., None, None] * p0 @ rot.transpose(-1, -2) + mu_t   # (..., J, 3)
    return _out(aligned, is_numpy)


def p_mpjpe(pred, target, reduction: str = "mean"):
    """Procrustes-aligned MPJPE (protocol 2): mpjpe(procrustes_align(pred, target), target).

    pred, target: (..., J, 3) metres. Returns the mean (or per-pose (...,) errors) in metres.
    """
    p, t, is_numpy = _as_torch(pred, target, "p_mpjpe")
    aligned = procrustes_align(p, t)
    return _out(mpjpe(aligned, t, reduction=reduction), is_numpy)


def n_mpjpe(pred, target, reduction: str = "mean"):
    """Scale-normalised MPJPE: pred scaled by the least-squares s = <pred, target> / <pred, pred>.

    pred, target: (..., J, 3) metres (root-relative). Returns metres, mean or per pose.
    """
    p, t, is_numpy = _as_torch(pred, target, "n_mpjpe")
    num = (p * t).sum((-2, -1), keepdim=True)                            # (..., 1, 1)
    den = (p * p).sum((-2, -1), keepdim=True).clamp_min(torch.finfo(p.dtype).tiny)
    return _out(mpjpe(num / den * p, t, reduction=reduction), is_numpy)


def per_joint_error(pred, target):
    """Mean error of each joint over all poses: (..., J, 3) -> (J,) metres."""
    p, t, is_numpy = _as_torch(pred, target, "per_joint_error")
    err = torch.linalg.vector_norm(p - t, dim=-1)                         # (..., J)
    return _out(err.reshape(-1, err.shape[-1]).mean(0), is_numpy)


# --- MPI-INF-3DHP style ---------------------------------------------------------------------
def pck(pred, target, thr: float = 0.15):
    """Percentage of correct keypoints: share (0..1) of joints with error < thr metres.

    pred, target: (..., J, 3) metres, root-relative (no alignment), as in MPI-INF-3DHP where
    thr = 150 mm. Multiply by 100 for the percentages of the papers.
    """
    p, t, is_numpy = _as_torch(pred, target, "pck")
    err = torch.linalg.vector_norm(p - t, dim=-1)                         # (..., J)
    return _out((err < thr).to(p.dtype).mean(), is_numpy)


def auc(pred, target, max_thr: float = 0.15, num_thresholds: int = 31):
    """Area under the PCK curve: mean PCK over thresholds linspace(0, max_thr, num_thresholds).

    The MPI-INF-3DHP convention is 0, 5, ..., 150 mm (31 thresholds). Returns a share in 0..1.
    """
    p, t, is_numpy = _as_torch(pred, target, "auc")
    err = torch.linalg.vector_norm(p - t, dim=-1).reshape(-1)             # (N*J,)
    thr = torch.linspace(0.0, max_thr, num_thresholds, dtype=p.dtype, device=p.device)
    return _out((err[None, :] < thr[:, None]).to(p.dtype).mean(), is_numpy)


def mpjve(pred, target):
    """Mean per-joint velocity error between consecutive frames.

    pred, target: (..., F, J, 3) metres with F >= 2 frames. Returns metres per frame (multiply by
    the frame rate for m/s).
    """
    p, t, is_numpy = _as_torch(pred, target, "mpjve", min_dims=3)
    if p.shape[-3] < 2:
        raise DataError(f"mpjve: expected at least 2 frames on axis -3, found shape "
                        f"{tuple(p.shape)}")
    dv = torch.diff(p, dim=-3) - torch.diff(t, dim=-3)                    # (..., F-1, J, 3)
    return _out(torch.linalg.vector_norm(dv, dim=-1).mean(), is_numpy)


# --- per-action accumulator -----------------------------------------------------------------
def _action_names(actions, n: int) -> np.ndarray:
    """(N,) base action names from names ("Walking 1") or int indices into ACTIONS."""
    labels = _numpy(actions).reshape(-1)                                  # (N,)
    if len(labels) != n:
        raise DataError(f"ActionErrors.update: expected {n} action labels, found {len(labels)}")
    uniq, inverse = np.unique(labels, return_inverse=True)
    if np.issubdtype(uniq.dtype, np.integer) and len(uniq) and (uniq[0] < 0 or
                                                               uniq[-1] >= len(ACTIONS)):
        raise DataError(f"ActionErrors.update: action indices must be in 0..{len(ACTIONS) - 1}, "
                        f"found {uniq[0]}..{uniq[-1]}")
    bases = [ACTIONS[int(a)] if np.issubdtype(uniq.dtype, np.integer) else action_base(a)
             for a in uniq.tolist()]
    return np.asarray(bases, dtype=object)[inverse.reshape(-1)]


P2_CONVENTIONS = ("reference", "per_sample")
AVERAGES = ("all", "present")


def p2_reference_credit(p2: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """The P2 each pose of one test batch is credited under the reference's convention.

    monoMotionDiff's ``mpjpe_by_action_p2``: in a batch whose poses all share one action, each
    pose keeps its own PA-MPJPE; in a batch that mixes actions, EVERY pose is credited the mean
    over the whole batch. So the per-action P2 depends on the batch size and the sample order.
    p2: (B,) per-pose PA-MPJPE; actions: (B,) base names. Returns (B,).
    """
    if len(set(actions.tolist())) <= 1:
        return p2
    return np.full_like(p2, p2.mean())


class ActionErrors:
    """Protocol 1 and 2 errors per Human3.6M action, accumulated one test batch at a time.

    ``update(pred, target, actions)`` takes ONE test batch: pred, target (B, J, 3) metres and B
    action labels (names such as "Walking 1", or int indices into ACTIONS). Each action's error is
    the mean over its poses. Two conventions are kept side by side:

    - ``p2``: "reference" (default) credits P2 as the reference's evaluation loop does
      (:func:`p2_reference_credit`: a batch mixing actions gives every pose the batch mean);
      "per_sample" uses each pose's own PA-MPJPE (the better definition; always printed as the
      last column, "p#2 sample").
    - ``average``: "all" (default, the reference's table) is the plain mean of the 15 action rows,
      0 for an action without poses; "present" averages the actions seen.
    """

    def __init__(self, p2: str = "reference", average: str = "all"):
        if p2 not in P2_CONVENTIONS or average not in AVERAGES:
            raise DataError(f"ActionErrors: p2 must be one of {P2_CONVENTIONS} and average one of "
                            f"{AVERAGES}, found {p2!r}, {average!r}")
        self.p2, self.average_over = p2, average
        self._sums = {a: np.zeros(3) for a in ACTIONS}     # p1, p2 reference, p2 sample (metres)
        self._counts = {a: 0 for a in ACTIONS}

    def update(self, pred, target, actions) -> None:
        """Add one test batch (see the class docstring for why the batch matters)."""
        p1 = _numpy(mpjpe(pred, target, reduction="none")).reshape(-1)       # (B,) metres
        p2 = _numpy(p_mpjpe(pred, target, reduction="none")).reshape(-1)     # (B,) metres
        names = _action_names(actions, len(p1))                              # (B,)
        credit = p2_reference_credit(p2, names)                              # (B,)
        for name in set(names.tolist()):
            rows = names == name
            self._sums[name] += (p1[rows].sum(), credit[rows].sum(), p2[rows].sum())
            self._counts[name] += int(rows.sum())

    def update_batches(self, pred, target, actions, batch_size: int) -> None:
        """Add many poses as consecutive test batches of ``batch_size`` (the loader's order)."""
        labels = _numpy(actions).reshape(-1)
        for i in range(0, len(labels), int(batch_size)):
            self.update(pred[i:i + batch_size], target[i:i + batch_size],
                        labels[i:i + batch_size])

    @property
    def counts(self) -> dict[str, int]:
        """Number of poses seen per action (actions with none are left out)."""
        return {a: c for a, c in self._counts.items() if c}

    def _mm(self, action: str) -> np.ndarray:
        """(p1, p2 reference, p2 per-sample) of one action in mm; zeros without poses."""
        c = self._counts[action]
        return self._sums[action] / c * 1000.0 if c else np.zeros(3)

    def summary(self, p2: str | None = None) -> dict[str, tuple[float, float]]:
        """{action: (p1_mm, p2_mm)} in ACTIONS order for the actions seen; P2 in the convention
        ``p2`` (default: this table's)."""
        col = 1 if (p2 or self.p2) == "reference" else 2
        return {a: (float(self._mm(a)[0]), float(self._mm(a)[col])) for a in self.counts}

    def rows(self) -> list[tuple[str, float, float, float, int]]:
        """Table rows (action, p1, p2, p2 per-sample, count), mm: the 15 actions with
        ``average="all"``, the actions seen with "present"."""
        names = ACTIONS if self.average_over == "all" else tuple(self.counts)
        col = 1 if self.p2 == "reference" else 2
        return [(a, *(float(v) for v in self._mm(a)[[0, col, 2]]), self._counts[a]) for a in names]

    def average(self, p2: str | None = None) -> tuple[float, float]:
        """(p1_mm, p2_mm) of the table's Average row; P2 in the convention ``p2`` (default:
        this table's)."""
        p1, p2_table, p2_sample = self._average()
        return float(p1), float(p2_sample if (p2 or self.p2) == "per_sample" else p2_table)

    def _average(self) -> np.ndarray:
        rows = self.rows()
        if not self.counts:
            raise DataError("ActionErrors.average: no poses were added (call update first)")
        return np.mean([r[1:4] for r in rows], axis=0)

    HEADER = "{0:=^12} {1:=^10} {2:=^8} {3:=^14}".format("Action", "p#1 mm", "p#2 mm",
                                                        "p#2 sample")

    def table(self) -> str:
        """The reference's per-action table (action, p#1, p#2 in its convention), with the
        per-sample P2 as a last, labelled column, and the Average row."""
        lines = [self.HEADER]
        body = [r[:4] for r in self.rows()] + [("Average", *self._average())]
        for name, p1, p2, p2s in body:
            lines.append("{0:<12} {1:>6.2f} {2:>10.2f} {3:>10.2f}".format(name, p1, p2, p2s))
        return "\n".join(lines)

    def to_csv(self, path) -> Path:
        """Write action,p1_mm,p2_mm,p2_per_sample_mm,count rows, then Average; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["action", "p1_mm", "p2_mm", "p2_per_sample_mm", "count"])
            for name, p1, p2, p2s, count in self.rows():
                w.writerow([name, f"{p1:.4f}", f"{p2:.4f}", f"{p2s:.4f}", count])
            p1, p2, p2s = self._average()
            w.writerow(["Average", f"{p1:.4f}", f"{p2:.4f}", f"{p2s:.4f}",
                        sum(self._counts.values())])
        return path


# ----------------------------------------------------------------------------- several hypotheses

@dataclass(frozen=True)
class OracleBestOfN:
    """ORACLE best-of-N (uses the ground truth): for analysis only, never a prediction.

    pose: (B, J, 3) the hypothesis closest to the target per pose; index: (B,) which one;
    mpjpe: (B,) its mean per-joint error in metres.
    """
    pose: torch.Tensor
    index: torch.Tensor
    mpjpe: torch.Tensor


def oracle_best_of_n(hypotheses: torch.Tensor, target: torch.Tensor) -> OracleBestOfN:
    """ORACLE: per pose, the hypothesis with the lowest MPJPE against the ground truth.

    It looks at the answer, so its error is a lower bound on what the hypotheses contain, not
    a result of the method; label it "oracle" wherever it is reported.
    hypotheses: (S, B, J, 3), target: (B, J, 3), both root-relative metres.
    """
    hypotheses, target = torch.as_tensor(hypotheses), torch.as_tensor(target)
    if hypotheses.ndim != 4 or tuple(hypotheses.shape[1:]) != tuple(target.shape):
        raise DataError(f"oracle_best_of_n: expected hypotheses (S, B, J, 3) and target (B, J, 3), "
                        f"found {tuple(hypotheses.shape)} and {tuple(target.shape)}")
    err = (hypotheses - target).norm(dim=-1).mean(dim=-1)                # (S, B)
    best, index = err.min(dim=0)                                         # (B,), (B,)
    pose = hypotheses[index, torch.arange(hypotheses.shape[1], device=index.device)]  # (B, J, 3)
    return OracleBestOfN(pose=pose, index=index, mpjpe=best)


@dataclass(frozen=True)
class Calibration:
    """Hypothesis spread against error, per axis (mm). ``spread``/``error``: (bins, 3) the mean
    spread and the RMS error of the hypotheses' mean within each spread bin (bins by quantile of
    the spread, per axis); ``count`` (bins, 3); ``within_joint`` (3,) the correlation of spread
    and absolute error computed within each joint and averaged over joints (so a joint that is
    always harder does not make the correlation by itself)."""
    spread: np.ndarray
    error: np.ndarray
    count: np.ndarray
    within_joint: np.ndarray


def spread_calibration(hypotheses, target, bins: int = 8) -> Calibration:
    """Is the hypotheses' spread an uncertainty? hypotheses: (S, N, 17, 3), target (N, 17, 3),
    metres. Per joint (root excluded) and axis: spread = std over S, error = |mean - target|."""
    h = _numpy(hypotheses).astype(np.float64)
    g = _numpy(target).astype(np.float64)
    h, g = h - h[..., :1, :], g - g[..., :1, :]                              # root-relative
    if h.ndim != 4 or h.shape[1:] != g.shape or len(h) < 2:
        raise DataError(f"spread_calibration: expected hypotheses (S >= 2, N, J, 3) and target "
                        f"(N, J, 3), found {h.shape} and {g.shape}")
    spread = h.std(axis=0)[:, 1:] * 1000                                    # (N, J-1, 3) mm
    error = np.abs(h.mean(axis=0) - g)[:, 1:] * 1000                        # (N, J-1, 3) mm
    s_bins, e_bins, counts = (np.zeros((bins, 3)) for _ in range(3))
    for a in range(3):
        s, e = spread[..., a].ravel(), error[..., a].ravel()
        which = np.clip(np.searchsorted(np.quantile(s, np.linspace(0, 1, bins + 1)[1:-1]), s,
                                        side="right"), 0, bins - 1)
        for b in range(bins):
            sel = which == b
            counts[b, a] = sel.sum()
            s_bins[b, a] = s[sel].mean() if sel.any() else np.nan
            e_bins[b, a] = np.sqrt((e[sel] ** 2).mean()) if sel.any() else np.nan
    within = np.array([np.nanmean([_corr(spread[:, j, a], error[:, j, a])
                                   for j in range(spread.shape[1])]) for a in range(3)])
    return Calibration(spread=s_bins, error=e_bins, count=counts, within_joint=within)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
