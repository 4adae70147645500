#!/usr/bin/env bash
# ONNX Runtime against Heed (scripts/onnx-check.py): installs the pinned onnx and onnxruntime into
# build/onnx-venv when missing, then runs the check with the given heed binary.
# Usage: scripts/onnx-check.sh HEED [onnx-check.py options...]
set -euo pipefail
ONNX_VERSION=1.17.0
ORT_VERSION=1.20.1
root="$(cd "$(dirname "$0")/.." && pwd)"
heed="$1"
shift
venv="$root/build/onnx-venv"
if ! "$venv/bin/python" -c "import onnx, onnxruntime, sys; sys.exit(onnx.__version__ != '$ONNX_VERSION' or onnxruntime.__version__ != '$ORT_VERSION')" 2>/dev/null; then
    echo "onnx-check: installing onnx $ONNX_VERSION and onnxruntime $ORT_VERSION into $venv" >&2
    # Debian's own python3 makes venvs only with python3-venv installed.
    python3 -m venv "$venv" 2>/dev/null || { "$root/scripts/ensure-deps.sh" python3-venv && rm -rf "$venv" && python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "onnx==$ONNX_VERSION" "onnxruntime==$ORT_VERSION"
fi
exec "$venv/bin/python" "$root/scripts/onnx-check.py" --heed "$heed" "$@"
