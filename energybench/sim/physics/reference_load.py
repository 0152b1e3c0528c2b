"""The reference load of a :class:`~energybench.sim.physics.timeline.Timeline`: a precision
resistor that replaces the DUT on the rail (current ``V_set/R``) while its fixture drives the
sync pin (low while the supply output is on, so each switch-on is a current step and a falling
edge at the same instant). A mixin: the timeline owns the series and the lock.
"""

from __future__ import annotations

import threading

import numpy as np

from energybench.errors import ConfigError
from energybench.sim.physics.steps import Steps


class ReferenceLoad:
    """Reference-load state and queries, mixed into the Timeline."""

    _ref_g: Steps  # reference conductance (S); > 0: the DUT is off the rail
    _ref_pin: str | None
    _load: Steps
    _cond: threading.Condition

    def _init_reference(self) -> None:
        self._ref_g = Steps(0.0)
        self._ref_pin = None

    def connect_reference(self, t_s: float, resistance_ohm: float, sync_pin: str | None) -> None:
        """From ``t_s`` on the rail's load is a resistor of ``resistance_ohm`` (the DUT is
        disconnected) and ``sync_pin`` (if any) follows the reference fixture."""
        if not resistance_ohm > 0:
            raise ConfigError("reference resistance must be > 0", context="resistance_ohm")
        with self._cond:
            self._check_append(t_s)
            if sync_pin is not None:
                self._pin(sync_pin)
            self._ref_pin = sync_pin
            self._ref_g.set(t_s, 1.0 / resistance_ohm)

    def disconnect_reference(self, t_s: float) -> None:
        """From ``t_s`` on the DUT is back on the rail."""
        with self._cond:
            self._check_append(t_s)
            self._ref_g.set(t_s, 0.0)

    def _load_values(self, times: np.ndarray, setpoint: np.ndarray) -> np.ndarray:
        """The load current before the output switch: the DUT's, or ``V_set·G`` while the
        reference resistor is connected."""
        g = self._ref_g.values_at(times)
        return np.where(g > 0, setpoint * g, self._load.values_at(times))

    def _fixture_pin(self, pins: dict, times: np.ndarray, output: np.ndarray) -> None:
        """While the fixture is connected its sync pin is low exactly while the output is on."""
        if self._ref_pin is None:
            return
        fixture = self._ref_g.values_at(times) > 0
        if fixture.any():
            pins[self._ref_pin] = np.where(fixture, output < 0.5, pins[self._ref_pin])
