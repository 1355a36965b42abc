"""Train SORB's distance agent on a point maze (`ebmplan maze train`) and evaluate it (`ebmplan maze eval`).

The run folder holds `config.json` (kind "maze-agent"), `system.json`, `metrics.csv` (training curves),
`metrics.json`, `model.safetensors` (actor and critics), `checkpoint.pt` (everything `--resume` needs to
continue exactly: target networks, optimizers, step, RNG and environment states, counters and the replay
buffer; written atomically every `--checkpoint-every` updates), `distance.png` (learned vs true distance to
one goal), `rollouts.png`, and `trajectories.npz`, the exploration data:

- `states`  float32 [T, 2]: every episode's states in order, start state included, episodes one after another;
- `offsets` int64 [E + 1]: episode e is `states[offsets[e]:offsets[e + 1]]`;
- `goals`   float32 [E, 2]: the goal each episode was given;
- `reached` bool [E]: whether it reached that goal (episodes cut by the end of training count as not);
- `walls`   bool [H, W]: the scaled map they were collected in.

`ebmplan maze eval RUN` adds `eval.json` and `eval.md`: the plain policy's success per difficulty
(docs/protocol.md §3) and the distance's Spearman correlation and mean absolute error against the truth on
fresh pairs.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import tyro
from scipy.stats import spearmanr
from torch.nn import functional as F

from ..errors import ConfigError, Divergence
from ..files import load_checkpoint, load_weights, read_json, save_checkpoint, save_weights, write_json
from ..monitor import ScalarLog, progress, require_tensorboard
from ..resources import RUNTIME, check_memory, mlp_params, network_bytes
from ..runs import loader, prepare_run_dir, resolve_device, rng_state, seed_everything, set_rng_state, system_info
from ..stats import wilson
from .agent import DistanceAgent, shift_target
from .maze import Maze, PointMazeVec, bundled_maps, load_maze, parse_maps


@dataclass
class MazeTrainConfig:
    """Train SORB's goal-conditioned agent, whose value is a distance, in a point maze."""

    map: str = "FourRooms"
    """bundled map name (FourRooms, Spiral7x7, Maze11x11, ...) or a text file of '#' and '.' rows"""
    resize: int = 5
    """scale the map: each cell becomes resize x resize cells"""
    thin: bool = False
    """keep walls one cell thick when scaling (only free space widens)"""
    steps: int = 30000
    """gradient updates (each on one batch, for the critics and the actor)"""
    seed: int = 0
    """seed for the environments, initialisation and sampling"""
    out: str | None = None
    """run folder (default: runs/maze-<time>)"""
    overwrite: bool = False
    """replace an existing run folder"""
    n_envs: int = 64
    """environments stepped together (one batch step of all of them every `updates_per_collect` updates)"""
    updates_per_collect: int = 16
    """gradient updates per batch step of all environments"""
    warmup: int = 16
    """batch steps of random actions collected before the first update"""
    batch_size: int = 64
    """transitions per update"""
    lr: float = 3e-4
    """Adam learning rate of actor and critics"""
    width: int = 128
    """hidden units per layer of actor and critics (SORB: 256; 128 is ~1.7x faster to train on a CPU)"""
    depth: int = 2
    """hidden layers of actor and critics"""
    ensemble: int = 3
    """critics in the ensemble (distances take the largest)"""
    bins: int = 20
    """distance bins; the last one means 'this many steps or more'"""
    tau: float = 0.05
    """soft target update rate"""
    target_every: int = 5
    """updates between soft target updates"""
    episode_steps: int = 20
    """training episode length (a timeout does not end the bootstrap)"""
    near_prob: float = 0.8
    """share of training goals drawn close to the start (SORB's curriculum); the rest are uniform"""
    near_dist: float = 4.0
    """'close' for the curriculum, in cells of the scaled map"""
    relabel: float = 0.0
    """share of sampled transitions whose goal is replaced by a state the episode reached later (hindsight)"""
    explore_noise: float = 0.1
    """std of Gaussian noise added to the actor's action while collecting (the env adds its own)"""
    goal: tuple[float, float] | None = None
    """goal (row, col) of the distance figure (default: the free cell nearest the map centre)"""
    log_every: int = 500
    """updates between rows of metrics.csv"""
    checkpoint_every: int = 2000
    """updates between checkpoints (the replay buffer is saved with them)"""
    device: str = "cpu"
    """auto, cpu or cuda"""
    resume: str | None = None
    """continue the run in this folder from its last checkpoint (its saved config is used)"""
    tensorboard: bool = False
    """also write the scalars of metrics.csv to RUN/tensorboard/ for TensorBoard (needs the tensorboard extra)"""

    def validate(self) -> None:
        for name in ("resize", "steps", "n_envs", "updates_per_collect", "batch_size", "width", "depth",
                     "ensemble", "episode_steps", "log_every", "target_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.bins < 2:
            raise ConfigError(f"--bins must be at least 2, got {self.bins}")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be >= 0, got {self.warmup}")
        for name in ("near_prob", "relabel", "tau"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(self, name)}")
        for name in ("lr", "near_dist"):
            if not getattr(self, name) > 0 or not math.isfinite(getattr(self, name)):
                value = getattr(self, name)
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive number, got {value}")
        if self.explore_noise < 0:
            raise ConfigError(f"--explore-noise must be >= 0, got {self.explore_noise}")
        check_memory(self.memory_needed(), f"training a width-{self.width} agent on {self.map} x{self.resize}",
                     "use a smaller --width or --resize (or fewer --steps)", device=resolve_device(self.device))
        require_tensorboard(self.tensorboard)

    def memory_needed(self) -> int:
        """Bytes a run of this config needs at its peak, within a factor of about 2 (resources.py).

        Counted: the libraries' first-use memory (`RUNTIME`); the actor and the critic ensemble with their
        targets, gradients and Adam's moments; the replay buffer (every transition of the run, 41 bytes each,
        copied again by checkpoints and trajectories.npz); per pair of free cells, the int16 shortest-path
        table and the float64 difficulties and masks that drawing the figure's start-goal pairs makes; and
        the largest passing peak: the activations of an update or of the distance figure over every cell.
        """
        W, L, E = self.width, self.depth, self.ensemble
        params = mlp_params(4, W, L, outputs=2) + E * mlp_params(6, W, L, outputs=self.bins)
        transitions = (self.warmup + math.ceil(self.steps / self.updates_per_collect)) * self.n_envs
        cells = self.free_cells()
        pairs = 24 * cells**2 + 8 * 1024 * cells  # (and scipy's float64 rows while it fills the table)
        return RUNTIME + 3 * 41 * transitions + pairs + network_bytes(
            params, W, L, train_rows=3 * self.batch_size * (E + 1), forward_rows=cells * (E + 1))

    def free_cells(self) -> int:
        """Free cells of the scaled map (with --thin, all its cells: an upper bound), counted on the unscaled
        map; 0 for a map file that cannot be read (loading the map says why)."""
        maps = bundled_maps()
        if self.map in maps:
            walls = maps[self.map]
        else:
            try:
                found = parse_maps(Path(self.map).read_text(), source=self.map)
            except (OSError, UnicodeDecodeError):
                return 0
            if len(found) != 1:
                return 0
            (walls,) = found.values()
        cells = walls.size if self.thin and self.resize > 1 else int((~walls).sum())
        return cells * self.resize**2


def build_agent(cfg: MazeTrainConfig, maze: Maze) -> DistanceAgent:
    return DistanceAgent(maze.high, width=cfg.width, depth=cfg.depth, ensemble=cfg.ensemble, bins=cfg.bins)


def figure_goal(cfg: MazeTrainConfig, maze: Maze) -> np.ndarray:
    if cfg.goal is not None:
        return maze.check_free(cfg.goal, "--goal")[0]
    centre = maze.high / 2
    return maze.cells[np.argmin(np.abs(maze.cells + 0.5 - centre).sum(1))] + 0.5


class Replay:
    """All collected transitions, time-major (row = batch step * n_envs + env), so later states of the same
    episode sit `n_envs` rows apart: hindsight relabelling needs no per-episode bookkeeping."""

    def __init__(self, capacity: int, n_envs: int):
        self.obs = np.zeros((capacity, 2), np.float32)
        self.next = np.zeros((capacity, 2), np.float32)
        self.act = np.zeros((capacity, 2), np.float32)
        self.goal = np.zeros((capacity, 2), np.float32)
        self.reached = np.zeros(capacity, bool)
        self.episode = np.zeros(capacity, np.int64)
        self.size, self.n_envs = 0, n_envs

    def add(self, obs, act, nxt, goal, reached, episode) -> None:
        rows = slice(self.size, self.size + len(obs))
        self.obs[rows], self.act[rows], self.next[rows] = obs, act, nxt
        self.goal[rows], self.reached[rows], self.episode[rows] = goal, reached, episode
        self.size += len(obs)

    def sample(self, rng: np.random.Generator, n: int, relabel: float, horizon: int):
        idx = rng.integers(self.size, size=n)
        goal, reached = self.goal[idx], self.reached[idx]
        swap = rng.random(n) < relabel
        if swap.any():  # a later state of the same episode becomes the goal
            ahead = idx[swap] + self.n_envs * rng.integers(horizon, size=int(swap.sum()))
            ahead = np.where((ahead < self.size) & (self.episode[np.minimum(ahead, self.size - 1)]
                                                    == self.episode[idx[swap]]), ahead, idx[swap])
            goal = goal.copy()
            goal[swap] = self.next[ahead]
            reached = reached.copy()
            reached[swap] = np.linalg.norm(self.next[idx[swap]] - goal[swap], axis=1) < 1
        return [torch.from_numpy(a) for a in (self.obs[idx], self.act[idx], self.next[idx], goal, reached)]

    def trajectories(self, walls: np.ndarray) -> dict[str, np.ndarray]:
        """Per-episode state sequences in the `trajectories.npz` format of the module docstring."""
        n = self.size
        order = np.argsort(self.episode[:n], kind="stable")  # rows of one episode are already in time order
        ep = self.episode[:n][order]
        last = np.flatnonzero(np.r_[ep[1:] != ep[:-1], True])  # last row of each episode
        first = np.r_[0, last[:-1] + 1]
        lengths = last - first + 2  # transitions + the start state
        offsets = np.r_[0, np.cumsum(lengths)]
        states = np.zeros((offsets[-1], 2), np.float32)
        pos = np.arange(n) + np.repeat(np.arange(len(first)), last - first + 1)  # leave one slot per episode
        states[pos] = self.obs[:n][order]
        states[offsets[1:] - 1] = self.next[:n][order][last]
        return {"states": states, "offsets": offsets.astype(np.int64), "goals": self.goal[:n][order][first],
                "reached": self.reached[:n][order][last], "walls": walls}


class Training:
    """Everything that changes while the agent trains: networks, optimizers, environments, replay, counters
    and RNGs. `state_dict()` holds all of it, so a run resumed from a checkpoint continues exactly."""

    def __init__(self, cfg: MazeTrainConfig, maze: Maze, device: torch.device):
        self.cfg, self.maze, self.device = cfg, maze, device
        self.rng = np.random.default_rng(cfg.seed)
        self.agent = build_agent(cfg, maze).to(device)
        self.target = build_agent(cfg, maze).to(device)
        self.target.load_state_dict(self.agent.state_dict())
        self.actor_opt = torch.optim.Adam(self.agent.actor.parameters(), lr=cfg.lr, fused=True)
        self.critic_opt = torch.optim.Adam(self.agent.critic.parameters(), lr=cfg.lr, fused=True)
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
        """One gradient step of the critics and the actor; then, every `target_every`, the soft target update."""
        cfg, agent, target = self.cfg, self.agent, self.target
        s, a, s2, g, reached = (x.to(self.device) for x in self.replay.sample(
            self.rng, cfg.batch_size, cfg.relabel, cfg.episode_steps))
        with torch.no_grad():
            p_next = F.softmax(target.logits(s2, g, target.act(s2, g)), -1)  # [E, B, bins]
            goal_dist = shift_target(p_next, reached)
        logits = agent.logits(s, g, a)  # [E, B, bins]
        critic_loss = -(goal_dist * F.log_softmax(logits, -1)).sum(-1).mean(1).sum()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        actor_loss = agent.expected_steps(agent.logits(s, g, agent.act(s, g))).mean()  # fewer expected steps
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()
        self.step += 1
        if self.step % cfg.target_every == 0:
            with torch.no_grad():
                for p, q in zip(target.parameters(), agent.parameters(), strict=True):
                    p.lerp_(q, cfg.tau)
        return critic_loss.item(), actor_loss.item()

    def weights_finite(self) -> bool:
        """Whether every weight of the agent is finite (the targets are averages of its past weights)."""
        sums = torch.stack([p.detach().sum() for p in self.agent.parameters()])  # cheap enough for every update
        return bool(torch.isfinite(sums).all())

    def state_dict(self) -> dict:
        """Plain tensors, numbers, strings and dicts only: what `torch.load(weights_only=True)` accepts."""
        r = self.replay
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
            "replay": {name: torch.from_numpy(getattr(r, name)[: r.size].copy())
                       for name in ("obs", "next", "act", "goal", "reached", "episode")},
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
        stored = state["replay"]
        size = len(stored["obs"])
        if size > len(self.replay.obs):
            raise ConfigError(f"the checkpoint's replay holds {size} transitions, more than this run's config "
                              f"allows ({len(self.replay.obs)}); it belongs to another run")
        for name, values in stored.items():
            getattr(self.replay, name)[:size] = values.numpy()
        self.replay.size = size


def _resumed_config(cfg: MazeTrainConfig) -> MazeTrainConfig:
    """The saved config of the run folder `cfg.resume`, which is continued."""
    return dataclasses.replace(saved_config(Path(cfg.resume)), resume=cfg.resume)


def train_agent(cfg: MazeTrainConfig, *, command: str = "maze") -> Path:
    """Train per `cfg` (or continue the run `cfg.resume` from its last checkpoint) and return the run folder."""
    if cfg.resume:
        cfg = _resumed_config(cfg)
        cfg.validate()
        run = Path(cfg.resume)
        state = load_checkpoint(run / "checkpoint.pt")
    else:
        cfg.validate()
        state = None
    maze = load_maze(cfg.map, resize=cfg.resize, thin=cfg.thin)
    goal_for_figure = figure_goal(cfg, maze)
    device = resolve_device(cfg.device)
    if state is None:
        run = prepare_run_dir(cfg.out, command, overwrite=cfg.overwrite)
        write_json(run / "config.json", {"kind": "maze-agent", "command": command, "config": cfg})
    seed_everything(cfg.seed)
    maze.distances  # noqa: B018  (ground truth for the goal curriculum: computed before the clock starts)

    tr = Training(cfg, maze, device)
    elapsed = cpu_elapsed = 0.0
    if state is not None:
        try:
            tr.load_state_dict(state)
            elapsed, cpu_elapsed = state["train_seconds"], state["cpu_seconds"]
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as err:
            reason = f"no {err}" if isinstance(err, KeyError) else str(err).splitlines()[0][:120]
            raise ConfigError(f"checkpoint {run / 'checkpoint.pt'} does not fit this run ({reason}); was it "
                              f"written by an older ebmplan or for another run?") from None
    write_json(run / "system.json", system_info(str(device)))

    log = ScalarLog(run, ["critic_loss", "actor_loss", "train_success", "episodes", "env_steps", "seconds",
                          "cpu_seconds"], tensorboard=cfg.tensorboard, resume_step=None if state is None else tr.step)
    bar = progress(range(tr.step, cfg.steps), initial=tr.step, total=cfg.steps, desc=f"maze {maze.name}")
    # CPU time too: a shared machine's wall clock lies. On resume both clocks continue from the checkpoint.
    t0, cpu0 = time.perf_counter() - elapsed, time.process_time() - cpu_elapsed

    def checkpoint() -> tuple[float, float]:
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
        save_checkpoint(run / "checkpoint.pt", {**tr.state_dict(), "train_seconds": seconds,
                                                "cpu_seconds": cpu_seconds})
        save_weights(run / "model.safetensors", tr.agent)
        return seconds, cpu_seconds

    train_seconds, cpu_seconds = elapsed, cpu_elapsed  # a resumed finished run keeps its recorded times

    if state is None:
        for _ in range(cfg.warmup):
            tr.collect(random=True)
    for step in bar:
        if step % cfg.updates_per_collect == 0:
            tr.collect(random=False)
        c_loss, a_loss = tr.update()
        done = step + 1
        if not (math.isfinite(c_loss) and math.isfinite(a_loss)):
            _diverged(run, done, "a loss is")
        if not tr.weights_finite():  # e.g. an absurd learning rate; caught before a checkpoint keeps them
            _diverged(run, done, "the weights are")
        tr.losses.append((c_loss, a_loss))
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

    np.savez_compressed(run / "trajectories.npz", **tr.replay.trajectories(maze.walls))
    agent = tr.agent.eval()
    from . import plots

    plots.save_distance_map(run / "distance.png", agent.cpu(), maze, goal_for_figure)
    plots.save_rollouts(run / "rollouts.png", agent, maze, seed=cfg.seed)
    write_json(run / "metrics.json", {"train_seconds": train_seconds, "cpu_seconds": cpu_seconds,
                                      "torch_threads": torch.get_num_threads(), "env_steps": tr.replay.size,
                                      "updates": cfg.steps, "final_critic_loss": tr.last_critic_loss})
    return run


def _diverged(run: Path, update: int, what: str) -> None:
    kept = (f"the last good checkpoint is kept in {run / 'checkpoint.pt'}" if (run / "checkpoint.pt").exists()
            else "no checkpoint had been written yet")
    raise Divergence(f"training diverged at update {update}: {what} not finite; {kept}; try a lower --lr, "
                     f"a smaller --tau or a larger --batch-size")


def saved_config(path: Path) -> MazeTrainConfig:
    """The config a `maze train` run folder was trained with."""
    saved = read_json(path / "config.json")
    if saved.get("kind") != "maze-agent":
        raise ConfigError(f"{path} holds a run of kind {saved.get('kind', 'energy')!r}, not a maze agent")
    fields = {f.name for f in dataclasses.fields(MazeTrainConfig)}
    unknown = set(saved["config"]) - fields
    if unknown:
        raise ConfigError(f"{path}/config.json has settings this ebmplan does not know: "
                          f"{', '.join(sorted(unknown))}")
    values = dict(saved["config"])
    if values.get("goal") is not None:
        values["goal"] = tuple(values["goal"])
    return MazeTrainConfig(**values)


@dataclass
class AgentRun:
    """A trained maze agent, rebuilt from its run folder."""

    path: Path
    config: MazeTrainConfig
    agent: DistanceAgent
    maze: Maze
    metrics: dict = field(default_factory=dict)


@loader("maze-agent")
def load_agent(path: str | Path, device: str | torch.device = "cpu") -> AgentRun:
    """Rebuild a `maze train` run on `device`: `load_agent(run).agent.distance(states, goals)`."""
    path = Path(path)
    cfg = saved_config(path)
    maze = load_maze(cfg.map, resize=cfg.resize, thin=cfg.thin)
    agent = build_agent(cfg, maze)
    load_weights(path / "model.safetensors", agent)
    agent.to(device).eval()
    metrics_path = path / "metrics.json"
    return AgentRun(path, cfg, agent, maze, read_json(metrics_path) if metrics_path.exists() else {})


@dataclass
class MazeEvalConfig:
    """Measure a trained maze agent: plain-policy success per difficulty and distance quality."""

    run: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="RUN", help_behavior_hint="(required)")]
    """run folder written by `ebmplan maze train`"""
    difficulties: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    """difficulty buckets d (true distance / longest shortest path), each d ± 0.05"""
    episodes: int = 100
    """episodes per difficulty, all run as one batch"""
    max_steps: int = 300
    """step limit of an episode"""
    pairs: int = 2000
    """fresh (start, goal) pairs for the distance quality"""
    max_true: float = 15.0
    """only pairs whose true distance is at most this count for the distance quality"""
    seed: int = 12345
    """seed of the evaluation episodes and pairs (distinct from training seeds)"""
    device: str = "cpu"
    """auto, cpu or cuda: where the agent runs"""
    out: str | None = None
    """folder for eval.json and eval.md, made if missing (default: the agent's run folder)"""


@torch.no_grad()
def rollout(agent: DistanceAgent, maze: Maze, starts: np.ndarray, goals: np.ndarray, max_steps: int,
            seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The deterministic actor from each start to its goal -> reached [N], steps [N], paths [T+1, N, 2]."""
    envs = PointMazeVec(maze, len(starts), seed=seed)
    envs.reset(states=starts, goals=goals)
    reached = np.linalg.norm(starts - goals, axis=1) < 1
    steps = np.where(reached, 0, max_steps)
    paths = [starts.copy()]
    for t in range(max_steps):
        if reached.all():
            break
        a = agent.action(envs.states, goals)
        states, hit = envs.step(a)
        envs.states[reached] = paths[-1][reached]  # finished episodes stay where they ended
        new = hit & ~reached
        steps[new] = t + 1
        reached |= hit
        paths.append(envs.states.copy())
    return reached, steps, np.stack(paths)


def evaluate_agent(agent: DistanceAgent, maze: Maze, cfg: MazeEvalConfig) -> dict:
    """Plain-policy success per difficulty (Wilson 95%) and distance Spearman/MAE on fresh pairs."""
    rng = np.random.default_rng(cfg.seed)
    starts, goals, bucket = [], [], []
    for k, d in enumerate(cfg.difficulties):
        s, g = maze.sample_pairs(rng, cfg.episodes, d)
        starts.append(s)
        goals.append(g)
        bucket.append(np.full(cfg.episodes, k))
    starts, goals, bucket = np.concatenate(starts), np.concatenate(goals), np.concatenate(bucket)
    t0 = time.perf_counter()
    reached, steps, _ = rollout(agent, maze, starts, goals, cfg.max_steps, cfg.seed)
    rollout_seconds = time.perf_counter() - t0
    table = []
    for k, d in enumerate(cfg.difficulties):
        hits = reached[bucket == k]
        low, high = wilson(int(hits.sum()), len(hits))
        table.append({"difficulty": d, "success": float(hits.mean()), "low": low, "high": high,
                      "episodes": len(hits), "mean_steps_success": float(steps[bucket == k][hits].mean())
                      if hits.any() else None})
    # Distance quality: fresh uniform pairs, kept if the true distance is within max_true.
    a, b = np.zeros((0, 2)), np.zeros((0, 2))
    while len(a) < cfg.pairs:
        s, g = maze.sample_free(rng, 20 * cfg.pairs), maze.sample_free(rng, 20 * cfg.pairs)
        keep = maze.true_distance(s, g) <= cfg.max_true
        a, b = np.concatenate([a, s[keep]]), np.concatenate([b, g[keep]])
    a, b = a[: cfg.pairs], b[: cfg.pairs]
    true, predicted = maze.true_distance(a, b), agent.distance(a, b)
    return {"success": table, "spearman": float(spearmanr(predicted, true).statistic),
            "mae": float(np.abs(predicted - true).mean()), "pairs": cfg.pairs, "max_true": cfg.max_true,
            "max_distance": maze.max_distance, "rollout_seconds": rollout_seconds}


def success_table(result: dict, title: str) -> str:
    rows = [f"### {title}", "", "| difficulty | success | 95% interval | episodes | mean steps (successes) |",
            "|---|---|---|---|---|"]
    for r in result["success"]:
        steps = f"{r['mean_steps_success']:.1f}" if r["mean_steps_success"] is not None else "-"
        rows.append(f"| {r['difficulty']:.1f} | {r['success']:.2f} | [{r['low']:.2f}, {r['high']:.2f}] | "
                    f"{r['episodes']} | {steps} |")
    rows += ["", f"Distance quality on {result['pairs']} fresh pairs with true distance <= "
             f"{result['max_true']:g}: Spearman {result['spearman']:.3f}, MAE {result['mae']:.2f} "
             f"(predicted steps vs true cells).", ""]
    return "\n".join(rows)


def evaluate_run(cfg: MazeEvalConfig) -> dict:
    """`ebmplan maze eval RUN`: write eval.json and eval.md into `cfg.out` (default: the run folder) and return
    the result."""
    if not cfg.run:
        raise ConfigError("give the run folder to evaluate: ebmplan maze eval RUN")
    out = Path(cfg.out) if cfg.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    for name in ("episodes", "max_steps", "pairs"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    for d in cfg.difficulties:
        if not 0 < d <= 1:
            raise ConfigError(f"--difficulties must lie in (0, 1], got {d}")
    loaded = load_agent(cfg.run, resolve_device(cfg.device))
    out = out or loaded.path
    try:  # before the work: a folder that cannot be made is a usage error
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--out {out} cannot be made: {err.strerror}") from None
    result = evaluate_agent(loaded.agent, loaded.maze, cfg)
    write_json(out / "eval.json", {"config": cfg, **result})
    c = loaded.config
    title = f"{loaded.maze.name} x{c.resize}{' thin' if c.thin else ''}, seed {c.seed}, {c.steps} updates"
    (out / "eval.md").write_text(success_table(result, title))
    return result
