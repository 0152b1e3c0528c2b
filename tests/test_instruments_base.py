"""Capabilities, registry and the SCPI driver base, over the scripted transport."""

from __future__ import annotations

import pytest

from energybench.errors import ConfigError, InstrumentError, SafetyLimitError
from energybench.instruments.capabilities import InstrumentInfo
from energybench.instruments.registry import load_driver
from energybench.instruments.scpi import ScpiDriver, is_no_error
from energybench.instruments.supply_limits import SafetyLimits, SupplyLimitCheck
from energybench.transport.scripted import ScriptedTransport


def test_idn_parsing_and_profile_match() -> None:
    info = InstrumentInfo.from_idn("Keysight Technologies,N6705C,MY1234,D.03.01\n", "res")
    assert (info.vendor, info.model, info.serial_number, info.firmware) == (
        "Keysight Technologies",
        "N6705C",
        "MY1234",
        "D.03.01",
    )
    assert info.matches(r"(Agilent|Keysight).*,N6705[BC]")
    with pytest.raises(InstrumentError, match="unrecognised identity"):
        InstrumentInfo.from_idn("garbage", "res")


def test_send_batch_drains_every_error_and_names_the_commands() -> None:
    t = ScriptedTransport(
        [
            ("VOLT 1.8,(@1)", None),
            ("BOGUS", None),
            ("SYST:ERR?", '-113,"Undefined header"'),
            ("SYST:ERR?", '-222,"Data out of range"'),
            ("SYST:ERR?", '+0,"No error"'),
        ]
    )
    driver = ScpiDriver(t)
    with pytest.raises(InstrumentError) as info:
        driver.send_batch(["VOLT 1.8,(@1)", "BOGUS"])
    assert "Undefined header" in str(info.value) and "Data out of range" in str(info.value)
    assert "commands sent: VOLT 1.8,(@1); BOGUS" in str(info.value)
    assert info.value.details["errors"] == ['-113,"Undefined header"', '-222,"Data out of range"']
    t.assert_done()


def test_no_error_forms() -> None:
    assert (
        is_no_error('0,"No error"') and is_no_error('+0,"No error"') and is_no_error("0.00000e+00")
    )
    assert not is_no_error('-113,"Undefined header"')


def test_safety_limits_refuse_never_clip() -> None:
    check = SupplyLimitCheck("x", (), SafetyLimits(max_voltage_v=3.6, max_current_a=0.1))
    assert check.voltage(1.8) == 1.8  # no rating given: only the bench limits stand
    with pytest.raises(SafetyLimitError, match="nothing was sent"):
        check.voltage(5.0)
    with pytest.raises(SafetyLimitError):
        check.current_limit(0.5)
    with pytest.raises(SafetyLimitError):
        check.current_limit(0.0)
    assert (check.voltage_v, check.current_limit_a) == (1.8, None)  # refusals are not kept


def test_unknown_driver_lists_what_is_registered() -> None:
    with pytest.raises(ConfigError, match="no driver named 'nope'"):
        load_driver("nope")
