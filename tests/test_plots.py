"""The plots show what the verdicts decide: the control arm beside base and pruned, 95% intervals, the claim's bound
as a band, an accuracy axis from 0 to 100%, panels in a grid and a legend entry for every line."""

import itertools

import matplotlib
import pytest

from robustness import plots

matplotlib.use("Agg")
ARCHS = ["densenet121", "mobilenet_v1", "resnet50", "vgg19"]
CRITERIA = ["geometric_median", "l1", "l2"]
ATTACKS = ["apgd", "bim", "cw", "deepfool", "fgsm", "pgd", "uap"]


def _acc(value: float) -> dict:
    return {"value": value, "lo": value - 0.03, "hi": value + 0.02, "n": 256}


def _accuracy_records(claim="adv_within_1pp", x_axis="ratio", xs=(0.1, 0.2, 0.3, 0.4, 0.5), attacks=ATTACKS):
    records = []
    for arch, criterion, attack, x in itertools.product(ARCHS, CRITERIA, attacks, xs):
        diff = {"value": -0.01, "lo": -0.04, "hi": 0.02}
        rec = {"claim": claim, "arch": arch, "criterion": criterion, "attack": attack, "source": "surrogate",
               "ratio": 0.5, "eps": 8 / 255, "n": 256, "verdict": "inconclusive", "base": _acc(0.88),
               "control": _acc(0.87), "pruned": _acc(0.86), "pruned_minus_control": diff, "difference": diff}
        rec[x_axis] = x
        records.append(rec)
    return records


@pytest.fixture
def figures(monkeypatch):
    """The figures drawn, kept open instead of saved."""
    drawn = []

    def keep(fig, path, title):
        fig.suptitle(title)
        drawn.append(fig)
        return path
    monkeypatch.setattr(plots, "_save", keep)
    yield drawn
    import matplotlib.pyplot as plt

    plt.close("all")


def _panels(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def _legend_labels(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_accuracy_against_ratio_shows_the_control_arm_and_intervals_on_the_whole_scale(figures, tmp_path):
    plots._accuracy_vs_ratio(_accuracy_records(), tmp_path / "a.png")
    fig = figures[0]
    panels = _panels(fig)
    assert [ax.get_title() for ax in panels] == ARCHS
    assert {ax.get_subplotspec().colspan.start for ax in panels} == {0, 1}  # 2 x 2, not 4 in a row
    assert all(ax.get_ylim() == (0, 102) for ax in panels)  # never autoscaled to the data's 86-88%
    labels = _legend_labels(fig)
    assert "control arm (no pruning)" in labels and "base (band: 95% interval)" in labels
    assert all(f"pruned, {c}" in labels for c in CRITERIA) and len(labels) == len(set(labels))
    # every series has error bars: the control arm and the three criteria, in each panel
    assert all(len(ax.containers) == 1 + len(CRITERIA) for ax in panels)


def test_pruned_minus_control_is_drawn_against_the_bound_as_a_band(figures, tmp_path):
    plots._difference_panels(_accuracy_records(), tmp_path / "d.png", claim_id="adv_within_1pp")
    fig = figures[0]
    panels = _panels(fig)
    assert len(panels) == len(ARCHS) * len(CRITERIA)
    assert max(ax.get_subplotspec().colspan.start for ax in panels) == len(CRITERIA) - 1  # wrapped: 4 rows of 3
    for ax in panels:
        band = ax.patches[0]
        assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx((-1, 1))  # the claim's +-1 pp
        assert len(ax.containers) == len(ATTACKS)  # one interval per attack at each ratio
        low, high = ax.get_ylim()
        assert low <= -4 and high >= 2  # every interval fits
    labels = _legend_labels(fig)
    assert labels[0] == "the claim: within -1 to +1 pp" and labels[1:] == ATTACKS


def test_security_curves_wrap_into_a_grid_with_the_control_arm(figures, tmp_path):
    rows = _accuracy_records("adv_within_1pp_over_eps", "eps", [e / 255 for e in (1, 2, 4, 8, 16, 64)], ["fgsm", "pgd"])
    plots._security_curves(rows, tmp_path / "s.png")
    fig = figures[0]
    panels = _panels(fig)
    assert len(panels) == 8 and max(ax.get_subplotspec().colspan.start for ax in panels) <= 3
    assert all(ax.get_ylim() == (0, 102) for ax in panels)
    labels = _legend_labels(fig)
    assert {"base", "control arm (no pruning)", *(f"pruned 0.5, {c}" for c in CRITERIA)} == set(labels)
    assert all(len(ax.containers) == 2 + len(CRITERIA) for ax in panels)


def test_size_and_latency_are_drawn_against_their_bounds(figures, tmp_path):
    sizes, lats = [], []
    for arch, criterion in itertools.product(ARCHS, CRITERIA):
        cell = {"arch": arch, "criterion": criterion, "ratio": 0.5, "n": 1, "verdict": "reproduced"}
        sizes.append({**cell, "claim": "ir_size_cut_66", "value": 0.74, "interval": [0.74, 0.74]})
        lats.append({**cell, "claim": "latency_gain_8pct", "value": 0.3, "interval": [0.28, 0.33],
                     "gain": {"value": 0.29}, "control_gain": {"value": -0.01}})
    plots._size_latency(sizes + lats, tmp_path / "z.png")
    fig = figures[0]
    size_ax, latency_ax = _panels(fig)
    band = size_ax.patches[0]
    assert (band.get_x(), band.get_x() + band.get_width()) == pytest.approx((56, 76))
    assert [line.get_xdata()[0] for line in size_ax.lines if line.get_linestyle() == "--"] == [66]
    assert latency_ax.patches[0].get_x() == pytest.approx(8)
    assert 8 in [line.get_xdata()[0] for line in latency_ax.lines if line.get_linestyle() == "--"]
    assert len(size_ax.get_yticks()) == len(ARCHS) * len(CRITERIA)  # a row per architecture and criterion
    labels = _legend_labels(fig)
    assert len(labels) == len(set(labels)) and all(f"pruned 0.5, {c}" in labels for c in CRITERIA)


def test_no_two_of_36_series_look_alike():
    names = [str(i) for i in range(36)]
    looks = {tuple(plots.style(names, i)[k] for k in ("color", "marker", "linestyle")) for i in range(36)}
    assert len(looks) == 36
