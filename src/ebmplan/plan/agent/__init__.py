"""The goal-conditioned agent: networks, replay, training (`maze train`) and its policy."""
