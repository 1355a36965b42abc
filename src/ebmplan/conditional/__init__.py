"""Multi-valued regression: predict y from x where several y are right, by energy and by least squares.

On the spiral (docs/protocol.md §2) the condition x is a point's first coordinate and the free variable y its second;
a vertical line crosses the curve up to four times, so most x have several right answers. Three models with
the same network budget are trained on the same pairs:
- `conditional`: a contrastive energy F(y | x), predicting every converged minimum from several random starts;
- `latent`: a latent-variable energy F(y | x, z) (energy/latent.py), predicting one answer per prior sample z;
- `regressor`: an MLP x -> y trained by mean squared error, which predicts the mean of the branches.
On held-out x each is scored by `precision` (mean distance of its predicted (x, y) points to the clean curve)
and `mode_coverage` (fraction of the true y-branches at x that some prediction reaches within `reach`), in two
views of its answers (`VIEWS`, both in metrics.json under each model):
- `all_answers`: every answer the model gives, converged or not, not de-duplicated (the conditional EBM's end
  point of every start, the latent EBM's answer for every z, the regressor's one output). This is the
  like-for-like comparison with the regressor, which cannot leave an answer out.
- `converged_answers`: only answers whose descent converged, de-duplicated within 0.05 (the lowest-energy one
  when none converged); for the regressor every answer counts as converged, so its two views agree.
Each model's flat keys (`precision`, `mode_coverage`, ...) repeat its `converged_answers` view.

- config.py: `ConditionalConfig`;
- task.py: the spiral's pairs, held-out x and true branches;
- training.py: the three models and their training loop;
- scoring.py: answers in both views, their scores, the summary table;
- figures.py: predictions.png;
- run.py: `run_conditional`, and `ConditionalRun` / `load_conditional_run` for `load_run`.
"""

from .config import ConditionalConfig
from .run import ConditionalRun, load_conditional_run, run_conditional
from .scoring import KINDS, VIEWS, score, summary
from .task import branches_at, spiral_pairs
from .training import build_models, train_model

__all__ = ["KINDS", "VIEWS", "ConditionalConfig", "ConditionalRun", "branches_at", "build_models",
           "load_conditional_run", "run_conditional", "score", "spiral_pairs", "summary", "train_model"]
