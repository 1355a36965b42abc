"""The README renders on its own (on PyPI, from the wheel): every link and image is absolute, and each one into
this repository names a file that exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_readme_link_is_absolute_and_each_into_the_repository_exists():
    readme = (ROOT / "README.md").read_text()
    homepage = re.search(r'^Homepage = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    repo = homepage.removeprefix("https://github.com/")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets, "the README has links and images"
    relative = [t for t in targets if not re.match(r"https?://|#", t)]
    assert not relative, f"relative links break outside the repository (PyPI): {relative}"
    ours = [re.sub(rf"^https://(raw\.githubusercontent\.com/{repo}/main|github\.com/{repo}/blob/main)/", "", t)
            for t in targets if repo in t]
    assert ours and all((ROOT / t).exists() for t in ours), [t for t in ours if not (ROOT / t).exists()]
