"""syllabus.evaluate.stats: intervals, paired tests, Kendall tau, pass@k, win rates.

Reference values come from textbooks and published worked examples (cited inline), from
brute-force enumeration, or from scipy when it is installed.
"""

from __future__ import annotations

import doctest
import itertools
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from syllabus.errors import SyllabusError
from syllabus.evaluate import stats
from syllabus.evaluate.stats import (
    align,
    compare,
    kendall_tau,
    length_controlled_win_rate,
    maj_at_k,
    majority_vote,
    mcnemar,
    mean_ci,
    paired_bootstrap,
    pass_at_k,
    win_rate,
)


def binary(successes: int, n: int) -> list[int]:
    return [1] * successes + [0] * (n - successes)


def paired_table(n11: int, b01: int, b10: int, n00: int) -> tuple[list[int], list[int]]:
    """Outcome lists for a and b with the given 2x2 counts (b01: a wrong, b right)."""
    a = [1] * n11 + [0] * b01 + [1] * b10 + [0] * n00
    b = [1] * n11 + [1] * b01 + [0] * b10 + [0] * n00
    return a, b


def test_docstring_examples():
    result = doctest.testmod(stats, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 20 and result.failed == 0


# --- mean_ci -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "k, n, low, high",
    # Wilson score intervals without continuity correction, Newcombe (1998),
    # Statistics in Medicine 17:857-872, Table II.
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_textbook_values(k, n, low, high):
    est = mean_ci(binary(k, n), method="wilson")
    assert est.value == pytest.approx(k / n)
    assert (round(est.low, 4), round(est.high, 4)) == (low, high)
    assert est.n == n and est.method == "wilson"


def test_wilson_stays_inside_unit_interval_at_the_edges():
    est = mean_ci(binary(10, 10), method="wilson")
    assert est.high == 1.0 and 0.6 < est.low < 0.75  # 10/10: (0.7225, 1)


def test_t_interval_known_values():
    est = mean_ci(range(1, 11), method="t")  # mean 5.5, sd 3.0277, t(0.975, 9) = 2.2622
    assert (round(est.low, 4), round(est.high, 4)) == (3.3341, 7.6659)
    # Student t table, two-sided 95%.
    for df, q in [(1, 12.706), (2, 4.303), (9, 2.262), (30, 2.042), (1000, 1.962)]:
        assert stats._t_quantile(0.975, df) == pytest.approx(q, abs=6e-4)


def test_t_quantile_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in [1, 2, 3, 4, 7, 15, 50, 199, 200, 201, 5000]:
        for p in [0.55, 0.9, 0.975, 0.9995]:
            assert stats._t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-8)


def test_bootstrap_ci_covers_true_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(123)
    true_mean, sims = 1.0, 200
    covered = 0
    for s in range(sims):
        est = mean_ci(rng.normal(true_mean, 2.0, size=50), resamples=500, seed=s)
        covered += est.low <= true_mean <= est.high
    # Nominal 0.95; the percentile bootstrap runs slightly narrow at n=50, and 200
    # simulations have a standard error of about 0.015.
    assert 0.88 <= covered / sims <= 0.99


def test_bootstrap_is_reproducible_and_seeded():
    x = np.random.default_rng(0).random(30)
    assert mean_ci(x, seed=7) == mean_ci(x, seed=7)
    assert mean_ci(x, seed=7) != mean_ci(x, seed=8)


def test_mean_ci_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        mean_ci([])
    with pytest.raises(ValueError, match=r"values\[1\] is nan"):
        mean_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="0/1"):
        mean_ci([0.2, 1.0], method="wilson")
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([1, 0], confidence=95)
    with pytest.raises(ValueError, match="Unknown method"):
        mean_ci([1, 0], method="normal")  # type: ignore[arg-type]


def test_to_dict_is_json_with_null_for_undefined_bounds():
    d = mean_ci([3.0], method="t").to_dict()
    assert d["low"] is None and d["high"] is None and d["value"] == 3.0
    json.dumps(d, allow_nan=False)


# --- paired bootstrap ----------------------------------------------------------------


def test_paired_bootstrap_identical_inputs_is_no_change():
    a = np.random.default_rng(1).random(40)
    r = paired_bootstrap(a, a.copy())
    assert r.verdict == "no significant change" and not r.significant
    assert r.diff == 0 and r.low == 0 and r.high == 0 and r.p_value == 1.0


def test_paired_bootstrap_detects_clear_improvement_and_regression():
    rng = np.random.default_rng(2)
    a = rng.random(60)
    b = a + 0.2 + rng.normal(0, 0.05, size=60)  # every item improves by about 0.2
    up = paired_bootstrap(a, b)
    assert up.verdict == "significant improvement"
    assert up.low < 0.2 < up.high and up.low > 0 and up.p_value < 0.01
    assert up.mean_b - up.mean_a == pytest.approx(up.diff)
    down = paired_bootstrap(b, a)
    assert down.verdict == "significant regression" and down.high < 0


def test_paired_bootstrap_lower_is_better_flips_the_verdict():
    loss_before = np.linspace(2.0, 3.0, 30)
    loss_after = loss_before - 0.3
    assert paired_bootstrap(loss_before, loss_after, higher_is_better=False).verdict == "significant improvement"


def test_paired_bootstrap_false_positive_rate_under_the_null():
    rng = np.random.default_rng(3)
    rejections = 0
    for s in range(200):
        a = rng.normal(size=50)
        rejections += paired_bootstrap(a, a + rng.normal(size=50), resamples=500, seed=s).p_value < 0.05
    assert rejections / 200 <= 0.1  # nominal 0.05


def test_pairing_uses_item_order_not_just_the_means():
    # Same two sets of numbers; paired, b beats a on every item by 0.01 -> significant,
    # although the spread across items (0..1) dwarfs the difference.
    a = np.linspace(0, 1, 40)
    assert paired_bootstrap(a, a + 0.01).verdict == "significant improvement"


# --- McNemar -------------------------------------------------------------------------


def test_mcnemar_exact_matches_hand_computed_binomial():
    a, b = paired_table(n11=5, b01=1, b10=9, n00=5)
    r = mcnemar(a, b)
    # 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * (1 + 10) / 1024
    assert r.p_value == pytest.approx(22 / 1024) and round(r.p_value, 4) == 0.0215
    assert (r.b01, r.b10, r.test) == (1, 9, "mcnemar-exact")
    assert r.diff == pytest.approx(-8 / 20) and r.verdict == "significant regression"
    r2 = mcnemar(*paired_table(n11=5, b01=9, b10=1, n00=5))
    assert r2.p_value == pytest.approx(22 / 1024) and r2.verdict == "significant improvement"
    # 3 vs 5 discordant: 2 * (1 + 8 + 28 + 56) / 256
    assert mcnemar(*paired_table(10, 3, 5, 10)).p_value == pytest.approx(186 / 256)


def test_mcnemar_worked_example_chi2_and_newcombe_interval():
    # Complete response before/after consolidation therapy (Cavo et al. 2012), as worked in
    # Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables" (2017), ch. 8:
    # table [[59, 6], [16, 80]]; McNemar with continuity correction P = 0.055009;
    # Newcombe square-and-add 95% CI for the difference -0.1186 to -0.0046.
    a, b = paired_table(n11=59, b01=6, b10=16, n00=80)
    r = mcnemar(a, b, exact=False)
    assert r.test == "mcnemar-chi2" and r.p_value == pytest.approx(0.055009, abs=1e-6)
    assert round(r.diff, 4) == -0.0621
    assert (round(r.low, 4), round(r.high, 4)) == (-0.1186, -0.0046)
    assert r.ci_method == "newcombe-wilson"
    # 22 discordant pairs < 25: the default is the exact test.
    exact = mcnemar(a, b)
    assert exact.test == "mcnemar-exact"
    assert exact.p_value == pytest.approx(2 * sum(math.comb(22, i) for i in range(7)) / 2**22)
    assert exact.verdict == "no significant change"


def test_mcnemar_switches_to_chi2_at_25_discordant_pairs():
    assert mcnemar(*paired_table(10, 13, 12, 10)).test == "mcnemar-chi2"
    assert mcnemar(*paired_table(10, 12, 12, 10)).test == "mcnemar-exact"


def test_mcnemar_interval_is_near_wald_for_large_n():
    # Presidential approval (Agresti, Categorical Data Analysis): 794, 150, 86, 570.
    a, b = paired_table(n11=794, b01=86, b10=150, n00=570)
    r = mcnemar(a, b)
    n, d = 1600, (86 - 150) / 1600
    se = math.sqrt((86 + 150) / n - d * d) / math.sqrt(n)
    assert r.low == pytest.approx(d - 1.96 * se, abs=0.002)
    assert r.high == pytest.approx(d + 1.96 * se, abs=0.002)
    assert r.verdict == "significant regression"


def test_mcnemar_no_discordant_pairs():
    r = mcnemar([1, 0, 1, 1], [1, 0, 1, 1])
    assert r.p_value == 1.0 and r.diff == 0 and r.verdict == "no significant change"
    assert r.low < 0 < r.high  # four items cannot rule out a change


def test_mcnemar_rejects_non_binary():
    with pytest.raises(ValueError, match="0/1"):
        mcnemar([0.5, 1], [1, 1])


# --- compare and align ---------------------------------------------------------------


def test_compare_chooses_the_test():
    assert compare([1, 0, 1, 0], [True, True, False, True]).test == "mcnemar-exact"
    assert compare([0.1, 0.4, 0.3], [0.2, 0.5, 0.9]).test == "paired-bootstrap"


def test_compare_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="same items") as info:
        compare([1, 0, 1], [1, 0])
    assert isinstance(info.value, SyllabusError)
    assert "align" in str(info.value)


def test_align_pairs_by_id_and_reports_missing():
    before = [{"id": i, "acc": k % 2} for k, i in enumerate(["a", "b", "c", "d"])]
    after = [SimpleNamespace(id=i, acc=1) for i in ["d", "e", "b", "a"]]
    pairs = align(before, after)
    assert pairs.ids == ["a", "b", "d"]
    assert [r["id"] for r in pairs.a] == [r.id for r in pairs.b] == ["a", "b", "d"]
    assert pairs.only_a == ["c"] and pairs.only_b == ["e"] and not pairs.complete
    r = compare([x["acc"] for x in pairs.a], [x.acc for x in pairs.b])
    assert r.n == 3


def test_align_rejects_duplicate_or_missing_ids():
    with pytest.raises(ValueError, match="twice"):
        align([{"id": 1}, {"id": 1}], [{"id": 1}])
    with pytest.raises(ValueError, match="no 'uid'"):
        align([{"uid": 1}], [{"id": 1}], key="uid")


# --- Kendall tau ---------------------------------------------------------------------


def test_kendall_tau_hand_computed():
    perfect = kendall_tau([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert perfect.tau == 1.0 and perfect.p_value == pytest.approx(2 / 120) and perfect.method == "exact"
    assert kendall_tau([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]).tau == -1.0
    # y ties in pairs (1,2) and (3,4); the other 4 pairs are concordant: 4 / sqrt(6 * 4)
    tied = kendall_tau([1, 2, 3, 4], [1, 1, 2, 2])
    assert tied.tau == pytest.approx(4 / math.sqrt(24)) and tied.method == "asymptotic"


def test_kendall_tau_constant_sequence_is_undefined():
    r = kendall_tau([1, 2, 3], [5, 5, 5])
    assert math.isnan(r.tau) and r.to_dict()["tau"] is None


def test_kendall_tau_matches_scipy_with_ties():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4)
    for trial in range(60):
        n = int(rng.integers(3, 120))
        if trial % 3 == 0:  # no ties: exact p-values for n <= 33
            x, y = rng.permutation(n), rng.permutation(n) + 0.5 * np.arange(n)
        else:  # heavy ties, e.g. accuracies measured on few items
            x, y = rng.integers(0, 5, n), rng.integers(0, 4, n) + (trial % 2) * rng.integers(0, 3, n)
        ours, ref = kendall_tau(x, y), scipy_stats.kendalltau(x, y)
        if math.isnan(ref.statistic):
            assert math.isnan(ours.tau)
            continue
        assert ours.tau == pytest.approx(ref.statistic, abs=1e-12)
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-14)


def test_kendall_tau_checkpoint_stability():
    steps = [100, 200, 300, 400, 500, 600, 700, 800]
    stable = kendall_tau(steps, [0.21, 0.24, 0.26, 0.25, 0.31, 0.33, 0.36, 0.38])
    noisy = kendall_tau(steps, [0.30, 0.22, 0.35, 0.24, 0.31, 0.23, 0.29, 0.27])
    assert stable.tau > 0.8 and stable.p_value < 0.01
    assert abs(noisy.tau) < 0.3 and noisy.p_value > 0.3


# --- pass@k and maj@k ----------------------------------------------------------------


def test_pass_at_k_equals_brute_force_over_subsets():
    for n in range(1, 8):
        for c in range(n + 1):
            samples = [1] * c + [0] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(samples, k))
                brute = sum(any(s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12), (n, c, k)


def test_pass_at_k_vectorised_and_stable_for_large_n():
    out = pass_at_k(np.array([200, 200, 200]), np.array([0, 1, 200]), 1)
    assert out.tolist() == pytest.approx([0.0, 0.005, 1.0])
    # C(1000, 500) overflows floats; the product form does not.
    assert pass_at_k(1000, 3, 500) == pytest.approx(1 - math.comb(997, 500) / math.comb(1000, 500))
    assert pass_at_k([10, 20], 2, 1).tolist() == pytest.approx([0.2, 0.1])  # broadcasting


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="c <= n"):
        pass_at_k(4, 5, 1)


def test_majority_vote_and_maj_at_k():
    assert majority_vote(["7", None, "3", "3", None, None]) == "3"  # None does not vote
    assert majority_vote(["a", "b", "b", "a"]) == "a"  # tie: first seen wins
    assert majority_vote([None, None]) is None
    answers = ["12", "7", "7", "12", "12"]
    assert maj_at_k(answers, "12", k=1) == 1.0
    assert maj_at_k(answers, "12", k=3) == 0.0
    assert maj_at_k(answers, "12") == 1.0
    with pytest.raises(ValueError):
        maj_at_k(answers, "12", k=6)


# --- win rates -----------------------------------------------------------------------


def test_win_rate_counts_ties_half():
    w = win_rate([1, 1, 1, 0, 0.5, 0.5])
    assert w.value == pytest.approx(4 / 6) and w.discrete == pytest.approx(4 / 6)
    assert w.decisive == pytest.approx(3 / 4)
    assert (w.n_wins, w.n_losses, w.n_ties, w.n) == (3, 1, 2, 6)
    assert w.standard_error == pytest.approx(np.std([1, 1, 1, 0, 0.5, 0.5], ddof=1) / math.sqrt(6))


def test_win_rate_continuous_preferences_and_all_ties():
    w = win_rate([0.9, 0.8, 0.3])
    assert w.value == pytest.approx(2 / 3) and w.discrete == pytest.approx(2 / 3) and w.n_wins == 2
    assert math.isnan(win_rate([0.5, 0.5]).decisive)
    assert win_rate([0.5, 0.5]).to_dict()["decisive"] is None
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        win_rate([2, 1])


def test_lc_win_rate_equals_raw_when_lengths_are_equal():
    rng = np.random.default_rng(5)
    outcomes = rng.choice([0.0, 0.5, 1.0], size=100, p=[0.4, 0.1, 0.5])
    lengths = rng.integers(50, 500, size=100)
    r = length_controlled_win_rate(outcomes, lengths, lengths, resamples=100)
    assert r.value == r.raw == pytest.approx(outcomes.mean()) and r.beta == 0.0
    assert r.low <= r.value <= r.high


def simulated_judge(seed: int, n: int, length_bias: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B truly wins 40% of the time; its answers run about 150 characters longer, and the
    judge's log-odds for B rise by ``length_bias`` * tanh(standardised length gap)."""
    rng = np.random.default_rng(seed)
    len_a = rng.normal(600, 150, n).clip(50)
    len_b = len_a + rng.normal(150, 200, n)
    gap = len_b - len_a
    logit = math.log(0.4 / 0.6) + length_bias * np.tanh(gap / gap.std(ddof=1))
    outcomes = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return outcomes, len_a, len_b


def test_lc_win_rate_removes_a_planted_length_bias():
    outcomes, len_a, len_b = simulated_judge(seed=6, n=800, length_bias=1.5)
    r = length_controlled_win_rate(outcomes, len_a, len_b, resamples=200)
    assert r.raw > 0.55  # the verbose answers fool the judge
    assert abs(r.value - 0.4) < abs(r.raw - 0.4) / 3
    assert r.low < 0.4 < r.high and r.beta > 0.5


def test_lc_win_rate_corrects_a_judge_that_sometimes_just_picks_the_longer_answer():
    # Not the fitted model's shape: 30% of the time the judge picks the longer answer,
    # otherwise it reports the true winner (B in 40% of items).
    rng = np.random.default_rng(7)
    n = 800
    len_a = rng.normal(600, 150, n)
    len_b = len_a + rng.normal(150, 200, n)
    truth = (rng.random(n) < 0.4).astype(float)
    outcomes = np.where(rng.random(n) < 0.3, (len_b > len_a).astype(float), truth)
    r = length_controlled_win_rate(outcomes, len_a, len_b, resamples=100)
    assert abs(r.value - truth.mean()) < abs(r.raw - truth.mean())


def test_lc_win_rate_invents_no_bias_when_the_judge_ignores_length():
    outcomes, len_a, len_b = simulated_judge(seed=8, n=800, length_bias=0.0)
    r = length_controlled_win_rate(outcomes, len_a, len_b, resamples=100)
    assert abs(r.value - r.raw) < 0.03 and abs(r.beta) < 0.3


def test_lc_win_rate_stays_finite_when_length_decides_everything():
    rng = np.random.default_rng(9)
    len_a, len_b = rng.integers(100, 900, 200), rng.integers(100, 900, 200)
    r = length_controlled_win_rate((len_b > len_a).astype(float), len_a, len_b, resamples=50)
    assert all(math.isfinite(v) for v in (r.value, r.low, r.high, r.theta, r.beta))
    json.dumps(r.to_dict(), allow_nan=False)


def test_lc_win_rate_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same items"):
        length_controlled_win_rate([1, 0, 1], [10, 20], [30, 40, 50])
