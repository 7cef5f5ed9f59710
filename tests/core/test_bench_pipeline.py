"""``mrf bench pipeline``: the evaluation against ground truth, and a tiny end-to-end run.

The end-to-end run uses a throw-away inference method (plain numpy dictionary matching,
written here, independent of mrfcore's DM) registered for the test only, so that the
table's numbers are checked whatever state the real inference methods are in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from mrfcore.bench.pipeline import (
    PAPER_TABLE,
    PipelineRow,
    crisp_phantom,
    evaluation_mask,
    map_errors,
    paper_orderings,
    print_results,
    quick_config,
    run_benchmark,
)
from mrfcore.data import QuantitativeMaps
from mrfcore.methods import INFERENCE, MethodInfo, option
from mrfcore.phantoms import brain_phantom


@pytest.fixture(scope="module")
def truth():
    phantom = crisp_phantom(brain_phantom(matrix=48, relaxation_values="brainweb"))
    return phantom, phantom.ground_truth()


def _maps(phantom, t1, t2, pd) -> QuantitativeMaps:
    mask = np.ones(phantom.geometry.matrix, bool)
    return QuantitativeMaps(t1, t2, pd, mask, phantom.geometry)


def test_crisp_phantom_has_one_tissue_per_voxel(truth):
    phantom, _ = truth
    assert set(np.unique(phantom.fractions)) <= {0.0, 1.0}
    covered = phantom.fractions.sum(axis=0)
    np.testing.assert_array_equal(covered, (phantom.labels > 0).astype(np.float32))


def test_evaluation_mask_keeps_tissues_with_signal_only(truth):
    _, gt = truth
    head = evaluation_mask(gt, "head")
    names = {value: name for value, name in gt.label_names.items()}
    labels_in = {names[v] for v in np.unique(gt.labels[head])}
    assert "background" not in labels_in and "skull" not in labels_in  # BrainWeb: no PD
    assert {"CSF", "grey matter", "white matter", "fat"} <= labels_in
    brain = evaluation_mask(gt, "brain")
    assert brain.sum() < head.sum() and not (brain & ~head).any()
    assert {names[v] for v in np.unique(gt.labels[brain])} == {"CSF", "grey matter", "white matter"}
    with pytest.raises(ValueError, match="region"):
        evaluation_mask(gt, "liver")


def test_map_errors_against_hand_computed_values(truth):
    phantom, gt = truth
    mask = evaluation_mask(gt)
    # Exact maps, PD in other units: no error at all (PD is fitted for scale).
    exact = map_errors(_maps(phantom, gt.t1_ms, gt.t2_ms, 3.0 * gt.pd), gt, mask)
    assert exact.t1_mape == pytest.approx(0.0, abs=1e-9)
    assert exact.t2_mape == pytest.approx(0.0, abs=1e-9)
    assert exact.pd_nrmse == pytest.approx(0.0, abs=1e-4)
    assert exact.pd_scale == pytest.approx(1 / 3, rel=1e-5)
    assert exact.n_voxels == mask.sum()
    # T1 10 % high everywhere, T2 20 % low, one voxel left out (NaN: 100 % error).
    t1 = 1.1 * gt.t1_ms
    t2 = 0.8 * gt.t2_ms
    hole = tuple(np.argwhere(mask)[0])
    t1[hole] = np.nan
    pd = gt.pd + np.where(np.indices(gt.pd.shape).sum(0) % 2 == 0, 0.1, -0.1).astype(np.float32)
    errors = map_errors(_maps(phantom, t1, t2, pd), gt, mask)
    n = mask.sum()
    assert errors.t1_mape == pytest.approx((10.0 * (n - 1) + 100.0) / n, rel=1e-5)
    assert errors.t2_mape == pytest.approx(20.0, rel=1e-5)
    p, q = pd[mask].astype(np.float64), gt.pd[mask].astype(np.float64)
    c = p @ q / (p @ p)
    expected = 100 * np.linalg.norm(c * p - q) / np.linalg.norm(q)
    assert errors.pd_nrmse == pytest.approx(expected, rel=1e-5)


def test_paper_orderings_reports_what_holds_and_what_does_not():
    rows = [
        PipelineRow("spiral", "zf", "dm", "ok", 10.0, 30.0, 40.0, 12.0),
        PipelineRow("spiral", "lrtv", "dm", "ok", 3.0, 9.0, 12.0, 15.0),
        PipelineRow("spiral", "lr", "dm", "ok", 2.0, 12.0, 30.0, 14.0),
        PipelineRow("spiral", "lrtv", "km", "ok", 3.5, 30.0, 20.0, 15.0),
        PipelineRow("spiral", "lrtv", "mrfresnet", "n/a (no model)"),
    ]
    lines = paper_orderings(rows)
    assert any("LRTV-dm better than ZF-dm" in line and line.endswith("yes") for line in lines)
    assert any("LRTV-dm better than LR-dm" in line and line.endswith("NO") for line in lines)
    assert any("LRTV-km T2 worse than DM" in line and line.endswith("yes") for line in lines)
    assert not any("mrfresnet" in line for line in lines)


# ---------------------------------------------------------------- end to end (tiny)


@dataclass
class _OracleOptions:
    mask_fraction: float = option(0.05, label="Mask", minimum=0.0, maximum=1.0)


class _NumpyMatching:
    """Exhaustive matching in numpy: argmax |<x, a_j>| / ||a_j||, PD = <a_j, x> / ||a_j||²."""

    def run(self, inputs, options, progress):
        images, dictionary = inputs.images, inputs.dictionary
        x = images.data.reshape(images.data.shape[0], -1).T  # (voxels, s)
        norms = np.linalg.norm(x, axis=1)
        mask = norms >= options.mask_fraction * norms.max()
        atoms = dictionary.atoms / dictionary.norms[:, None]
        best = np.argmax(np.abs(x[mask] @ atoms.conj().T), axis=1)
        pd = np.abs(np.sum(dictionary.atoms[best].conj() * x[mask], axis=1))
        pd /= dictionary.norms[best] ** 2
        shape = images.geometry.matrix
        t1, t2, pd_map = (np.full(x.shape[0], np.nan, np.float32) for _ in range(3))
        t1[mask], t2[mask], pd_map[mask] = dictionary.t1_ms[best], dictionary.t2_ms[best], pd
        return QuantitativeMaps(
            t1.reshape(shape),
            t2.reshape(shape),
            np.nan_to_num(pd_map).reshape(shape),
            mask.reshape(shape),
            images.geometry,
        )


@pytest.mark.slow  # ~8 s on an idle 2-core CPU: builds a small dictionary, runs LRTV and DM
def test_quick_pipeline_table(monkeypatch, capsys):
    INFERENCE.names()  # load the built-in methods first
    monkeypatch.setitem(
        INFERENCE._methods,
        "test-matching",
        MethodInfo("test-matching", "numpy matching", "inference", _OracleOptions, _NumpyMatching),
    )
    config = quick_config(
        trajectories=("spiral",),
        recon=("zf", "lrtv", "no-such-recon"),
        inference=("test-matching", "dm", "mrfresnet", "no-such-inference"),
        matrix=48,
        frames=100,
        method_options={"lrtv": ("max_iterations=3",), "dm": ("search=dense",)},
    )
    logged = []
    rows = run_benchmark(config, log=logged.append)

    keys = [(r.trajectory, r.recon, r.inference) for r in rows]
    assert keys == [
        ("spiral", recon, inference) for recon in config.recon for inference in config.inference
    ]
    by_key = {(r.recon, r.inference): r for r in rows}
    for recon in ("zf", "lrtv"):
        row = by_key[(recon, "test-matching")]
        assert row.ok, row.status
        values = (
            row.t1_mape,
            row.t2_mape,
            row.pd_nrmse,
            row.tsmi_psnr,
            row.recon_s,
            row.inference_s,
        )
        assert all(math.isfinite(v) for v in values), values
        # Loose sanity bounds: 100 frames of low flip angles encode T2 poorly.
        assert 0 < row.t1_mape < 100 and 0 < row.t2_mape < 1000 and 0 < row.pd_nrmse < 100
        assert 5 < row.tsmi_psnr < 80
        # mrfcore's DM scores the same atoms as the numpy matching above.
        dm = by_key[(recon, "dm")]
        assert dm.ok, dm.status
        assert dm.t1_mape == pytest.approx(row.t1_mape, rel=0.02)
        assert dm.t2_mape == pytest.approx(row.t2_mape, rel=0.02)
        assert dm.tsmi_psnr == row.tsmi_psnr and dm.recon_s == row.recon_s
        # Not registered, or no trained model for a 100-frame schedule: n/a, with a reason.
        assert by_key[(recon, "no-such-inference")].status.startswith("n/a (not registered")
        assert by_key[(recon, "mrfresnet")].status.startswith("n/a (")
        assert math.isnan(by_key[(recon, "mrfresnet")].t1_mape)
    assert all(
        r.status.startswith("n/a (not registered") for r in rows if r.recon == "no-such-recon"
    )
    assert any("scan simulated" in line for line in logged)

    print_results(rows, config)
    out = capsys.readouterr().out
    assert "T1 MAPE %" in out and "not registered" in out
    paper_lrtv = " / ".join(f"{v:.1f}" for v in PAPER_TABLE[("lrtv", "mrfresnet")]["spiral"])
    assert paper_lrtv in out
