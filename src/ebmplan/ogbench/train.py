"""`ebmplan ogbench train`: the contrastive critics, their distance and the policy, offline, from an OGBench
dataset to a run folder (what the folder holds, and the config: run.py).

Every update draws a batch of dataset rows, relabels their goals in hindsight (goals.py: geometric future
states for the critics, OGBench's CRL mix for the actor) and takes one step of each network: the Q critic
E(s, a, g) and the value critic E(s, g) on the symmetric B x B InfoNCE (critic.py), then the actor on DDPG+BC
against the Q critic (policy.py). After the last update the value critic's energy is calibrated to steps on
held-out trajectories, and the distance's monotonicity along them is measured (metrics.json).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..common.errors import ConfigError
from ..common.monitor import progress
from ..common.runs import Run, restore, resumed_config, rng_state, seed_everything, set_rng_state
from ..energy.losses import make_loss
from ..energy.step import GradientStep
from . import data
from .critic import contrastive_loss, held_out_pairs, monotonicity
from .goals import Trajectories, sample_goals
from .policy import ddpg_bc_loss
from .run import KIND, OgbenchAgent, OgbenchTrainConfig

REMEDY = "try a lower --lr, a larger --batch-size or --grad-clip 1"
COLUMNS = ["q_loss", "v_loss", "actor_loss", "v_accuracy", "bc_mse", "seconds", "cpu_seconds"]


def load_dataset(cfg: OgbenchTrainConfig) -> tuple[Trajectories, Trajectories]:
    """(training trajectories, held-out trajectories): the dataset's -val.npz file when it has one, else the
    last `--holdout` share of its trajectories."""
    train = data.load(cfg.dataset)
    trajectories = Trajectories.from_terminals(train.observations, train.actions, train.terminals)
    try:
        val_path = data.resolve(train.path, split="val")
    except ConfigError:  # no -val file beside it
        return trajectories.split(cfg.holdout)
    val = data.load(val_path)
    return trajectories, Trajectories.from_terminals(val.observations, val.actions, val.terminals)


class Training:
    """Everything that changes while training: networks, optimisers, step, RNGs. `state_dict()` holds all of
    it, so a resumed run continues exactly."""

    def __init__(self, cfg: OgbenchTrainConfig, data: Trajectories, device: torch.device, checkpoint: Path):
        self.cfg, self.data, self.device = cfg, data, device
        self.rng = np.random.default_rng(cfg.seed)
        self.agent = OgbenchAgent(cfg).to(device)
        obs = data.observations
        self.agent.norm.mean.copy_(torch.as_tensor(obs.mean(0)))
        self.agent.norm.std.copy_(torch.as_tensor(obs.std(0) + 1e-6))
        self.loss = make_loss("infonce")
        a = self.agent
        self.opts = {name: torch.optim.Adam(getattr(a, name).parameters(), lr=cfg.lr) for name in ("q", "v", "actor")}
        self.steps = {name: GradientStep(getattr(a, name), opt, what=f"{name} network", grad_clip=cfg.grad_clip,
                                         remedy=REMEDY, checkpoint=checkpoint) for name, opt in self.opts.items()}
        self.starts = data.starts
        self.step = 0
        self.rows: list[tuple[float, ...]] = []  # per update since the last log row: the logged losses

    def batch(self, rows: np.ndarray, goals: np.ndarray) -> tuple[torch.Tensor, ...]:
        obs, act = self.data.observations, self.data.actions
        t = (torch.as_tensor(x, device=self.device) for x in (obs[rows], act[rows], obs[goals]))
        s, a, g = t
        return self.agent.norm(s), a, self.agent.norm(g)

    def update(self) -> None:
        cfg, agent = self.cfg, self.agent
        rows = self.rng.choice(self.starts, size=cfg.batch_size)
        critic_goals, _ = sample_goals(self.rng, self.data, rows, cfg.critic_goals)
        actor_goals, _ = sample_goals(self.rng, self.data, rows, cfg.actor_goals)
        s, a, g = self.batch(rows, critic_goals)
        step = self.step + 1
        eq = agent.q.matrix(s, a, g)  # [B, B]
        q_loss = contrastive_loss(eq, self.loss)
        self.steps["q"](q_loss, step, eq)
        ev = agent.v.matrix(s, None, g)  # [B, B]
        v_loss = contrastive_loss(ev, self.loss)
        self.steps["v"](v_loss, step, ev)
        accuracy = (ev.argmin(1) == torch.arange(len(ev), device=ev.device)).float().mean()
        _, _, ga = self.batch(rows, actor_goals)
        actor_loss, q = ddpg_bc_loss(agent.actor, agent.q, s, ga, a, cfg.alpha)
        self.steps["actor"](actor_loss, step, q)
        with torch.no_grad():
            mse = (agent.actor(s, ga) - a).pow(2).sum(-1).mean()
        self.step = step
        self.rows.append((q_loss.item(), v_loss.item(), actor_loss.item(), accuracy.item(), mse.item()))

    def state_dict(self) -> dict:
        return {"model": self.agent.state_dict(), "optimizers": {k: o.state_dict() for k, o in self.opts.items()},
                "step": self.step, "rng": rng_state(), "numpy_rng": self.rng.bit_generator.state,
                "rows": torch.tensor(self.rows, dtype=torch.float64).reshape(-1, 5)}

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["model"])
        for k, o in self.opts.items():
            o.load_state_dict(state["optimizers"][k])
        self.step = int(state["step"])
        set_rng_state(state["rng"])
        self.rng.bit_generator.state = state["numpy_rng"]
        self.rows = [tuple(r) for r in state["rows"].tolist()]


def train_agent(cfg: OgbenchTrainConfig, *, command: str = "ogbench") -> Path:
    """Train per `cfg` (or continue the run `cfg.resume` from its last checkpoint) and return the run folder."""
    cfg = resumed_config(cfg, KIND)
    cfg.validate()
    data, held_out = load_dataset(cfg)  # a bad dataset stops here, before any folder is made
    run = Run.start(cfg, KIND, command)
    state = run.load_checkpoint()
    seed_everything(cfg.seed)
    tr = Training(cfg, data, run.device, run.checkpoint_path)
    elapsed = cpu_elapsed = 0.0
    if state is not None:
        elapsed, cpu_elapsed = restore(tr, state, run.checkpoint_path)
    log = run.log(COLUMNS, resume_step=None if state is None else tr.step)
    bar = progress(range(tr.step, cfg.steps), initial=tr.step, total=cfg.steps,
                   desc=f"ogbench {Path(cfg.dataset).stem}")
    # CPU time too (every thread of the process): a shared machine's wall clock lies. Both clocks continue on resume.
    t0, cpu0 = time.perf_counter() - elapsed, time.process_time() - cpu_elapsed
    train_seconds, cpu_seconds = elapsed, cpu_elapsed
    for _ in bar:
        tr.update()
        done = tr.step
        if done % cfg.log_every == 0 or done == cfg.steps:
            m = np.mean(tr.rows, axis=0)
            log.write(done, {"q_loss": float(m[0]), "v_loss": float(m[1]), "actor_loss": float(m[2]),
                             "v_accuracy": f"{m[3]:.4f}", "bc_mse": float(m[4]),
                             "seconds": f"{time.perf_counter() - t0:.3f}",
                             "cpu_seconds": f"{time.process_time() - cpu0:.3f}"})
            bar.set_postfix(v_loss=f"{m[1]:.3f}", acc=f"{m[3]:.2f}")
            tr.rows = []
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            train_seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
            run.save_checkpoint({**tr.state_dict(), "train_seconds": train_seconds, "cpu_seconds": cpu_seconds})
    log.close()

    agent = tr.agent.eval().cpu()
    rng = np.random.default_rng([cfg.seed, 1])  # the checks' own stream: they change no training result
    rows, goals, steps = held_out_pairs(rng, held_out, 20000, cfg.calibration_horizon)
    distance = agent.distance
    energy = distance.energy(held_out.observations[rows], held_out.observations[goals])
    agent.calibration.fit(energy, steps.astype(np.float64), cfg.calibration_quantile)
    predicted = distance(held_out.observations[rows], held_out.observations[goals])
    run.save_weights(agent)
    run.write_metrics({
        "train_seconds": train_seconds, "cpu_seconds": cpu_seconds, "torch_threads": torch.get_num_threads(),
        "updates": cfg.steps, "transitions": len(data), "held_out_transitions": len(held_out),
        "held_out_monotonicity": monotonicity(distance, held_out, rng),
        "held_out_calibration_mae": float(np.abs(predicted - steps).mean())})
    return run.path
