"""`submission add`: energybench run folders into ``results/<system>/<benchmark>/<mode>/``
under the names the MLCommons-runner rules expect, the rest of each run into ``raw/<mode>/``,
the manifest, the system description (TOML → JSON), the energy hookup and the code README.

Every run is checked before anything is copied: one refused run refuses the whole call, and
the run folders themselves are only read."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from energybench.errors import SubmissionError, UsageError
from energybench.submission.describe import (
    code_readme_text,
    hookup_text,
    org_code_readme_text,
    system_facts,
)
from energybench.submission.manifest import Manifest, file_sha256, load_manifest, save_manifest
from energybench.submission.rules import SWW, SWW_ENERGY_PLOT, rules_for
from energybench.submission.runs import (
    RunFolder,
    expand_run_paths,
    is_run_folder,
    load_run,
    submission_problems,
)
from energybench.submission.system import (
    TEMPLATE_NAME,
    SystemDescription,
    apply_facts,
    default_description,
    from_template,
    load_system_toml,
    write_system_json,
    write_system_toml,
)
from energybench.submission.tree import RAW, Tree, check_name

log = logging.getLogger(__name__)
MODE_FILES = ("log.txt", "results.txt")  # what the checker's MLC-runner file lists name


@dataclass
class AddReport:
    """What `add` did: one line per placed run, the files written, fields left to confirm."""

    placed: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    to_confirm: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth a look, not a refusal


def plot_names(run: RunFolder) -> dict[str, str]:
    """Energy window plots → ``energy_inf_000.png``... in window order (valid windows only)."""
    names = {}
    for k, w in enumerate(run.valid_windows):
        if w.get("plot") and (run.path / w["plot"]).is_file():
            names[w["plot"]] = f"energy_inf_{k:03d}.png"
    return names


def placement(tree: Tree, system: str, run: RunFolder) -> dict[Path, Path]:
    """Source file → destination: the checker's files into the mode folder, all else raw/."""
    mode_dir = tree.mode_dir(system, run.benchmark, run.mode)
    raw_dir = tree.raw_dir(system, run.benchmark, run.mode)
    renamed = plot_names(run) if run.mode == "energy" else {}
    plan = {}
    for src in sorted(run.path.rglob("*")):
        if not src.is_file():
            continue
        rel = src.relative_to(run.path)
        if len(rel.parts) == 1 and rel.name in MODE_FILES:
            plan[src] = mode_dir / rel.name
        elif len(rel.parts) == 1 and rel.name in renamed:
            plan[src] = mode_dir / renamed[rel.name]
        else:
            plan[src] = raw_dir / rel
    return plan


def _refusals(runs: list[RunFolder], tree: Tree) -> list[str]:
    rules = rules_for(tree.version)
    out = []
    seen: dict[tuple[str, str], RunFolder] = {}
    for run in runs:
        problems = submission_problems(run, rules, tree.division)
        if (
            run.benchmark == SWW
            and run.mode == "energy"
            and SWW_ENERGY_PLOT not in set(plot_names(run).values())
        ):
            problems.append(f"no plot of the stream window for {SWW_ENERGY_PLOT} (run with plots)")
        for name in MODE_FILES:
            if not (run.path / name).is_file():
                problems.append(f"no {name}")
        key = (run.benchmark, run.mode)
        if key in seen:
            problems.append(f"{run.benchmark} {run.mode} is also given as {seen[key].path}")
        seen[key] = run
        out += [f"{run.path}: {p}" for p in problems]
    return out


def placed_runs(tree: Tree, system: str) -> list[RunFolder]:
    """The runs already in the tree for ``system`` (read back from raw/<mode>/results.json)."""
    base = tree.results(system)
    if not base.is_dir():
        return []
    placements = (load_manifest(tree.manifest) or Manifest()).placements
    runs = []
    for folder in sorted(base.glob(f"*/{RAW}/*")):
        if folder.is_dir() and is_run_folder(folder):
            mode_dir = tree.relative(folder.parent.parent / folder.name)
            origin = placements.get(mode_dir, {}).get("run_folder")
            runs.append(replace(load_run(folder), origin=origin))
    return runs


def _dut_names(runs: list[RunFolder]) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for run in runs:
        name = (run.provenance.get("dut") or {}).get("name")
        if name:
            names.setdefault(name, []).append(run.label)
    return names


def add_runs(tree: Tree, system: str, paths: list[Path], *, replace: bool = False) -> AddReport:
    """Place ``paths`` (run folders, or folders of run folders) for ``system``; then render
    the system JSON, hookup and READMEs from every run the system holds."""
    system_name(system)
    runs = [load_run(p) for p in expand_run_paths(paths)]
    refused = _refusals(runs, tree)
    if refused:
        raise SubmissionError(
            f"{len(refused)} reason(s) a run cannot be submitted, nothing placed: "
            + "; ".join(refused),
            context=f"{tree.division} {tree.version}",
        )
    existing = {(r.benchmark, r.mode): r for r in placed_runs(tree, system)}
    clashes = [r for r in runs if (r.benchmark, r.mode) in existing]
    if clashes and not replace:
        raise SubmissionError(
            "already placed (use --replace to overwrite): "
            + ", ".join(
                f"{r.benchmark}/{r.mode} holds {existing[(r.benchmark, r.mode)].name}"
                for r in clashes
            ),
            context=str(tree.results(system)),
        )
    kept = [r for key, r in existing.items() if key not in {(x.benchmark, x.mode) for x in runs}]
    report = AddReport()
    duts = _dut_names(kept + runs)
    if len(duts) > 1:  # e.g. the sww01 firmware names itself differently: worth a look
        report.notes.append(
            f"the runs of {system} name {len(duts)} different DUTs (same board?): "
            + "; ".join(f"{name!r}: {len(labels)} run(s)" for name, labels in duts.items())
        )
    manifest = load_manifest(tree.manifest) or Manifest()
    for run in runs:
        _place(tree, system, run, manifest)
        report.placed.append(
            f"{run.path} -> {tree.relative(tree.mode_dir(system, run.benchmark, run.mode))}"
        )
    if runs:
        save_manifest(tree.manifest, manifest)
        report.written.append(tree.relative(tree.manifest))
    render_system(tree, system, report)
    return report


def _place(tree: Tree, system: str, run: RunFolder, manifest: Manifest) -> None:
    mode_dir = tree.mode_dir(system, run.benchmark, run.mode)
    raw_dir = tree.raw_dir(system, run.benchmark, run.mode)
    for folder in (mode_dir, raw_dir):
        if folder.exists():
            shutil.rmtree(folder)
    files = {}
    for src, dest in placement(tree, system, run).items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        files[tree.relative(dest)] = file_sha256(dest)
    manifest.placements[tree.relative(mode_dir)] = {
        "run_folder": run.path.name,
        "workload": run.workload.name,
        "mode": run.mode,
        "started_utc": run.provenance.get("started_utc"),
        "energybench_version": run.provenance.get("energybench_version"),
        "added_utc": datetime.now(UTC).isoformat(),
        "files": files,
    }
    log.info("placed %s in %s", run.path, mode_dir)


def render_system(tree: Tree, system: str, report: AddReport | None = None) -> AddReport:
    """systems/<system>.toml (created or refreshed with what the runs tell), its JSON, the
    energy hookup, the code READMEs."""
    report = report or AddReport()
    runs = placed_runs(tree, system)
    facts = system_facts(runs)
    toml_path = tree.system_toml(system)
    toml_path.parent.mkdir(parents=True, exist_ok=True)
    desc: SystemDescription
    if toml_path.is_file():
        desc = load_system_toml(toml_path)
        if apply_facts(desc, facts):
            write_system_toml(toml_path, desc)
            report.written.append(tree.relative(toml_path))
    else:
        template = tree.system_toml(TEMPLATE_NAME)
        desc = (
            from_template(system, load_system_toml(template), facts)
            if template.is_file()
            else default_description(system, tree.submitter, tree.division, facts)
        )
        write_system_toml(toml_path, desc)
        report.written.append(tree.relative(toml_path))
    if runs:  # a systems/<name>.json without results/<name>/ is harmless but pointless
        write_system_json(tree.system_json(system), desc)
        report.written.append(tree.relative(tree.system_json(system)))
    if any(r.mode == "energy" for r in runs):
        tree.hookup(system).write_text(hookup_text(system, runs), encoding="utf-8")
        report.written.append(tree.relative(tree.hookup(system)))
    if runs:
        readme = tree.code_readme(system)
        readme.parent.mkdir(parents=True, exist_ok=True)
        readme.write_text(code_readme_text(system, runs), encoding="utf-8")
        report.written.append(tree.relative(readme))
    org_readme = tree.code_readme()
    if not org_readme.is_file():
        org_readme.parent.mkdir(parents=True, exist_ok=True)
        org_readme.write_text(org_code_readme_text(tree.submitter), encoding="utf-8")
        report.written.append(tree.relative(org_readme))
    report.to_confirm = [k.strip() for k in desc.to_confirm]
    return report


def init_tree(
    root: Path, division: str, submitter: str, version: str, system: str | None = None
) -> tuple[Tree, list[str]]:
    """Write the settings file, the code/ README and a description TOML: ``system``'s, or
    without it ``systems/template.toml``, from which `add` starts each new system's (no empty
    folder: the checker refuses them). Re-running with the same settings is fine."""
    from energybench._version import __version__
    from energybench.submission.rules import DIVISIONS
    from energybench.submission.system import SystemFacts
    from energybench.submission.tree import CONFIG_NAME, load_tree, write_config

    if division not in DIVISIONS:
        raise UsageError(f"{division!r} is not one of {', '.join(DIVISIONS)}", context="--division")
    rules_for(version)
    tree = Tree(Path(root), division, check_name(submitter, "--submitter"), version)
    if (tree.root / CONFIG_NAME).is_file():
        current = load_tree(tree.root)
        if (current.division, current.submitter, current.version) != (division, submitter, version):
            raise SubmissionError(
                f"already set up for {current.division}/{current.submitter} {current.version}; "
                f"edit {CONFIG_NAME} to change it",
                context=str(tree.root),
            )
    tree.org.mkdir(parents=True, exist_ok=True)
    written = [str(write_config(tree))]
    readme = tree.code_readme()
    if not readme.is_file():
        readme.parent.mkdir(parents=True, exist_ok=True)
        readme.write_text(org_code_readme_text(submitter), encoding="utf-8")
        written.append(str(readme))
    name = system_name(system) if system is not None else TEMPLATE_NAME
    path = tree.system_toml(name)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        facts = SystemFacts(energybench_version=__version__)
        write_system_toml(path, default_description(name, submitter, division, facts))
        written.append(str(path))
    return tree, written


def system_name(system: str) -> str:
    """A system name usable as results/<system>/ (``template`` names the template TOML)."""
    check_name(system, "--system")
    if system == TEMPLATE_NAME:
        raise UsageError(f"{system!r} names the tree's template TOML", context="--system")
    return system
