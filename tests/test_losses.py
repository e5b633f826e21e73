"""Loss library: each loss against an independent plain-Python computation, limits, ablations,
numerical stability, prediction rules and registry errors."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from docrobust.base import DocrobustError
from docrobust.models.losses import LOSSES, build_loss, get_label, register_loss

# Two pairs x three relations. Pair 0 has relations 1 and 3, pair 1 has none (column 0 set).
Z = [[0.5, 1.5, -0.3, 0.2],
     [0.0, -1.0, 0.7, 2.0]]
Y = [[0, 1, 0, 1],
     [1, 0, 0, 0]]


def tensors(z=Z, y=Y):
    return torch.tensor(z, dtype=torch.float64, requires_grad=True), torch.tensor(y, dtype=torch.float64)


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def softplus(x):
    return math.log1p(math.exp(x))


def lse(xs):
    return math.log(sum(math.exp(x) for x in xs))


def relation_sets(row):
    pos = [r for r in range(1, len(row)) if row[r]]
    return pos, [r for r in range(1, len(row)) if not row[r]]


# ----------------------------------------------------------------------------- independent references

def ref_atl(z, y):
    total = 0.0
    for zi, yi in zip(z, y):
        pos, neg = relation_sets(yi)
        total += sum(lse([zi[0]] + [zi[c] for c in pos]) - zi[r] for r in pos)
        total += lse([zi[0]] + [zi[c] for c in neg]) - zi[0]
    return total / len(z)


def ref_cmm(z, y, m=0.2, gamma=1.4, counts=None, scale=None, weighted=True):
    scale = gamma if scale is None else scale
    n_min = min(c for c in counts if c > 0) if counts else None
    total = 0.0
    for zi, yi in zip(z, y):
        cells = {True: [], False: []}
        for r in range(1, len(zi)):
            sign = 1 if yi[r] else -1
            s = zi[r] - zi[0]
            m_r = m * (n_min / counts[r - 1]) ** 0.25 if counts and counts[r - 1] > 0 else m
            target = math.log((0.5 + m_r) / (0.5 - m_r))
            w = (1 - sigmoid(scale * sign * s)) ** gamma if weighted else 1.0
            cells[bool(yi[r])].append(w * softplus(target - scale * sign * s))
        total += sum(sum(c) / len(c) for c in cells.values() if c)
    return total / len(z)


def ref_afl(z, y, gamma=1.0):
    total = 0.0
    for zi, yi in zip(z, y):
        pos, neg = relation_sets(yi)
        for r in pos:
            p = sigmoid(zi[r] - zi[0])
            total += -(1 + (1 - p) ** gamma) * math.log(p)
        total += lse([zi[0]] + [zi[c] for c in neg]) - zi[0]
    return total / len(z)


def ref_balanced_softmax(z, y):
    total = 0.0
    for zi, yi in zip(z, y):
        total += lse([0.0] + [zi[c] for c in range(len(zi)) if not yi[c]])
        total += lse([0.0] + [-zi[c] for c in range(len(zi)) if yi[c]])
    return total / len(z)


def ref_bce(z, y):
    cells = [-math.log(sigmoid(zi[r])) if yi[r] else -math.log(1 - sigmoid(zi[r]))
             for zi, yi in zip(z, y) for r in range(1, len(zi))]
    return sum(cells) / len(cells)


def ref_pu_risks(z, y, prior=None, scale=3.0, margin=1.0, shift=False):
    """Per relation (positive risk, negative risk) of SSR-PU's PU / S-PU estimator."""
    def mean(xs):
        return sum(xs) / len(xs) if xs else 0.0
    risks = []
    for r in range(1, len(z[0])):
        s_pos = [zi[r] - zi[0] for zi, yi in zip(z, y) if yi[r]]
        s_unl = [zi[r] - zi[0] for zi, yi in zip(z, y) if not yi[r]]
        freq = len(s_pos) / len(z)
        pi = min(prior if prior is not None else scale * freq, 1 - 1e-6)  # documented clamp below 1
        u_neg = mean([0.25 * (-s - margin) ** 2 for s in s_unl])
        p_neg = mean([0.25 * (-s - margin) ** 2 for s in s_pos])
        p_pos = mean([0.25 * (s - margin) ** 2 for s in s_pos])
        if shift:
            pi_u = (pi - freq) / (1 - freq)
            risk_neg = (1 - pi) / (1 - pi_u) * u_neg - (pi_u - pi_u * pi) / (1 - pi_u) * p_neg
        else:
            risk_neg = u_neg - pi * p_neg
        risks.append((pi * math.sqrt((1 - pi) / pi) * p_pos if pi > 0 else 0.0, risk_neg))
    return risks


def ref_pu(z, y, **options):
    return sum(-neg if neg < 0 else pos + neg for pos, neg in ref_pu_risks(z, y, **options))


@pytest.mark.parametrize("name, options, expected", [
    ("atl", {}, ref_atl(Z, Y)),
    ("cmm", {}, ref_cmm(Z, Y)),
    ("cmm", {"m": 0.3, "gamma": 2.0, "class_counts": [10, 0, 160]}, ref_cmm(Z, Y, 0.3, 2.0, [10, 0, 160])),
    ("cmm-fixed-margin", {"class_counts": [10, 40, 160]}, ref_cmm(Z, Y)),
    ("cmm-no-concentration", {"gamma": 1.6}, ref_cmm(Z, Y, gamma=1.6, scale=1.0, weighted=False)),
    ("cmm-no-margin", {"class_counts": [10, 40, 160]}, ref_cmm(Z, Y, m=0.0)),
    ("cmm+atl", {}, ref_cmm(Z, Y) + ref_atl(Z, Y)),
    ("afl", {}, ref_afl(Z, Y)),
    ("afl", {"gamma": 2.0}, ref_afl(Z, Y, 2.0)),
    ("balanced-softmax", {}, ref_balanced_softmax(Z, Y)),
    ("bce", {}, ref_bce(Z, Y)),
    ("pu", {}, ref_pu(Z, Y)),
    ("pu", {"prior_scale": 1.5}, ref_pu(Z, Y, scale=1.5)),
    ("pu", {"prior": 0.3, "margin": 0.25}, ref_pu(Z, Y, prior=0.3, margin=0.25)),
    ("pu", {"shift": True, "prior_scale": 1.5}, ref_pu(Z, Y, scale=1.5, shift=True)),
])
def test_loss_matches_plain_python(name, options, expected):
    z, y = tensors()
    assert build_loss(name, **options)(z, y).item() == pytest.approx(expected, rel=1e-9)


def test_pu_negative_risk_below_zero_is_pushed_back_up():
    # Unlabeled scores far below -margin give a tiny negative risk, positives far above: risk_neg can go < 0.
    z = [[0.0, 5.0, -0.9], [0.0, -0.9, -0.9], [0.0, -0.9, 5.0]]
    y = [[0, 1, 0], [1, 0, 0], [0, 0, 1]]
    assert any(neg < 0 for _, neg in ref_pu_risks(z, y, prior=0.5))
    expected = ref_pu(z, y, prior=0.5)
    zt, yt = tensors(z, y)
    assert build_loss("pu", prior=0.5)(zt, yt).item() == pytest.approx(expected, rel=1e-9)


def test_pu_training_counts_equal_explicit_prior():
    z, y = tensors()
    counts, n_pairs = [3, 1, 7], 200
    from_counts = build_loss("pu", class_counts=counts, n_pairs=n_pairs)(z, y)
    explicit = build_loss("pu", prior=[3.0 * c / n_pairs for c in counts])(z, y)
    assert from_counts.item() == pytest.approx(explicit.item(), rel=1e-6)
    assert from_counts.item() != pytest.approx(build_loss("pu")(z, y).item(), rel=1e-3)


def test_cmm_limit_is_plain_margin_softplus():
    """m = 0, gamma = 1, no weight: per pair mean softplus(-y s) over positives plus over negatives."""
    z, y = tensors()
    expected = 0.0
    for zi, yi in zip(Z, Y):
        pos, neg = relation_sets(yi)
        expected += sum(softplus(-(zi[r] - zi[0])) for r in pos) / len(pos) if pos else 0.0
        expected += sum(softplus(zi[r] - zi[0]) for r in neg) / len(neg)
    loss = build_loss("cmm", m=0.0, gamma=1.0, weight="none")(z, y)
    assert loss.item() == pytest.approx(expected / 2, rel=1e-12)


def test_cmm_reductions_mean_and_sum():
    z, y = tensors()
    cells = []
    for zi, yi in zip(Z, Y):
        cells += [softplus(-(zi[r] - zi[0]) * (1 if yi[r] else -1)) for r in range(1, 4)]
    options = {"m": 0.0, "gamma": 1.0, "weight": "none"}
    assert build_loss("cmm", reduction="sum", **options)(z, y).item() == pytest.approx(sum(cells))
    assert build_loss("cmm", reduction="mean", **options)(z, y).item() == pytest.approx(sum(cells) / 6)


def test_cmm_pair_sum_reduction_sums_each_pairs_negatives():
    """reduction="pair-sum": per pair mean softplus over positives plus the sum over negatives, mean over pairs."""
    z, y = tensors()
    expected = 0.0
    for zi, yi in zip(Z, Y):
        pos, neg = relation_sets(yi)
        expected += sum(softplus(-(zi[r] - zi[0])) for r in pos) / len(pos) if pos else 0.0
        expected += sum(softplus(zi[r] - zi[0]) for r in neg)
    loss = build_loss("cmm", m=0.0, gamma=1.0, weight="none", reduction="pair-sum")(z, y)
    assert loss.item() == pytest.approx(expected / 2, rel=1e-12)


# ----------------------------------------------------------------------------- ablations change what they say

def test_fixed_margin_equals_cmm_iff_counts_are_equal():
    z, y = tensors()
    equal, unequal = [50, 50, 50], [5, 50, 500]
    assert build_loss("cmm-fixed-margin", class_counts=equal)(z, y).item() == pytest.approx(
        build_loss("cmm", class_counts=equal)(z, y).item(), rel=1e-12)
    assert build_loss("cmm-fixed-margin", class_counts=unequal)(z, y).item() != pytest.approx(
        build_loss("cmm", class_counts=unequal)(z, y).item(), rel=1e-6)


def test_no_concentration_is_gamma_one_without_weight():
    z, y = tensors()
    ablation = build_loss("cmm-no-concentration", gamma=1.6)(z, y).item()
    assert ablation == pytest.approx(build_loss("cmm", gamma=1.0, weight="none")(z, y).item(), rel=1e-12)
    assert ablation != pytest.approx(build_loss("cmm", gamma=1.6)(z, y).item(), rel=1e-6)


def test_no_margin_and_plus_atl_are_one_keyword_each():
    z, y = tensors()
    counts = [5, 50, 500]
    assert build_loss("cmm-no-margin", class_counts=counts)(z, y).item() == pytest.approx(
        build_loss("cmm", m=0.0, class_counts=counts)(z, y).item(), rel=1e-12)
    assert build_loss("cmm+atl")(z, y).item() == pytest.approx(
        build_loss("cmm")(z, y).item() + build_loss("atl")(z, y).item(), rel=1e-12)


def test_rare_relations_get_the_larger_margin():
    """Same scores, but the frequent relation's margin shrinks by (n_min / n)^(1/4): a smaller loss."""
    z, y = tensors([[0.0, 0.4, 0.4]], [[0, 1, 1]])
    one_rare = build_loss("cmm", class_counts=[1, 10_000])(z, y).item()
    both_rare = build_loss("cmm", class_counts=[1, 1])(z, y).item()
    assert 0 < one_rare < both_rare


def test_detach_weight_changes_gradient_not_value():
    z, y = tensors()
    detached, live = build_loss("cmm"), build_loss("cmm", detach_weight=False)
    (g1,) = torch.autograd.grad(detached(z, y), z)
    (g2,) = torch.autograd.grad(live(z, y), z)
    assert detached(z, y).item() == pytest.approx(live(z, y).item(), rel=1e-12)
    assert not torch.allclose(g1, g2)


# ----------------------------------------------------------------------------- behaviour shared by all losses

ALL = sorted(LOSSES)


@pytest.mark.parametrize("name", ALL)
def test_gradients_finite_at_extreme_logits(name):
    gen = torch.Generator().manual_seed(1)
    z = (torch.randint(0, 2, (6, 5), generator=gen) * 2 - 1).float() * 1e4
    z.requires_grad_(True)
    y = torch.zeros(6, 5)
    y[0, 1] = y[0, 3] = y[1, 2] = y[2, 4] = 1
    y[3:, 0] = 1
    loss = build_loss(name)(z, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert z.grad.abs().sum() > 0 or loss.item() == 0


@pytest.mark.parametrize("name", ALL)
def test_inputs_untouched_and_bool_labels_accepted(name):
    z, y = tensors()
    z0, y0 = z.detach().clone(), y.clone()
    loss = build_loss(name)
    value = loss(z, y)
    assert torch.equal(z.detach(), z0) and torch.equal(y, y0)
    assert loss(z, y.bool()).item() == pytest.approx(value.item(), rel=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_empty_batch_gives_zero(name):
    z = torch.zeros(0, 4, requires_grad=True)
    assert build_loss(name)(z, torch.zeros(0, 4)).item() == 0.0


@pytest.mark.parametrize("name", ALL)
def test_loss_follows_the_logits_device(name):
    """Buffers (margins, priors) must follow the logits, as trainers rarely move loss modules.
    The meta device refuses any mix with CPU tensors, standing in for a GPU here."""
    z, y = torch.randn(5, 4, device="meta"), torch.zeros(5, 4, device="meta")
    stats = {"class_counts": [1, 2, 3], "n_pairs": 10}
    loss = build_loss(name, **{k: stats[k] for k in LOSSES[name].train_stats})
    assert loss(z, y).device.type == "meta" and loss.predict(z, 2).device.type == "meta"


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(ALL),
       z=st.lists(st.lists(st.floats(-50, 50), min_size=5, max_size=5), min_size=1, max_size=6),
       y=st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=6, max_size=6))
def test_losses_finite_and_non_negative(name, z, y):
    logits = torch.tensor(z, requires_grad=True)
    rel = torch.tensor(y[:len(z)], dtype=torch.float32)
    labels = torch.cat([(rel.sum(1, keepdim=True) == 0).float(), rel], dim=1)
    loss = build_loss(name)(logits, labels)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() >= 0 and torch.isfinite(logits.grad).all()


def test_atl_decreases_as_positive_moves_above_threshold():
    values = []
    for z1 in (-2.0, -0.5, 0.0, 0.5, 2.0, 5.0):
        z, y = tensors([[0.0, z1, -1.0]], [[0, 1, 0]])
        values.append(build_loss("atl")(z, y).item())
    assert all(a > b for a, b in zip(values, values[1:]))


# ----------------------------------------------------------------------------- prediction

def test_get_label_threshold_and_top_k():
    logits = torch.tensor([[0.0, 1.0, 2.0, -1.0, 3.0],    # three relations above TH
                           [5.0, 1.0, 2.0, -1.0, 3.0],    # none above TH
                           [2.0, 3.0, 1.0, 0.5, 2.5]])    # two above TH
    assert get_label(logits, top_k=0).tolist() == [[0, 1, 1, 0, 1], [1, 0, 0, 0, 0], [0, 1, 0, 0, 1]]
    assert get_label(logits, top_k=2).tolist() == [[0, 0, 1, 0, 1], [1, 0, 0, 0, 0], [0, 1, 0, 0, 1]]
    assert get_label(logits, top_k=1).tolist() == [[0, 0, 0, 0, 1], [1, 0, 0, 0, 0], [0, 1, 0, 0, 0]]
    assert get_label(logits, top_k=99).tolist() == get_label(logits, top_k=0).tolist()
    assert get_label(logits).shape == logits.shape


@pytest.mark.parametrize("name", ["balanced-softmax", "bce"])
def test_zero_threshold_losses_predict_above_zero(name):
    logits = torch.tensor([[3.0, 0.5, -0.2, 1.0], [-1.0, -0.5, -2.0, -0.1]])
    assert build_loss(name).predict(logits, top_k=0).tolist() == [[0, 1, 0, 1], [1, 0, 0, 0]]
    assert build_loss(name).predict(logits, top_k=1).tolist() == [[1, 0, 0, 0], [1, 0, 0, 0]]


@pytest.mark.parametrize("name", ["atl", "cmm", "afl", "pu"])
def test_threshold_class_losses_predict_with_get_label(name):
    logits = torch.randn(7, 6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(build_loss(name).predict(logits, top_k=2), get_label(logits, top_k=2))


# ----------------------------------------------------------------------------- registry and option errors

def test_unknown_loss_lists_known_names():
    with pytest.raises(DocrobustError, match=r"unknown loss 'focal'; known: afl, atl, balanced-softmax"):
        build_loss("focal")
    with pytest.raises(DocrobustError, match=r"unknown loss 'cmmm' \(did you mean 'cmm'\?\); known: afl, atl"):
        build_loss("cmmm")


def test_unknown_option_or_a_value_of_the_wrong_type_names_it_and_the_loss():
    with pytest.raises(DocrobustError, match=r"loss 'atl' option gamma: no such option; loss 'atl' takes no options"):
        build_loss("atl", gamma=2.0)
    with pytest.raises(DocrobustError, match=r"loss 'cmm' option margins: no such option \(did you mean 'margin'\?\); "
                                          r"loss 'cmm' takes m, gamma"):
        build_loss("cmm", margins="class")
    with pytest.raises(DocrobustError, match=r"loss 'pu' option prior: expected float or list of float or null, got 'high'"):
        build_loss("pu", prior="high")


def test_pinned_option_of_an_ablation_is_refused():
    with pytest.raises(TypeError, match=r"'cmm-no-margin' fixes m=0.0; use 'cmm'"):
        build_loss("cmm-no-margin", m=0.3)


@pytest.mark.parametrize("options, message", [
    ({"m": 0.5}, "0 <= m < 0.5"), ({"m": -0.1}, "0 <= m < 0.5"), ({"gamma": 0.0}, "gamma must be > 0"),
    ({"margin": "per-class"}, "margin must be one of"), ({"reduction": "max"}, "reduction must be one of"),
    ({"class_counts": [1, -2, 3]}, "non-negative"),
])
def test_cmm_option_validation(options, message):
    with pytest.raises(ValueError, match=message):
        build_loss("cmm", **options)


def test_per_relation_options_must_match_columns():
    z, y = tensors()
    with pytest.raises(ValueError, match="class_counts has 2 entries but logits have 3 relation columns"):
        build_loss("cmm", class_counts=[1, 2])(z, y)
    with pytest.raises(ValueError, match="prior has 2 entries"):
        build_loss("pu", prior=[0.1, 0.2])(z, y)
    with pytest.raises(ValueError, match="class_counts and n_pairs"):
        build_loss("pu", class_counts=[1, 2, 3])
    with pytest.raises(ValueError, match="labels .* must have the shape of logits"):
        build_loss("atl")(z, y[:, :3])


def test_train_stats_are_accepted_options():
    stats = {"class_counts": [4, 1, 9], "n_pairs": 100}
    z, y = tensors()
    for name, cls in LOSSES.items():
        loss = build_loss(name, **{k: stats[k] for k in cls.train_stats})
        assert torch.isfinite(loss(z, y))
    assert LOSSES["cmm"].train_stats and LOSSES["pu"].train_stats and not LOSSES["atl"].train_stats


def test_describe_and_register():
    described = {name: (summary, options) for name, summary, options in LOSSES.describe()}
    assert set(described) == set(LOSSES) >= {"atl", "cmm", "cmm-no-concentration", "cmm-fixed-margin",
                                             "cmm-no-margin", "cmm+atl", "afl", "balanced-softmax", "bce", "pu"}
    assert all(summary and "\n" not in summary for summary, _ in described.values())
    assert "m" in described["cmm"][1] and "m" not in described["cmm-no-margin"][1]   # pinned options are not options
    with pytest.raises(DocrobustError, match="loss 'atl' from .* is already registered by docrobust.models.losses"):
        register_loss("atl")(type("Again", (), {}))
