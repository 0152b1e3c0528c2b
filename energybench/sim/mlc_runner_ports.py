"""Run the official MLCommons MLPerf Tiny runner (``main.py``, unchanged) against the virtual
lab: the one thing it cannot do by itself is find the lab's ports, because it discovers devices
by USB VID/PID (``serial.tools.list_ports.comports`` and ``usb.core.find``) and a pseudo-terminal
has none. This wrapper replaces exactly those two functions, so that each port given as
``--port NAME=PATH`` is listed with the VID/PID that the runner's devices YAML gives device
``NAME``, and no USB-only device is found; then it runs ``main.py`` as ``__main__`` in this
process with the remaining arguments. Nothing else of the runner is touched.

    python -m energybench.sim.mlc_runner_ports --runner-dir tiny/benchmark/runner \\
        --port stm32h573i-dk=/dev/pts/4 --port lpm01a=/dev/pts/5 -- \\
        --dataset_path=datasets --device_list=devices_kws_ic_vww.yaml \\
        --test_script=tests_energy.yaml --mode=e

The runner writes ``sessions/<time>/`` into the current directory (``--workdir`` changes it);
relative paths in its arguments are taken from there too. Needs the runner's own dependencies
(pyyaml, numpy, scikit-learn, matplotlib, pyserial, pyusb).
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from pathlib import Path
from typing import Any

DEFAULT_DEVICE_LIST = "devices.yaml"  # main.py's default for -d/--device_list


def _device_list(runner_args: list[str]) -> Path:
    """The devices YAML main.py will read (its -d/--device_list argument, else its default)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-d", "--device_list", default=DEFAULT_DEVICE_LIST)
    known, _ = parser.parse_known_args(runner_args)
    return Path(known.device_list)


def usb_ids(device_list: Path) -> dict[str, tuple[int, int]]:
    """Device name → the first (VID, PID) its ``usb`` entry lists."""
    import yaml

    try:
        devices = yaml.safe_load(device_list.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SystemExit(f"mlc_runner_ports: cannot read {device_list}: {exc}") from exc
    found = {}
    for device in devices or []:
        for vid, pids in (device.get("usb") or {}).items():
            pid = pids[0] if isinstance(pids, list) else pids
            found.setdefault(str(device["name"]), (int(vid), int(pid)))
    return found


def port_infos(ports: dict[str, str], ids: dict[str, tuple[int, int]]) -> list[Any]:
    """pyserial ListPortInfo records for the given name → path map, with the YAML's VID/PID."""
    from serial.tools.list_ports_common import ListPortInfo

    infos = []
    for name, path in ports.items():
        if name not in ids:
            known = ", ".join(sorted(ids)) or "none"
            raise SystemExit(f"mlc_runner_ports: no USB ids for {name!r} (devices: {known})")
        info = ListPortInfo(path, skip_link_detection=True)
        info.vid, info.pid = ids[name]
        info.description = f"{name} (energybench virtual lab)"
        info.hwid = f"USB VID:PID={info.vid:04X}:{info.pid:04X}"
        infos.append(info)
    return infos


def patch_discovery(infos: list[Any]) -> None:
    """Make the runner's USB discovery see ``infos`` and no USB-only device."""
    import serial.tools.list_ports
    import usb.core

    serial.tools.list_ports.comports = lambda include_links=False: list(infos)
    usb.core.find = lambda *args, find_all=False, **kw: iter(()) if find_all else None


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    ours, runner_args = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog="mlc_runner_ports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runner-dir", required=True, type=Path, help="folder holding main.py")
    parser.add_argument("--port", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--workdir", type=Path, default=None, help="where sessions/ is written")
    args = parser.parse_args(ours)
    ports = {}
    for item in args.port:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--port wants NAME=PATH, got {item!r}")
        ports[name] = path
    runner_dir = args.runner_dir.resolve()
    main_py = runner_dir / "main.py"
    if not main_py.is_file():
        parser.error(f"no main.py in {runner_dir}")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        os.chdir(args.workdir)
    patch_discovery(port_infos(ports, usb_ids(_device_list(runner_args))))
    sys.path.insert(0, str(runner_dir))
    sys.argv = [str(main_py), *runner_args]
    runpy.run_path(str(main_py), run_name="__main__")


if __name__ == "__main__":
    main()
