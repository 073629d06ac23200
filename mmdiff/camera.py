"""Human3.6M cameras: the published calibration, world <-> camera transforms, projection to pixels.

Conventions
-----------
- 3D points are in metres. World coordinates are Human3.6M's (z up); camera coordinates have
  x to the right, y down and z along the optical axis (forward), like an image.
- Orientation quaternions are (w, x, y, z) and rotate camera-frame vectors into the world frame:
  ``X_world = qrot(q, X_cam) + t``, so ``X_cam = qrot(qinverse(q), X_world - t)``.
- Pixels exist only at the file boundary. Inside the kit, 2D poses are normalised screen
  coordinates: ``[0, w]`` maps to ``[-1, 1]`` and v is scaled by the same factor, so the aspect
  ratio is kept (v spans ``[-h/w, h/w]``).

The numbers are the calibration published with Human3.6M (as distributed with VideoPose3D): four
cameras with shared intrinsics, and per-subject extrinsics for S1, S5, S6, S7, S8, S9 and S11.
The published translations are in millimetres; :func:`cameras_for` returns them in metres. The
published quaternions are float32 values whose norm is 1 only to ~1e-7; they are renormalised so
that world -> camera -> world is exact (this moves points by < 1e-6 m).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mmdiff.errors import DataError

# --- published calibration (data) ------------------------------------------------------------
# Intrinsics per camera index 0..3: id, res_w, res_h, focal length (px), centre (px),
# radial distortion k1 k2 k3, tangential distortion p1 p2.
_INTRINSICS = (
    ("54138969", 1000, 1002, (1145.0494384765625, 1143.7811279296875),
     (512.54150390625, 515.4514770507812),
     (-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
     (-0.0009756988729350269, -0.00142447161488235)),
    ("55011271", 1000, 1000, (1149.6756591796875, 1147.5916748046875),
     (508.8486328125, 508.0649108886719),
     (-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
     (-0.0016190266469493508, -0.0027408944442868233)),
    ("58860488", 1000, 1000, (1149.1407470703125, 1148.7989501953125),
     (519.8158569335938, 501.40264892578125),
     (-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
     (0.0014843869721516967, -0.0007599993259645998)),
    ("60457274", 1000, 1002, (1145.5113525390625, 1144.77392578125),
     (514.9682006835938, 501.88201904296875),
     (-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
     (-0.0005872055771760643, -0.0018133620033040643)),
)

# Extrinsics per subject and camera index: (orientation quaternion w x y z, translation in MM).
_EXTRINSICS_MM = {
    "S1": (
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ),
    "S5": (
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ),
    "S6": (
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ),
    "S7": (
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ),
    "S8": (
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ),
    "S9": (
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ),
    "S11": (
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ),
}

#: Subjects with published extrinsics, in the usual order.
SUBJECTS = tuple(_EXTRINSICS_MM)
#: Number of cameras per subject.
NUM_CAMERAS = len(_INTRINSICS)


def _frozen(values) -> np.ndarray:
    arr = np.array(values, dtype=np.float64)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated Human3.6M camera (read-only arrays).

    id: camera serial ("54138969", ...); res_w, res_h: image size in pixels;
    focal_length (2,) and center (2,): pixels; radial_distortion (3,): k1, k2, k3;
    tangential_distortion (2,): p1, p2; orientation (4,): quaternion (w, x, y, z) rotating camera
    vectors into the world; translation (3,): camera centre in world coordinates, METRES.
    """

    id: str
    res_w: int
    res_h: int
    focal_length: np.ndarray
    center: np.ndarray
    radial_distortion: np.ndarray
    tangential_distortion: np.ndarray
    orientation: np.ndarray
    translation: np.ndarray

    def __repr__(self) -> str:
        return (f"Camera(id={self.id!r}, {self.res_w}x{self.res_h} px, "
                f"f={self.focal_length.round(1).tolist()}, t={self.translation.round(3).tolist()} m)")


def cameras_for(subject: str) -> list[Camera]:
    """The four calibrated cameras of a Human3.6M subject ("S1", "S5", ..., "S11"), in file order.

    Raises DataError for a subject without published extrinsics (S2, S3, S4 or a typo).
    """
    if subject not in _EXTRINSICS_MM:
        raise DataError(f"no Human3.6M camera extrinsics for subject {subject!r}; "
                        f"expected one of {list(SUBJECTS)}")
    cams = []
    for (cid, w, h, f, c, k, p), (q, t_mm) in zip(_INTRINSICS, _EXTRINSICS_MM[subject]):
        cams.append(Camera(id=cid, res_w=w, res_h=h, focal_length=_frozen(f), center=_frozen(c),
                           radial_distortion=_frozen(k), tangential_distortion=_frozen(p),
                           orientation=_frozen(np.array(q) / np.linalg.norm(q)), translation=_frozen(np.array(t_mm) / 1000.0)))
    return cams


# --- quaternions ----------------------------------------------------------------------------
def _cross(a, b):
    """Cross product on the last axis, broadcasting, numpy or torch."""
    if isinstance(a, torch.Tensor):
        a, b = torch.broadcast_tensors(a, b)
        return torch.linalg.cross(a, b, dim=-1)
    return np.cross(a, b)


def qrot(q, v):
    """Rotate vectors by unit quaternions.

    q: (..., 4) quaternions (w, x, y, z); v: (..., 3) vectors. Leading axes broadcast.
    Returns (..., 3), numpy or torch like the inputs (both must be the same kind).
    """
    if q.shape[-1] != 4 or v.shape[-1] != 3:
        raise DataError(f"qrot expects q (..., 4) and v (..., 3), got {tuple(q.shape)} and "
                         f"{tuple(v.shape)}")
    w, qvec = q[..., :1], q[..., 1:]
    uv = _cross(qvec, v)           # (..., 3)
    uuv = _cross(qvec, uv)         # (..., 3)
    return v + 2 * (w * uv + uuv)


def qinverse(q):
    """Inverse (conjugate) of unit quaternions (..., 4) (w, x, y, z); returns a new array."""
    if isinstance(q, torch.Tensor):
        sign = torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=q.dtype, device=q.device)
    else:
        sign = np.array([1.0, -1.0, -1.0, -1.0])
    return q * sign


# --- world <-> camera -----------------------------------------------------------------------
def _as_like(arr: np.ndarray, X):
    return torch.tensor(arr, dtype=X.dtype, device=X.device) if isinstance(X, torch.Tensor) \
        else arr


def world_to_camera(X, camera: Camera):
    """World -> camera coordinates. X: (..., 3) metres (numpy or torch). Returns (..., 3) metres."""
    if X.shape[-1] != 3:
        raise DataError(f"world_to_camera expects (..., 3), got {tuple(X.shape)}")
    q_inv = _as_like(qinverse(camera.orientation), X)
    return qrot(q_inv, X - _as_like(camera.translation, X))


def camera_to_world(X, camera: Camera):
    """Camera -> world coordinates. X: (..., 3) metres (numpy or torch). Returns (..., 3) metres."""
    if X.shape[-1] != 3:
        raise DataError(f"camera_to_world expects (..., 3), got {tuple(X.shape)}")
    return qrot(_as_like(camera.orientation, X), X) + _as_like(camera.translation, X)


# --- projection -----------------------------------------------------------------------------
def project_to_2d(X_cam, camera: Camera, distort: bool = True):
    """Project camera-frame points to pixels.

    X_cam: (..., 3) camera coordinates in metres, z > 0 (numpy or torch).
    distort=True applies the Human3.6M lens model (as in VideoPose3D's ``project_to_2d``): with
    the normalised image point m = (x/z, y/z) clamped to [-1, 1], r2 = |m|^2,
    m' = m * (1 + k1 r2 + k2 r2^2 + k3 r2^3 + p.m) + p r2. distort=False is the pinhole model
    (no clamp). Returns (..., 2) pixels: f * m' + c.
    """
    if X_cam.shape[-1] != 3:
        raise DataError(f"project_to_2d expects (..., 3) camera coordinates, got "
                         f"{tuple(X_cam.shape)}")
    m = X_cam[..., :2] / X_cam[..., 2:3]                                   # (..., 2)
    if distort:
        m = m.clamp(-1, 1) if isinstance(m, torch.Tensor) else np.clip(m, -1, 1)
        k = _as_like(camera.radial_distortion, X_cam)
        p = _as_like(camera.tangential_distortion, X_cam)
        r2 = (m ** 2)[..., :1] + (m ** 2)[..., 1:]                         # (..., 1)
        radial = 1 + k[0] * r2 + k[1] * r2 ** 2 + k[2] * r2 ** 3          # (..., 1)
        tan = p[0] * m[..., :1] + p[1] * m[..., 1:]                         # (..., 1)
        m = m * (radial + tan) + p * r2                                     # (..., 2)
    return _as_like(camera.focal_length, X_cam) * m + _as_like(camera.center, X_cam)


def normalize_screen_coordinates(X, w: int, h: int):
    """Pixels -> normalised screen coordinates.

    X: (..., 2) pixels (u, v); w, h: image size. [0, w] maps to [-1, 1] and v gets the same scale,
    so v spans [-h/w, h/w]. Returns a new (..., 2) array of the input's kind.
    """
    if X.shape[-1] != 2:
        raise DataError(f"normalize_screen_coordinates expects (..., 2), got {tuple(X.shape)}")
    offset = _as_like(np.array([1.0, h / w]), X)
    return X / w * 2 - offset


def image_coordinates(X, w: int, h: int):
    """Normalised screen coordinates (..., 2) -> pixels (..., 2); inverse of the above."""
    if X.shape[-1] != 2:
        raise DataError(f"image_coordinates expects (..., 2), got {tuple(X.shape)}")
    offset = _as_like(np.array([1.0, h / w]), X)
    return (X + offset) * w / 2
