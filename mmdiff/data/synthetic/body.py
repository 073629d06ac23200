"""The body of the embedded dataset: 32-joint bones, joint angles and limits, FK, floor.

The body uses the Human3.6M 32-joint layout of :mod:`mmdiff.skeleton` and the published Human3.6M
bone lengths (hip 132.9 mm, thigh 442.9 mm, shin 454.2 mm, pelvis->spine 233.4 mm, upper arm
278.9 mm, forearm 251.7 mm, ...; a standing body is about 1.69 m tall). Each subject gets its own
bone lengths (:func:`sample_offsets`), fixed over time.

Conventions
-----------
- Body frame (the rest pose): x forward, y to the body's left, z up; metres. The rest pose
  stands upright with the feet flat and the arms hanging down. ``REST_OFFSETS[j]`` is the vector
  from joint ``PARENTS_32[j]`` to joint ``j`` in that pose.
- A pose is a dict of named joint angles in DEGREES, each an (F,) array (F frames); angles that
  are absent stay at 0 (the rest pose). :data:`LIMITS` holds the anatomical range of every angle:
  knees and elbows flex from 0 (straight, never hyper-extended) to 150 degrees, the head turns at
  most 85 degrees either way, and so on. :func:`clip_to_limits` enforces them.
- Limbs (hips, shoulders) use a swing vector (``*_flex`` forward, ``*_abd`` outward, as an
  axis-angle rotation about a horizontal axis, so a swing passes smoothly through the rest pose)
  followed by a twist ``*_rot`` about the limb (positive = internal rotation). Trunk, neck and
  head use yaw-pitch-roll (``*_twist`` to the left, ``*_flex`` forward, ``*_side`` to the left).
- World frame: Human3.6M's, z up, floor at z = 0. :func:`place_on_floor` lifts each frame so that
  the body rests on its support (a foot, a knee, the pelvis on a seat or on the floor).
"""
from __future__ import annotations

import numpy as np

from mmdiff.errors import DataError
from mmdiff.skeleton import PARENTS_32

#: Frame rate of the embedded dataset (frames per second): Human3.6M's 50 Hz with stride 4, the
#: rate of ``../shared/realmotion``. Consecutive frames are 80 ms apart.
FPS = 12.5

SIDES = ("l", "r")
_SIGN = {"l": 1.0, "r": -1.0}          # +y is the body's left


def _unit(*v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _rest_offsets() -> np.ndarray:
    """Rest-pose bone vectors (32, 3) in metres, body frame (published H36M lengths)."""
    off = np.zeros((32, 3))
    toe = _unit(np.cos(np.radians(10)), 0, -np.sin(np.radians(10)))   # foot pitched down 10 deg
    toe_tip = _unit(np.cos(np.radians(6)), 0, np.sin(np.radians(6)))
    thumb = _unit(np.sin(np.radians(30)), 0, -np.cos(np.radians(30)))
    legs = {"r": (1, 132.948591, 442.894612, 454.206447, 162.767078, 74.999437),
            "l": (6, 132.948826, 442.894413, 454.206590, 162.767426, 74.999948)}
    for side, (j, hip, thigh, shin, foot, toes) in legs.items():
        off[j] = (0, _SIGN[side] * hip / 1000, 0)                       # hip joint
        off[j + 1] = (0, 0, -thigh / 1000)                              # knee
        off[j + 2] = (0, 0, -shin / 1000)                               # ankle
        off[j + 3] = toe * foot / 1000                                  # toe base
        off[j + 4] = toe_tip * toes / 1000                              # toe tip
    off[11] = (0, 0, 0.0001)                                            # Spine0 (0.1 mm)
    off[12] = (0, 0, 0.233383263)                                       # Spine
    off[13] = (0, 0, 0.257077681)                                       # Thorax
    off[14] = _unit(np.sin(np.radians(45)), 0, np.cos(np.radians(45))) * 0.121134938  # Nose,
    off[15] = _unit(-np.sin(np.radians(20)), 0, np.cos(np.radians(20))) * 0.115002227  # Head
    arms = {"l": (16, 151.034226, 278.882773, 251.733451, 100.000188),
            "r": (24, 151.031437, 278.892924, 251.728680, 137.499922)}
    for side, (j, clav, upper, fore, thumb_len) in arms.items():
        off[j] = (0, 0, 0.257077681)                                    # clavicle = thorax
        off[j + 1] = _unit(0, _SIGN[side] * np.cos(np.radians(26)),
                           -np.sin(np.radians(18))) * clav / 1000       # shoulder, 18 deg down
        off[j + 2] = (0, 0, -upper / 1000)                              # elbow
        off[j + 3] = (0, 0, -fore / 1000)                               # wrist
        off[j + 4] = (0, 0, 0)                                          # hand (= wrist)
        off[j + 5] = (0, 0, -0.1)                                       # hand tip
        off[j + 6] = thumb * thumb_len / 1000                           # thumb
        off[j + 7] = (0, 0, 0)                                          # thumb tip (= thumb)
    return off


#: Mean rest-pose bone vectors (32, 3), metres, body frame.
REST_OFFSETS = _rest_offsets()

#: Bones that scale together when a subject's body is drawn (joint indices whose offset scales).
BONE_GROUPS = {
    "hip": (1, 6), "thigh": (2, 7), "shin": (3, 8), "foot": (4, 5, 9, 10), "lumbar": (11, 12),
    "chest": (13, 16, 24), "neck": (14, 15), "shoulder": (17, 25), "upper_arm": (18, 26),
    "forearm": (19, 27), "hand": (20, 21, 22, 23, 28, 29, 30, 31),
}


def sample_offsets(rng: np.random.Generator, overall_sd: float = 0.035, bone_sd: float = 0.025,
                   max_dev: float = 0.08) -> np.ndarray:
    """Bone vectors of a new subject: (32, 3) metres, body frame.

    Every bone group of :data:`BONE_GROUPS` is scaled by ``overall * group`` with
    overall ~ N(1, overall_sd) (body size) and group ~ N(1, bone_sd) (proportions), left and right
    alike, each clipped to 1 +- max_dev (a few percent up to about 8 %, like real people).
    """
    overall = 1.0 + overall_sd * rng.standard_normal()
    scale = np.ones(32)
    for joints in BONE_GROUPS.values():
        scale[list(joints)] = np.clip(overall * (1 + bone_sd * rng.standard_normal()),
                                      1 - max_dev, 1 + max_dev)
    return REST_OFFSETS * scale[:, None]                                # (32, 3)


# --- joint angles and their limits ---------------------------------------------------------
def _limits() -> dict[str, tuple[float, float]]:
    lim = {"lumbar_flex": (-25, 65), "lumbar_side": (-25, 25), "lumbar_twist": (-35, 35),
           "chest_flex": (-15, 35), "chest_side": (-20, 20), "chest_twist": (-30, 30),
           "neck_flex": (-30, 45), "neck_side": (-25, 25), "neck_twist": (-50, 50),
           "head_flex": (-30, 40), "head_side": (-20, 20), "head_twist": (-35, 35)}
    for s in SIDES:
        lim.update({f"{s}_hip_flex": (-30, 125), f"{s}_hip_abd": (-25, 50),
                    f"{s}_hip_rot": (-35, 45), f"{s}_knee": (0, 150), f"{s}_ankle": (-45, 30),
                    f"{s}_toe": (-10, 40), f"{s}_clav_elev": (-10, 30),
                    f"{s}_clav_prot": (-20, 25), f"{s}_sh_flex": (-60, 170),
                    f"{s}_sh_abd": (-35, 170), f"{s}_sh_rot": (-70, 90), f"{s}_elbow": (0, 150),
                    f"{s}_wrist": (-60, 70)})
    return lim


#: Anatomical range (min, max) in degrees of every joint angle a programme may set.
LIMITS = _limits()
#: Largest swing of a shoulder (sqrt(flex^2 + abd^2)) and of a hip, degrees.
MAX_SWING = {"sh": 175.0, "hip": 125.0}


def clip_to_limits(angles: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Clip every angle (degrees, (F,) arrays) to :data:`LIMITS`; limb swings to MAX_SWING.

    Returns a new dict; unknown names raise ValueError (a typo would otherwise do nothing).
    """
    unknown = sorted(set(angles) - set(LIMITS))
    if unknown:
        raise DataError(f"unknown joint angle names {unknown}; expected names from LIMITS")
    out = {k: np.clip(np.asarray(v, dtype=np.float64), *LIMITS[k]) for k, v in angles.items()}
    for s in SIDES:
        for limb in ("sh", "hip"):
            fk, ak = f"{s}_{limb}_flex", f"{s}_{limb}_abd"
            if fk in out and ak in out:
                swing = np.hypot(out[fk], out[ak])                      # (F,)
                shrink = np.minimum(1.0, MAX_SWING[limb] / np.maximum(swing, 1e-9))
                out[fk], out[ak] = out[fk] * shrink, out[ak] * shrink
    return out


# --- rotations ------------------------------------------------------------------------------
def axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices about a coordinate axis (0 x, 1 y, 2 z).

    angle: (F,) radians -> (F, 3, 3)."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros(np.shape(angle) + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R[..., axis, axis] = 1
    R[..., i, i], R[..., i, j], R[..., j, i], R[..., j, j] = c, -s, s, c
    return R


def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle vectors (F, 3) radians -> rotation matrices (F, 3, 3) (Rodrigues)."""
    theta = np.linalg.norm(rotvec, axis=-1)[..., None, None]            # (F, 1, 1)
    k = rotvec / np.maximum(theta[..., 0], 1e-12)                       # (F, 3) unit axis
    K = np.zeros(rotvec.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    K = K - np.swapaxes(K, -1, -2)                                      # skew-symmetric
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * (K @ K)


def _ypr(yaw, pitch, roll) -> np.ndarray:
    """Yaw (about z, to the left), pitch (about y, forward), roll (about -x, to the left)."""
    return axis_rotation(2, yaw) @ axis_rotation(1, pitch) @ axis_rotation(0, -roll)


def _limb(sign: float, flex, abd, rot) -> np.ndarray:
    """Swing (flex forward, abd outward; one axis-angle) after a twist about the limb axis."""
    rotvec = np.stack([sign * abd, -flex, np.zeros_like(flex)], axis=-1)   # (F, 3)
    return rotvec_to_matrix(rotvec) @ axis_rotation(2, -sign * rot)


def local_rotations(angles: dict[str, np.ndarray], num_frames: int) -> np.ndarray:
    """Joint angles (degrees, clipped to LIMITS) -> local rotations (F, 32, 3, 3).

    The rotation of joint j turns the bones of j's children (e.g. ``l_knee`` at joint 7 turns the
    shin, offset of joint 8). Joints without angles keep the identity.
    """
    a = clip_to_limits(angles)
    zero = np.zeros(num_frames)

    def g(name):
        return np.radians(a.get(name, zero))

    R = np.broadcast_to(np.eye(3), (num_frames, 32, 3, 3)).copy()
    R[:, 11] = _ypr(g("lumbar_twist"), g("lumbar_flex"), g("lumbar_side"))
    R[:, 12] = _ypr(g("chest_twist"), g("chest_flex"), g("chest_side"))
    R[:, 13] = _ypr(g("neck_twist"), g("neck_flex"), g("neck_side"))
    R[:, 14] = _ypr(g("head_twist"), g("head_flex"), g("head_side"))
    for s, (hip, clav) in {"r": (1, 24), "l": (6, 16)}.items():
        sign = _SIGN[s]
        R[:, hip] = _limb(sign, g(f"{s}_hip_flex"), g(f"{s}_hip_abd"), g(f"{s}_hip_rot"))
        R[:, hip + 1] = axis_rotation(1, g(f"{s}_knee"))                # shin swings back
        R[:, hip + 2] = axis_rotation(1, -g(f"{s}_ankle"))              # dorsiflexion: toes up
        R[:, hip + 3] = axis_rotation(1, -g(f"{s}_toe"))
        R[:, clav] = axis_rotation(0, sign * g(f"{s}_clav_elev")) @ \
            axis_rotation(2, -sign * g(f"{s}_clav_prot"))
        R[:, clav + 1] = _limb(sign, g(f"{s}_sh_flex"), g(f"{s}_sh_abd"), g(f"{s}_sh_rot"))
        R[:, clav + 2] = axis_rotation(1, -g(f"{s}_elbow"))             # forearm swings forward
        R[:, clav + 3] = axis_rotation(1, -g(f"{s}_wrist"))
    return R


def root_rotation(heading, pitch=None, roll=None) -> np.ndarray:
    """Body -> world rotation (F, 3, 3): heading about z (radians, 0 faces +x), then pitch, roll."""
    heading = np.asarray(heading, dtype=np.float64)
    zero = np.zeros_like(heading)
    return _ypr(heading, zero if pitch is None else pitch, zero if roll is None else roll)


def forward_kinematics(offsets: np.ndarray, local_rot: np.ndarray, root_rot: np.ndarray,
                       root_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions from bone vectors and joint rotations.

    offsets: (32, 3) metres, body frame; local_rot: (F, 32, 3, 3); root_rot: (F, 3, 3) body ->
    world; root_pos: (F, 3) metres. Returns positions (F, 32, 3) metres and the global rotation
    of every joint (F, 32, 3, 3). Bone lengths equal ``|offsets|`` exactly, in every frame.
    """
    F = len(root_pos)
    if offsets.shape != (32, 3) or local_rot.shape != (F, 32, 3, 3) or root_rot.shape != (F, 3, 3):
        raise DataError(f"forward_kinematics: expected offsets (32, 3), local_rot ({F}, 32, 3, 3) "
                         f"and root_rot ({F}, 3, 3); got {offsets.shape}, {local_rot.shape}, "
                         f"{root_rot.shape}")
    pos = np.zeros((F, 32, 3))
    glob = np.zeros((F, 32, 3, 3))
    pos[:, 0], glob[:, 0] = root_pos, root_rot @ local_rot[:, 0]
    for j in range(1, 32):
        p = PARENTS_32[j]
        pos[:, j] = pos[:, p] + glob[:, p] @ offsets[j]                 # (F, 3)
        glob[:, j] = glob[:, p] @ local_rot[:, j]                       # (F, 3, 3)
    return pos, glob


# --- resting on the floor -------------------------------------------------------------------
#: Lowest height (metres) of each joint centre above the floor: the surface under a joint. Feet
#: as in real Human3.6M motion capture (ankle joints about 3 cm, toes about 0-1 cm above it).
CLEARANCE = np.full(32, 0.04)
CLEARANCE[[3, 8]] = 0.03           # ankles (heel on the floor)
CLEARANCE[[4, 9]] = 0.0            # toe bases
CLEARANCE[[5, 10]] = 0.0           # toe tips
CLEARANCE[[0, 11]] = 0.08          # pelvis (sitting on the floor)
CLEARANCE[[1, 6]] = 0.08           # hip joints
CLEARANCE[[2, 7]] = 0.05           # knees (kneeling)
#: Joints of the feet (ankles, toe bases, toe tips): what stands on the floor.
FOOT_JOINTS = (3, 4, 5, 8, 9, 10)
#: Joints of the hands (wrists to thumb tips): they rest on the floor rather than lift the body.
HAND_JOINTS = (19, 20, 21, 22, 23, 27, 28, 29, 30, 31)
#: Height of the pelvis joint above a seat when sitting on it (metres); the floor is a seat of
#: height 0.
SEAT_CLEARANCE = 0.09


def place_on_floor(positions: np.ndarray, seat: np.ndarray | None = None,
                   sitting: np.ndarray | None = None):
    """Shift each frame vertically so the body rests on its support.

    positions: (F, 32, 3) metres, z up (only relative heights within a frame matter).
    seat: optional (F,) seat height in metres (0 = sitting on the floor, NaN = no seat);
    sitting: optional (F,) in [0, 1], how far the pelvis has come down onto the seat (default:
    1 wherever there is a seat).
    Standing (sitting 0): every joint but the hands ends at or above :data:`CLEARANCE` and the
    lowest one touches. Seated (sitting 1): the pelvis rests SEAT_CLEARANCE above the seat unless
    a joint other than the feet and hands would go below the floor. In between, the pelvis height
    moves smoothly from where the feet hold it to the seat. Feet and hands are put on the floor
    later, by IK (:mod:`mmdiff.data.synthetic.contact`). Returns the placed (F, 32, 3) array
    (new) and the seated mask (F,) (sitting > 0.5).
    """
    rel = positions[..., 2] - positions[:, :1, 2]                       # (F, 32) above pelvis
    need = CLEARANCE - rel                                              # (F, 32) lift per joint
    feet, hands = np.zeros(32, bool), np.zeros(32, bool)
    feet[list(FOOT_JOINTS)], hands[list(HAND_JOINTS)] = True, True
    body_lift = need[:, ~(feet | hands)].max(1)                         # (F,)
    foot_lift = need[:, feet].max(1)
    lift = np.maximum(body_lift, foot_lift)                             # standing
    seated = np.zeros(len(positions), bool)
    if seat is not None:
        has = np.isfinite(seat)
        w = has.astype(float) if sitting is None else np.where(has, np.clip(sitting, 0, 1), 0.0)
        on_seat = np.where(has, seat, -10.0) + SEAT_CLEARANCE           # (F,) no seat: far below
        lowering = (1 - w) * np.maximum(foot_lift, on_seat) + w * on_seat
        lift = np.where(w > 0, np.maximum(body_lift, lowering), lift)
        seated = w > 0.5
    out = positions.copy()
    out[..., 2] = rel + lift[:, None]
    return out, seated
