"""Architectural energies (PCA, k-means, sparse autoencoder), `train --method` and `compare`."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import main_code, run_cli
from ebmplan.common.runs import load_run
from ebmplan.energy.architectural import KMeansEnergy, PCAEnergy, SparseAutoencoderEnergy
from ebmplan.energy.inference import descend
from ebmplan.points.toy2d import load_data
from ebmplan.points.train import TrainConfig, train


def blobs(n: int = 300, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
    return centres[torch.randint(3, (n,), generator=g)] + 0.2 * torch.randn(n, 2, generator=g)  # [n, 2]


def test_pca_energy_is_squared_distance_to_the_principal_line():
    x = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0], [6.0, 1.0]])  # on the line y = 1, mean (3, 1)
    pca = PCAEnergy(2, n_components=1)
    pca.fit(x)
    assert torch.allclose(pca.mean, torch.tensor([3.0, 1.0]))
    e = pca(torch.tensor([[-5.0, 1.0], [10.0, 1.0], [10.0, 4.0], [0.0, -1.0]]))
    # On the line: 0; off it: the squared vertical distance (3^2 = 9, 2^2 = 4).
    assert torch.allclose(e, torch.tensor([0.0, 0.0, 9.0, 4.0]), atol=1e-5)


def test_pca_energy_on_a_tilted_plane_in_3d():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(3, 3, generator=g))[0]  # orthonormal columns
    x = torch.randn(500, 2, generator=g) @ basis[:, :2].T + torch.tensor([1.0, -2.0, 0.5])  # a plane in 3D
    pca = PCAEnergy(3, n_components=2)
    pca.fit(x)
    assert pca(x).max() < 1e-8  # every data point lies on the fitted plane
    offset = 0.7 * basis[:, 2]  # a step along the normal
    assert torch.allclose(pca(x[:5] + offset), torch.full((5,), 0.49), atol=1e-4)
    full = PCAEnergy(3, n_components=3)  # every direction kept: zero energy everywhere
    full.fit(x)
    assert full(torch.randn(50, 3, generator=g)).max() < 1e-8


def test_kmeans_energy_is_squared_distance_to_nearest_centroid():
    km = KMeansEnergy(2, n_clusters=2)
    with torch.no_grad():
        km.centroids.copy_(torch.tensor([[0.0, 0.0], [3.0, 0.0]]))
    e = km(torch.tensor([[1.0, 1.0], [2.5, 0.0], [3.0, -2.0]]))
    assert torch.allclose(e, torch.tensor([2.0, 0.25, 4.0]))


def test_lloyd_decreases_inertia_and_finds_the_blobs():
    x = blobs()
    km = KMeansEnergy(2, n_clusters=3)
    history = km.fit(x, steps=100, seed=1)
    assert all(b <= a + 1e-7 for a, b in zip(history, history[1:], strict=False))
    assert history[-1] < history[0]
    assert history[-1] == pytest.approx(km(x).mean().item(), rel=1e-5)
    found = sorted(km.centroids.tolist())
    assert torch.allclose(torch.tensor(found), torch.tensor([[-2.0, 0.0], [0.0, 2.5], [2.0, 0.0]]), atol=0.1)
    again = KMeansEnergy(2, n_clusters=3)
    again.fit(x, steps=100, seed=1)
    assert torch.equal(again.centroids, km.centroids)  # one seed, one result


def _sae(sparsity: float) -> tuple[SparseAutoencoderEnergy, list[float], torch.Tensor]:
    torch.manual_seed(0)
    x = load_data("spiral", seed=0).train[:2000]
    sae = SparseAutoencoderEnergy(2, code_dim=16, sparsity=sparsity, width=32, depth=1)
    history = sae.fit(x, steps=300, batch_size=128, lr=3e-3, seed=0)
    return sae, history, x


def test_sparse_autoencoder_training_lowers_its_loss_and_l1_makes_codes_sparser():
    sae, history, x = _sae(0.1)
    assert sum(history[-20:]) / 20 < 0.5 * sum(history[:20]) / 20
    dense, _, _ = _sae(0.0)
    with torch.no_grad():
        z_sparse, z_dense = sae.encode(x), dense.encode(x)  # [N, K] each, non-negative
        # The energy is reconstruction error + sparsity * |code|_1, exactly.
        expected = sae.reconstruction_error(x[:10]) + 0.1 * sae.encode(x[:10]).abs().sum(-1)
        assert torch.allclose(sae(x[:10]), expected, atol=1e-6)
    # Measured at this seed: 3.4 vs 5.5 active units per point, L1 1.19 vs 2.33.
    assert (z_sparse > 0).sum(-1).float().mean() < 0.75 * (z_dense > 0).sum(-1).float().mean()
    assert z_sparse.sum(-1).mean() < 0.6 * z_dense.sum(-1).mean()


@pytest.mark.parametrize("method", ["pca", "kmeans", "sparse-ae"])
def test_gradient_descent_lowers_each_energy(method):
    torch.manual_seed(0)
    data = load_data("spiral", seed=0)
    energy = {"pca": PCAEnergy(2, 1), "kmeans": KMeansEnergy(2, 16),
              "sparse-ae": SparseAutoencoderEnergy(2, code_dim=16, sparsity=0.1, width=32, depth=1)}[method]
    energy.fit(data.train[:2000], steps=100, batch_size=128, lr=3e-3, seed=0)
    x0 = data.low + (data.high - data.low) * torch.rand(500, 2)
    out = descend(energy, x0, steps=100, step_size=0.05, max_move=0.05)
    with torch.no_grad():
        assert energy(out.samples).mean() < 0.5 * energy(x0).mean()




@pytest.mark.e2e
def test_train_method_kmeans_writes_a_run_that_load_run_rebuilds(tmp_path):
    out = tmp_path / "km"
    done = run_cli("train", "--method", "kmeans", "--steps", "30", "--n-samples", "200",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    for name in ("config.json", "system.json", "metrics.json", "model.safetensors", "landscape.png",
                 "samples.npy"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["precision"] < 0.1  # samples settle on centroids, which sit on the data
    train(TrainConfig(resume=str(out)))  # a finished fit resumes to the same evaluation
    assert json.loads((out / "metrics.json").read_text())["precision"] == metrics["precision"]
    run = load_run(out)
    fitted = run.energy.energy  # trained on standardised points; run.energy takes the data's own units
    assert isinstance(fitted, KMeansEnergy) and fitted.centroids.shape == (64, 2)
    assert run.energy(run.data.test[:5]).max() < 0.1


@pytest.mark.parametrize("methods", [
    "pca,kmeans",
    pytest.param("contrastive,pca,kmeans,sparse-ae", marks=pytest.mark.e2e),  # every method: make test-e2e
])
def test_compare_writes_sub_runs_table_and_figure(tmp_path, methods):
    out = tmp_path / "cmp"
    done = run_cli("compare", "--data", "moons", "--methods", methods, "--steps", "20", "--n-samples", "200",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    for method in methods.split(","):
        assert (out / method / "metrics.json").is_file(), method
        assert f"| {method} |" in done.stdout
    for name in ("compare.md", "compare.json", "compare.png", "config.json", "system.json"):
        assert (out / name).is_file(), name
    assert "| method | precision | coverage | nll |" in (out / "compare.md").read_text()



def test_a_diverging_sparse_autoencoder_exits_1_with_the_shared_message(tmp_path, capsys):
    code = main_code(["train", "--method", "sparse-ae", "--steps", "5", "--width", "8", "--code-dim", "8",
                      "--lr", "1e30", "--n-samples", "50", "--out", str(tmp_path / "run")])  # in process
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "training diverged at step" in err and "of the sparse autoencoder" in err
