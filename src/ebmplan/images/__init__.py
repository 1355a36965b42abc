"""Energy models on real images (`ebmplan images train`): an image energy trained contrastively against its own
Langevin samples from a persistent buffer, scored by a small classifier's Fréchet distance, class coverage and
out-of-distribution AUROC.

- data.py: digits, mnist5k or a user's .npy, split by seed; animal silhouettes and noise for OOD checks;
- models.py: the conv and MLP image energies;
- config.py: `ImagesConfig`;
- train.py: the contrastive step with the buffer (and optional hard negatives);
- classifier.py: the scoring classifier, cached in the run folder;
- metrics.py: Fréchet distance, class coverage, AUROC, the Gaussian-fit reference;
- figures.py: samples.png and energies.png;
- run.py: `run_images`, its `summary`, and `ImagesRun` / `load_images_run` for `load_run`;
- baselines.py: the peers (VAE, GAN, Gaussian fit, copies of the training set), scored the same way.
"""

from .baselines import BaselinesConfig, run_baselines
from .baselines import summary as baselines_summary
from .config import ImagesConfig
from .run import ImagesRun, load_images_run, run_images, summary

__all__ = ["BaselinesConfig", "ImagesConfig", "baselines_summary", "run_baselines",
           "ImagesRun", "load_images_run", "run_images", "summary"]
