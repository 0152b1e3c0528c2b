"""The system descriptions and the documents beside them: every template field in
``systems/<system>.json``, the JSON matching the TOML it is rendered from, a warning per field
still to be confirmed, an energy-hookup description where there are energy results, code/."""

from __future__ import annotations

import json
from pathlib import Path

from energybench.errors import EnergybenchError
from energybench.submission.check.problems import Problem, rel_path
from energybench.submission.manifest import load_manifest
from energybench.submission.system import (
    json_problems,
    load_system_toml,
    toml_key,
    unknown_json_keys,
)
from energybench.submission.tree import MANIFEST_NAME

HANDLED_BY_WALK = ("Status", "system_type")  # the official rules' walk reports these


def check_system(root: Path, org: Path, system: str) -> list[Problem]:
    json_path = org / "systems" / f"{system}.json"
    toml_path = json_path.with_suffix(".toml")
    problems: list[Problem] = []
    data = None
    if json_path.is_file():
        try:
            data = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None  # reported by the walk (the checker stops on it)
    where = rel_path(root, json_path)
    if isinstance(data, dict):
        problems += [
            Problem("error", where, "system-field", f'"{key}": {text}')
            for key, text in json_problems(data)
            if key not in HANDLED_BY_WALK
        ]
        problems += [
            Problem("warning", where, "system-field", f'"{key}": not a template field')
            for key in unknown_json_keys(data)
        ]
    if toml_path.is_file():
        problems += _toml(root, toml_path, data)
    else:
        try:
            ours = load_manifest(org / MANIFEST_NAME) is not None
        except EnergybenchError:
            ours = True
        if ours:
            problems.append(
                Problem(
                    "warning",
                    rel_path(root, toml_path),
                    "system-toml",
                    "missing: the JSON has no description to be rendered from",
                )
            )
    if any((org / "results" / system).glob("*/energy")) and not _has_hookup(org, system):
        problems.append(
            Problem(
                "warning",
                rel_path(root, org / "systems"),
                "energy-hookup",
                f"no energy-hookup description for {system} (the rules ask for one with energy "
                "results)",
            )
        )
    return problems


def _has_hookup(org: Path, system: str) -> bool:
    folder = org / "systems"
    return folder.is_dir() and any("hookup" in p.name.lower() for p in folder.iterdir())


def _toml(root: Path, toml_path: Path, data: object) -> list[Problem]:
    where = rel_path(root, toml_path)
    try:
        desc = load_system_toml(toml_path)
    except EnergybenchError as exc:
        return [Problem("error", where, "system-toml", exc.message)]
    problems = [
        Problem(
            "warning",
            where,
            "system-to-confirm",
            f'"{toml_key(key)}" = {desc.values.get(key, "")!r} is still to be confirmed',
        )
        for key in desc.to_confirm
    ]
    if isinstance(data, dict) and data != desc.to_json():
        problems.append(
            Problem(
                "warning",
                where,
                "system-json-stale",
                f"{toml_path.with_suffix('.json').name} differs from it: re-render with "
                "`energybench submission add ROOT --system " + desc.name + "`",
            )
        )
    return problems


def check_code(root: Path, org: Path) -> list[Problem]:
    if (org / "code").is_dir():
        return []
    return [
        Problem("warning", rel_path(root, org), "code", "no code/ folder (the rules ask for it)")
    ]
