"""Planning with generated subgoals in SORB's point mazes, by layer (each imports only those above it):

- world/: maze.py (maps, scaling, the ground truth) · env.py (the point dynamics, the vectorised env and the
  gymnasium env, registered here)
- agent/: networks.py (actor and distributional critic ensemble, whose value is a distance) · run.py (a
  maze-agent run: its config and `load_agent`) · replay.py (replay buffer, trajectories.npz) · training.py
  (`ebmplan maze train`) · policy.py (the plain policy measured: `ebmplan maze eval`)
- sources/: candidates.py (what every source shares, its settings) · registry.py (uniform, replay, sgm, and
  the sources by name) · generators.py (cvae, ebm, route) · replay_graph.py (their training triples)
- search/: graph.py (search and the waypoint rule) · planner.py (graphs and closed-loop episodes)
- eval/: protocol.py (`plan eval`'s settings and episodes) · results.py (results.csv and results.md) · run.py
  (`ebmplan plan eval`)
- figures.py: every figure, drawn from arrays its callers compute
"""

from .world.env import PointMazeEnv, PointMazeVec, register_envs, step_points
from .world.maze import Maze, load_maze

register_envs()  # `import ebmplan` imports this package, so the ids exist after it too

__all__ = ["Maze", "PointMazeEnv", "PointMazeVec", "load_maze", "register_envs", "step_points"]
