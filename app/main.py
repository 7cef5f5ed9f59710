"""Entry point of the ``mrf-studio`` desktop application.

``mrf-studio`` opens the first screen; ``mrf-studio FILE`` opens a scan, maps or a saved
session; ``mrf-studio --demo`` opens the demo brain scan, shows a quick preview (see
:mod:`app.quick_preview`) and runs the default methods.  torch and the methods are
imported after the window is on screen.
"""

from __future__ import annotations

import argparse
import sys
import time

_T0 = time.perf_counter()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mrf-studio", description="MRF Studio: T1, T2 and PD maps from MRF scans."
    )
    parser.add_argument("files", nargs="*", help="scan, maps (NIfTI) or session to open")
    parser.add_argument(
        "--demo",
        nargs="?",
        const="brain",
        choices=("brain", "nist"),
        help="open a demo scan (default: brain): a quick preview, then the default methods",
    )
    parser.add_argument(
        "--startup-time",
        action="store_true",
        help="print the seconds from start to the window being shown, then quit",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)

    import pyqtgraph as pg
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("MRF Studio")
    app.setOrganizationName("MRF Studio")
    pg.setConfigOptions(imageAxisOrder="col-major", antialias=True)

    from app.main_window import MainWindow

    # The start-up measurement leaves out the background warm-up (torch), which would
    # otherwise have to finish before the window can close.
    window = MainWindow(warm_up=not args.startup_time)
    window.show()
    if args.startup_time:

        def report() -> None:
            print(f"window shown after {time.perf_counter() - _T0:.2f} s", flush=True)
            window.close()
            app.quit()

        QTimer.singleShot(0, report)
        return int(app.exec())
    if args.demo:
        QTimer.singleShot(0, lambda: window.open_demo(args.demo, run_after=True))
    elif args.files:
        QTimer.singleShot(0, lambda: window.open_any(args.files[0]))
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
