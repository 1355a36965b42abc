"""OGBench's point mazes (Park et al. 2024, arXiv 2410.20092), offline: the datasets and the evaluation.

`data.py` makes the eight point-maze datasets (pointmaze-{medium,large,giant,teleport}-{navigate,stitch}-v0) by
OGBench's own recipe (`data_gen_scripts/generate_locomaze.py` with the flags of `commands.sh`), seeded, in the
`.npz` layout of OGBench's files, and reads any such file into a checked `Dataset`; `evaluation.py` scores a
policy `act(observation [2], goal [2]) -> action [2]` exactly as OGBench's `impls/main.py` does (its five tasks
per maze, 50 episodes each by default, success averaged over tasks) and holds the maze layout used for scoring
only; `command.py` is `ebmplan ogbench data`.

Learned from a dataset offline: `goals.py` (hindsight goal relabelling), `critic.py` (the contrastive critics and
the distance calibrated from them), `policy.py` (DDPG+BC), `train.py` and `run.py` (the training and its run
folders), `plan.py` (SORB's graph over dataset states), `learn.py` (`ebmplan ogbench train` and `eval`). The
`ogbench` package (the `datasets` extra) is imported only when one of these is used, so the rest of ebmplan works
without it.
"""
