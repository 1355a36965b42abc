"""Planning: point mazes, the goal-conditioned agent whose value is a distance, and its training."""

from .maze import Maze, PointMazeEnv, PointMazeVec, load_maze, register_envs, step_points

register_envs()  # `import ebmplan` imports this package, so the ids exist after it too

__all__ = ["Maze", "PointMazeEnv", "PointMazeVec", "load_maze", "register_envs", "step_points"]
