"""The project installs as a wheel with its resources inside."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_carries_resources_and_runs_from_an_installed_copy(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(tmp_path.glob("mrf_studio-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "resources/sequences/fisp_jiang2015.csv",
        "resources/phantoms/brainweb_axial_labels.npz",
        "resources/DATA_LICENCES.md",
        "mrfcore/sequences.py",
        "app/main.py",
    ):
        assert required in names, f"{required} missing from {wheel.name}"
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))
    ).decode()
    assert "mrf = mrfcore.cli:main" in entry_points
    assert "mrf-studio = app.main:main" in entry_points

    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    script = (
        "import mrfcore, mrfcore.sequences as s; "
        "print(mrfcore.__file__); print(s.builtin_sequence('fisp-jiang2015').n_frames)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    location, frames = run.stdout.split()
    assert Path(location).is_relative_to(target)
    assert frames == "1000"
