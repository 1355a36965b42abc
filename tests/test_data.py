import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ebmplan.common.errors import ConfigError
from ebmplan.points.toy2d import DATASETS, load_data, spiral


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
    ("1,2\n3,4\n", "at least 50"),
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
                                   st.text(max_size=3)), min_size=1, max_size=4), max_size=70))
def test_loader_accepts_exactly_the_finite_numeric_tables(tmp_path, rows):
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    numeric = (len({len(r) for r in rows}) == 1
               and all(isinstance(v, float) and math.isfinite(v) for r in rows for v in r))
    if numeric:  # then the checks of a usable set: enough distinct points, no constant column, float32 range
        arr = np.array(rows, dtype=np.float64).reshape(len(rows), -1)
        spread = arr.max(0) - arr.min(0) if len(arr) else np.zeros(0)
        numeric = (len(np.unique(arr, axis=0)) >= 50 and np.abs(arr).max() <= 1e30
                   and (spread > 1e-6 * np.maximum(np.abs(arr).max(0), 1e-24)).all())
    try:
        load_data(str(path))
        accepted = True
    except ConfigError:
        accepted = False
    assert accepted == numeric


# ------------------------------------------------------------------------------------- the suite's data sets

def test_the_suite_is_ffjords_scale_and_noise():
    rng = np.random.default_rng(0)
    g8 = DATASETS["8gaussians"].sample(rng, 4000)
    assert np.linalg.norm(g8, axis=1).mean() == pytest.approx(4 / 1.414, abs=0.05)  # FFJORD: radius 4, / 1.414
    g25 = DATASETS["25gaussians"].sample(rng, 2500)
    assert g25.std(0) == pytest.approx([1.0, 1.0], abs=0.02)  # gan_toy.py divides by 2.828, its std
    board = DATASETS["checkerboard"].sample(rng, 4000)
    assert board.min() >= -4 and board.max() < 4
    cell = np.floor(board / 2).astype(int)  # 2 x 2 squares of a 4 x 4 board, alternately filled
    assert ((cell[:, 0] + cell[:, 1]) % 2 == 0).all()
    rings = DATASETS["rings"].sample(rng, 4000)
    radius = np.linalg.norm(rings, axis=1)
    nearest = np.array([3.0, 2.25, 1.5, 0.75])[np.abs(radius[:, None] - [3.0, 2.25, 1.5, 0.75]).argmin(1)]
    assert (radius - nearest).std() == pytest.approx(0.08, abs=0.01)  # noise 0.08 after the * 3
    circles = DATASETS["circles"].sample(rng, 4000)
    radius = np.linalg.norm(circles, axis=1)
    outer = radius > 2.25
    assert outer.mean() == pytest.approx(0.5, abs=0.01) and radius[outer].mean() == pytest.approx(3.0, abs=0.05)
    assert radius[~outer].mean() == pytest.approx(1.5, abs=0.05)  # sklearn's factor 0.5, then FFJORD's * 3


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_generator_density_integrates_to_one_and_matches_its_sampler(name):
    shape = DATASETS[name]
    truth = shape.truth(0)
    x = shape.sample(np.random.default_rng(1), 60_000)
    edges = [np.linspace(x[:, i].min() - 0.6, x[:, i].max() + 0.6, 41) for i in range(2)]
    counts, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=edges)
    width = [e[1] - e[0] for e in edges]
    k = 5 if truth.family == "mixture" else 3  # each bin's mean density on a k x k sub-grid, finer than a mode
    sub = (np.arange(k) + 0.5) / k
    grid = np.stack(np.meshgrid(*[(e[:-1, None] + w * sub[None]).ravel() for e, w in zip(edges, width, strict=True)],
                                indexing="ij"), -1).reshape(-1, 2)
    density = np.exp(truth.log_density(grid)).reshape(40, k, 40, k).mean((1, 3))
    assert density.sum() * width[0] * width[1] == pytest.approx(1.0, abs=0.01)
    if truth.family == "curve":  # numerical densities: bin by bin against the sampler's counts
        expected = density * width[0] * width[1] * len(x)
        busy = expected > 100
        z = (counts[busy] - expected[busy]) / np.sqrt(expected[busy])  # Poisson: about N(0, 1) per bin
        assert np.sqrt((z**2).mean()) < 1.3


def test_exact_densities_at_known_points():
    g25 = DATASETS["25gaussians"].truth(0)
    peak = -math.log(25 * 2 * math.pi * g25.std**2)  # a mode's centre: the other modes add nothing
    assert g25.log_density(g25.centres[:1])[0] == pytest.approx(peak, abs=1e-6)
    board = DATASETS["checkerboard"].truth(0)
    assert board.log_density(np.array([[0.5, 0.5], [2.5, 0.5]])) == pytest.approx([-math.log(32), -np.inf])


def test_two_spirals_density_is_the_box_and_gaussian_noise_around_the_arm():
    # far from every arm the density is tiny; on the clean curve it is high
    truth = DATASETS["2spirals"].truth(0)
    assert truth.log_density(truth.clean[:100]).min() > -3 > -30 > truth.log_density(np.array([[3.5, -3.5]]))[0]


def test_each_family_gives_what_its_metrics_need():
    d = load_data("8gaussians", n=700)
    assert d.truth.family == "mixture" and d.truth.centres.shape == (8, 2) and d.clean is None
    d = load_data("checkerboard", n=700)
    assert d.truth.family == "area" and d.truth.cells.shape == (128, 2, 2)
    d = load_data("pinwheel", n=700)
    assert d.truth.family == "curve" and d.clean.shape == (20000, 2)


def test_standardised_units_round_trip():
    d = load_data("moons", seed=2)
    z = d.to_model(d.train)
    assert z.mean(0).abs().max() < 1e-4 and (z.std(0) - d.zoom).abs().max() < 1e-2  # every column alike
    assert torch.allclose(d.to_data(z), d.train, atol=1e-5)
    raw = load_data("moons", seed=2, standardise=False)
    assert torch.equal(raw.to_model(raw.train), raw.train)


# --------------------------------------------------------------------------------------------- bad input

def write_points(tmp_path, points, name="pts.csv"):
    path = tmp_path / name
    np.savetxt(path, points, delimiter=",")
    return str(path)


def test_too_few_points_are_refused_in_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="has 49 points; at least 50"):
        load_data(write_points(tmp_path, np.random.default_rng(0).normal(size=(49, 2))))


def test_a_duplicate_heavy_file_is_refused_when_too_few_points_are_distinct(tmp_path):
    few = np.repeat(np.random.default_rng(0).normal(size=(10, 2)), 100, axis=0)
    with pytest.raises(ConfigError, match="1000 points but only 10 distinct"):
        load_data(write_points(tmp_path, few))
    enough = np.repeat(np.random.default_rng(0).normal(size=(60, 2)), 20, axis=0)
    assert len(load_data(write_points(tmp_path, enough, "ok.csv")).train) > 0


def test_a_constant_column_is_refused(tmp_path):
    pts = np.random.default_rng(0).normal(size=(100, 3))
    pts[:, 1] = 7.0
    with pytest.raises(ConfigError, match="column 2 .* is constant"):
        load_data(write_points(tmp_path, pts))
    pts[:, 1] = 1e6 + 1e-3 * np.random.default_rng(1).normal(size=100)  # varies, but not in float32
    with pytest.raises(ConfigError, match="column 2 .* is constant"):
        load_data(write_points(tmp_path, pts))


def test_wildly_different_scales_are_standardised_away(tmp_path):
    pts = spiral(np.random.default_rng(0), 700, 0.05) * np.array([1e-4, 1e5])
    d = load_data(write_points(tmp_path, pts))
    z = d.to_model(d.train)
    assert (z.std(0) / d.zoom - 1).abs().max() < 1e-2 and torch.isfinite(z).all()
    np.save(tmp_path / "huge.npy", pts * 1e30)
    with pytest.raises(ConfigError, match="beyond what float32"):
        load_data(str(tmp_path / "huge.npy"))


def test_standardisation_zooms_to_the_datas_resolution():
    # sharp modes are enlarged (25gaussians' KDE bandwidth is about a fifth of the spiral's in std units), broad
    # ones are not; the zoom is the same whatever the units the data came in
    zoom = {name: load_data(name).zoom for name in ("spiral", "25gaussians", "8gaussians")}
    assert zoom["25gaussians"] > 4 * zoom["spiral"] and 0.5 < zoom["8gaussians"] < 1 < zoom["spiral"]
    assert load_data("spiral", standardise=False).zoom == 1.0
