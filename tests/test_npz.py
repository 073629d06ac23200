"""Tests for mmdiff.data.npz: restricted unpickling and atomic writes."""
from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from mmdiff.data.npz import load_npz_key, npz_keys, save_npz_atomic
from mmdiff.errors import DataError


class _WriteMarker:
    """Unpickling this object runs exec(...), which writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


class _ShellMarker:
    """Unpickling this object runs os.system('touch marker')."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def _object_npz(path, key, obj):
    """Write obj inside a 0-d object array member, the way the published files do."""
    arr = np.empty((), dtype=object)
    arr[()] = obj
    with open(path, "wb") as f:
        np.savez(f, **{key: arr})
    return path


def test_round_trip_nested_containers(tmp_path):
    data = {"S1": {"Walking 1": np.arange(12, dtype=np.float32).reshape(2, 2, 3)},
            "list": [np.ones((2, 17, 2)), np.zeros(3, dtype=np.int64)],
            "tuple": (1, 2.5, "x", None, True, b"raw"),
            "scalar": np.float64(3.5), "int32": np.int32(7),
            "ordered": collections.OrderedDict(a=1)}
    path = save_npz_atomic(tmp_path / "d.npz", positions=data, plain=np.eye(3))
    out = load_npz_key(path, "positions")
    assert np.array_equal(out["S1"]["Walking 1"], data["S1"]["Walking 1"])
    assert out["S1"]["Walking 1"].dtype == np.float32
    assert np.array_equal(out["list"][0], data["list"][0]) and out["list"][1].dtype == np.int64
    assert out["tuple"] == data["tuple"]
    assert out["scalar"] == 3.5 and out["int32"] == 7 and out["ordered"] == {"a": 1}
    assert np.array_equal(load_npz_key(path, "plain"), np.eye(3))
    assert npz_keys(path) == ["plain", "positions"]


def test_object_array_not_0d_is_returned_as_array(tmp_path):
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = np.ones(3), np.zeros((2, 2))
    path = save_npz_atomic(tmp_path / "o.npz", cams=arr)
    out = load_npz_key(path, "cams")
    assert isinstance(out, np.ndarray) and out.shape == (2,)
    assert np.array_equal(out[1], np.zeros((2, 2)))


@pytest.mark.parametrize("protocol", [2, 3])
def test_numpy1_module_names_are_accepted(tmp_path, protocol):
    """Files written by numpy 1.x name numpy.core; protocol 2 spells bytes via _codecs.encode."""
    arr = np.empty((), dtype=object)
    arr[()] = {"a": np.arange(3.0)}
    payload = pickle.dumps(arr, protocol=protocol).replace(b"numpy._core", b"numpy.core")
    assert b"numpy.core.multiarray" in payload
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False,
                                               "shape": ()})
    with zipfile.ZipFile(tmp_path / "old.npz", "w") as zf:
        zf.writestr("positions_3d.npy", buf.getvalue() + payload)
    out = load_npz_key(tmp_path / "old.npz", "positions_3d")
    assert np.array_equal(out["a"], np.arange(3.0))


@pytest.mark.parametrize("payload_cls, refused", [(_WriteMarker, "builtins.exec"),
                                                  (_ShellMarker, "system")])
def test_malicious_pickle_is_refused_without_running(tmp_path, payload_cls, refused):
    marker = tmp_path / "marker.txt"
    path = _object_npz(tmp_path / "evil.npz", "positions_3d",
                       {"S1": {"Walking": payload_cls(marker)}})
    with pytest.raises(DataError) as info:
        load_npz_key(path, "positions_3d")
    assert str(path) in str(info.value) and refused in str(info.value)
    assert not marker.exists()


def test_the_crafted_file_really_is_malicious(tmp_path):
    """Guard for the test above: numpy's own pickle loading does run the payload."""
    marker = tmp_path / "marker.txt"
    path = _object_npz(tmp_path / "evil.npz", "positions_3d", _WriteMarker(marker))
    np.load(path, allow_pickle=True)["positions_3d"]
    assert marker.read_text() == "pwned"


def test_other_globals_are_refused(tmp_path):
    path = _object_npz(tmp_path / "c.npz", "x", collections.Counter("aab"))
    with pytest.raises(DataError, match="collections.Counter"):
        load_npz_key(path, "x")


def test_missing_file_key_and_bad_zip(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_npz_key(tmp_path / "absent.npz", "positions_3d")
    path = save_npz_atomic(tmp_path / "a.npz", other=np.zeros(2))
    with pytest.raises(DataError, match=r"missing key 'positions_3d'.*\['other'\]"):
        load_npz_key(path, "positions_3d")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(DataError, match="not a valid .npz"):
        load_npz_key(tmp_path / "text.npz", "positions_3d")


def test_truncated_pickle_raises_data_error(tmp_path):
    arr = np.empty((), dtype=object)
    arr[()] = {"a": np.arange(100.0)}
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "t.npz", "w") as zf:
        zf.writestr("x.npy", buf.getvalue()[:-200])
    with pytest.raises(DataError, match="t.npz, key 'x'"):
        load_npz_key(tmp_path / "t.npz", "x")


def test_atomic_save_replaces_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "out.data"                           # no .npz appended
    save_npz_atomic(path, a=np.zeros(3))
    save_npz_atomic(path, a=np.ones(3))
    assert np.array_equal(load_npz_key(path, "a"), np.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.data"]


def test_failed_save_keeps_the_old_file(tmp_path):
    path = save_npz_atomic(tmp_path / "keep.npz", a=np.arange(4))
    with pytest.raises(Exception):
        save_npz_atomic(path, a={"f": lambda x: x})        # lambdas cannot be pickled
    assert np.array_equal(load_npz_key(path, "a"), np.arange(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npz"]


class _Rot13:
    def __reduce__(self):
        import codecs
        return codecs.encode, ("abc", "rot13")


def test_codecs_encode_is_only_latin1(tmp_path):
    path = _object_npz(tmp_path / "r.npz", "x", _Rot13())
    with pytest.raises(DataError, match="rot13"):
        load_npz_key(path, "x")
