"""Next-frame prediction on bouncing balls (`ebmplan video`): a conditional energy against an MSE regressor of the
same size.

The energy F(next frame | frames t-1 and t) is trained contrastively; it predicts by gradient descent on the
next frame from uniform noise, and rolls out by feeding its predictions back as context. Everything is
measured on held-out videos: pixel MSE and ball-position error one step ahead and over a rollout. A negatives
ablation trains the energy with several negative mixtures for the same wall-clock time; a single-frame study
compares a latent-variable energy with the deterministic models where several next frames are right.

- config.py: `VideoConfig`;
- training.py: the videos and models a config describes, and the three trainers;
- prediction.py: predictors and their held-out errors (one step, rollout);
- single_frame.py: the single-frame study and its `modes` score;
- figures.py: rollout.png and single_frame.png;
- run.py: `run_video`, its `summary`, and `VideoRun` / `load_video_run` for `load_run`.
"""

from .config import VideoConfig
from .run import VideoRun, load_video_run, run_video, summary

__all__ = ["VideoConfig", "VideoRun", "load_video_run", "run_video", "summary"]
