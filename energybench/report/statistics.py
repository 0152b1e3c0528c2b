"""The statistics of a difference between two measurements of one figure (docs/compare.md).

Each side is an :class:`Estimate`: a value with its standard uncertainty split into a random
part estimated from replicates (Type A: the window-to-window or run-to-run scatter, with its
degrees of freedom), a random part known from the budget (Type B, e.g. edge placement) and a
systematic part (the instrument's gain, offset and timebase). The difference B − A combines
them in quadrature; the systematic parts are fully correlated when both sides used one
instrument setup (GUM 5.2.2 with r = 1: they cancel to |u_B − u_A|), independent otherwise.
The interval uses Student's t with the Welch–Satterthwaite effective degrees of freedom
(GUM G.4); the minimum detectable difference is the true difference this test finds with the
given power."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy import special

POWER = 0.8  # of the minimum detectable difference

BETTER, WORSE, SAME, UNKNOWN = "better", "worse", "no significant change", "unknown"


@dataclass(frozen=True)
class Estimate:
    """One side's figure. Standard uncertainties (k=1) in the figure's unit."""

    value: float
    random_u: float  # Type A: from the scatter of ``replicates``
    random_dof: float  # replicates − 1 (NaN/0 when the scatter is unknown)
    systematic_u: float  # common to every measurement with the same instrument setup
    budget_random_u: float = 0.0  # Type B random (edge placement), infinite dof
    replicates: int = 0
    basis: str = ""  # "5 windows of 1 run", "3 runs", "1000 files"
    figure: float = math.nan  # the figure the run reports (MLPerf: the median of the windows)

    @property
    def scatter_known(self) -> bool:
        return self.random_dof > 0 and math.isfinite(self.random_u)

    def to_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


@dataclass(frozen=True)
class Difference:
    """B − A with its interval, the minimum detectable difference and the verdict."""

    difference: float
    relative: float  # (B − A)/|A|
    standard_u: float
    dof: float
    confidence: float
    ci_low: float
    ci_high: float
    mdd: float  # smallest |B − A| found with probability POWER at this confidence
    systematic_u: float  # what the instrument contributes to standard_u
    correlated: bool
    verdict: str  # worse / better / no significant change / unknown (for higher-is-worse)

    def to_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def effective_dof(terms: list[tuple[float, float]]) -> float:
    """Welch–Satterthwaite: (Σu²)² / Σ(u⁴/ν) over (u, ν) terms; ν = inf for Type B."""
    total = sum(u * u for u, _ in terms)
    denominator = sum(u**4 / nu for u, nu in terms if math.isfinite(nu) and nu > 0 and u > 0)
    if denominator == 0:
        return math.inf
    return total**2 / denominator


def t_quantile(probability: float, dof: float) -> float:
    """Student's t quantile (the normal one for infinite degrees of freedom)."""
    if math.isinf(dof):
        return float(special.ndtri(probability))
    return float(special.stdtrit(dof, probability))


def compare(
    a: Estimate,
    b: Estimate,
    *,
    correlated: bool,
    confidence: float = 0.95,
    higher_is_worse: bool = True,
) -> Difference:
    """B − A: interval, minimum detectable difference, verdict."""
    d = b.value - a.value
    relative = d / abs(a.value) if a.value else math.nan
    if correlated:  # one instrument setup: its error is common to both (r = 1)
        u_sys = abs(b.systematic_u - a.systematic_u)
        rel_sys = 0.5 * (a.systematic_u / abs(a.value) if a.value else 0.0) + 0.5 * (
            b.systematic_u / abs(b.value) if b.value else 0.0
        )
    else:
        u_sys = math.hypot(a.systematic_u, b.systematic_u)
        rel_sys = 0.0
    random_terms = [(a.random_u, a.random_dof), (b.random_u, b.random_dof)]
    typeb = [(a.budget_random_u, math.inf), (b.budget_random_u, math.inf)]
    known = a.scatter_known and b.scatter_known
    terms = [t for t in random_terms if t[0] > 0] + typeb + [(u_sys, math.inf)]
    u_c = math.sqrt(sum(u * u for u, _ in terms)) if known else math.nan
    dof = effective_dof(terms) if known else math.nan
    alpha = 1.0 - confidence
    if not known or not math.isfinite(u_c):
        return Difference(
            d,
            relative,
            math.nan,
            math.nan,
            confidence,
            math.nan,
            math.nan,
            math.nan,
            u_sys,
            correlated,
            UNKNOWN,
        )
    t = t_quantile(1 - alpha / 2, dof)
    low, high = d - t * u_c, d + t * u_c
    # the u_c of a zero difference: random terms, independent systematic terms, and for one
    # setup the residual rel_sys·MDD of its common error (solved for MDD)
    u0 = math.sqrt(max(u_c**2 - (u_sys**2 if correlated else 0.0), 0.0))
    k = t + t_quantile(POWER, dof)
    mdd = k * u0 / math.sqrt(1 - (k * rel_sys) ** 2) if k * rel_sys < 1 else math.inf
    if u_c == 0:
        verdict = SAME if d == 0 else UNKNOWN
    elif low > 0:
        verdict = WORSE if higher_is_worse else BETTER
    elif high < 0:
        verdict = BETTER if higher_is_worse else WORSE
    else:
        verdict = SAME
    return Difference(d, relative, u_c, dof, confidence, low, high, mdd, u_sys, correlated, verdict)


def proportion_estimate(proportion: float, n: int) -> Estimate:
    """A proportion (top-1) of n independent files: the Agresti–Caffo adjusted binomial
    standard error (one success and one failure added), which keeps its coverage near 0 and
    1; infinite degrees of freedom (normal approximation)."""
    adjusted = (proportion * n + 1) / (n + 2)
    u = math.sqrt(adjusted * (1 - adjusted) / (n + 2))
    return Estimate(proportion, u, math.inf, 0.0, 0.0, n, f"{n} files")


def auc_estimate(auc: float, positives: int, negatives: int) -> Estimate:
    """ROC AUC with the Hanley–McNeil (1982) standard error."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return Estimate(
        auc,
        math.sqrt(max(var, 0.0)),
        math.inf,
        0.0,
        0.0,
        positives + negatives,
        f"{positives} positive, {negatives} negative files",
    )
