"""Candidate sources for the planner's graph: replay, SGM, route and the generators."""
