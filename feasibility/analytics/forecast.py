"""Enrollment forecast: the Poisson-Gamma recruitment model (Anisimov and Fedorov 2007).

Model. Patients become newly eligible at site i as a Poisson process with a monthly rate
lambda_i, and the rates of the sites are draws from one Gamma(alpha, beta) prior (mean
alpha/beta). Each enrolled patient is an eligible patient who is approached, consents and
passes screening, independently with probability p_i (the conversion), so enrollment is a
thinning of the eligible process: a Poisson process of rate p_i * lambda_i, and a Gamma(a, b)
rate becomes Gamma(a, b / p_i) after thinning.

Fitting (empirical Bayes, as in Anisimov and Fedorov). Site i saw k_i newly eligible patients
over tau_i months (the sum and the number of its monthly counts, which are sufficient for a
constant rate). Marginally k_i is negative binomial, and (alpha, beta) maximise

    sum_i lgamma(alpha + k_i) - lgamma(alpha) - alpha log(1 + tau_i / beta) - k_i log(beta + tau_i)

(constants dropped). For fixed alpha the score in beta has one root: with mu = alpha / beta,
it is zero where mu = sum_i w_i k_i / sum_i w_i tau_i with w_i = 1 / (beta + tau_i), so the
prior mean is a weighted pooled rate; when every site has the same tau this is exactly the
pooled rate k / tau and beta = alpha * sum(tau) / sum(k) in closed form. Otherwise the root is
found by bisection (its sign changes once: tau_i mu - k_i weighted by 1 / (beta + tau_i) sums
to a function of beta that decreases strictly). The resulting profile likelihood in alpha is
maximised on a log grid over [1e-3, 1e4] refined four times around the best point: no random
start, no tolerance-dependent stopping, so the fit is deterministic. Site i's posterior is then
Gamma(alpha + k_i, beta + tau_i).

Guard and fallbacks, reported in `PriorFit.method` and `PriorFit.note`:

* `empirical_bayes`: at least three sites with data, and the fitted shape alpha is at most
  the mean count per site, K / n (so each site's own data weighs at least half its posterior).
* `capped`: at least three sites, but the counts are no more (or barely more) dispersed than
  Poisson: the likelihood keeps increasing towards alpha -> infinity (all sites share one rate;
  the end of the grid is taken as infinity) or peaks above K / n. Empirical Bayes treats the
  fitted prior as known, so a huge alpha would pin every site on the pooled rate as if that
  rate were known exactly, and the total's interval would shrink towards nothing even though
  only K patients were ever seen. alpha is therefore capped at K / n (the prior counts for no
  more than an average site's data) and beta is the likelihood's best for that alpha.
* `weak_prior`: one or two sites with data, which cannot estimate a between-site spread. Each
  site keeps its own data under a weak prior Gamma(0.5, 0.5 / pooled rate): Jeffreys' shape
  for a Poisson rate, the pooled rate as mean, the weight of half a patient; a single site's
  posterior is Gamma(0.5 + k, 0.5 tau / k + tau), mean close to k / tau.
* `no_incidence`: no site saw any newly eligible patient (or no site has a month of data).
  There is nothing to scale a rate from, so every rate is zero (a point mass, shape 0) and the
  target is reported as not reached rather than as a forecast invented from a prior alone.

A site with no month of data gets the prior itself as its posterior. Empirical Bayes treats
the fitted (alpha, beta) as known, so the intervals leave out the prior's own estimation
error (small with many sites; the cap bounds the damage with few). The model also assumes
each site's rate is constant over time (no seasonality, ramp-up or activation delays).

Forecast. Site enrollment by month t is N_i(t) ~ NB(a_i, b_i / (b_i + t)) for its enrollment
rate Gamma(a_i, b_i); its mean t a_i / b_i and its quantiles are computed exactly from the pmf.
The total is a sum of such variables with different parameters, so it is simulated: each draw
takes every site's rate from its Gamma, Lambda = sum of rates, the time to enroll n patients
is T_n | Lambda ~ Gamma(n, Lambda) and the cumulative enrollment path is a Poisson process of
rate Lambda observed monthly. Draws use numpy.random.default_rng(seed) in a fixed order (sites
in the order given), so results are identical across runs. Times beyond the horizon are
reported as None rather than as huge numbers.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from feasibility.analytics.conversion import check_share
from feasibility.criteria.model import Duration
from feasibility.errors import FeasibilityError

SITE_MONTHS = (6, 12)  # months at which each site's expected enrollment is reported
MIN_SITES_FOR_PRIOR = 3  # fewer sites cannot estimate a between-site spread
# A year is the shortest period whose rate averages over the seasons; over fewer months the
# constant rate the model assumes cannot be told from a seasonal high or low, or a recent change.
STEADY_MONTHS = 12

# alpha grid of the profile likelihood: below 1e-3 the prior is all mass at zero, above 1e4
# the coefficient of variation of the rates is under 1% (no overdispersion to speak of)
_LOG_ALPHA = np.linspace(math.log(1e-3), math.log(1e4), 141)
_REFINEMENTS = 4
_BISECTIONS = 100
_WEAK_SHAPE = 0.5

_lgamma = np.vectorize(math.lgamma, otypes=[float])


@dataclass(frozen=True)
class GammaRate:
    """Gamma distribution of a monthly rate: density ∝ x^(shape-1) e^(-rate x), mean shape/rate.

    shape 0 is allowed and means the rate is exactly zero (a point mass).
    """

    shape: float
    rate: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.shape) and self.shape >= 0):
            raise ValueError(f"Gamma shape must be finite and >= 0, not {self.shape}")
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"Gamma rate must be finite and > 0, not {self.rate}")

    @property
    def mean(self) -> float:
        """The expected rate, events per month."""
        return self.shape / self.rate

    @property
    def variance(self) -> float:
        """The rate's variance: how uncertain the site's rate still is."""
        return self.shape / self.rate**2

    def posterior(self, events: int, months: float) -> GammaRate:
        """The conjugate update after `events` Poisson events over `months` months."""
        return GammaRate(self.shape + events, self.rate + months)

    def thinned(self, p: float) -> GammaRate:
        """The distribution of p * rate: each event kept with probability p, a share in (0, 1]
        that the caller has checked (`forecast` checks every conversion it is given)."""
        return GammaRate(self.shape, self.rate / p)

    def predictive_quantiles(self, months: float, probs: Sequence[float]) -> list[int]:
        """Quantiles of the count by `months`: N ~ NB(shape, rate / (rate + months)), i.e.
        the smallest k with P(N <= k) >= q, from the exact pmf (lgamma, no simulation)."""
        return _nb_quantiles(self.shape, self.rate, months, probs)


def _nb_quantiles(shape: float, rate: float, months: float, probs: Sequence[float]) -> list[int]:
    if shape == 0 or months <= 0:
        return [0] * len(probs)
    # P(N = k) = Γ(a+k) / (Γ(a) k!) p^a (1-p)^k with p = rate / (rate + t); logs taken apart
    # so that neither p^a nor (1-p)^k underflows for large shapes or long horizons
    log_p = math.log(rate) - math.log(rate + months)
    log_q = math.log(months) - math.log(rate + months)
    mean = shape * months / rate
    sd = math.sqrt(mean * (rate + months) / rate)
    # the pmf is summed from 12 sd below the mean (0 for skewed, small-shape cases): the mass
    # left below is negligible against any quantile we report
    start = max(0, math.floor(mean - 12 * sd))
    stop = math.ceil(mean + 12 * sd) + 16
    target = max(probs)
    while True:
        # log P(start) with lgamma, then the ratio P(k+1) / P(k) = (a+k) / (k+1) (1-p)
        first = (
            math.lgamma(shape + start)
            - math.lgamma(shape)
            - math.lgamma(start + 1)
            + shape * log_p
            + start * log_q
        )
        ks = np.arange(start, stop - 1, dtype=float)
        steps = np.log(shape + ks) - np.log(ks + 1) + log_q
        log_pmf = first + np.concatenate(([0.0], np.cumsum(steps)))
        cdf = np.cumsum(np.exp(log_pmf))
        if cdf[-1] >= target or stop > 1e8:
            break
        stop = start + 2 * (stop - start)  # heavy tail (tiny shape): extend and sum again
    return [int(start + min(int(np.searchsorted(cdf, q, side="left")), len(cdf) - 1)) for q in probs]


# --------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class PriorFit:
    """The Gamma prior of the sites' monthly incidence and how it was obtained."""

    prior: GammaRate
    method: str  # "empirical_bayes" | "capped" | "weak_prior" | "no_incidence"
    note: str
    sites: int  # sites with at least one month of data


def _profile(log_alpha: np.ndarray, k: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each alpha: the ML prior mean mu = alpha / beta and the profile log-likelihood."""
    alpha = np.exp(log_alpha)[:, None]
    pooled = k.sum() / tau.sum()
    # the root is mu = sum w_i k_i / sum w_i tau_i with w_i = 1 / (beta + tau_i), and the w_i
    # differ by at most the factor tau_max / tau_min: it lies within that factor of the pooled rate
    spread = tau.max() / tau.min()
    lo = np.full(len(log_alpha), math.log(pooled / spread) - 1e-9)
    hi = np.full(len(log_alpha), math.log(pooled * spread) + 1e-9)
    for _ in range(_BISECTIONS if spread > 1 else 0):
        mid = (lo + hi) / 2
        mu = np.exp(mid)[:, None]
        score = ((mu * tau - k) / (alpha / mu + tau)).sum(axis=1)
        above = score > 0  # the score changes sign once, from negative to positive
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    mu = np.exp((lo + hi) / 2)[:, None]
    beta = alpha / mu
    loglik = (
        _lgamma(alpha + k) - _lgamma(alpha) - alpha * np.log1p(tau / beta) - k * np.log(beta + tau)
    ).sum(axis=1)
    return mu[:, 0], loglik


@dataclass(frozen=True)
class Observed:
    """What a site saw: `eligible` newly eligible patients over `months` months. The model
    reads only these two figures of a site's monthly counts (they are sufficient for a
    constant rate), so a report can fit it to a published total without inventing months."""

    eligible: int
    months: int

    def __post_init__(self) -> None:
        for name in ("eligible", "months"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, not {value!r}")


def fit_prior(observed: Mapping[str, Observed]) -> PriorFit:
    """The Gamma prior of monthly incidence across sites (see the module docstring)."""
    k = np.array([o.eligible for o in observed.values()], dtype=float)
    tau = np.array([o.months for o in observed.values()], dtype=float)
    used = tau > 0
    k, tau = k[used], tau[used]
    n = int(used.sum())
    if n == 0 or k.sum() == 0:
        return PriorFit(
            GammaRate(0.0, 1.0),
            "no_incidence",
            "no site saw a newly eligible patient: every rate is taken as zero",
            n,
        )
    pooled = float(k.sum() / tau.sum())
    weak = GammaRate(_WEAK_SHAPE, _WEAK_SHAPE / pooled)
    if n < MIN_SITES_FOR_PRIOR:
        return PriorFit(
            weak,
            "weak_prior",
            f"{'one site' if n == 1 else f'{n} sites'} with data cannot estimate the spread between "
            "sites: each site keeps its own rate under a weak prior (shape 0.5, mean the pooled rate)",
            n,
        )
    # the prior may not count for more than an average site's own data (see the docstring)
    cap = float(k.sum()) / n
    grid = _LOG_ALPHA
    _, loglik = _profile(grid, k, tau)
    best = int(np.argmax(loglik))
    if best == len(grid) - 1:  # still increasing at the end of the grid: alpha -> infinity
        alpha = math.inf
    else:
        for _ in range(_REFINEMENTS):
            grid = np.linspace(grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)], 41)
            _, loglik = _profile(grid, k, tau)
            best = int(np.argmax(loglik))
        alpha = math.exp(grid[best])
    if alpha <= cap:
        mu, _ = _profile(np.array([math.log(alpha)]), k, tau)
        return PriorFit(
            GammaRate(alpha, alpha / float(mu[0])),
            "empirical_bayes",
            f"Gamma prior fitted by maximum likelihood across {n} sites (negative binomial marginal)",
            n,
        )
    mu, _ = _profile(np.array([math.log(cap)]), k, tau)
    spread = "no more dispersed than Poisson" if math.isinf(alpha) else "barely more dispersed than Poisson"
    return PriorFit(
        GammaRate(cap, cap / float(mu[0])),
        "capped",
        f"the counts of the {n} sites are {spread}: the prior's shape is capped at the mean count "
        f"per site ({cap:.4g}) so that it weighs no more than a site's own data",
        n,
    )


# --------------------------------------------------------------------------- forecast


@dataclass(frozen=True)
class SiteExpectation:
    """A site's enrollment by `months`: its mean and 80% interval (10% and 90% quantiles)."""

    months: int
    mean: float
    low80: int
    high80: int


@dataclass(frozen=True)
class SiteForecast:
    """One site's expected enrollment: its observed incidence, conversion and posterior rates."""

    site: str
    months_observed: int
    eligible_observed: int
    conversion: float
    eligible_rate: GammaRate  # posterior of the monthly incidence of newly eligible patients
    enrollment_rate: GammaRate  # eligible_rate thinned by the conversion
    share: float  # expected share of the total enrollment
    expected: tuple[SiteExpectation, ...]  # at SITE_MONTHS


@dataclass(frozen=True)
class TimeToTarget:
    """Months to enroll `target` patients in total; a quantile is None when it lies beyond the
    horizon (or is infinite: no enrollment at all)."""

    target: int
    status: str  # "within_horizon" (median <= horizon) | "beyond_horizon" | "no_enrollment"
    note: str | None
    median: float | None
    low80: float | None
    high80: float | None
    low95: float | None
    high95: float | None
    probability_within_horizon: float


@dataclass(frozen=True)
class EnrollmentBand:
    """Total cumulative enrollment at months 0..horizon: exact mean, simulated quantiles."""

    months: tuple[int, ...]
    mean: tuple[float, ...]
    median: tuple[int, ...]
    low80: tuple[int, ...]
    high80: tuple[int, ...]
    low95: tuple[int, ...]
    high95: tuple[int, ...]


@dataclass(frozen=True)
class Forecast:
    """The network's enrollment forecast: the prior, each site's, the total and time to target."""

    prior: PriorFit
    sites: tuple[SiteForecast, ...]
    total_rate_mean: float  # expected total enrollment per month
    time_to_target: TimeToTarget | None  # None when no target was given
    band: EnrollmentBand
    horizon_months: int
    draws: int
    seed: int
    cautions: tuple[str, ...] = ()  # what the model could not take into account, in words

    def as_dict(self) -> dict:
        """Plain JSON data for report.json: months and counts to 2 decimals, shares and
        probabilities to 3, Gamma parameters to 4 significant digits."""
        t = self.time_to_target
        return {
            "model": "poisson-gamma",
            "horizon_months": self.horizon_months,
            "draws": self.draws,
            "seed": self.seed,
            "cautions": list(self.cautions),
            "prior": {
                **_gamma_dict(self.prior.prior),
                "method": self.prior.method,
                "note": self.prior.note,
                "sites": self.prior.sites,
            },
            "sites": [
                {
                    "site": s.site,
                    "months_observed": s.months_observed,
                    "eligible_observed": s.eligible_observed,
                    "conversion": _round(s.conversion, 3),
                    "eligible_rate": _gamma_dict(s.eligible_rate),
                    "enrollment_rate": _gamma_dict(s.enrollment_rate),
                    "share": _round(s.share, 3),
                    "expected": [
                        {"months": e.months, "mean": _round(e.mean), "low80": e.low80, "high80": e.high80}
                        for e in s.expected
                    ],
                }
                for s in self.sites
            ],
            "total_rate_mean": _round(self.total_rate_mean),
            "time_to_target": None
            if t is None
            else {
                "target": t.target,
                "status": t.status,
                "note": t.note,
                "median": _round(t.median),
                "low80": _round(t.low80),
                "high80": _round(t.high80),
                "low95": _round(t.low95),
                "high95": _round(t.high95),
                "probability_within_horizon": _round(t.probability_within_horizon, 3),
            },
            "band": {
                "months": list(self.band.months),
                "mean": [_round(m) for m in self.band.mean],
                "median": list(self.band.median),
                "low80": list(self.band.low80),
                "high80": list(self.band.high80),
                "low95": list(self.band.low95),
                "high95": list(self.band.high95),
            },
        }


def _round(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(float(x), digits) + 0.0  # + 0.0: no "-0.0"


def _gamma_dict(g: GammaRate) -> dict:
    def sig(x: float) -> float:
        return float(f"{x:.4g}")

    return {"shape": sig(g.shape), "rate": sig(g.rate), "mean": sig(g.mean)}


def _sorted_quantiles(values: np.ndarray, probs: Sequence[float]) -> list:
    """Inverted-CDF quantiles of sorted values along axis 0: an observed value, never an
    interpolation (counts stay integers, and an infinite time is not mixed with a finite one)."""
    n = values.shape[0]
    return [values[max(math.ceil(q * n - 1e-9), 1) - 1] for q in probs]


@dataclass(frozen=True, eq=False)
class TotalRate:
    """Simulated draws of the network's total enrollment rate Lambda, the sum of the sites'
    Gamma rates, drawn once and read by both the time to target and the enrollment band."""

    rates: tuple[GammaRate, ...]
    draws: np.ndarray
    _after: np.random.Generator  # the stream right after the draws

    @classmethod
    def simulate(cls, rates: Sequence[GammaRate], *, draws: int = 20000, seed: int = 0) -> TotalRate:
        """`draws` draws of Lambda from numpy.random.default_rng(seed), one block per site in
        the order given."""
        if not isinstance(draws, int) or draws < 1:
            raise ValueError(f"draws must be a positive integer, not {draws!r}")
        rng = np.random.default_rng(seed)
        total = np.zeros(draws)
        for g in rates:
            if g.shape > 0:
                total += rng.standard_gamma(g.shape, size=draws) / g.rate
        return cls(tuple(rates), total, rng)

    @property
    def mean(self) -> float:
        """The exact expected total rate, the sum of the sites' mean rates."""
        return sum(g.mean for g in self.rates)

    def generator(self) -> np.random.Generator:
        """A generator that continues the stream right after the draws. Every simulation built
        on them starts from that same point, as it would had it drawn Lambda itself from the
        same seed: the figures of a forecast do not depend on which of them is computed first."""
        return copy.deepcopy(self._after)


def time_to_target(total: TotalRate, target: int, *, horizon_months: int = 60) -> TimeToTarget:
    """Months until `target` enrollments in total at the simulated total rate Lambda:
    T | Lambda ~ Gamma(target, Lambda), one draw of T per draw of Lambda."""
    _check_horizon(horizon_months)
    _check_target(target)
    rng = total.generator()
    with np.errstate(divide="ignore"):  # inf where Lambda = 0
        times = np.sort(rng.standard_gamma(int(target), size=len(total.draws)) / total.draws)
    probability = float(np.mean(times <= horizon_months))
    q = [float(x) for x in _sorted_quantiles(times, (0.5, 0.1, 0.9, 0.025, 0.975))]
    median, low80, high80, low95, high95 = (x if x <= horizon_months else None for x in q)
    if not total.draws.any():
        status, note = "no_enrollment", "no site enrolls anyone: the target is never reached"
    elif median is None:
        status = "beyond_horizon"
        note = f"the target of {target} is unlikely to be reached within {horizon_months} months"
    else:
        status, note = "within_horizon", None
        if high95 is None:
            note = f"the upper end of the intervals lies beyond {horizon_months} months"
    return TimeToTarget(int(target), status, note, median, low80, high80, low95, high95, probability)


def enrollment_band(total: TotalRate, *, horizon_months: int = 60) -> EnrollmentBand:
    """Total cumulative enrollment N(t) = Poisson process of rate Lambda at months 0..horizon:
    simulated as monthly Poisson increments (each path is nondecreasing, so the quantile curves
    are too), with the exact mean t * sum of the sites' mean rates."""
    _check_horizon(horizon_months)
    rng = total.generator()
    draws = len(total.draws)
    paths = np.zeros((draws, horizon_months + 1), dtype=np.int64)
    paths[:, 1:] = np.cumsum(rng.poisson(total.draws[:, None], size=(draws, horizon_months)), axis=1)
    paths.sort(axis=0)
    median, low80, high80, low95, high95 = (
        tuple(int(v) for v in row) for row in _sorted_quantiles(paths, (0.5, 0.1, 0.9, 0.025, 0.975))
    )
    months = tuple(range(horizon_months + 1))
    return EnrollmentBand(months, tuple(total.mean * t for t in months), median, low80, high80, low95, high95)


def _check_target(target: int) -> None:
    if isinstance(target, bool) or not isinstance(target, int | np.integer) or target < 1:
        raise FeasibilityError(
            f"target {target!r} is not a positive whole number", where="--target", fix="e.g. --target 120"
        )


def _check_horizon(horizon_months: int) -> None:
    if not isinstance(horizon_months, int) or horizon_months < 1:
        raise ValueError(f"horizon_months must be a positive integer, not {horizon_months!r}")


def forecast(
    observed: Mapping[str, Observed],
    conversion: Mapping[str, float] | float,
    target: int | None,
    *,
    horizon_months: int = 60,
    draws: int = 20000,
    seed: int = 0,
) -> Forecast:
    """Enrollment forecast per site and in total from what each site observed (newly
    eligible patients and months).

    `conversion` is one share for all sites or one per site (every site must have one; see
    `site_conversions` to combine a default with a file's overrides). `target` is the total
    sample size whose time to recruit is forecast, or None.
    """
    if not observed:
        raise ValueError("forecast needs at least one site")
    if target is not None:
        _check_target(target)
    sites = list(observed)
    shares = _site_shares(sites, conversion)

    fit = fit_prior(observed)
    eligible = [fit.prior.posterior(observed[s].eligible, observed[s].months) for s in sites]
    enrolling = [g.thinned(shares[s]) for s, g in zip(sites, eligible, strict=True)]
    total = TotalRate.simulate(enrolling, draws=draws, seed=seed)
    site_forecasts = tuple(
        SiteForecast(
            site=s,
            months_observed=observed[s].months,
            eligible_observed=int(observed[s].eligible),
            conversion=shares[s],
            eligible_rate=e,
            enrollment_rate=g,
            share=g.mean / total.mean if total.mean > 0 else 0.0,
            expected=tuple(
                SiteExpectation(t, t * g.mean, *g.predictive_quantiles(t, (0.1, 0.9))) for t in SITE_MONTHS
            ),
        )
        for s, e, g in zip(sites, eligible, enrolling, strict=True)
    )
    to_target = None if target is None else time_to_target(total, target, horizon_months=horizon_months)
    return Forecast(
        prior=fit,
        sites=site_forecasts,
        total_rate_mean=total.mean,
        time_to_target=to_target,
        band=enrollment_band(total, horizon_months=horizon_months),
        horizon_months=horizon_months,
        draws=draws,
        seed=seed,
        cautions=_history_cautions(observed),
    )


def _history_cautions(observed: Mapping[str, Observed]) -> tuple[str, ...]:
    """A caution when no site was observed for a year: the intervals cover the Poisson noise
    of the months seen, not a season or trend those months could not show."""
    longest = max(o.months for o in observed.values())
    if longest >= STEADY_MONTHS:
        return ()
    return (
        f"fitted on {Duration(longest, 'month')} of incidence, less than a year: the rates may "
        "reflect a season or a recent change rather than a steady rate, which the intervals do "
        "not cover; a year of incidence or more gives steadier rates",
    )


def _site_shares(sites: Sequence[str], conversion: Mapping[str, float] | float) -> dict[str, float]:
    """Each site's conversion, checked here once: every share the model reads comes in
    through `forecast`, whether one for all sites or one per site."""
    if not isinstance(conversion, Mapping):
        return dict.fromkeys(sites, check_share(conversion, "--conversion"))
    missing = [s for s in sites if s not in conversion]
    if missing:
        raise FeasibilityError(
            f"no conversion for site `{missing[0]}`", where="conversion", fix="give every site a share"
        )
    return {s: check_share(conversion[s], f"conversion: site {s}") for s in sites}
