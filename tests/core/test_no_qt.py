"""mrfcore must never import Qt: it runs headless, on servers and in the CLI."""

import pkgutil
import subprocess
import sys

import mrfcore


def test_importing_every_mrfcore_module_loads_no_qt():
    modules = [m.name for m in pkgutil.walk_packages(mrfcore.__path__, "mrfcore.")]
    assert "mrfcore.sequences" in modules and "mrfcore.methods" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    if not name.endswith('__main__'):\n"
        "        importlib.import_module(name)\n"
        "from mrfcore.methods import load_methods\n"
        "load_methods()\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'pyqtgraph'))\n"
        "print(','.join(qt))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"mrfcore imported Qt modules: {result.stdout}"


def test_import_mrfcore_does_not_import_torch():
    # The GUI opens its window before torch is loaded; keep the package root light.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, mrfcore, mrfcore.methods, mrfcore.sequences; "
            "print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
