"""The one supply-limit check: for every driver that sources power, a set-point beyond the
instrument's documented rating and one beyond the bench limit are refused with nothing written
to the (scripted) transport, NaN/inf/negative are refused, and a valid pair passes with exactly
the commands expected. Then the check itself: models, envelopes, unknown figures, profiles."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable

import pytest

from energybench.errors import ConfigError, SafetyLimitError
from energybench.instruments import catalogue
from energybench.instruments.keithley_2400 import Keithley2450, Keithley2460, Keithley2461
from energybench.instruments.keithley_2600b import Keithley2600B
from energybench.instruments.keysight_b2900 import KeysightB2900
from energybench.instruments.keysight_n6705c import KeysightN6705C
from energybench.instruments.lpm01a import Lpm01a
from energybench.instruments.nordic_ppk2 import NordicPpk2
from energybench.instruments.otii import OtiiArc
from energybench.instruments.otii_json import encode
from energybench.instruments.profiles import load_profile
from energybench.instruments.supply_limits import (
    SafetyLimits,
    SupplyLimitCheck,
    SupplyRating,
    parse_supply_ratings,
)
from energybench.transport.scripted import ScriptedTransport

BENCH = SafetyLimits(max_voltage_v=3.3, max_current_a=0.1)
SCPI_OK = '+0,"No error"'


def _otii_line(n: int, cmd: str, value: float, kind: str) -> str:
    if kind == "request":
        data = {"device_id": "dev-1", "value": value}
        return encode({"cmd": cmd, "data": data, "trans_id": str(n), "type": "request"})
    return json.dumps({"type": "response", "cmd": cmd, "data": {}, "trans_id": str(n)})


def _otii() -> list[tuple[str, str]]:
    return [
        (_otii_line(n, cmd, value, "request"), _otii_line(n, cmd, value, "response"))
        for n, (cmd, value) in enumerate(
            (("arc_set_main_voltage", 1.8), ("arc_set_max_current", 0.05)), start=1
        )
    ]


def _keithley_24xx(cls):
    return (
        lambda t, limits: cls(t, limits),
        [
            (":SOUR:FUNC VOLT", None),
            (":SOUR:VOLT 1.8", None),
            (":SYST:ERR?", '0,"No error"'),
            (":SOUR:FUNC VOLT", None),
            (":SOUR:VOLT:ILIM 0.05", None),
            (":SYST:ERR?", '0,"No error"'),
        ],
        {},
    )


# For each sourcing driver: how to build it on a transport, the exact exchanges of
# set_voltage(1.8) then set_current_limit(0.05), and the transport's line endings.
SERIAL = {"write_termination": "\r\n", "read_termination": "\n"}
JSON = {"write_termination": "\r\n", "read_termination": "\r\n", "encoding": "utf-8"}
VALID: dict[str, tuple[Callable, list, dict]] = {
    "keysight_n6705c": (
        lambda t, limits: KeysightN6705C(t, limits),
        [
            ("VOLT 1.8,(@1)", None),
            ("SYST:ERR?", SCPI_OK),
            ("CURR:LIM 0.05,(@1)", None),
            ("SYST:ERR?", SCPI_OK),
        ],
        {},
    ),
    "keysight_b2900": (
        lambda t, limits: KeysightB2900(t, limits),
        [
            (":SOUR1:FUNC:MODE VOLT", None),
            (":SOUR1:VOLT 1.8", None),
            (":SYST:ERR?", SCPI_OK),
            (":SENS1:CURR:PROT 0.05", None),
            (":SYST:ERR?", SCPI_OK),
        ],
        {},
    ),
    "keithley_2450": _keithley_24xx(Keithley2450),
    "keithley_2460": _keithley_24xx(Keithley2460),
    "keithley_2461": _keithley_24xx(Keithley2461),
    "keithley_2600b": (
        lambda t, limits: Keithley2600B(t, limits),
        [
            ("smua.source.func = smua.OUTPUT_DCVOLTS", None),
            ("smua.source.levelv = 1.8", None),
            ("print(errorqueue.count)", "0.00000e+00"),
            ("smua.source.limiti = 0.05", None),
            ("print(errorqueue.count)", "0.00000e+00"),
        ],
        {},
    ),
    "lpm01a": (
        lambda t, limits: Lpm01a(t, limits),
        [("volt 1800m", "PowerShield > ack volt 1800m\r")],  # no programmable current limit
        SERIAL,
    ),
    "otii": (lambda t, limits: OtiiArc(t, limits, device_id="dev-1"), _otii(), JSON),
    "nordic_ppk2": (  # raw bytes: RegulatorSet 1800 mV; no programmable current limit
        lambda t, limits: NordicPpk2(t, limits),
        [(bytes((0x0D, 0x07, 0x08)).decode("latin-1"), None)],
        {"write_termination": "", "encoding": "latin-1"},
    ),
}
SOURCING = [e.name for e in catalogue.CATALOGUE if e.sources_power]


def _driver(name: str, limits: SafetyLimits | None, exchanges=()):
    build, _, line_endings = VALID[name]
    transport = ScriptedTransport(list(exchanges), **line_endings)
    return build(transport, limits), transport


def _rating(name: str) -> SupplyRating:
    """The profile's rating every model must satisfy (the lowest figures of the family)."""
    ratings = catalogue.profile(name).supply
    known = [r.max_voltage_v for r in ratings if r.max_voltage_v is not None]
    current = [r.max_current_a for r in ratings if r.max_current_a is not None]
    return SupplyRating(max(known) if known else None, max(current) if current else None, "", False)


def test_every_sourcing_driver_has_a_case_here() -> None:
    assert set(VALID) == set(SOURCING)


@pytest.mark.parametrize("name", SOURCING)
def test_beyond_the_rating_is_refused_and_nothing_is_sent(name) -> None:
    driver, transport = _driver(name, None)  # no bench limits: only the rating stands
    rating = _rating(name)
    assert rating.max_voltage_v is not None, f"{name}: no documented voltage rating"
    with pytest.raises(SafetyLimitError, match=r"^supply\.voltage_v: .*rating of") as info:
        driver.set_voltage(rating.max_voltage_v * 1.01)
    assert "nothing was sent" in str(info.value)
    if rating.max_current_a is None:
        # no programmable limit and no documented output current
        assert name in ("lpm01a", "nordic_ppk2")
    else:
        with pytest.raises(SafetyLimitError, match=r"^supply\.current_limit_a: .*rating of"):
            driver.set_current_limit(rating.max_current_a * 1.01)
    assert transport.sent == []


@pytest.mark.parametrize("name", SOURCING)
def test_beyond_the_bench_limit_is_refused_and_nothing_is_sent(name) -> None:
    driver, transport = _driver(name, SafetyLimits(max_voltage_v=2.5, max_current_a=0.1))
    with pytest.raises(SafetyLimitError, match=r"supply\.max_voltage_v = 2\.5 V") as info:
        driver.set_voltage(2.6)  # within every instrument's rating
    assert info.value.context == "supply.voltage_v"
    with pytest.raises(SafetyLimitError, match=r"supply\.max_current_a = 0\.1 A") as info:
        driver.set_current_limit(0.11)
    assert info.value.context == "supply.current_limit_a"
    assert transport.sent == []


@pytest.mark.parametrize("name", SOURCING)
def test_nan_inf_negative_and_zero_are_refused_with_or_without_bench_limits(name) -> None:
    for limits in (None, BENCH):
        driver, transport = _driver(name, limits)
        for bad in (math.nan, math.inf, -math.inf, -1.8, "1.8", True):
            with pytest.raises(SafetyLimitError, match=r"^supply\.voltage_v: "):
                driver.set_voltage(bad)
            with pytest.raises(SafetyLimitError, match=r"^supply\.current_limit_a: "):
                driver.set_current_limit(bad)
        with pytest.raises(SafetyLimitError, match="must be > 0 A"):
            driver.set_current_limit(0.0)
        assert transport.sent == []


@pytest.mark.parametrize("name", SOURCING)
def test_a_valid_set_point_passes_with_exactly_the_expected_commands(name) -> None:
    _, exchanges, _ = VALID[name]
    driver, transport = _driver(name, BENCH, exchanges)
    driver.set_voltage(1.8)
    driver.set_current_limit(0.05)
    transport.assert_done()
    assert (driver.supply_check.voltage_v, driver.supply_check.current_limit_a) == (1.8, 0.05)


# ---- the check itself ---------------------------------------------------------------------


def _check(name: str, bench: SafetyLimits | None = None) -> SupplyLimitCheck:
    return catalogue.supply_check(name, bench)


def test_the_identified_model_selects_its_rating() -> None:
    check = _check("keithley_2600b")
    with pytest.raises(SafetyLimitError, match=r"2611B/.*\(model not identified yet\).*1\.515 A"):
        check.current_limit(2.0)  # before identification the lowest figure of the family wins
    check.use_model("Model 2602B")
    assert check.current_limit(2.0) == 2.0
    check.use_model("Model 2636B")
    with pytest.raises(SafetyLimitError, match=r"\(Model 2636B\)'s rating of 1\.515 A"):
        check.current_limit(2.0)
    assert check.voltage(100.0) == 100.0  # the 2636B's voltage rating is unknown: not refused


def test_the_envelope_refuses_a_pair_each_figure_allows() -> None:
    check = _check("keithley_2600b")
    check.use_model("Model 2602B")
    check.voltage(5.0)
    check.current_limit(3.0)  # 3.03 A up to 6 V
    with pytest.raises(SafetyLimitError, match=r"3 A at 20 V is outside .*output envelope"):
        check.voltage(20.0)  # 1.01 A above 6 V
    assert check.voltage_v == 5.0  # the refused set-point was not recorded
    check.current_limit(1.0)
    assert check.voltage(20.0) == 20.0
    with pytest.raises(SafetyLimitError, match=r"^supply\.current_limit_a: 2 A at 20 V"):
        check.current_limit(2.0)


def test_an_undocumented_model_keeps_the_family_figures_with_a_warning(caplog) -> None:
    check = _check("keysight_b2900")
    with caplog.at_level(logging.WARNING):
        check.use_model("B2901BL")  # not covered by the B2901A entry (whole-token match)
    assert "no documented supply rating for model 'B2901BL'" in caplog.text
    with pytest.raises(SafetyLimitError, match=r"rating of 3\.03 A"):
        check.current_limit(3.1)
    check.use_model("B2911A")
    with pytest.raises(SafetyLimitError, match=r"B2911A\)'s rating of 210 V \(Keysight B2900A"):
        check.voltage(211.0)


def test_n6705c_rating_follows_the_installed_module() -> None:
    check = _check("keysight_n6705c")
    with pytest.raises(SafetyLimitError, match="N6781A"):
        check.current_limit(5.0)
    check.use_model("N6785A")
    assert check.current_limit(5.0) == 5.0
    with pytest.raises(SafetyLimitError, match="unverified"):  # the figure's status is shown
        check.current_limit(8.5)


def test_minimum_figures_refuse_below() -> None:
    with pytest.raises(SafetyLimitError, match=r"below the otii's minimum current of 0\.001 A"):
        _check("otii").current_limit(0.0005)
    with pytest.raises(SafetyLimitError, match=r"below the lpm01a's minimum voltage of 1\.8 V"):
        _check("lpm01a").voltage(1.79)
    assert _check("lpm01a").current_limit(2.0) == 2.0  # unknown rating, no bench: only > 0


def test_bench_limits_are_checked_themselves() -> None:
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ConfigError, match=r"supply\.max_voltage_v"):
            SafetyLimits(bad, 0.1)
        with pytest.raises(ConfigError, match=r"supply\.max_current_a"):
            SafetyLimits(3.3, bad)


def test_every_sourcing_profile_names_the_document_of_its_figures() -> None:
    for name in SOURCING:
        ratings = catalogue.profile(name).supply
        assert ratings, name
        for rating in ratings:
            assert len(rating.doc) > 20, (name, rating)
            assert rating.max_voltage_v is None or rating.max_voltage_v > 0


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"max_voltage_v": 1.0, "max_current_a": 1.0, "verified": True}, r"\[0\]\.doc"),
        ({"max_voltage_v": 1.0, "max_current_a": 1.0, "doc": "x"}, r"\[0\]\.verified"),
        ({"max_current_a": 1.0, "doc": "x", "verified": True}, r"\[0\]\.max_voltage_v"),
        ({"max_voltage_v": "lots", "max_current_a": 1.0, "doc": "x", "verified": True},
         r"\[0\]\.max_voltage_v"),
        ({"max_voltage_v": -1.0, "max_current_a": 1.0, "doc": "x", "verified": True},
         r"\[0\]\.max_voltage_v"),
        ({"max_voltage_v": 1.0, "max_current_a": 1.0, "doc": "x", "verified": True,
          "max_volts": 2.0}, r"unknown key\(s\) \['max_volts'\]"),
        ({"max_voltage_v": 9.0, "max_current_a": 1.0, "doc": "x", "verified": True,
          "envelope": [{"voltage_v": 9.0, "current_a": 1.0}, {"voltage_v": 6.0, "current_a": 3.0}]},
         r"\[0\]\.envelope"),
        ({"max_voltage_v": 9.0, "max_current_a": 1.0, "doc": "x", "verified": True,
          "envelope": [{"voltage_v": 9.0}]}, r"\[0\]\.envelope\[0\]"),
    ],
)  # fmt: skip
def test_malformed_supply_ratings_name_the_field(table, field) -> None:
    with pytest.raises(ConfigError, match=field):
        parse_supply_ratings([table], "p.toml: supply")


def test_a_sourcing_profile_without_ratings_is_refused(tmp_path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(
        '[instrument]\nname="x"\ndriver="x"\nidentity="x"\nkind="supply+meter"\n'
        'sync_modes=["digital_channel"]\nmax_sample_rate_hz=1.0\n'
    )
    with pytest.raises(ConfigError, match=r"x\.toml: supply.*\[\[supply\]\]"):
        load_profile(path)
