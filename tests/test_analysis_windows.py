"""Pairing edges into windows: explicit counts, boot pulse, intervals, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_synth import pulses, virtual_trace

from energybench.analysis.edges import scan_edges
from energybench.analysis.windows import Window, pair_edges, pair_edges_in_intervals
from energybench.errors import AnalysisError, EdgeCountError

FS = 1000.0


def _scan(starts: list[int], width: int = 5, n: int = 10_000, **kw):
    trace = virtual_trace(n, FS, changes=pulses(starts, width))
    return scan_edges(trace, line="gpi[0]", **kw)


def test_consecutive_falling_edges_pair_into_windows() -> None:
    windows = pair_edges(_scan([1000, 3000, 4000, 6000]), inferences=[10, 20], expected_windows=2)
    assert windows == (Window(0, 999.5, 2999.5, 10), Window(1, 3999.5, 5999.5, 20))


def test_boot_pulse_is_skipped_only_when_asked() -> None:
    scan = _scan([10, 1000, 3000])
    with pytest.raises(EdgeCountError, match=r"odd number of edges \(3\).*\[0\.009500, 0\.999500"):
        pair_edges(scan)
    windows = pair_edges(scan, skip_leading_edges=1, inferences=7)
    assert windows == (Window(0, 999.5, 2999.5, 7),)
    with pytest.raises(EdgeCountError, match="skip 5 leading edge"):
        pair_edges(scan, skip_leading_edges=5)


def test_odd_count_names_the_unpaired_edge_and_lists_all() -> None:
    with pytest.raises(EdgeCountError) as info:
        pair_edges(_scan([1000, 3000, 5000]))
    text = str(info.value)
    assert "last one at 4.999500 s is unpaired" in text
    assert "3 falling edge(s)" in text and "[0.999500, 2.999500, 4.999500]" in text


def test_no_edges_is_an_error() -> None:
    with pytest.raises(EdgeCountError, match=r"no edges found.*0 falling edge"):
        pair_edges(_scan([]))


def test_unexpected_extra_edges_against_expected_window_count() -> None:
    scan = _scan([1000, 3000, 5000, 7000])
    with pytest.raises(EdgeCountError, match=r"expected 1 window\(s\) \(2 edges\), found 2"):
        pair_edges(scan, expected_windows=1)


def test_unresolved_level_change_refuses_to_pair() -> None:
    trace = virtual_trace(10_000, FS, changes=pulses([1000, 3000], 5), missing=[(2995, 3003)])
    scan = scan_edges(trace, line="gpi[0]")
    with pytest.raises(EdgeCountError, match=r"level change.* inside missing samples"):
        pair_edges(scan)
    # A pulse entirely inside a gap leaves no trace: the error says samples were missing.
    trace = virtual_trace(10_000, FS, changes=pulses([1000, 3000], 5), missing=[(2990, 3010)])
    with pytest.raises(EdgeCountError, match=r"20 sample\(s\) missing in 1 range\(s\) from 2\.99"):
        pair_edges(scan_edges(trace, line="gpi[0]"))


def test_per_interval_pairing_exactly_two_edges_each() -> None:
    scan = _scan([10, 1000, 3000, 4000, 6000])  # boot pulse at 10 lies outside every interval
    windows = pair_edges_in_intervals(scan, [(0.5, 3.5), (3.8, 6.5)], inferences=[3, 4])
    assert windows == (Window(0, 999.5, 2999.5, 3), Window(1, 3999.5, 5999.5, 4))


def test_per_interval_pairing_reports_every_bad_interval() -> None:
    scan = _scan([1000, 2000, 3000, 4000, 6000])
    with pytest.raises(EdgeCountError) as info:
        pair_edges_in_intervals(scan, [(0.5, 3.5), (3.8, 6.5), (7.0, 8.0)])
    text = str(info.value)
    assert "interval 0 [0.500000, 3.500000] s has 3 edge(s) [0.999500, 1.999500, 2.999500]" in text
    assert "interval 2 [7.000000, 8.000000] s has 0 edge(s)" in text
    assert "interval 1" not in text


def test_inference_counts_must_match_windows() -> None:
    with pytest.raises(AnalysisError, match="3 inference counts given for 2 window"):
        pair_edges(_scan([1000, 3000, 4000, 6000]), inferences=[1, 2, 3])


def test_window_rejects_reversed_bounds() -> None:
    with pytest.raises(AnalysisError, match="before it starts"):
        Window(0, 5.0, 5.0)
    assert np.isclose(Window(0, 1.25, 3.5).length_samples, 2.25)
