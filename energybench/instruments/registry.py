"""Driver registry over the entry-point group ``energybench.instruments`` (ours included).

An entry point names a driver class, optionally with the extra it needs::

    [project.entry-points."energybench.instruments"]
    keysight_n6705c = "energybench.instruments.keysight_n6705c:KeysightN6705C"
    joulescope = "energybench.instruments.joulescope:Joulescope [joulescope]"

Loading is lazy; a driver whose import fails, or whose class's ``unavailable_reason()`` returns
a reason (its optional package is missing), is listed as unavailable with an install hint.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from energybench.errors import ConfigError, InstrumentUnavailableError

GROUP = "energybench.instruments"
# constructor/open() parameters that are not options: the bench file sets them itself
NOT_OPTIONS = frozenset({"self", "cls", "resource", "limits", "transport", "device", "channel"})


@dataclass(frozen=True)
class DriverEntry:
    name: str
    target: str
    extras: tuple[str, ...]
    available: bool
    kind: str = ""
    sync_modes: tuple[str, ...] = ()
    problem: str = ""

    @property
    def install_hint(self) -> str:
        if not self.extras:
            return ""
        return f"pip install 'energybench[{','.join(self.extras)}]'"


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=GROUP), key=lambda ep: ep.name)


def _describe(ep: EntryPoint) -> DriverEntry:
    extras = tuple(ep.extras)
    try:
        cls = ep.load()
    except ImportError as exc:
        return DriverEntry(ep.name, ep.value, extras, False, problem=str(exc))
    # a driver importing its optional package lazily says itself whether it can run here
    check = getattr(cls, "unavailable_reason", None)
    problem = (check() if callable(check) else None) or ""
    return DriverEntry(
        ep.name,
        ep.value,
        extras,
        not problem,
        kind=getattr(cls, "kind", ""),
        sync_modes=tuple(getattr(cls, "sync_modes", ())),
        problem=problem,
    )


def list_drivers() -> list[DriverEntry]:
    """Every registered driver, loaded to learn its kind and sync modes."""
    return [_describe(ep) for ep in _entry_points()]


def load_driver(name: str) -> type:
    """The driver class registered as ``name``."""
    matches = [ep for ep in _entry_points() if ep.name == name]
    if not matches:
        known = ", ".join(ep.name for ep in _entry_points()) or "none"
        raise ConfigError(f"no driver named {name!r} (registered: {known})", context="driver")
    ep = matches[0]
    try:
        return ep.load()
    except ImportError as exc:
        entry = DriverEntry(ep.name, ep.value, tuple(ep.extras), False)
        hint = f"; install it with: {entry.install_hint}" if entry.install_hint else ""
        raise InstrumentUnavailableError(
            f"driver {name!r} is unavailable ({exc}){hint}", context="driver"
        ) from exc


def driver_names() -> tuple[str, ...]:
    """The registered driver names (entry points; nothing is imported)."""
    return tuple(ep.name for ep in _entry_points())


def driver_options(cls: type) -> dict[str, type | None] | None:
    """The keyword options a driver's ``open()`` accepts, each with the type of its default
    (None: any): the keyword parameters of ``open()`` and of the constructor (which ``open()``
    forwards its extra keywords to), plus the transport options the class declares in
    ``transport_options`` as (name, type) pairs (what ``open()`` takes for the transport).
    None when the constructor takes any keyword (``**kwargs``): nothing can be checked."""
    found: dict[str, type | None] = dict(getattr(cls, "transport_options", {}))
    init = inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in init):
        return None  # a constructor taking any keyword: its options cannot be listed
    for function in (cls.open, cls.__init__):  # type: ignore[attr-defined,misc]
        for param in inspect.signature(function).parameters.values():
            if param.name in NOT_OPTIONS or param.kind in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                continue
            default = param.default
            kind = None if default in (inspect.Parameter.empty, None) else type(default)
            found.setdefault(param.name, kind)
    return found
