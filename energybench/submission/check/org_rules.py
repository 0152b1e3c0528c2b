"""Rules on everything under ``<division>/<submitter>/``, as the official checker applies them
before it looks at results: symbolic links, files over 500 MiB, ``__pycache__`` folders and
empty folders make the whole submitter fail; names starting with a dot or holding a space only
draw a warning."""

from __future__ import annotations

import os
from pathlib import Path

from energybench.submission.check.problems import Problem, rel_path
from energybench.submission.rules import FILE_SIZE_LIMIT_BYTES


def org_problems(root: Path, org: Path) -> tuple[list[Problem], bool]:
    """(problems, fatal): ``fatal`` when the official checker drops the whole submitter."""
    dirs, files = [], []
    for dirpath, _dirs, filenames in os.walk(org):
        dirs.append(dirpath)
        files += [os.path.join(dirpath, f) for f in filenames]
    problems: list[Problem] = []
    links = [f for f in files if os.path.islink(f)]
    problems += [
        Problem("error", rel_path(root, f), "symlink", "symbolic link", "fatal") for f in links
    ]
    big = [f for f in files if not os.path.islink(f) and os.path.getsize(f) > FILE_SIZE_LIMIT_BYTES]
    problems += [
        Problem(
            "error",
            rel_path(root, f),
            "file-size",
            f"{os.path.getsize(f) / 2**20:.0f} MiB > {FILE_SIZE_LIMIT_BYTES / 2**20:.0f} MiB",
            "fatal",
        )
        for f in big
    ]
    for path in dirs[1:] + files:
        name = os.path.basename(path)
        if name.startswith("."):
            problems.append(
                Problem(
                    "warning", rel_path(root, path), "name", "name starts with a dot", "warning"
                )
            )
        if " " in name:
            problems.append(
                Problem("warning", rel_path(root, path), "name", "name holds a space", "warning")
            )
    problems += [
        Problem("error", rel_path(root, d), "pycache", "__pycache__ folder", "fatal")
        for d in dirs
        if d.endswith("__pycache__")
    ]
    problems += [
        Problem("error", rel_path(root, d), "empty-folder", "empty folder", "fatal")
        for d in dirs
        if not os.listdir(d)
    ]
    return problems, any(p.official == "fatal" for p in problems)
