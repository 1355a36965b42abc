"""The `--runs` folder: the only place the playground reads or writes. No path from the page is trusted: a page
names a run by its place under `--runs`, which is checked to stay inside; scratch files (painted points, uploads,
drawn maps) live in `--runs/.playground/`.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from ..common.errors import ConfigError
from ..common.files import read_json
from .limits import NAME_CHARACTERS

NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_CHARACTERS - 1}}}")


class RunsFolder:
    """`root`: the `--runs` folder (made when missing)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.scratch.mkdir(exist_ok=True)
        except OSError as err:
            raise ConfigError(f"--runs {root} cannot be made or written ({err.strerror})") from None

    @property
    def scratch(self) -> Path:
        return self.root / ".playground"

    def new_run(self, name: str) -> Path:
        """The folder for a new run called `name` (a plain name, not a path); one clear sentence if it is not
        a plain name or a folder of that name exists."""
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ConfigError(f"a run name is 1 to {NAME_CHARACTERS} letters, digits, '.', '_' or '-', starting "
                              f"with a letter or digit; got {name!r}")
        path = self.root / name
        if path.exists():
            raise ConfigError(f"a run folder named {name!r} exists already in {self.root}; choose another name")
        return path

    def run(self, relative: str, kind: str | None = None) -> Path:
        """An existing run folder named by its place under `--runs` (as `runs_of` lists it), of `kind` when given."""
        if not isinstance(relative, str) or not relative or "\\" in relative:
            raise ConfigError(f"no run folder {relative!r} under {self.root}")
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or path == self.root or not (path / "config.json").is_file():
            raise ConfigError(f"no run folder {relative!r} under {self.root}")
        if kind is not None and read_json(path / "config.json").get("kind") != kind:
            raise ConfigError(f"{relative!r} under {self.root} is not a run of kind {kind!r}")
        return path

    def runs_of(self, kind: str, depth: int = 2) -> list[Path]:
        """Run folders of `kind` up to `depth` levels below `--runs` (not scratch, not links out of it), by name."""
        found = []
        for level in range(1, depth + 1):
            for config in sorted(self.root.glob("/".join(["*"] * level) + "/config.json")):
                if config.parent.is_relative_to(self.scratch) or not self.inside(config.parent):
                    continue  # scratch, or a link that leads out of --runs
                try:
                    if read_json(config).get("kind") == kind:
                        found.append(config.parent)
                except (ConfigError, AttributeError):  # a broken or foreign config.json is not a run
                    continue
        return found

    def name_of(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def inside(self, path: str | Path) -> bool:
        return Path(path).resolve().is_relative_to(self.root)

    def scratch_file(self, suffix: str) -> Path:
        """A new, unique scratch file name (not created)."""
        return self.scratch / f"{uuid.uuid4().hex}{suffix}"

    def remove_scratch(self, path: Path | None) -> None:
        if path is not None and path.resolve().is_relative_to(self.scratch):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
