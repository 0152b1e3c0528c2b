"""The system description TOML (every template field, one-line errors naming the field), the
tree set up by `submission init`, and the CLI's usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from submission_support import energybench

from energybench.errors import ConfigError, SubmissionError
from energybench.submission.add import init_tree
from energybench.submission.check import check_tree
from energybench.submission.system import (
    JSON_KEYS,
    SystemFacts,
    default_description,
    load_system_toml,
    write_system_json,
    write_system_toml,
)


def _toml(tmp_path: Path, facts: SystemFacts | None = None) -> Path:
    desc = default_description("Board1", "Org", "closed", facts)
    return write_system_toml(tmp_path / "Board1.toml", desc)


def test_a_default_description_has_every_field_and_round_trips(tmp_path) -> None:
    facts = SystemFacts("NUCLEO-L4R5ZI", "ULPMark for tinyML Firmware V0.0.1", 1.8, "0.1.0")
    desc = load_system_toml(_toml(tmp_path, facts))
    assert desc.values["Board Name"] == "NUCLEO-L4R5ZI"
    assert desc.values["Hardware Notes"].startswith("Operating at 1.8 V")
    assert "Board Name" in desc.to_confirm and "Submitter" not in desc.to_confirm
    data = json.loads(write_system_json(tmp_path / "Board1.json", desc).read_text())
    assert list(data) == list(JSON_KEYS)
    assert "Operating System " in data  # the spelling of the template and published files
    assert data["Division"] == "Closed" and data["Status"] == "Available"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('"Board Name" =', '"Board name" ='),
         "\"Board name\": unknown field (did you mean 'Board Name'?)"),
        (lambda t: t.replace('"SoC Name" = ""', '"SoC Name" = 42'),
         '"SoC Name": must be a string, got 42'),
        (lambda t: "\n".join(x for x in t.splitlines() if not x.startswith('"Accelerator" =')),
         '"Accelerator": missing'),
        (lambda t: t.replace('"Status" = "Available"', '"Status" = "Soon"'),
         "\"Status: 'Soon' is not one of available, preview, rdi\""),
        (lambda t: t.replace("to_confirm = [", 'to_confirm = [\n  "Colour",'),
         'to_confirm: "Colour" is not a field'),
    ],
)  # fmt: skip
def test_a_bad_toml_is_one_error_naming_the_field(tmp_path, edit, message) -> None:
    path = _toml(tmp_path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(ConfigError) as info:
        load_system_toml(path)
    assert message in info.value.one_line()
    assert str(path) in info.value.one_line() and "\n" not in info.value.one_line()


def test_init_leaves_no_empty_folder_and_refuses_other_settings(tmp_path) -> None:
    root = tmp_path / "tree"
    tree, _ = init_tree(root, "closed", "Org", "v1.3", system="Board1")
    assert (root / "energybench-submission.toml").is_file()
    assert tree.system_toml("Board1").is_file() and tree.code_readme().is_file()
    assert all(any(d.iterdir()) for d in root.rglob("*") if d.is_dir())
    init_tree(root, "closed", "Org", "v1.3")  # the same again: fine, and the template TOML
    assert load_system_toml(tree.system_toml("template")).values["Submitter"] == "Org"
    with pytest.raises(SubmissionError, match=r"already set up for closed/Org v1\.3"):
        init_tree(root, "open", "Org", "v1.3")
    report = check_tree(root)  # nothing to check yet, and the official checker would crash
    assert not report.ok and report.official.crash is not None
    assert any(p.rule == "results" and p.severity == "error" for p in report.problems)


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["init", "{root}", "--division", "closed", "--submitter", "My Org"], 2,
         "--submitter: 'My Org' is not a usable folder name"),
        (["init", "{root}", "--division", "network", "--submitter", "Org"], 2,
         "--division: 'network' is not one of closed, open"),
        (["init", "{root}", "--division", "closed", "--submitter", "Org", "--version", "v1.2"],
         2, "--version: unknown rules version 'v1.2'"),
        (["add", "{root}", "--system", "B"], 1, "no energybench-submission.toml"),
        (["init", "{root}", "--division", "open", "--submitter", "O", "--system", "template"],
         2, "--system: 'template' names the tree's template TOML"),
        (["check", "{root}"], 1, "not a submission tree root"),
    ],
)  # fmt: skip
def test_cli_errors_are_one_line(tmp_path, args, code, text) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    proc = energybench("submission", *[a.format(root=root) for a in args])
    assert proc.returncode == code, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and text in line
