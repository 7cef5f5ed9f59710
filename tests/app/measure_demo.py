"""Measure how long ``mrf-studio --demo`` takes to show its first maps (not a test).

Run: ``python tests/app/measure_demo.py [--runs 3] [--demo brain] [--states cold,warm]``

Each measurement starts a fresh process running ``app.main.main(["--demo", NAME])``
exactly as the ``mrf-studio`` command does (offscreen), and reports, from just before
the process is started (so Python and Qt start-up count):

- ``window``: the window is on screen;
- ``scan``: the demo scan is open (made first when missing);
- ``maps``: the first run's maps are in the T1/T2/PD views and painted;
- ``cpu``: CPU seconds (user + system, all threads) the process had used by then – less
  sensitive than the wall times to other programs sharing the CPU;
- which run made them (name, methods and dictionary grid, as the run list shows it) and
  that run's stage timings.

States of the user's folders before a measurement:

- ``cold``: nothing made yet – the demo scan is simulated and the dictionary built;
- ``cold-dictionary``: the demo scan exists, the dictionary cache is empty;
- ``warm``: demo scan and dictionary both exist.

Medians over ``--runs`` measurements per state are printed with the system load average
(other programs share the CPU; say so when you quote the numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_DRIVER = r"""
import json, os, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

started = float(os.environ["MEASURE_STARTED"])
marks = {}
app = QApplication(["mrf-studio"])

def poll():
    now = time.time() - started
    for widget in app.topLevelWidgets():
        if type(widget).__name__ != "MainWindow":
            continue
        if widget.isVisible():
            marks.setdefault("window", now)
        if widget.model.input is not None:
            marks.setdefault("scan", now)
        view = widget.map_panel.views.get("T1")
        if widget.model.runs and view is not None and view.values is not None:
            widget.repaint()  # the maps are painted before the clock stops
            marks["maps"] = time.time() - started
            cpu = os.times()
            marks["cpu"] = cpu.user + cpu.system
            run = widget.model.runs[0]
            marks["run"] = {
                "name": run.name,
                "methods": run.describe_methods(),
                "options": {"reconstruction": run.reconstruction_options,
                            "inference": run.inference_options},
                "timings_s": run.timings,
            }
            print("MEASURED " + json.dumps(marks), flush=True)
            os._exit(0)  # skip waiting for the follow-up run to stop
        if widget.errors:
            print("FAILED " + json.dumps(widget.errors[-1][:2]), flush=True)
            os._exit(1)

timer = QTimer()
timer.timeout.connect(poll)
timer.start(10)
from app.main import main
sys.exit(main(["--demo", sys.argv[1]]))
"""


def _measure(demo: str, data: Path, cache: Path, timeout_s: float) -> dict:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        MRF_STUDIO_DATA=str(data),
        MRF_STUDIO_CACHE=str(cache),
        MEASURE_STARTED=repr(time.time()),
    )
    result = subprocess.run(
        [sys.executable, "-c", _DRIVER, demo],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    for line in result.stdout.splitlines():
        if line.startswith("MEASURED "):
            return json.loads(line.removeprefix("MEASURED "))
    raise RuntimeError(
        f"no measurement (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", default="brain", choices=("brain", "nist"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--states", default="cold,cold-dictionary,warm")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    args = parser.parse_args()
    states = [s.strip() for s in args.states.split(",") if s.strip()]
    root = Path(tempfile.mkdtemp(prefix="mrf-measure-demo-"))
    # A made demo scan and dictionary, copied into fresh folders for the warm states.
    made_data, made_cache = root / "made-data", root / "made-cache"
    results: dict[str, list[dict]] = {state: [] for state in states}
    try:
        for index in range(args.runs):
            for state in states:
                data, cache = root / f"{state}-{index}-data", root / f"{state}-{index}-cache"
                if state != "cold":
                    if not made_data.exists():
                        _measure(args.demo, made_data, made_cache, args.timeout)
                    shutil.copytree(made_data, data)
                    if state == "warm":
                        shutil.copytree(made_cache, cache)
                load = os.getloadavg()[0]
                marks = _measure(args.demo, data, cache, args.timeout)
                marks["load"] = load
                results[state].append(marks)
                print(
                    f"{state:16s} run {index + 1}: window {marks['window']:.2f} s, "
                    f"scan {marks['scan']:.1f} s, first maps {marks['maps']:.1f} s, "
                    f"CPU {marks['cpu']:.1f} s "
                    f"(load {load:.1f}) by '{marks['run']['name']}' "
                    f"[{marks['run']['methods']}], stages "
                    + ", ".join(f"{k} {v:.1f} s" for k, v in marks["run"]["timings_s"].items()),
                    flush=True,
                )
                if state == "cold" and not made_data.exists():
                    shutil.copytree(data, made_data)
                    shutil.copytree(cache, made_cache)
                shutil.rmtree(data, ignore_errors=True)
                shutil.rmtree(cache, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nmrf-studio --demo {args.demo}: medians over {args.runs} runs (seconds)")
    print(f"{'state':16s} {'window':>7s} {'scan':>7s} {'maps':>7s} {'CPU':>7s} {'load':>6s}")
    for state, marks in results.items():
        if marks:
            keys = ("window", "scan", "maps", "cpu", "load")
            median = {k: statistics.median(m[k] for m in marks) for k in keys}
            print(
                f"{state:16s} {median['window']:7.2f} {median['scan']:7.1f} "
                f"{median['maps']:7.1f} {median['cpu']:7.1f} {median['load']:6.1f}"
            )
    print(f"({os.cpu_count()} CPUs; load = 1-minute load average before each run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
