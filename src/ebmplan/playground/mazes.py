"""The plan page's maps: a bundled map by name, or rows of `#` and `.` drawn or loaded on the page, scaled as
`ebmplan maze train` scales them (`load_maze`). A drawn map is kept as a map file in `--runs/maps/`, named by
its content, so that an agent can train on it from the command line too. A map's `key` says whether two mazes
are the same grid (an agent plans only on the map it was trained on).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import ConfigError
from ..plan.world.maze import Maze, bundled_maps, load_maze, parse_maps
from .folders import RunsFolder
from .limits import MAX_DRAWN_CELLS, MAX_FREE_CELLS, MAX_MAP_CELLS, MAX_RESIZE


def maze_key(walls: np.ndarray) -> str:
    """The same key for the same scaled grid of walls."""
    return hashlib.sha1(f"{walls.shape}".encode() + np.packbits(walls).tobytes()).hexdigest()[:16]


def rows_of(walls: np.ndarray) -> list[str]:
    return ["".join("#" if w else "." for w in row) for row in walls]


def map_argument(descriptor: Any, runs: RunsFolder) -> tuple[str, int, bool]:
    """A page's map (`{"name": NAME}` or `{"rows": [...]}`, with "resize" and "thin") as `ebmplan maze train`'s
    --map, --resize and --thin: a bundled map's name, or the file in `--runs/maps/` that holds the drawn rows."""
    if not isinstance(descriptor, dict):
        raise ConfigError("a map is a bundled map's name or rows of '#' and '.'")
    unknown = sorted(set(descriptor) - {"name", "rows", "resize", "thin"})
    if unknown:
        raise ConfigError(f"unknown map option {unknown[0]!r}; a map has a name or rows, a resize and thin")
    resize, thin = descriptor.get("resize", 1), descriptor.get("thin", False)
    if isinstance(resize, bool) or not isinstance(resize, int) or not 1 <= resize <= MAX_RESIZE:
        raise ConfigError(f"resize must be a whole number from 1 to {MAX_RESIZE}, got {resize!r}")
    if not isinstance(thin, bool):
        raise ConfigError(f"thin must be true or false, got {thin!r}")
    if "rows" in descriptor:
        return str(drawn_map_file(descriptor["rows"], runs)), resize, thin
    name = descriptor.get("name")
    maps = bundled_maps()
    if name not in maps:
        raise ConfigError(f"unknown map {str(name)[:40]!r}; choose one of: {', '.join(maps)}, or draw one")
    return name, resize, thin


def drawn_map_file(rows: Any, runs: RunsFolder) -> Path:
    """Rows of '#' and '.' (at most MAX_DRAWN_CELLS a side) written to `--runs/maps/drawn-<content>.txt`."""
    if not isinstance(rows, list) or not all(isinstance(r, str) for r in rows):
        raise ConfigError("a drawn map is a list of rows of '#' (wall) and '.' (free)")
    if not rows or len(rows) > MAX_DRAWN_CELLS or max(len(r) for r in rows) > MAX_DRAWN_CELLS:
        raise ConfigError(f"a drawn map has 1 to {MAX_DRAWN_CELLS} rows of 1 to {MAX_DRAWN_CELLS} cells; got "
                          f"{len(rows)} rows of up to {max((len(r) for r in rows), default=0)}")
    walls = next(iter(parse_maps("\n".join(rows), source="the drawn map").values()))
    name = f"drawn-{maze_key(walls)[:10]}"
    path = runs.root / "maps" / f"{name}.txt"
    path.parent.mkdir(exist_ok=True)
    if not path.exists():
        path.write_text(f"== {name} {walls.shape[0]}x{walls.shape[1]}\n" + "\n".join(rows_of(walls)) + "\n")
    return path


def parse_map_file(text: Any) -> list[str]:
    """A loaded map file's text -> its rows (exactly one map, at most MAX_DRAWN_CELLS a side)."""
    if not isinstance(text, str):
        raise ConfigError("a map file is text: rows of '#' (wall) and '.' (free)")
    found = parse_maps(text, source="the map file")
    if len(found) > 1:
        raise ConfigError(f"the map file holds {len(found)} maps; give it exactly one")
    (walls,) = found.values()
    if max(walls.shape) > MAX_DRAWN_CELLS:
        raise ConfigError(f"the map file's map is {walls.shape[0]}x{walls.shape[1]} cells; the page takes at most "
                          f"{MAX_DRAWN_CELLS}x{MAX_DRAWN_CELLS} before scaling")
    return rows_of(walls)


def page_maze(map_name: str, resize: int, thin: bool) -> Maze:
    """The scaled maze, within the page's bounds (checked before the ground truth is computed)."""
    maze = load_maze(map_name, resize=resize, thin=thin)
    if max(maze.walls.shape) > MAX_MAP_CELLS:
        raise ConfigError(f"the scaled map is {maze.height}x{maze.width} cells; the page takes at most "
                          f"{MAX_MAP_CELLS} a side: use a smaller resize")
    if len(maze.cells) > MAX_FREE_CELLS:
        raise ConfigError(f"the scaled map has {len(maze.cells)} free cells; the page takes at most "
                          f"{MAX_FREE_CELLS}: use a smaller resize")
    return maze


def describe(maze: Maze, map_name: str, resize: int, thin: bool) -> dict:
    """What the page draws: the scaled walls, the unscaled rows it can edit, and the key."""
    source = bundled_maps().get(map_name)
    if source is None:
        source = next(iter(parse_maps(Path(map_name).read_text(), source=map_name).values()))
    return {"name": maze.name, "height": maze.height, "width": maze.width, "walls": rows_of(maze.walls),
            "rows": rows_of(source), "resize": resize, "thin": thin, "key": maze_key(maze.walls),
            "free_cells": len(maze.cells)}
