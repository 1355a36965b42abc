"""Planning with generated subgoals in SORB's point mazes, one concept per module:

- the world: maze.py (maps, scaling, the ground truth) · env.py (the point dynamics, the vectorised env and
  the gymnasium env, registered here)
- the agent: agent.py (actor and distributional critic ensemble, whose value is a distance) · agent_run.py (a
  maze-agent run: its config and `load_agent`) · replay.py (replay buffer, trajectories.npz) ·
  agent_training.py (`ebmplan maze train`) · policy.py (the plain policy measured: `ebmplan maze eval`)
- candidate states: candidates.py (what every source shares, its settings) · subgoals.py (uniform, replay,
  sgm, and the sources by name) · generators.py (cvae, ebm, route) · replay_graph.py (their training triples)
- planning: graph.py (search and the waypoint rule) · planner.py (graphs and closed-loop episodes) ·
  protocol.py (`plan eval`'s settings and episodes) · results.py (results.csv and results.md) ·
  plan_eval.py (`ebmplan plan eval`)
- figures.py: every figure, drawn from arrays its callers compute
"""

from .env import PointMazeEnv, PointMazeVec, register_envs, step_points
from .maze import Maze, load_maze

register_envs()  # `import ebmplan` imports this package, so the ids exist after it too

__all__ = ["Maze", "PointMazeEnv", "PointMazeVec", "load_maze", "register_envs", "step_points"]
