"""The Poisson-Gamma enrollment forecast, checked against closed forms and simulations."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from feasibility.analytics.forecast import (
    GammaRate,
    Observed,
    TotalRate,
    enrollment_band,
    fit_prior,
    forecast,
    time_to_target,
)
from feasibility.errors import FeasibilityError


def observed(site_counts: dict[str, list[int]]) -> dict[str, Observed]:
    """Each site's monthly counts as what the model reads of them: their sum and number."""
    return {site: Observed(sum(counts), len(counts)) for site, counts in site_counts.items()}


def poisson_cdf(k: int, m: float) -> float:
    """P(Poisson(m) <= k), summed in logs."""
    return sum(math.exp(j * math.log(m) - m - math.lgamma(j + 1)) for j in range(k + 1))


def gamma_quantile(n: int, rate: float, q: float) -> float:
    """Quantile of Gamma(n, rate) (Erlang), by bisection on P(T <= x) = P(Poisson(rate x) >= n)."""
    lo, hi = 0.0, 10.0 * (n + 10) / rate
    for _ in range(200):
        mid = (lo + hi) / 2
        if 1 - poisson_cdf(n - 1, rate * mid) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def simulated_nb_quantiles(g: GammaRate, months: float, probs, size=400_000, seed=1):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rng.gamma(g.shape, 1 / g.rate, size=size) * months)
    return [int(x) for x in np.quantile(counts, probs, method="inverted_cdf")]


def nb_loglik(alpha: float, beta: float, k, tau) -> float:
    """The negative binomial marginal log-likelihood, written out independently of the module."""
    return sum(
        math.lgamma(alpha + ki)
        - math.lgamma(alpha)
        - math.lgamma(ki + 1)
        + alpha * math.log(beta / (beta + ti))
        + ki * math.log(ti / (beta + ti))
        for ki, ti in zip(k, tau, strict=True)
    )


def simulated_sites(n_sites, alpha, beta, months, seed):
    rng = np.random.default_rng(seed)
    rates = rng.gamma(alpha, 1 / beta, size=n_sites)
    months = [months] * n_sites if isinstance(months, int) else months
    return {
        f"s{i}": [int(c) for c in rng.poisson(r, size=m)]
        for i, (r, m) in enumerate(zip(rates, months, strict=True))
    }, rates


# --------------------------------------------------------------------------- single site


def test_single_site_expected_enrollment_and_nb_quantiles():
    # one site: weak prior Gamma(0.5, 0.5 / pooled) with pooled = 12 / 6 = 2 per month, so the
    # posterior is Gamma(12.5, 6.25) and, at conversion 0.4, enrollment is Gamma(12.5, 15.625)
    fc = forecast(observed({"a": [2, 3, 1, 4, 0, 2]}), 0.4, None, draws=2000)
    assert fc.prior.method == "weak_prior"
    site = fc.sites[0]
    assert site.eligible_rate == GammaRate(12.5, 6.25)
    assert site.enrollment_rate.shape == 12.5
    assert site.enrollment_rate.rate == pytest.approx(15.625)
    assert site.share == 1.0
    for e in site.expected:
        assert e.mean == pytest.approx(e.months * 12.5 / 6.25 * 0.4)  # t * shape / rate * p
        low, high = simulated_nb_quantiles(site.enrollment_rate, e.months, [0.1, 0.9])
        assert abs(e.low80 - low) <= 1 and abs(e.high80 - high) <= 1
    assert [e.months for e in site.expected] == [6, 12]


@pytest.mark.parametrize("g", [GammaRate(0.3, 0.1), GammaRate(2.0, 0.5), GammaRate(40.0, 2.0)])
@pytest.mark.parametrize("months", [1, 12])
def test_nb_quantiles_match_simulation(g, months):
    probs = [0.025, 0.1, 0.5, 0.9, 0.975]
    exact = g.predictive_quantiles(months, probs)
    simulated = simulated_nb_quantiles(g, months, probs)
    # the simulated quantile of an integer variable can land one step off near a jump of the cdf
    assert all(abs(a - b) <= max(1, 0.01 * b) for a, b in zip(exact, simulated, strict=True)), (
        exact,
        simulated,
    )


def test_nb_quantiles_exact_small_case():
    # shape 1: N(t) is geometric with P(N = k) = p (1 - p)^k, p = rate / (rate + t) = 1/2 here,
    # so P(N <= k) = 1 - 2^-(k+1): the 10% quantile is 0, the median 0 (cdf 0.5), the 90% 3
    assert GammaRate(1.0, 2.0).predictive_quantiles(2, [0.1, 0.5, 0.9]) == [0, 0, 3]
    assert GammaRate(0.0, 1.0).predictive_quantiles(12, [0.5, 0.9]) == [0, 0]
    # a huge, concentrated shape is Poisson(mean): no underflow of p^shape
    assert GammaRate(1e6, 1e4).predictive_quantiles(12, [0.5]) == [1200]


def test_posterior_mean_close_to_true_rate():
    rng = np.random.default_rng(7)
    counts = [int(c) for c in rng.poisson(4.0, size=240)]
    site = forecast(observed({"a": counts}), 1.0, None, draws=1000).sites[0]
    sd = math.sqrt(site.eligible_rate.variance)
    assert sd == pytest.approx(math.sqrt(sum(counts)) / 240, rel=0.05)
    assert abs(site.eligible_rate.mean - 4.0) < 3 * sd
    assert site.enrollment_rate == site.eligible_rate  # conversion 1 keeps every patient


def test_site_posteriors_track_their_true_rates():
    counts, rates = simulated_sites(40, 3.0, 0.5, 36, seed=3)
    fc = forecast(observed(counts), 0.3, None, draws=1000)
    means = np.array([s.eligible_rate.mean for s in fc.sites])
    assert fc.prior.method == "empirical_bayes"
    assert np.corrcoef(means, rates)[0, 1] > 0.99
    assert np.median(np.abs(means - rates) / rates) < 0.05


# --------------------------------------------------------------------------- fitting


def test_mle_recovers_alpha_and_beta():
    # 20 replicates of 40 sites with Gamma(3, 0.5) rates (mean 6 per month) over 24 months
    shapes, means = [], []
    for seed in range(20):
        counts, rates = simulated_sites(40, 3.0, 0.5, 24, seed)
        fit = fit_prior(observed(counts))
        assert fit.method == "empirical_bayes" and fit.sites == 40
        assert fit.prior.mean == pytest.approx(rates.mean(), rel=0.05)  # tracks the drawn rates
        shapes.append(fit.prior.shape)
        means.append(fit.prior.mean)
    # one replicate's mean has a sampling sd of 9% and its shape of about 20%, and the ML shape
    # is biased slightly upwards with 40 sites: the medians over replicates are close
    assert np.median(shapes) == pytest.approx(3.0, rel=0.2)
    assert np.median(means) == pytest.approx(6.0, rel=0.1)
    assert np.median([m / a for m, a in zip(means, shapes, strict=True)]) == pytest.approx(1 / 0.5, rel=0.2)


def test_fit_is_the_likelihood_maximum_with_unequal_months():
    counts, _ = simulated_sites(30, 1.5, 0.3, list(range(3, 33)), seed=5)
    fit = fit_prior(observed(counts))
    k = [sum(v) for v in counts.values()]
    tau = [len(v) for v in counts.values()]
    a, b = fit.prior.shape, fit.prior.rate
    best = nb_loglik(a, b, k, tau)
    for da in np.linspace(-0.03, 0.03, 13):
        for db in np.linspace(-0.03, 0.03, 13):
            assert nb_loglik(a * math.exp(da), b * math.exp(db), k, tau) <= best + 1e-9


def test_equal_months_give_the_closed_form_beta():
    counts, _ = simulated_sites(25, 2.0, 0.4, 12, seed=11)
    fit = fit_prior(observed(counts))
    total = sum(map(sum, counts.values()))
    # with equal tau the score equation in beta solves to beta = alpha * n * tau / K
    assert fit.prior.rate == pytest.approx(fit.prior.shape * 25 * 12 / total, rel=1e-9)


def test_fallbacks():
    one = fit_prior(observed({"a": [1, 2, 3]}))
    assert (one.method, one.prior) == ("weak_prior", GammaRate(0.5, 0.25))
    assert one.note.startswith("one site with data cannot estimate the spread between sites")
    two = fit_prior(observed({"a": [1, 2, 3], "b": [5, 5, 5]}))
    assert two.method == "weak_prior" and two.prior.mean == pytest.approx(21 / 6)
    assert two.note.startswith("2 sites with data cannot")
    # identical sites: no overdispersion, the MLE runs to alpha -> infinity; shape capped at K / n
    same = fit_prior(observed({s: [4] * 12 for s in "abcde"}))
    assert same.method == "capped" and "no more dispersed than Poisson" in same.note
    assert same.prior.shape == pytest.approx(48) and same.prior.mean == pytest.approx(4)
    nothing = fit_prior(observed({"a": [0] * 6, "b": [0] * 6, "c": []}))
    assert nothing.method == "no_incidence" and nothing.prior.shape == 0
    # a site without any month of data takes the prior as its posterior
    fc = forecast(observed({"a": [3] * 6, "b": [5] * 6, "c": [1] * 6, "new": []}), 0.5, None, draws=500)
    assert fc.sites[3].eligible_rate == fc.prior.prior
    assert fc.sites[3].months_observed == 0


def test_capped_prior_keeps_the_total_uncertain():
    # five homogeneous sites: the pooled Poisson sd of the total rate is sqrt(K) / tau; the cap
    # keeps the forecast's spread within a factor of about 1/sqrt(2) of it instead of near zero
    counts, _ = simulated_sites(5, 1e6, 1e6 / 4, 12, seed=2)
    fc = forecast(observed(counts), 1.0, None, draws=500)
    k = sum(map(sum, counts.values()))
    total_sd = math.sqrt(sum(s.eligible_rate.variance for s in fc.sites))
    assert total_sd >= 0.65 * math.sqrt(k) / 12


# --------------------------------------------------------------------------- time to target


def test_time_to_target_matches_erlang_for_a_known_rate():
    rate = GammaRate(1e9, 1e9 / 5)  # a rate of 5 per month, practically without uncertainty
    t = time_to_target(TotalRate.simulate([rate], draws=20000, seed=0), 20, horizon_months=4)
    assert t.median == pytest.approx(gamma_quantile(20, 5, 0.5), abs=0.03)
    assert t.low80 == pytest.approx(gamma_quantile(20, 5, 0.1), abs=0.04)
    assert t.high80 is None or t.high80 == pytest.approx(gamma_quantile(20, 5, 0.9), abs=0.04)
    # P(T_20 <= 4) = P(Poisson(20) >= 20)
    assert t.probability_within_horizon == pytest.approx(1 - poisson_cdf(19, 20), abs=0.015)
    wide = time_to_target(TotalRate.simulate([rate], draws=20000, seed=0), 20, horizon_months=60)
    for got, q in [(wide.low95, 0.025), (wide.high95, 0.975), (wide.high80, 0.9)]:
        assert got == pytest.approx(gamma_quantile(20, 5, q), abs=0.06)
    assert wide.status == "within_horizon" and wide.note is None


def test_time_to_target_splits_the_rate_between_sites():
    # the sum of two near-degenerate site rates 2 + 3 behaves as one rate of 5
    two = time_to_target(
        TotalRate.simulate([GammaRate(1e9, 1e9 / 2), GammaRate(1e9, 1e9 / 3)], draws=20000), 50
    )
    assert two.median == pytest.approx(gamma_quantile(50, 5, 0.5), abs=0.05)


def test_more_sites_recruit_faster():
    site = [3, 5, 2, 4, 6, 3, 4, 2, 5, 4, 3, 4]
    one = forecast(observed({"a": site}), 0.3, 40).time_to_target
    three = forecast(observed({"a": site, "b": site[::-1], "c": site[1:] + site[:1]}), 0.3, 40).time_to_target
    assert three.median < one.median / 2
    assert time_to_target(TotalRate.simulate([GammaRate(8, 2)] * 3), 100).median == pytest.approx(
        time_to_target(TotalRate.simulate([GammaRate(8, 2)]), 100).median / 3, rel=0.1
    )


def test_halving_the_conversion_doubles_the_time():
    counts, _ = simulated_sites(6, 3.0, 0.5, 12, seed=4)
    full = forecast(observed(counts), 0.4, 80, draws=5000)
    half = forecast(observed(counts), 0.2, 80, draws=5000)
    # same seed, rates scaled by exactly 1/2: every simulated time doubles
    for field in ("median", "low80", "high80", "low95", "high95"):
        assert getattr(half.time_to_target, field) == pytest.approx(2 * getattr(full.time_to_target, field))
    for a, b in zip(full.sites, half.sites, strict=True):
        assert b.expected[1].mean == pytest.approx(a.expected[1].mean / 2)
        assert b.share == pytest.approx(a.share)


def test_per_site_conversion():
    counts = {"a": [4] * 12, "b": [4] * 12, "c": [4] * 12}
    fc = forecast(observed(counts), {"a": 0.5, "b": 0.25, "c": 0.25}, None, draws=500)
    assert [s.share for s in fc.sites] == pytest.approx([0.5, 0.25, 0.25])
    assert fc.total_rate_mean == pytest.approx(4 * (0.5 + 0.25 + 0.25))
    assert fc.sites[0].enrollment_rate.mean == pytest.approx(2 * fc.sites[1].enrollment_rate.mean)


def test_same_seed_same_output():
    counts, _ = simulated_sites(8, 2.0, 0.5, 12, seed=9)
    a = json.dumps(forecast(observed(counts), 0.3, 60, seed=3).as_dict(), sort_keys=True)
    b = json.dumps(forecast(observed(counts), 0.3, 60, seed=3).as_dict(), sort_keys=True)
    c = json.dumps(forecast(observed(counts), 0.3, 60, seed=4).as_dict(), sort_keys=True)
    assert a == b
    assert a != c


def test_zero_incidence_is_flagged_not_reached():
    fc = forecast(observed({"a": [0] * 12, "b": [0] * 12}), 0.3, 50, draws=1000)
    t = fc.time_to_target
    assert t.status == "no_enrollment" and t.note
    assert (t.median, t.low80, t.high80, t.low95, t.high95) == (None,) * 5
    assert t.probability_within_horizon == 0
    assert fc.prior.method == "no_incidence"
    assert all(e.mean == 0 and e.high80 == 0 for s in fc.sites for e in s.expected)
    assert set(fc.band.high95) == {0} and fc.total_rate_mean == 0
    assert [s.share for s in fc.sites] == [0, 0]
    json.dumps(fc.as_dict(), allow_nan=False)


def test_target_beyond_the_horizon():
    fc = forecast(
        observed({"a": [0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]}), 0.3, 200, horizon_months=60, draws=2000
    )
    t = fc.time_to_target
    assert t.status == "beyond_horizon" and "unlikely" in t.note
    assert t.median is None and t.high95 is None
    assert t.probability_within_horizon < 0.5
    # within the horizon on median, with the top of the intervals beyond it
    t = time_to_target(TotalRate.simulate([GammaRate(1.5, 1.0)], draws=5000), 40, horizon_months=60)
    assert t.status == "within_horizon" and t.median < 60 and t.high95 is None and "beyond" in t.note


def test_band_is_monotone_with_exact_mean_and_nb_quantiles():
    g = GammaRate(6.0, 3.0)
    band = enrollment_band(TotalRate.simulate([g], draws=20000, seed=0), horizon_months=24)
    assert band.months == tuple(range(25))
    assert band.mean[12] == pytest.approx(24.0)
    for series in (band.median, band.low80, band.high80, band.low95, band.high95):
        assert series[0] == 0 and all(a <= b for a, b in itertools.pairwise(series))
    assert all(
        lo95 <= lo80 <= med <= hi80 <= hi95
        for lo95, lo80, med, hi80, hi95 in zip(
            band.low95, band.low80, band.median, band.high80, band.high95, strict=True
        )
    )
    # one site: N(t) is exactly NB(shape, rate / (rate + t))
    exact = g.predictive_quantiles(12, [0.025, 0.1, 0.5, 0.9, 0.975])
    simulated = [band.low95[12], band.low80[12], band.median[12], band.high80[12], band.high95[12]]
    assert all(abs(a - b) <= 1 for a, b in zip(exact, simulated, strict=True)), (exact, simulated)


def test_as_dict_is_plain_rounded_json():
    counts, _ = simulated_sites(4, 2.0, 0.5, 12, seed=1)
    d = forecast(observed(counts), 0.3, 30, horizon_months=36, draws=2000).as_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    assert set(d) == {
        "model",
        "horizon_months",
        "draws",
        "seed",
        "cautions",
        "prior",
        "sites",
        "total_rate_mean",
        "time_to_target",
        "band",
    }
    assert set(d["prior"]) == {"shape", "rate", "mean", "method", "note", "sites"}
    assert set(d["sites"][0]) == {
        "site",
        "months_observed",
        "eligible_observed",
        "conversion",
        "eligible_rate",
        "enrollment_rate",
        "share",
        "expected",
    }
    assert set(d["sites"][0]["expected"][0]) == {"months", "mean", "low80", "high80"}
    assert set(d["time_to_target"]) == {
        "target",
        "status",
        "note",
        "median",
        "low80",
        "high80",
        "low95",
        "high95",
        "probability_within_horizon",
    }
    assert set(d["band"]) == {"months", "mean", "median", "low80", "high80", "low95", "high95"}
    assert len(d["band"]["median"]) == 37
    assert d["time_to_target"]["median"] == round(d["time_to_target"]["median"], 2)
    assert all(m == round(m, 2) for m in d["band"]["mean"])
    assert forecast(observed(counts), 0.3, None, draws=100).as_dict()["time_to_target"] is None


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("bad", [0, 1.5, -0.2, True, float("nan"), "0.3"])
def test_conversion_must_be_a_share(bad):
    with pytest.raises(FeasibilityError, match=r"not a share in \(0, 1\]"):
        forecast(observed({"a": [1, 2]}), bad, 10, draws=100)


def test_conversion_mapping_must_match_the_sites():
    with pytest.raises(FeasibilityError, match="no conversion for site `b`"):
        forecast(observed({"a": [1], "b": [2]}), {"a": 0.3}, None, draws=100)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_target_must_be_a_positive_whole_number(bad):
    with pytest.raises(FeasibilityError, match="not a positive whole number") as e:
        forecast(observed({"a": [1, 2]}), 0.3, bad, draws=100)
    assert e.value.where == "--target"


@pytest.mark.parametrize("eligible, months", [(-1, 3), (2, -1), (True, 3), (2.0, 3), (2, None)])
def test_observed_takes_whole_counts_only(eligible, months):
    with pytest.raises(ValueError, match="must be an integer >= 0"):
        Observed(eligible, months)


def test_a_per_site_share_is_checked_where_the_model_reads_it():
    with pytest.raises(FeasibilityError, match=r"not a share in \(0, 1\]") as e:
        forecast(observed({"a": [1, 2], "b": [3, 1]}), {"a": 0.3, "b": 0}, 10, draws=100)
    assert e.value.where == "conversion: site b"


def test_time_to_target_and_band_read_the_same_draws_of_the_total_rate():
    fc = forecast(observed({"a": [3, 5, 2, 4], "b": [1, 0, 2, 1]}), 0.5, 20, horizon_months=12, seed=5)
    total = TotalRate.simulate([s.enrollment_rate for s in fc.sites], seed=5)
    assert fc.time_to_target == time_to_target(total, 20, horizon_months=12)
    assert fc.band == enrollment_band(total, horizon_months=12)
    assert fc.total_rate_mean == total.mean


def test_a_forecast_fitted_on_less_than_a_year_carries_a_caution():
    # The intervals cover the Poisson noise of the months seen; over less than a year the
    # rate may be a season's, which the model (a constant rate) cannot tell: say so.
    short = forecast(observed({"a": [2, 3, 1, 4, 0, 2], "b": [1, 2]}), 0.4, None, draws=200)
    assert short.cautions == (
        "fitted on 6 months of incidence, less than a year: the rates may reflect a season or a "
        "recent change rather than a steady rate, which the intervals do not cover; a year of "
        "incidence or more gives steadier rates",
    )
    assert short.as_dict()["cautions"] == list(short.cautions)
    assert "fitted on 1 month of" in forecast(observed({"a": [2]}), 0.4, None, draws=200).cautions[0]
    # one site observed for a year is enough: the others' short spans only widen their own rates
    assert forecast(observed({"a": [1] * 12, "b": [2] * 3}), 0.4, None, draws=200).cautions == ()
    assert forecast(observed({"a": [1] * 24}), 0.4, None, draws=200).as_dict()["cautions"] == []
