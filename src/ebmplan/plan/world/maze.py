"""Point mazes as maps: the `#`/`.` text format, SORB's bundled maps, scaling, and the ground truth.

Coordinates: a state is a continuous point `(row, col)` in `[0, H] x [0, W]`; cell `(i, j)` covers
`[i, i+1) x [j, j+1)` (the far edge `H` or `W` belongs to the last cell). Distances are in cells of the
scaled map.

Map text format: rows of `#` (wall) and `.` (free), one row per line, all rows equally long. Blank lines and
lines starting with `# ` (hash, space) are skipped; an optional header line `== NAME HxW` names the map. The
bundled file `sorb_maps.txt` holds SORB's maps as such blocks.

The ground truth (`Maze.distances`, `true_distance`, `sample_pairs`) is the all-pairs shortest path over free
cells, 8-connected, every move cost 1, as SORB computes it. It is for goal sampling and evaluation only; no
learner sees it. The point dynamics and the environments that move in these maps are in env.py.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from ...common.errors import ConfigError

MAPS_FILE = Path(__file__).with_name("sorb_maps.txt")


def parse_maps(text: str, source: str = "map") -> dict[str, np.ndarray]:
    """Parse one or more `#`/`.` maps into `{name: walls [H, W] bool}`; any defect is one ConfigError."""
    maps: dict[str, list[str]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    name = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("# "):
            continue
        if line.startswith("=="):
            parts = line[2:].split()
            if not parts:
                raise ConfigError(f"{source} line {number}: a header needs a name, like '== NAME HxW'")
            name = parts[0]
            if name in maps:
                raise ConfigError(f"{source} line {number}: map {name!r} is defined twice")
            maps[name] = []
            if len(parts) > 1:
                try:
                    h, w = (int(v) for v in parts[1].lower().split("x"))
                except ValueError:
                    raise ConfigError(f"{source} line {number}: size {parts[1]!r} is not HxW") from None
                sizes[name] = (h, w)
            continue
        bad = set(line) - {"#", "."}
        if bad:
            raise ConfigError(f"{source} line {number}: unknown character {sorted(bad)[0]!r}; a map uses "
                              f"only '#' (wall) and '.' (free)")
        if name is None:
            name = Path(source).stem
            maps[name] = []
        rows = maps[name]
        if rows and len(line) != len(rows[0]):
            raise ConfigError(f"{source} line {number}: row has {len(line)} cells but the map's first row "
                              f"has {len(rows[0])}; all rows must be equally long")
        rows.append(line)
    if not maps:
        raise ConfigError(f"{source} holds no map rows of '#' and '.'")
    out = {}
    for name, rows in maps.items():
        if not rows:
            raise ConfigError(f"{source}: map {name!r} has no rows")
        walls = np.array([[c == "#" for c in row] for row in rows], dtype=bool)
        if name in sizes and walls.shape != sizes[name]:
            raise ConfigError(f"{source}: map {name!r} is {walls.shape[0]}x{walls.shape[1]}, but its header "
                              f"says {sizes[name][0]}x{sizes[name][1]}")
        out[name] = walls
    return out


def bundled_maps() -> dict[str, np.ndarray]:
    """SORB's maps by name (unscaled)."""
    return parse_maps(MAPS_FILE.read_text(), source=MAPS_FILE.name)


def resize_walls(walls: np.ndarray, k: int) -> np.ndarray:
    """Each cell becomes a k x k block (SORB's scaling)."""
    return np.repeat(np.repeat(walls, k, axis=0), k, axis=1)


def thin_walls(walls: np.ndarray, k: int) -> np.ndarray:
    """Scale by k keeping walls one cell thick: only free space widens.

    A wall cell becomes a line one cell wide through the centre of its k x k block, joining its wall
    neighbours (the map edge counts as wall) with straight lines and diagonal neighbours with a staircase
    that the point cannot slip through. Free pockets that thinning cuts off (e.g. between a border wall and
    the map edge) are filled, so the free space stays one region.
    """
    h, w = walls.shape
    out = np.zeros((h * k, w * k), dtype=bool)
    c = k // 2
    padded = np.pad(walls, 1, constant_values=True)
    for i, j in zip(*np.nonzero(walls), strict=True):
        block = out[i * k:(i + 1) * k, j * k:(j + 1) * k]
        block[c, c] = True
        for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            if padded[i + 1 + di, j + 1 + dj]:
                rows = slice(0, c + 1) if di < 0 else slice(c, k) if di > 0 else c
                cols = slice(0, c + 1) if dj < 0 else slice(c, k) if dj > 0 else c
                block[rows, cols] = True
        for di, dj in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
            corner_open = not padded[i + 1 + di, j + 1] and not padded[i + 1, j + 1 + dj]
            if padded[i + 1 + di, j + 1 + dj] and corner_open:
                for t in range(k - c):
                    r, q = c + di * t, c + dj * t
                    if 0 <= r < k and 0 <= q < k:
                        block[r, q] = True
    labels, n = ndimage.label(~out)
    if n > 1:  # keep the free region that holds the centres of the original free cells
        centres = labels[np.nonzero(~walls)[0] * k + c, np.nonzero(~walls)[1] * k + c]
        main = np.bincount(centres[centres > 0]).argmax()
        out |= labels != main
    return out


class Maze:
    """A wall grid with the ground truth over its free cells. Build with `load_maze`."""

    def __init__(self, walls: np.ndarray, name: str = "map"):
        self.walls = np.ascontiguousarray(walls, dtype=bool)  # [H, W]
        self.name = name
        self.height, self.width = self.walls.shape
        self.high = np.array([self.height, self.width], dtype=np.float64)
        if self.walls.all():
            raise ConfigError(f"map {name!r} has no free cell")
        _, regions = ndimage.label(~self.walls)
        if regions > 1:
            raise ConfigError(f"map {name!r} has {regions} separate free regions; goals could be "
                              f"unreachable, so every free cell must connect to every other")
        self.cells = np.argwhere(~self.walls)  # [F, 2] free cells, row-major
        self.index = np.full(self.walls.shape, -1, dtype=np.int64)  # cell -> row of `cells`, -1 for walls
        self.index[self.cells[:, 0], self.cells[:, 1]] = np.arange(len(self.cells))

    @cached_property
    def distances(self) -> np.ndarray:
        """All-pairs shortest path [F, F] (int16) between free cells: 8-connected, every move cost 1."""
        f = len(self.cells)
        src, dst = [], []
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if di == dj == 0:
                    continue
                n = self.cells + (di, dj)  # [F, 2]
                ok = (n[:, 0] >= 0) & (n[:, 0] < self.height) & (n[:, 1] >= 0) & (n[:, 1] < self.width)
                target = np.full(f, -1)
                target[ok] = self.index[n[ok, 0], n[ok, 1]]
                keep = target >= 0
                src.append(np.flatnonzero(keep))
                dst.append(target[keep])
        src, dst = np.concatenate(src), np.concatenate(dst)
        graph = csr_matrix((np.ones(len(src)), (src, dst)), shape=(f, f))
        out = np.empty((f, f), dtype=np.int16)
        for start in range(0, f, 1024):  # chunks keep the float64 intermediate small on big maps
            rows = np.arange(start, min(start + 1024, f))
            out[rows] = shortest_path(graph, method="D", unweighted=True, indices=rows)
        return out

    @cached_property
    def max_distance(self) -> int:
        """The longest shortest path of the map: difficulty 1."""
        return int(self.distances.max())

    def cell_of(self, states: np.ndarray) -> np.ndarray:
        """[N, 2] states -> [N, 2] integer cells (the far edge belongs to the last cell)."""
        cells = np.floor(states).astype(np.int64)
        return np.minimum(np.maximum(cells, 0), [self.height - 1, self.width - 1])

    def blocked(self, states: np.ndarray) -> np.ndarray:
        """[N, 2] -> [N] bool: outside `[0, H] x [0, W]` or inside a wall."""
        inside = (states >= 0).all(-1) & (states <= self.high).all(-1)
        cells = self.cell_of(states)
        return ~inside | self.walls[cells[:, 0], cells[:, 1]]

    def check_free(self, states: np.ndarray, what: str = "state") -> np.ndarray:
        """Return `states` as [N, 2] float64, or raise a ConfigError if one is outside free space."""
        states = np.asarray(states, dtype=np.float64).reshape(-1, 2)
        bad = self.blocked(states)
        if bad.any():
            raise ConfigError(f"{what} {tuple(states[bad][0].round(3).tolist())} is inside a wall or outside the "
                              f"{self.height}x{self.width} map {self.name!r}")
        return states

    def true_distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Shortest-path distance between the cells of states `a` and `b` ([N, 2] each) -> [N] float."""
        ca, cb = self.cell_of(np.asarray(a).reshape(-1, 2)), self.cell_of(np.asarray(b).reshape(-1, 2))
        ia, ib = self.index[ca[:, 0], ca[:, 1]], self.index[cb[:, 0], cb[:, 1]]
        return self.distances[ia, ib].astype(np.float64)

    def sample_free(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """[n, 2] states uniform over free cells plus U[0,1)^2 inside the cell (SORB's start states)."""
        return self.cells[rng.integers(len(self.cells), size=n)] + rng.random((n, 2))

    def sample_near(self, rng: np.random.Generator, states: np.ndarray, max_dist: float) -> np.ndarray:
        """[N, 2] goals, each uniform over the cells within `max_dist` of its state (plus U[0,1)^2)."""
        c = self.cell_of(states)
        near = self.distances[self.index[c[:, 0], c[:, 1]]] <= max_dist  # [N, F]
        pick = (rng.random(near.shape) * near).argmax(1)  # uniform among the near cells (own cell included)
        return self.cells[pick] + rng.random((len(states), 2))

    def sample_pairs(self, rng: np.random.Generator, n: int, difficulty: float,
                     width: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """(starts, goals) [n, 2] each, uniform over cell pairs at difficulty d ± width (docs/protocol.md §3).

        Difficulty is the true distance over the map's longest shortest path.
        """
        d = self.distances / self.max_distance
        pairs = np.flatnonzero(np.abs(d - difficulty) <= width + 1e-9)
        if len(pairs) == 0:
            raise ConfigError(f"map {self.name!r} has no pair of cells at difficulty {difficulty} ± {width}")
        chosen = pairs[rng.integers(len(pairs), size=n)]
        f = len(self.cells)
        starts = self.cells[chosen // f] + rng.random((n, 2))
        goals = self.cells[chosen % f] + rng.random((n, 2))
        return starts, goals


def load_maze(name: str = "FourRooms", resize: int = 5, thin: bool = False) -> Maze:
    """A bundled map by name, or a map file by path, scaled by `resize` (thin: walls stay one cell thick)."""
    if resize < 1:
        raise ConfigError(f"--resize must be at least 1, got {resize}")
    maps = bundled_maps()
    if name in maps:
        walls = maps[name]
    else:
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"unknown map {name!r}: not a file, and not a bundled map (choose one of: "
                              f"{', '.join(maps)})")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"map file {path} cannot be read ({err})") from None
        found = parse_maps(text, source=str(path))
        if len(found) > 1:
            raise ConfigError(f"map file {path} holds {len(found)} maps; give it exactly one")
        (name, walls), = found.items()
    if thin and resize > 1:
        walls = thin_walls(walls, resize)
    else:
        walls = resize_walls(walls, resize)
    return Maze(walls, name=name)
