"""Graph search over candidate states and closed-loop waypoint following."""
