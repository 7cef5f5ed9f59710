#!/usr/bin/env bash
# Builds MRF Studio's installable packages into dist/: a wheel (with resources/ inside)
# and a source archive.  Install the wheel with `pip install dist/mrf_studio-*.whl`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip wheel --no-deps -w dist .

ls -l dist
