"""The system description: ``systems/<system>.toml`` (ours, edited by people) renders
``systems/<system>.json`` (the MLPerf Tiny system description the checker and the final report
read). Every key of the official template is present, spelled as published files spell it;
values energybench guessed are listed in ``to_confirm`` until a person removes them."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from energybench.errors import ConfigError
from energybench.submission.rules import AVAILABILITIES
from energybench.submission.tree import read_toml

# (key in the JSON, what it holds). "Operating System " keeps the trailing space of the
# template and of every published file; the TOML spells it without.
FIELDS: tuple[tuple[str, str], ...] = (
    ("Submitter", "organisation submitting (the folder name under the division)"),
    ("Division", "Closed or Open"),
    ("Status", "Available, Preview or RDI"),
    ("Board Name", "board model as sold (the final report's system name)"),
    ("Board Memory capacity (not including SoC, processor, or accelerator)", ""),
    ("Board Memory type", ""),
    ("Board storage capacity", ""),
    ("Board storage type", ""),
    ("SoC Name", "part number of the SoC"),
    ("SoC Memory capacity (not including processor or accelerator)", ""),
    ("SoC Memory type", ""),
    ("SoC storage capacity", ""),
    ("SoC storage type", ""),
    ("Processor(s) Name", "e.g. Arm Cortex-M33"),
    ("Processor(s) Frequencies", "e.g. 96 MHz"),
    ("Processor memory type and capacity", "e.g. 256KB RAM"),
    ("Processor storage type and capacity", "e.g. 1MB FLASH"),
    ("Accelerator", "empty when none"),
    ("Accelerator(s) Frequencies", ""),
    ("Accelerator memory type and capacity", ""),
    ("Accelerator storage type and capacity", ""),
    ("Hardware Notes", "supply voltage and regulator"),
    ("Inference Framework", "e.g. TFLite Micro, X-CUBE-AI v10.2"),
    ("Software Libraries", ""),
    ("Operating System ", "e.g. bare metal"),
    ("Other Software Stack", ""),
    ("Software Notes", ""),
    ("Quantization Method", ""),
    ("Training framework (open division)", ""),
    ("ML Model Compiler(s)", ""),
    ("General Compiler(s)", ""),
    ("Other Software", ""),
    ("Training and Quantization Notes", ""),
)
JSON_KEYS = tuple(k for k, _ in FIELDS)
FORBIDDEN_KEYS = ("system_type",)  # the checker stops with "invalid system type" when present
TEMPLATE_NAME = "template"  # systems/template.toml: what `init` writes without --system


def toml_key(json_key: str) -> str:
    return json_key.strip()


_BY_TOML_KEY = {toml_key(k): k for k in JSON_KEYS}


@dataclass
class SystemDescription:
    """The values (keyed by JSON key) and the keys still to be confirmed by a person."""

    name: str
    values: dict[str, str]
    to_confirm: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # where a guessed value came from

    def to_json(self) -> dict[str, str]:
        return {k: self.values.get(k, "") for k in JSON_KEYS}

    def set_guess(self, key: str, value: str, source: str) -> bool:
        """Fill ``key`` with a guess unless a person confirmed it; True when it changed."""
        if key not in self.to_confirm or self.values.get(key) == value:
            return False
        self.values[key] = value
        self.sources[key] = source
        return True


@dataclass(frozen=True)
class SystemFacts:
    """What energybench knows about a system from its runs (None: unknown)."""

    dut_name: str | None = None
    dut_profile: str | None = None
    supply_voltage_v: float | None = None
    energybench_version: str | None = None
    meter: str | None = None  # "vendor model (serial ...)" of the energy runs' meter


def from_template(name: str, template: SystemDescription, facts: SystemFacts) -> SystemDescription:
    """A new system's description starting from the tree's template (fields common to every
    system, e.g. the inference framework), then the guesses ``facts`` allow."""
    desc = SystemDescription(name, dict(template.values), list(template.to_confirm))
    apply_facts(desc, facts)
    return desc


def default_description(
    name: str, submitter: str, division: str, facts: SystemFacts | None = None
) -> SystemDescription:
    """Every field: submitter and division as given, the rest empty and to be confirmed,
    then the guesses ``facts`` allow."""
    values = dict.fromkeys(JSON_KEYS, "")
    values.update(
        {"Submitter": submitter, "Division": division.capitalize(), "Status": "Available"}
    )
    desc = SystemDescription(
        name, values, [k for k in JSON_KEYS if k not in ("Submitter", "Division")]
    )
    desc.sources["Status"] = "default"
    if facts is not None:
        apply_facts(desc, facts)
    return desc


def apply_facts(desc: SystemDescription, facts: SystemFacts) -> list[str]:
    """Guess the unconfirmed fields energybench can know; returns the keys changed."""
    changed = []
    known_name = facts.dut_name and facts.dut_name.lower() not in ("", "unspecified")
    if known_name and desc.set_guess("Board Name", facts.dut_name, "the DUT's reported name"):
        changed.append("Board Name")
    if facts.supply_voltage_v:
        note = f"Operating at {facts.supply_voltage_v:.3g} V (DUT supply during the energy runs)"
        if facts.meter:
            note += f"; energy measured with {facts.meter}"
        if desc.set_guess("Hardware Notes", note, "the energy runs' supply voltage"):
            changed.append("Hardware Notes")
    parts = []
    if facts.dut_profile:
        parts.append(f"DUT firmware profile: {facts.dut_profile}")
    if facts.energybench_version:
        parts.append(f"measured with energybench {facts.energybench_version}")
    if parts and desc.set_guess("Software Notes", "; ".join(parts), "the runs' provenance"):
        changed.append("Software Notes")
    return changed


def load_system_toml(path: Path) -> SystemDescription:
    """Read and validate ``systems/<name>.toml``; ConfigError names every bad field."""
    path = Path(path)
    table = read_toml(path)
    problems: list[str] = []
    system = table.get("system")
    if not isinstance(system, dict):
        raise ConfigError("no [system] table", context=str(path))
    values: dict[str, str] = {}
    for key, value in system.items():
        json_key = _BY_TOML_KEY.get(key)
        if json_key is None:
            close = difflib.get_close_matches(key, _BY_TOML_KEY, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f'"{key}": unknown field{hint}')
            continue
        if not isinstance(value, str):
            problems.append(f'"{key}": must be a string, got {value!r}')
            continue
        values[json_key] = value
    for key in JSON_KEYS:
        if key not in values and toml_key(key) in system:
            continue  # already reported
        if key not in values:
            problems.append(f'"{toml_key(key)}": missing')
    to_confirm = table.get("to_confirm", [])
    if not isinstance(to_confirm, list) or not all(isinstance(k, str) for k in to_confirm):
        problems.append("to_confirm: must be a list of field names")
        to_confirm = []
    unknown = [k for k in to_confirm if k not in _BY_TOML_KEY]
    problems += [f'to_confirm: "{k}" is not a field' for k in unknown]
    problems += [f'"{p}"' for p in description_problems(values)]
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in [system]: " + "; ".join(problems),
            context=str(path),
            problems=problems,
        )
    return SystemDescription(
        path.stem, values, [_BY_TOML_KEY[k] for k in to_confirm if k in _BY_TOML_KEY]
    )


def description_problems(values: dict[str, object]) -> list[str]:
    """Value rules a system description must meet (field name first in each problem)."""
    problems = []
    status = values.get("Status")
    if isinstance(status, str) and status.lower() not in AVAILABILITIES:
        problems.append(f"Status: {status!r} is not one of {', '.join(AVAILABILITIES)}")
    division = values.get("Division")
    if isinstance(division, str) and division.lower() not in ("closed", "open"):
        problems.append(f"Division: {division!r} is not Closed or Open")
    for key in FORBIDDEN_KEYS:
        if key in values:
            problems.append(f"{key}: must not be present (the checker refuses any system type)")
    return problems


def _string(value: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML)."""
    return json.dumps(value, ensure_ascii=False)


def write_system_toml(path: Path, desc: SystemDescription) -> Path:
    """Write the description; every field on its line, guessed ones marked with their source."""
    lines = [
        f"# System description of {desc.name!r} for an MLPerf Tiny submission.",
        (
            "# `energybench submission add --system NAME` starts systems/NAME.toml from this "
            "template."
            if desc.name == TEMPLATE_NAME
            else f"# `energybench submission add` renders systems/{desc.name}.json from this file."
        ),
        "# The keys are the official template's. Fields energybench filled or left empty are",
        "# listed in to_confirm: check each value, then delete its name; `submission check` warns",
        "# about every name still listed. Comments in this file are rewritten by `add`.",
        "to_confirm = [",
        *(f"  {_string(toml_key(k))}," for k in desc.to_confirm),
        "]",
        "",
        "[system]",
    ]
    for key, help_text in FIELDS:
        note = []
        if key in desc.to_confirm:
            note.append(
                "to confirm" + (f", from {desc.sources[key]}" if key in desc.sources else "")
            )
        if help_text and key in desc.to_confirm:
            note.append(help_text)
        comment = f"  # {'; '.join(note)}" if note else ""
        lines.append(f"{_string(toml_key(key))} = {_string(desc.values.get(key, ''))}{comment}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)


def write_system_json(path: Path, desc: SystemDescription) -> Path:
    Path(path).write_text(json.dumps(desc.to_json(), indent=1) + "\n", encoding="utf-8")
    return Path(path)


def json_problems(data: object) -> list[tuple[str, str]]:
    """(field, problem) of a system description JSON as read from a tree."""
    if not isinstance(data, dict):
        return [("", "is not a JSON object")]
    problems = [(k, "missing") for k in JSON_KEYS if k not in data]
    problems += [
        (k, f"must be a string, got {data[k]!r}")
        for k in JSON_KEYS
        if k in data and not isinstance(data[k], str)
    ]
    for problem in description_problems(data):
        key, _, text = problem.partition(": ")
        problems.append((key, text))
    return problems


def unknown_json_keys(data: dict) -> Iterable[str]:
    return (k for k in data if k not in JSON_KEYS and k not in FORBIDDEN_KEYS)
