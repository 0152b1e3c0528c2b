"""Where things live in a submission tree, and the tree's own settings file.

```
ROOT/energybench-submission.toml        division, submitter, rules version (ours)
ROOT/<division>/<submitter>/
  energybench-manifest.json             sha256 of every file `add` placed
  code/README.md, code/<system>/README.md
  systems/<system>.toml                 the description people edit
  systems/<system>.json                 rendered from it (the checker's file)
  systems/<system>-energy-hookup.md     instruments, supply, sync, what is measured
  results/<system>/<benchmark>/<mode>/  the files the checker reads
  results/<system>/<benchmark>/raw/<mode>/  energybench's results.json, traces, per-window CSV
```
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from energybench.errors import ConfigError, SubmissionError, UsageError
from energybench.submission.rules import DEFAULT_VERSION, DIVISIONS, VERSIONS

CONFIG_NAME = "energybench-submission.toml"
MANIFEST_NAME = "energybench-manifest.json"
RAW = "raw"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def check_name(value: str, what: str) -> str:
    """Submitter and system names become folder names: no spaces, no leading dot, no slash
    (the checker warns about the first two; a slash would nest folders)."""
    if not _NAME.match(value or ""):
        raise UsageError(
            f"{value!r} is not a usable folder name (letters, digits, _ . + -; no spaces, "
            "no leading dot)",
            context=what,
        )
    return value


@dataclass(frozen=True)
class Tree:
    root: Path
    division: str
    submitter: str
    version: str = DEFAULT_VERSION

    @property
    def org(self) -> Path:
        return self.root / self.division / self.submitter

    @property
    def manifest(self) -> Path:
        return self.org / MANIFEST_NAME

    def system_toml(self, system: str) -> Path:
        return self.org / "systems" / f"{system}.toml"

    def system_json(self, system: str) -> Path:
        return self.org / "systems" / f"{system}.json"

    def hookup(self, system: str) -> Path:
        return self.org / "systems" / f"{system}-energy-hookup.md"

    def code_readme(self, system: str | None = None) -> Path:
        return self.org / "code" / (system or "") / "README.md"

    def results(self, system: str) -> Path:
        return self.org / "results" / system

    def mode_dir(self, system: str, benchmark: str, mode: str) -> Path:
        return self.results(system) / benchmark / mode

    def raw_dir(self, system: str, benchmark: str, mode: str) -> Path:
        return self.results(system) / benchmark / RAW / mode

    def systems(self) -> list[str]:
        folder = self.org / "results"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def relative(self, path: Path) -> str:
        return Path(path).relative_to(self.org).as_posix()


def read_toml(path: Path) -> dict:
    """A TOML file's table; ConfigError naming the file when unreadable or invalid."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc}", context=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", context=str(path)) from exc


def write_config(tree: Tree) -> Path:
    path = tree.root / CONFIG_NAME
    path.write_text(
        "# energybench submission tree settings (not part of the MLPerf Tiny layout)\n"
        "[submission]\n"
        f'division = "{tree.division}"\n'
        f'submitter = "{tree.submitter}"\n'
        f'version = "{tree.version}"\n',
        encoding="utf-8",
    )
    return path


def load_tree(root: Path) -> Tree:
    """The tree set up by ``submission init`` at ``root``."""
    root = Path(root)
    path = root / CONFIG_NAME
    if not path.is_file():
        raise SubmissionError(
            f"no {CONFIG_NAME}: run `energybench submission init {root} --division ... "
            "--submitter ...` first",
            context=str(root),
        )
    table = read_toml(path).get("submission", {})
    problems = []
    division = table.get("division")
    if division not in DIVISIONS:
        problems.append(f"[submission].division: {division!r} is not one of {DIVISIONS}")
    version = table.get("version", DEFAULT_VERSION)
    if version not in VERSIONS:
        problems.append(f"[submission].version: {version!r} is not one of {VERSIONS}")
    submitter = table.get("submitter")
    if not isinstance(submitter, str) or not _NAME.match(submitter):
        problems.append(f"[submission].submitter: {submitter!r} is not a usable folder name")
    if problems:
        raise ConfigError("; ".join(problems), context=str(path))
    return Tree(root, division, submitter, version)


def org_folders(root: Path) -> list[tuple[str, str, Path]]:
    """(division, submitter, folder) of every submitter under ``root``, in walk order."""
    out = []
    for division in sorted(d for d in Path(root).iterdir() if d.is_dir()):
        if division.name not in DIVISIONS:
            continue
        out += [(division.name, s.name, s) for s in sorted(division.iterdir()) if s.is_dir()]
    return out
