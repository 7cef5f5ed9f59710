"""Numerical phantoms: reference-value parsing, geometry, partial volume, ground truth."""

import math
import subprocess
import sys

import numpy as np
import pytest

from mrfcore.phantoms import (
    NIST_BATCHES,
    PHANTOMS,
    Phantom,
    brain_phantom,
    eurospin_phantom,
    eurospin_reference_sets,
    eurospin_reference_values,
    fit_initial_values,
    nist_phantom,
    nist_reference_sets,
    nist_reference_values,
    parse_reference_csv,
    reference_table,
    roi_masks,
)
from mrfcore.phantoms.base import voxel_centres_mm
from mrfcore.phantoms.brain import BRAIN_TISSUES, _load_labels
from mrfcore.phantoms.eurospin import eurospin_vial_centres_mm
from mrfcore.phantoms.nist import SPHERE_RADIUS_MM, nist_sphere_centres_mm
from mrfcore.resources import resource_path

REFERENCE_DIR = resource_path("reference")


@pytest.fixture(scope="module")
def brain200():
    return brain_phantom()


@pytest.fixture(scope="module")
def nist200():
    return nist_phantom()


# --- reference files -------------------------------------------------------------------


def test_thousands_separators_and_approximate_temperatures_parse(tmp_path):
    path = tmp_path / "t2.csv"
    path.write_text(
        "Field strength (T),MnCl2 Concentration (mM),Temp (C),T1 reported (ms),"
        "T1 uncertainty (ms),T2 reported (ms),T2 uncertainty (ms)\n"
        '1.5,0.013,~20,"2,480",10.8,581.3,0.39\n'
        '1.5,0.021,~20,"1,234,567.5",14.7,403.5,0.55'  # no final newline, as shipped
    )
    table = parse_reference_csv(path)
    assert table.salt == "MnCl2"
    assert table.approximate_temperature
    assert [row["t1_ms"] for row in table.rows] == [2480.0, 1234567.5]
    assert table.rows[0]["temperature_c"] == 20.0
    assert table.rows[1]["t2_sd_ms"] == 0.55


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1.5,0.013,20,2,480,10.8,581.3,0.39", "line 2 has 8 cells"),  # unquoted separator
        ('1.5,0.013,20,"2,48",10.8,581.3,0.39', "not a number"),  # not a thousands group
        ("1.5,0.013,20,abc,10.8,581.3,0.39", "not a number"),
        ("1.5,0.013,20,,10.8,581.3,0.39", "not a number"),
        ("1.5,0.013,20,nan,10.8,581.3,0.39", "not a number"),
    ],
)
def test_malformed_reference_rows_name_file_and_problem(tmp_path, line, message):
    path = tmp_path / "bad.csv"
    path.write_text(
        "Field strength (T),MnCl2 Concentration (mM),Temp (C),T1 reported (ms),"
        "T1 uncertainty (ms),T2 reported (ms),T2 uncertainty (ms)\n" + line + "\n"
    )
    with pytest.raises(ValueError, match=message) as error:
        parse_reference_csv(path)
    assert "bad.csv" in str(error.value)


def test_unknown_column_is_rejected(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("Field strength (T),Colour\n1.5,blue\n")
    with pytest.raises(ValueError, match="unknown column 'Colour'"):
        parse_reference_csv(path)


def test_every_shipped_reference_file_parses_to_14_or_18_entries():
    files = sorted(REFERENCE_DIR.rglob("*.csv"))
    assert len(files) == 19
    for path in files:
        table = parse_reference_csv(path)
        keys = {row["concentration_mm"] for row in table.rows}
        expected = 18 if "eurospin" in str(path) else 14
        assert len(keys) == expected, path
        numbers = [v for row in table.rows for v in row.values() if isinstance(v, float)]
        assert numbers and all(math.isfinite(v) and v > 0 for v in numbers), path
        assert "t1_ms" in table.columns or "t2_ms" in table.columns, path


def test_eurospin_concentration_column_is_the_vial_number():
    values = eurospin_reference_values(1.5)
    assert [v.sphere for v in values] == list(range(1, 19))
    assert (values[11].t1_ms, values[11].t2_ms) == (1481.0, 386.0)  # vial 12 in the file
    assert (values[0].t1_sd_ms, values[0].t2_sd_ms) == (6.1, 1.5)
    assert all(v.concentration_mm is None for v in values)
    assert eurospin_reference_sets()[0].temperatures_c == (20.0,)


def test_every_nist_reference_set_is_physical():
    sets = nist_reference_sets()
    assert {(s.batch, s.field_strength_t, s.plate) for s in sets} == {
        (b, f, p) for b in NIST_BATCHES for f in (1.5, 3.0) for p in ("T1", "T2")
    }
    for s in sets:
        values = nist_reference_values(s.field_strength_t, s.batch, 20.0, s.plate)
        assert [v.sphere for v in values] == list(range(1, 15))
        t1 = np.array([v.t1_ms for v in values])
        t2 = np.array([v.t2_ms for v in values])
        conc = np.array([v.concentration_mm for v in values])
        # Sphere 1 has the least salt: concentrations rise, relaxation times fall.
        assert np.all(np.diff(conc) > 0) and np.all(np.diff(t1) < 0) and np.all(np.diff(t2) < 0)
        assert np.all(t2 < t1) and np.all(t2 > 0)


def test_published_values_are_reproduced():
    # Independent source: RRSG 2020 T1 challenge, Table 1 (3 T, 20 °C, sphere 1 of the T1
    # plate): version 1 (batch 1) 1989 ± 1.0 ms, version 2 1883.97 ± 30.32 ms.
    v1 = nist_reference_values(3.0, "batch1", 20.0, "T1")[0]
    v2 = nist_reference_values(3.0, "batch2", 20.0, "T1")[0]
    assert (v1.t1_ms, v1.t1_sd_ms) == (1989.0, 1.0)
    assert (v2.t1_ms, v2.t1_sd_ms) == (1883.97, 30.32)


def test_mncl2_relaxivity_grows_with_field_in_every_batch():
    """Guards the batch 1 MnCl2 file swap: r2 = 1/(T2·c) of Mn2+ is larger at 3 T."""

    def r2(field, batch):
        values = nist_reference_values(field, batch, 20.0, "T2")[6:]  # salt-dominated spheres
        return np.array([1000.0 / (v.t2_ms * v.concentration_mm) for v in values])

    for batch in NIST_BATCHES:
        assert np.all(r2(3.0, batch) > 1.2 * r2(1.5, batch)), batch
    # Batch 1 at 3 T agrees with NIST's 3 T measurement of batch 2 (same salt).
    assert np.median(r2(3.0, "batch1")) == pytest.approx(np.median(r2(3.0, "batch2")), rel=0.15)
    note = nist_reference_values(3.0, "batch1", 20.0, "T2")[0].note
    assert "other field" in note


def test_temperature_interpolation_nearest_and_limits():
    at20 = nist_reference_values(3.0, "batch2", 20.0, "T2")
    at22 = nist_reference_values(3.0, "batch2", 22.0, "T2")
    at21 = nist_reference_values(3.0, "batch2", 21.0, "T2")
    assert at20[0].temperature_method == "exact"
    assert at21[0].temperature_method == "interpolated" and at21[0].temperature_c == 21.0
    for a, b, mid in zip(at20, at22, at21, strict=True):
        assert mid.t1_ms == pytest.approx((a.t1_ms + b.t1_ms) / 2)
        assert mid.t2_ms == pytest.approx((a.t2_ms + b.t2_ms) / 2)
    nearest = nist_reference_values(3.0, "batch2", 21.0, "T2", temperature_mode="nearest")
    assert nearest[0].temperature_method == "nearest" and nearest[0].temperature_c in (20, 22)
    single = nist_reference_values(1.5, "batch1", 21.5, "T1")  # only 20 °C in the file
    assert single[0].temperature_c == 20.0 and "nearest" in single[0].note
    with pytest.raises(ValueError, match="no reference values near 30 °C"):
        nist_reference_values(3.0, "batch2", 30.0, "T2")


def test_batch2p5_3t_t1_plate_borrows_batch2_and_says_so():
    values = nist_reference_values(3.0, "2.5", 20.0, "T1")
    assert "batch2_sn_gte_130-0042" in values[0].source
    assert "batch 2 values are used" in values[0].note
    assert values[0].batch == "batch2.5"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nist_reference_values(7.0), r"field strength 7\.0 T \(available: 1\.5 T, 3 T\)"),
        (lambda: nist_reference_values(1.5, "batch9"), "unknown NIST phantom batch 'batch9'"),
        (lambda: nist_reference_values(1.5, "batch1", 20.0, "PD"), "unknown plate 'PD'"),
        (lambda: nist_reference_values(1.5, 1, 20.0, "T1", "cubic"), "temperature_mode"),
        (lambda: eurospin_reference_values(3.0), r"EUROSPIN TO5 reference values .* 3\.0 T"),
        (lambda: nist_phantom(field_strength_t=2.0), r"2\.0 T"),
        (lambda: brain_phantom(field_strength_t=7.0), r"no brain tissue values .* 7\.0 T"),
        (lambda: brain_phantom(field_strength_t=3.0, relaxation_values="brainweb"), "1.5 T only"),
        (lambda: brain_phantom(relaxation_values="mine"), "unknown relaxation_values"),
        (lambda: brain_phantom(matrix=0), "matrix must be a positive integer"),
        (lambda: nist_phantom(slice_offset_mm=12.0), "misses the spheres"),
    ],
)
def test_unavailable_choices_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_fit_initial_values_are_parsed_but_separate():
    nist = fit_initial_values("nist", 3.0, "T1")
    euro = fit_initial_values("eurospin", 1.5, "T2")
    assert [n for n, _ in nist] == list(range(1, 15)) and nist[0][1] == 2000.0
    assert [n for n, _ in euro] == list(range(1, 19)) and dict(euro)[12] == 380.0


# --- phantom geometry and ground truth ----------------------------------------------------


def _check_fractions(phantom: Phantom):
    f = phantom.fractions
    assert f.dtype == np.float32
    assert f.shape == (phantom.n_compartments, *phantom.geometry.matrix)
    assert f.min() >= 0.0 and f.max() <= 1.0
    assert f.sum(axis=0).max() <= 1.0 + 1e-6


@pytest.mark.parametrize("name", sorted(PHANTOMS))
def test_registry_phantoms_are_consistent(name):
    phantom = PHANTOMS[name](matrix=64, fov_mm=200.0)
    assert phantom.name == name
    _check_fractions(phantom)
    truth = phantom.ground_truth()
    assert truth.t1_ms.shape == truth.pd.shape == (64, 64)
    np.testing.assert_allclose(
        truth.pd, np.einsum("k,kxy->xy", phantom.tissue_pd, phantom.fractions), rtol=1e-6
    )
    assert set(np.unique(phantom.labels)) <= set(phantom.label_names)
    assert np.all(truth.t1_ms[phantom.labels == 0] == 0)


def _nearest_voxel(phantom, xy):
    xs, ys = voxel_centres_mm(phantom.geometry)
    return int(np.argmin(np.abs(xs - xy[0]))), int(np.argmin(np.abs(ys - xy[1])))


@pytest.mark.parametrize("which", ["nist-T1", "nist-T2-3T", "eurospin"])
def test_ground_truth_matches_reference_values_at_vial_centres(which):
    if which == "eurospin":
        phantom, centres = eurospin_phantom(), eurospin_vial_centres_mm()
        values = eurospin_reference_values()
    else:
        field = 3.0 if which.endswith("3T") else 1.5
        plate = "T2" if "T2" in which else "T1"
        phantom = nist_phantom(field_strength_t=field, plate=plate, batch="batch2")
        centres, values = nist_sphere_centres_mm(), nist_reference_values(field, 2, 20, plate)
    truth = phantom.ground_truth()
    for k, (centre, value) in enumerate(zip(centres, values, strict=True)):
        i, j = _nearest_voxel(phantom, centre)
        assert phantom.fractions[k, i, j] == 1.0
        assert phantom.labels[i, j] == k + 1
        assert truth.t1_ms[i, j] == np.float32(value.t1_ms)
        assert truth.t2_ms[i, j] == np.float32(value.t2_ms)
        assert truth.pd[i, j] == 1.0
    rows = reference_table(phantom)
    assert [(r.t1_ms, r.t2_ms) for r in rows] == [(v.t1_ms, v.t2_ms) for v in values]


def test_nist_layout_and_sphere_areas(nist200):
    centres = nist_sphere_centres_mm()
    radii = np.hypot(centres[:, 0], centres[:, 1])
    np.testing.assert_allclose(radii[:10], 50.0)
    np.testing.assert_allclose(radii[10:], 28.0)
    assert centres[0, 0] == pytest.approx(0.0) and centres[0, 1] > 0  # sphere 1 at +y
    assert centres[1, 0] > 0  # then clockwise as displayed
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(14) * 1e3
    assert gaps.min() > 2 * SPHERE_RADIUS_MM
    areas = nist200.fractions.sum(axis=(1, 2)) * np.prod(nist200.geometry.voxel_size_mm)
    np.testing.assert_allclose(areas, math.pi * SPHERE_RADIUS_MM**2, rtol=2e-3)
    offset = nist_phantom(matrix=100, slice_offset_mm=6.0)
    area = offset.fractions[0].sum() * 4.0
    assert area == pytest.approx(math.pi * (SPHERE_RADIUS_MM**2 - 36.0), rel=0.02)


def test_nist_background_fluid_is_optional_and_not_a_reference():
    plain = nist_phantom(matrix=100)
    fluid = nist_phantom(matrix=100, background_fluid=True)
    assert plain.n_compartments == 14 and fluid.n_compartments == 15
    _check_fractions(fluid)
    assert fluid.tissue_names[-1] == "fluid" and not fluid.is_reference[-1]
    assert len(reference_table(fluid)) == 14 and "fluid" not in roi_masks(fluid)
    # The fluid never overlaps a sphere (there is a wall without signal in between).
    assert np.all(fluid.fractions[-1][plain.fractions.sum(0) > 0] < 1.0)
    assert plain.pd_map()[0, 0] == 0 and fluid.pd_map()[50, 5] == 1.0


def test_roi_masks_exclude_partial_volume(nist200):
    masks = roi_masks(nist200)
    assert list(masks) == nist200.tissue_names
    for k, mask in enumerate(masks.values()):
        assert 150 < mask.sum() < math.pi * SPHERE_RADIUS_MM**2
        # Eroded by one voxel: every 4-neighbour of an ROI voxel is pure too.
        pure = nist200.fractions[k] >= 0.99
        for shift in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            assert np.all(np.roll(pure, shift, axis=(0, 1))[mask])
    unpadded = roi_masks(nist200, erode_voxels=0)
    assert all(unpadded[n].sum() > masks[n].sum() for n in masks)


def test_brain_default_grid_and_orientation(brain200):
    assert brain200.geometry.matrix == (200, 200)
    assert brain200.geometry.voxel_size_mm == (1.0, 1.0)
    assert brain200.tissue_names == list(BRAIN_TISSUES)
    assert brain200.label_names[2] == "grey matter" and brain200.label_names[0] == "background"
    _check_fractions(brain200)
    # The whole head fits in the 200 mm field of view (scaled to 198 mm) and is centred.
    assert brain200.references["anatomy_scale"] == pytest.approx(198 / 206)
    head = brain200.fractions.sum(axis=0) > 0
    assert not head[0].any() and not head[-1].any() and not head[:, 0].any()
    assert not head[:, -1].any()
    # Anterior is +y: the lateral ventricles' frontal horns lie anterior to the centre.
    csf = brain200.fractions[0][70:130, 60:140]
    y_centroid = (csf.sum(axis=0) * np.arange(60, 140)).sum() / csf.sum()
    assert y_centroid > 100


def test_brain_tissue_values_are_physical():
    for field in (1.5, 3.0):
        phantom = brain_phantom(matrix=50, field_strength_t=field)
        t1 = dict(zip(phantom.tissue_names, phantom.tissue_t1_ms, strict=True))
        t2 = dict(zip(phantom.tissue_names, phantom.tissue_t2_ms, strict=True))
        pd = dict(zip(phantom.tissue_names, phantom.tissue_pd, strict=True))
        assert t1["CSF"] > t1["grey matter"] > t1["white matter"] > t1["fat"]
        assert t2["CSF"] > t2["grey matter"] and t2["skull"] < 1.0 and pd["skull"] < 0.1
        assert pd["CSF"] == 1.0 > pd["grey matter"] > pd["white matter"]
        assert all(t2[n] < t1[n] for n in phantom.tissue_names)
    lo, hi = brain_phantom(matrix=50), brain_phantom(matrix=50, field_strength_t=3.0)
    assert np.all(hi.tissue_t1_ms >= lo.tissue_t1_ms)  # T1 lengthens with B0
    assert (lo.tissue_t1_ms[1], lo.tissue_t2_ms[1]) == (1124.0, 95.0)
    assert (hi.tissue_t1_ms[:4] == [4160.0, 1560.0, 830.0, 370.0]).all()
    assert (hi.tissue_t2_ms[:4] == [1650.0, 83.0, 75.0, 125.0]).all()
    bw = brain_phantom(matrix=50, relaxation_values="brainweb")
    assert bw.tissue_t1_ms[0] == 2569.0 and bw.tissue_pd[6] == 0.0
    assert np.all(bw.ground_truth().t1_ms[bw.labels == 7] == 0)  # no signal, no truth


def test_brain_ground_truth_pure_voxels_match_tables(brain200):
    truth = brain200.ground_truth()
    for k, name in enumerate(brain200.tissue_names):
        pure = brain200.fractions[k] == 1.0
        assert pure.any(), name
        assert np.all(truth.t1_ms[pure] == np.float32(brain200.tissue_t1_ms[k]))
        assert np.all(truth.t2_ms[pure] == np.float32(brain200.tissue_t2_ms[k]))
        assert np.all(brain200.labels[pure] == k + 1)


def test_brain_resampling_preserves_tissue_areas_and_antialiases(brain200):
    source, pixel = _load_labels()
    scale = brain200.references["anatomy_scale"]
    source_area = np.array([(source == k + 1).sum() for k in range(11)]) * (pixel * scale) ** 2
    coarse = brain_phantom(matrix=100)
    for phantom in (brain200, coarse):
        area = phantom.fractions.sum(axis=(1, 2)) * np.prod(phantom.geometry.voxel_size_mm)
        np.testing.assert_allclose(area, source_area, rtol=1e-4)
        # Tissue *proportions* within the head are preserved as well.
        np.testing.assert_allclose(area / area.sum(), source_area / source_area.sum(), atol=1e-5)

    # Area averaging leaves genuine mixtures at boundaries ...
    mixed = (brain200.fractions > 0.2) & (brain200.fractions < 0.8)
    assert mixed[1].sum() > 1000  # grey matter borders
    # ... which nearest-neighbour label sampling (the label at each voxel centre) cannot
    # have; it also misjudges the area of thin tissues (dura, fat) on a coarse grid.
    occupied = source > 0
    x_any, y_any = np.flatnonzero(occupied.any(1)), np.flatnonzero(occupied.any(0))
    centre = ((x_any[0] + x_any[-1] + 1) / 2, (y_any[0] + y_any[-1] + 1) / 2)
    xs, ys = voxel_centres_mm(coarse.geometry)
    step = pixel * scale
    ix = np.floor(xs / step + centre[0]).astype(int)
    iy = np.floor(ys / step + centre[1]).astype(int)
    inside_x, inside_y = (ix >= 0) & (ix < source.shape[0]), (iy >= 0) & (iy < source.shape[1])
    nearest = np.zeros(coarse.geometry.matrix, dtype=source.dtype)  # outside: background
    nearest[np.ix_(inside_x, inside_y)] = source[np.ix_(ix[inside_x], iy[inside_y])]
    one_hot = np.stack([(nearest == k + 1) for k in range(11)]).astype(float)
    assert not ((one_hot > 0.2) & (one_hot < 0.8)).any()
    assert ((coarse.fractions > 0.2) & (coarse.fractions < 0.8)).sum() > 500
    nearest_area = one_hot.sum(axis=(1, 2)) * np.prod(coarse.geometry.voxel_size_mm)
    assert np.max(np.abs(nearest_area / source_area - 1)) > 0.05


def test_brain_crop_when_not_fitting():
    cropped = brain_phantom(matrix=100, fov_mm=180.0, fit_to_fov=False)
    assert cropped.references["anatomy_scale"] == 1.0 and cropped.references["cropped"]
    _check_fractions(cropped)
    assert cropped.fractions.sum(axis=0)[:, 0].max() > 0.9  # the head reaches the edge


def test_phantom_modules_do_not_import_torch():
    code = (
        "import sys, mrfcore.phantoms as p; p.nist_phantom(matrix=16); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
