"""`ebmplan playground`: a local web page to paint data and watch an energy landscape carve itself, and to draw a
maze and watch a plan take shape, built on the same library code and run folders as the command line.

- command.py: `PlaygroundConfig` and `serve` (the `ebmplan playground` command); app.py: the Starlette app
- limits.py: every bound on what a page may ask; folders.py: the `--runs` folder, the only place read or written
- energy page: recipe.py (the page's recipe as a `TrainConfig`, its data, the equivalent command line) ·
  landscape.py (what a frame shows) · trainer.py (the training loop in its own process) · energy_session.py
  (one tab's websocket and its trainer)
- plan page: mazes.py (maps shown, drawn or loaded, and their keys) · agents.py (agent runs under `--runs`) ·
  sources.py (fitted candidate sources per agent, kept beside it) · episode.py (one planned episode) ·
  plan_api.py (its endpoints)
- jobs.py: processes that train (energy models, agents, subgoal generators), under one cap
- static/: the page itself (HTML, CSS, JavaScript), served as package data: no CDN, no build step
"""
