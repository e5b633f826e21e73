"""Statistics of docrobust.reports against cases with known answers and against scipy."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from docrobust.corpus.score import prf, score
from docrobust.reports.stats import Resamples, f1_difference, holm, normalized_auc, paired_test, t_halfwidth, wilcoxon_p


def draw_docs(rng: np.random.Generator, n_docs: int, recall: float, fp_mean: float, n_gold=None) -> np.ndarray:
    """(D, 4) per-document counts: n_gold ~ 1 + Poisson(10), tp ~ Bin(n_gold, recall), fp ~ Poisson(fp_mean)."""
    n_gold = 1 + rng.poisson(10, n_docs) if n_gold is None else n_gold
    tp = rng.binomial(n_gold, recall)
    return np.stack([tp, tp + rng.poisson(fp_mean, n_docs), n_gold, rng.binomial(tp, 0.3)], axis=1).astype(float)


def test_prf_hand_computed_values_for_one_score_and_many():
    # tp 3 of 4 predictions, 6 gold, 1 correct fact seen in training:
    # P = 3/4, R = 1/2, F1 = 2·(3/8)/(5/4) = 3/5; Ign P = 2/3 (official), Ign F1 = 2·IgnP·R/(IgnP + R) = 4/7
    one = prf([3, 4, 6, 1])
    assert (one["precision"], one["recall"], one["f1"]) == (0.75, 0.5, pytest.approx(0.6, abs=1e-15))
    assert one["ign_precision"] == pytest.approx(2 / 3, abs=1e-15)
    assert one["ign_f1"] == pytest.approx(4 / 7, abs=1e-15)
    assert prf([3, 4, 6, 1], "atlop")["ign_precision"] == pytest.approx(2 / 3.00001, abs=1e-15)  # ATLOP's variant
    # no predictions / no gold: every score 0, never NaN; a stack of rows gives the row-wise values
    many = prf(np.array([[0, 0, 5, 0], [0, 0, 0, 0], [3, 4, 6, 1], [2, 2, 2, 2]]))
    assert many["f1"].shape == (4,) and not np.isnan(np.stack(list(many.values()))).any()
    assert many["f1"].tolist() == [0.0, 0.0, pytest.approx(0.6), 1.0] and many["ign_f1"][3] == 0.0
    assert many["precision"][2] == one["precision"] and many["ign_f1"][2] == one["ign_f1"]


def test_the_scorer_reports_the_same_arithmetic(small_docs):
    """score() on hand-made predictions: 2 of 3 predictions right, 6 gold labels -> P 2/3, R 1/3, F1 4/9."""
    preds = [{"title": "A", "h_idx": 0, "t_idx": 1, "r": "P1"}, {"title": "B", "h_idx": 3, "t_idx": 4, "r": "P3"},
             {"title": "C", "h_idx": 0, "t_idx": 1, "r": "P2"}]
    result = score(small_docs, preds)
    assert (result["tp"], result["n_pred"], result["n_gold"]) == (2, 3, 6)
    assert (result["precision"], result["recall"]) == (pytest.approx(2 / 3), pytest.approx(1 / 3))
    assert result["f1"] == pytest.approx(4 / 9, abs=1e-15) and type(result["f1"]) is float


def test_identical_systems_are_not_different():
    docs = draw_docs(np.random.default_rng(2), 80, 0.5, 3)[None]  # (S=1, D, 4)
    test = paired_test(docs, docs.copy(), Resamples.draw(80, 2000, seed=0))
    assert test.delta == 0 and test.ci_low == 0 and test.ci_high == 0
    assert test.p_bootstrap == 1 and test.p_permutation == 1


def test_a_system_better_on_every_document_is_significant():
    rng = np.random.default_rng(3)
    b = draw_docs(rng, 60, 0.4, 4)
    a = b.copy()
    a[:, 0] += 1  # one more true positive per document, with the same false positives
    a[:, 1] += 1
    a[:, 2] = np.maximum(a[:, 2], a[:, 0])
    b[:, 2] = a[:, 2]
    test = paired_test(a[None], b[None], Resamples.draw(60, 5000, seed=1))
    assert test.delta > 0 and test.ci_low > 0
    assert test.p_bootstrap < 0.01 and test.p_permutation < 0.01
    reverse = paired_test(b[None], a[None], Resamples.draw(60, 5000, seed=1))
    assert reverse.delta == pytest.approx(-test.delta) and reverse.ci_high < 0 and reverse.p_bootstrap < 0.01


def test_several_seeds_average_the_per_seed_differences():
    rng = np.random.default_rng(4)
    a = np.stack([draw_docs(rng, 40, 0.6, 3) for _ in range(3)])
    b = np.stack([draw_docs(rng, 40, 0.5, 3) for _ in range(3)])
    test = paired_test(a, b, Resamples.draw(40, 200, seed=0))
    per_seed = [prf(a[s].sum(0))["f1"] - prf(b[s].sum(0))["f1"] for s in range(3)]
    assert test.delta == pytest.approx(np.mean(per_seed), abs=1e-12)


def test_unknown_title_predictions_lower_precision_in_every_resample():
    docs = draw_docs(np.random.default_rng(5), 30, 0.5, 2)[None]
    offset = np.array([[0.0, 25.0, 0.0, 0.0]])
    test = paired_test(docs, docs.copy(), Resamples.draw(30, 500, seed=0), offset_a=offset)
    expected = prf(docs[0].sum(0) + offset[0])["f1"] - prf(docs[0].sum(0))["f1"]
    assert test.delta == pytest.approx(expected) and test.ci_high < 0


def test_bootstrap_interval_covers_the_true_difference_at_its_nominal_rate():
    """200 datasets from a known model; the 90% percentile interval must cover the population ΔF1.

    Population micro scores are ratios of expected counts: E[n_gold] = 11, E[tp] = 11 r,
    E[n_pred] = 11 r + 3. Coverage of 200 independent intervals is Binomial(200, 0.9): sd 0.021,
    so [0.83, 0.97] is about ±3.3 sd around the nominal 0.90 (false alarm ~1e-3 for an exact method).
    """
    def f1(r: float) -> float:
        p, rec = 11 * r / (11 * r + 3), r
        return 2 * p * rec / (p + rec)

    truth = f1(0.6) - f1(0.5)
    rng = np.random.default_rng(6)
    n_docs, covered = 100, 0
    for sim in range(200):
        n_gold = 1 + rng.poisson(10, n_docs)  # both systems see the same documents: a paired design
        a, b = draw_docs(rng, n_docs, 0.6, 3, n_gold), draw_docs(rng, n_docs, 0.5, 3, n_gold)
        test = paired_test(a[None], b[None], Resamples.draw(n_docs, 400, seed=sim), confidence=0.90)
        covered += test.ci_low <= truth <= test.ci_high
    assert 0.83 <= covered / 200 <= 0.97


def test_permutation_p_values_are_uniform_under_the_null():
    """Exchangeable systems: P(p <= 0.1) should be 0.1; 200 tests give sd 0.021, band ±3 sd."""
    rng = np.random.default_rng(7)
    p_values = []
    for sim in range(200):
        n_gold = 1 + rng.poisson(10, 50)
        a, b = draw_docs(rng, 50, 0.5, 3, n_gold), draw_docs(rng, 50, 0.5, 3, n_gold)
        p_values.append(paired_test(a[None], b[None], Resamples.draw(50, 200, seed=sim)).p_permutation)
    p_values = np.array(p_values)
    assert 0.036 <= np.mean(p_values <= 0.1) <= 0.164
    assert 0.4 <= np.median(p_values) <= 0.6


def _scipy_statistic(table: np.ndarray):
    """F1 difference of index samples into the stacked (2D, 4) count table, as scipy's statistic."""
    def statistic(x, y=None, axis=-1):
        if y is None:  # bootstrap: x indexes documents of both systems at once
            y = x + table.shape[0] // 2
        return f1_difference(table[x].sum(axis=-2)[..., None, :], table[y].sum(axis=-2)[..., None, :])
    return statistic


def test_vectorized_tests_agree_with_scipy_index_trick():
    rng = np.random.default_rng(8)
    n_gold = 1 + rng.poisson(10, 60)
    a, b = draw_docs(rng, 60, 0.55, 3, n_gold), draw_docs(rng, 60, 0.5, 3, n_gold)
    table, idx = np.concatenate([a, b]), np.arange(60)
    ours = paired_test(a[None], b[None], Resamples.draw(60, 20_000, seed=0), confidence=0.9)

    boot = scipy_stats.bootstrap((idx,), _scipy_statistic(table), n_resamples=20_000, confidence_level=0.9,
                                 method="percentile", rng=np.random.default_rng(1), vectorized=True)
    assert ours.ci_low == pytest.approx(boot.confidence_interval.low, abs=0.004)
    assert ours.ci_high == pytest.approx(boot.confidence_interval.high, abs=0.004)

    perm = scipy_stats.permutation_test((idx, idx + 60), _scipy_statistic(table), permutation_type="samples",
                                        n_resamples=20_000, rng=np.random.default_rng(2), vectorized=True)
    assert 0.05 < perm.pvalue < 0.95  # a moderate effect, where Monte Carlo agreement is informative
    assert ours.p_permutation == pytest.approx(perm.pvalue, abs=0.02)


def test_wilcoxon_known_values():
    assert wilcoxon_p([0.5, 0.6, 0.7], [0.5, 0.6, 0.7]) == 1.0
    # 6 positive differences: exact two-sided p = 2 / 2^6.
    assert wilcoxon_p(np.arange(6) + 1.0, np.zeros(6)) == pytest.approx(2 / 64)


def test_holm_against_a_hand_computed_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    assert np.allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.5, np.nan, 0.4])
    assert np.isnan(adjusted[1]) and np.allclose(adjusted[[0, 2]], [0.8, 0.8])
    assert holm([0.9, 0.8]).max() == 1.0
    assert holm([]).size == 0


def test_normalized_auc():
    assert normalized_auc([0.0, 0.1, 0.3, 0.5], [0.62] * 4) == pytest.approx(0.62)
    # linear from 0.6 at r=0 to 0.2 at r=0.4: average 0.4, in any input order
    assert normalized_auc([0.4, 0.0, 0.2], [0.2, 0.6, 0.4]) == pytest.approx(0.4)
    # uneven rates weigh by interval width: (0.1 * (0.6+0.5)/2 + 0.3 * (0.5+0.5)/2) / 0.4
    assert normalized_auc([0.0, 0.1, 0.4], [0.6, 0.5, 0.5]) == pytest.approx((0.055 + 0.15) / 0.4)
    assert np.isnan(normalized_auc([0.0], [0.5]))


def test_t_halfwidth():
    assert t_halfwidth(np.array([1.0]), np.array([4]))[0] == pytest.approx(3.182446305 / 2)
    assert np.isnan(t_halfwidth(np.array([0.0]), np.array([1]))[0])
