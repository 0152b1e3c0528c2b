"""The tree's manifest: for every run `add` placed, where it came from and the sha256 of each
file it put in the tree (paths relative to ``<division>/<submitter>/``), so a check can tell
a file changed or replaced since."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energybench.errors import SubmissionError
from energybench.submission.tree import MANIFEST_NAME

FORMAT = "energybench-manifest/1"
_CHUNK_BYTES = 1 << 20


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (raw traces can be large); remembered per
    (path, size, modification time), so a check hashes each file once."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Manifest:
    """``placements`` maps a mode folder (``results/<system>/<benchmark>/<mode>``) to its run:
    ``run_folder``, ``workload``, ``mode``, ``started_utc``, ``energybench_version`` and
    ``files`` (relative path → sha256)."""

    placements: dict[str, dict[str, Any]] = field(default_factory=dict)

    def files(self) -> dict[str, str]:
        return {p: h for entry in self.placements.values() for p, h in entry["files"].items()}

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "placements": self.placements}, indent=1) + "\n"


def load_manifest(path: Path) -> Manifest | None:
    """The manifest at ``path``; None when there is none; SubmissionError when unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SubmissionError(f"cannot read the manifest: {exc}", context=str(path)) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SubmissionError(f"not a {FORMAT} file", context=str(path))
    placements = data.get("placements")
    if not isinstance(placements, dict) or not all(
        isinstance(e, dict) and isinstance(e.get("files"), dict) for e in placements.values()
    ):
        raise SubmissionError("placements: each entry needs a files table", context=str(path))
    return Manifest(placements)


def save_manifest(path: Path, manifest: Manifest) -> None:
    Path(path).write_text(manifest.to_json(), encoding="utf-8")


def changed_files(org: Path, folder: Path) -> list[Path]:
    """Files below ``folder`` that ``org``'s manifest lists with another sha256, or that are
    gone (empty without a readable manifest)."""
    try:
        manifest = load_manifest(Path(org) / MANIFEST_NAME)
    except SubmissionError:
        return []
    if manifest is None:
        return []
    changed = []
    for rel, digest in manifest.files().items():
        path = Path(org) / rel
        if path.is_relative_to(folder) and (not path.is_file() or file_sha256(path) != digest):
            changed.append(path)
    return sorted(changed)
