"""OGBench point mazes offline: datasets, evaluation, and the distance, policy and planner learned from them."""
