"""`ebmplan maze train`: SORB's distance agent trained in a point maze, from a config to a run folder (what the
folder holds, and the config: agent_run.py).

Environments are stepped in batches with the actor's actions (plus exploration noise) and the transitions go to
the replay; every update draws one batch from it for a distributional Bellman step of the critics (against the
target networks) and a step of the actor towards fewer expected steps, and every `target_every` updates the
targets move towards the networks. Goals follow SORB's curriculum: mostly near the start, by the true
distance (ground truth that sets the training goals only; the agent never sees it).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ...common.monitor import progress
from ...common.runs import Run, restore, resumed_config, rng_state, seed_everything, set_rng_state
from ...energy.step import GradientStep
from .. import figures
from ..world.env import PointMazeVec
from ..world.maze import Maze, load_maze
from .networks import shift_target
from .policy import distance_field, example_rollouts
from .replay import Replay
from .run import KIND, MazeTrainConfig, build_agent

# What to try when the agent diverges.
REMEDY = "try a lower --lr, a smaller --tau or a larger --batch-size"


def figure_goal(cfg: MazeTrainConfig, maze: Maze) -> np.ndarray:
    """The goal of the distance figure: `--goal`, or the free cell nearest the map's centre."""
    if cfg.goal is not None:
        return maze.check_free(cfg.goal, "--goal")[0]
    centre = maze.high / 2
    return maze.cells[np.argmin(np.abs(maze.cells + 0.5 - centre).sum(1))] + 0.5


class Training:
    """Everything that changes while the agent trains: networks, optimizers, environments, replay, counters
    and RNGs. `state_dict()` holds all of it, so a run resumed from a checkpoint continues exactly.
    `checkpoint`: where the run keeps its last good state (named when the agent diverges)."""

    def __init__(self, cfg: MazeTrainConfig, maze: Maze, device: torch.device, checkpoint: Path):
        self.cfg, self.maze, self.device = cfg, maze, device
        self.rng = np.random.default_rng(cfg.seed)
        self.agent = build_agent(cfg, maze).to(device)
        self.target = build_agent(cfg, maze).to(device)
        self.target.load_state_dict(self.agent.state_dict())
        self.actor_opt = torch.optim.Adam(self.agent.actor.parameters(), lr=cfg.lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.agent.critic.parameters(), lr=cfg.lr, fused=True)
        self.critic_step = GradientStep(self.agent.critic, self.critic_opt, what="agent's critics",
                                        grad_clip=cfg.grad_clip, remedy=REMEDY, checkpoint=checkpoint)
        self.actor_step = GradientStep(self.agent.actor, self.actor_opt, what="agent's actor",
                                       grad_clip=cfg.grad_clip, remedy=REMEDY, checkpoint=checkpoint)
        self.envs = PointMazeVec(maze, cfg.n_envs, seed=cfg.seed)
        collects = cfg.warmup + math.ceil(cfg.steps / cfg.updates_per_collect)
        self.replay = Replay(collects * cfg.n_envs, cfg.n_envs)
        self.episode = np.arange(cfg.n_envs)  # global episode id of each env
        self.next_episode, self.t_in_episode = cfg.n_envs, np.zeros(cfg.n_envs, np.int64)
        self.new_goals(np.ones(cfg.n_envs, bool))
        # Since the last row of metrics.csv: episodes ended, successes, and (critic, actor) loss per update.
        self.episodes_done, self.successes, self.losses = 0, 0, []
        self.step, self.last_critic_loss = 0, float("nan")  # updates done; critic loss of the last log row

    def new_goals(self, mask: np.ndarray) -> None:
        cfg, envs = self.cfg, self.envs
        near = mask & (self.rng.random(cfg.n_envs) < cfg.near_prob)
        envs.goals[near] = self.maze.sample_near(self.rng, envs.states[near], cfg.near_dist)
        far = mask & ~near
        envs.goals[far] = self.maze.sample_free(self.rng, int(far.sum()))

    def collect(self, random: bool) -> None:
        """One batch step of every environment, stored in the replay; ended episodes restart."""
        cfg, envs, rng = self.cfg, self.envs, self.rng
        obs = envs.states.copy()
        if random:
            act = rng.uniform(-1, 1, size=(cfg.n_envs, 2))
        else:
            with torch.no_grad():
                a = self.agent.act(torch.as_tensor(obs, dtype=torch.float32, device=self.device),
                                   torch.as_tensor(envs.goals, dtype=torch.float32, device=self.device))
            a = a.cpu().numpy()
            act = np.clip(a + cfg.explore_noise * rng.standard_normal(a.shape), -1, 1)
        nxt, reached = envs.step(act)
        self.replay.add(obs, act, nxt, envs.goals, reached, self.episode)
        self.t_in_episode[:] += 1
        end = reached | (self.t_in_episode >= cfg.episode_steps)
        if end.any():
            k = int(end.sum())
            self.episodes_done += k
            self.successes += int(reached.sum())
            self.episode[end] = np.arange(self.next_episode, self.next_episode + k)
            self.next_episode += k
            self.t_in_episode[end] = 0
            envs.reset(end, goals=envs.goals[end])  # new start states; goals drawn next from the curriculum
            self.new_goals(end)

    def update(self) -> tuple[float, float]:
        """One gradient step of the critics and the actor; then, every `target_every`, the soft target update.
        A non-finite loss, gradient or weight stops training (Divergence)."""
        cfg, agent, target = self.cfg, self.agent, self.target
        s, a, s2, g, reached = (x.to(self.device) for x in self.replay.sample(
            self.rng, cfg.batch_size, cfg.relabel, cfg.episode_steps))
        with torch.no_grad():
            p_next = F.softmax(target.logits(s2, g, target.act(s2, g)), -1)  # [E, B, bins]
            goal_dist = shift_target(p_next, reached)
        logits = agent.logits(s, g, a)  # [E, B, bins]
        critic_loss = -(goal_dist * F.log_softmax(logits, -1)).sum(-1).mean(1).sum()
        self.critic_step(critic_loss, self.step + 1)
        actor_loss = agent.expected_steps(agent.logits(s, g, agent.act(s, g))).mean()  # fewer expected steps
        self.actor_step(actor_loss, self.step + 1)
        self.step += 1
        if self.step % cfg.target_every == 0:
            with torch.no_grad():
                for p, q in zip(target.parameters(), agent.parameters(), strict=True):
                    p.lerp_(q, cfg.tau)
        return critic_loss.item(), actor_loss.item()

    def state_dict(self) -> dict:
        """Plain tensors, numbers, strings and dicts only: what `torch.load(weights_only=True)` accepts."""
        return {
            "model": self.agent.state_dict(), "target": self.target.state_dict(),
            "actor_optimizer": self.actor_opt.state_dict(), "critic_optimizer": self.critic_opt.state_dict(),
            "step": self.step, "rng": rng_state(), "numpy_rng": self.rng.bit_generator.state,
            "envs": {"states": torch.from_numpy(self.envs.states.copy()),
                     "goals": torch.from_numpy(self.envs.goals.copy()), "rng": self.envs.rng.bit_generator.state},
            "episode": torch.from_numpy(self.episode.copy()), "next_episode": self.next_episode,
            "t_in_episode": torch.from_numpy(self.t_in_episode.copy()),
            "episodes_done": self.episodes_done, "successes": self.successes,
            "losses": torch.tensor(self.losses, dtype=torch.float64).reshape(-1, 2),
            "last_critic_loss": self.last_critic_loss,
            "replay": self.replay.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["model"])
        self.target.load_state_dict(state["target"])
        self.actor_opt.load_state_dict(state["actor_optimizer"])
        self.critic_opt.load_state_dict(state["critic_optimizer"])
        self.step = int(state["step"])
        set_rng_state(state["rng"])
        self.rng.bit_generator.state = state["numpy_rng"]
        self.envs.states, self.envs.goals = state["envs"]["states"].numpy(), state["envs"]["goals"].numpy()
        self.envs.rng.bit_generator.state = state["envs"]["rng"]
        self.episode, self.t_in_episode = state["episode"].numpy(), state["t_in_episode"].numpy()
        self.next_episode = int(state["next_episode"])
        self.episodes_done, self.successes = int(state["episodes_done"]), int(state["successes"])
        self.losses = [tuple(row) for row in state["losses"].tolist()]
        self.last_critic_loss = float(state["last_critic_loss"])
        self.replay.load_state_dict(state["replay"])


def train_agent(cfg: MazeTrainConfig, *, command: str = "maze") -> Path:
    """Train per `cfg` (or continue the run `cfg.resume` from its last checkpoint) and return the run folder."""
    cfg = resumed_config(cfg, KIND)
    # A bad map or --goal stops here, before any folder is made.
    maze = load_maze(cfg.map, resize=cfg.resize, thin=cfg.thin)
    goal_for_figure = figure_goal(cfg, maze)
    run = Run.start(cfg, KIND, command)
    state = run.load_checkpoint()
    seed_everything(cfg.seed)
    maze.distances  # noqa: B018  (ground truth for the goal curriculum: computed before the clock starts)

    tr = Training(cfg, maze, run.device, run.checkpoint_path)
    elapsed = cpu_elapsed = 0.0
    if state is not None:
        elapsed, cpu_elapsed = restore(tr, state, run.checkpoint_path)

    log = run.log(["critic_loss", "actor_loss", "train_success", "episodes", "env_steps", "seconds", "cpu_seconds"],
                  resume_step=None if state is None else tr.step)
    bar = progress(range(tr.step, cfg.steps), initial=tr.step, total=cfg.steps, desc=f"maze {maze.name}")
    # CPU time too: a shared machine's wall clock lies. On resume both clocks continue from the checkpoint.
    t0, cpu0 = time.perf_counter() - elapsed, time.process_time() - cpu_elapsed

    def checkpoint() -> tuple[float, float]:
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
        run.save_checkpoint({**tr.state_dict(), "train_seconds": seconds, "cpu_seconds": cpu_seconds})
        run.save_weights(tr.agent)
        return seconds, cpu_seconds

    train_seconds, cpu_seconds = elapsed, cpu_elapsed  # a resumed finished run keeps its recorded times

    if state is None:
        for _ in range(cfg.warmup):
            tr.collect(random=True)
    for step in bar:
        if step % cfg.updates_per_collect == 0:
            tr.collect(random=False)
        tr.losses.append(tr.update())
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            c, a = np.mean(tr.losses, axis=0)
            rate = tr.successes / max(tr.episodes_done, 1)
            log.write(done, {"critic_loss": float(c), "actor_loss": float(a), "train_success": f"{rate:.4f}",
                             "episodes": int(tr.episodes_done), "env_steps": int(tr.replay.size),
                             "seconds": f"{time.perf_counter() - t0:.3f}",
                             "cpu_seconds": f"{time.process_time() - cpu0:.3f}"})
            bar.set_postfix(critic=f"{c:.3f}", success=f"{rate:.2f}")
            tr.losses, tr.episodes_done, tr.successes, tr.last_critic_loss = [], 0, 0, float(c)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            train_seconds, cpu_seconds = checkpoint()  # the last one comes after the last update
    log.close()

    np.savez_compressed(run.path / "trajectories.npz", **tr.replay.trajectories(maze.walls))
    agent = tr.agent.eval().cpu()
    learned, true = distance_field(agent, maze, goal_for_figure)
    figures.save_distance_map(run.path / "distance.png", maze.walls, learned, true, goal_for_figure, bins=agent.bins,
                              name=maze.name)
    figures.save_rollouts(run.path / "rollouts.png", maze.walls, example_rollouts(agent, maze, seed=cfg.seed),
                          name=maze.name)
    run.write_metrics({"train_seconds": train_seconds, "cpu_seconds": cpu_seconds,
                       "torch_threads": torch.get_num_threads(), "env_steps": tr.replay.size,
                       "updates": cfg.steps, "final_critic_loss": tr.last_critic_loss})
    return run.path
