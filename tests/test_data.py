import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ebmplan.data.toy2d import DATASETS, load_data, spiral
from ebmplan.errors import ConfigError


def test_spiral_follows_the_guide_formula():
    clean = spiral(np.random.default_rng(0), 5000, 0.0)
    r = np.linalg.norm(clean, axis=1)
    theta = r * (math.pi / 2 + 4 * math.pi) / 1.5
    assert theta.min() >= math.pi / 2 - 1e-9 and theta.max() <= math.pi / 2 + 4 * math.pi + 1e-9
    # the point lies at angle theta (mod 2 pi)
    angle_err = np.angle(np.exp(1j * (np.arctan2(clean[:, 1], clean[:, 0]) - theta)))
    assert np.abs(angle_err).max() < 1e-9


def test_splits_are_disjoint_deterministic_and_boxed():
    a, b = load_data("spiral", seed=3), load_data("spiral", seed=3)
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert not torch.equal(a.train, load_data("spiral", seed=4).train)
    assert (len(a.train), len(a.val), len(a.test)) == (10000, 2000, 2000)
    all_rows = torch.cat([a.train, a.val, a.test])
    assert len(torch.unique(all_rows, dim=0)) == len(all_rows)
    assert (a.train >= a.low).all() and (a.train <= a.high).all()
    assert a.clean is not None and a.clean.shape == (20000, 2)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_named_data_set_loads(name):
    d = load_data(name, n=700)
    assert d.train.shape == (500, 2) and torch.isfinite(d.train).all()
    assert d.reference.shape[1] == 2


def test_user_files_npy_and_csv(tmp_path):
    pts = np.random.default_rng(0).normal(size=(70, 3))
    np.save(tmp_path / "p.npy", pts)
    np.savetxt(tmp_path / "p.csv", pts, delimiter=",")
    for f in ("p.npy", "p.csv"):
        d = load_data(str(tmp_path / f))
        assert d.dim == 3 and len(d.train) + len(d.val) + len(d.test) == 70 and d.clean is None
        assert d.reference is d.test  # no clean curve: measured against held-out points


@pytest.mark.parametrize("content, message", [
    ("1,2\n3\n", "could not be read"),
    ("a,b\nc,d\n", "could not be read"),
    ("\n".join(["1,nan"] * 30), "NaN or infinite"),
    ("1,2\n3,4\n", "at least 20"),
])
def test_bad_csv_files_are_config_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_data(str(path))


def test_bad_sources(tmp_path):
    with pytest.raises(ConfigError, match="unknown data set 'spirall'"):
        load_data("spirall")
    with pytest.raises(ConfigError, match="does not exist"):
        load_data(str(tmp_path / "missing.npy"))
    np.save(tmp_path / "vec.npy", np.zeros(50))
    with pytest.raises(ConfigError, match="N x D"):
        load_data(str(tmp_path / "vec.npy"))
    (tmp_path / "junk.npy").write_bytes(b"not a numpy file")
    with pytest.raises(ConfigError, match="could not be read"):
        load_data(str(tmp_path / "junk.npy"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_loader_never_crashes_on_arbitrary_bytes(tmp_path, blob):
    for suffix in (".csv", ".npy"):
        path = tmp_path / f"fuzz{suffix}"
        path.write_bytes(blob)
        try:
            d = load_data(str(path))
        except ConfigError:
            continue
        assert torch.isfinite(d.train).all() and d.train.ndim == 2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                                   st.text(max_size=3)), min_size=1, max_size=4), max_size=40))
def test_loader_accepts_exactly_the_finite_numeric_tables(tmp_path, rows):
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    numeric = (len(rows) >= 20 and len({len(r) for r in rows}) == 1
               and all(isinstance(v, float) and math.isfinite(v) for r in rows for v in r))
    try:
        load_data(str(path))
        accepted = True
    except ConfigError:
        accepted = False
    assert accepted == numeric
