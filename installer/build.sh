#!/usr/bin/env bash
# Builds the installable MRF Studio wheel (with resources/ inside) into dist/.
# Install the wheel with `pip install dist/mrf_studio-*.whl`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip wheel --no-deps -w dist .
ls -l dist
