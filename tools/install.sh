#!/usr/bin/env bash
# Set up everything mmhatnet needs in a virtual environment, for one tested
# lane (a torch and the stack around it; docs/development.md lists them):
#
#   bash tools/install.sh                  # the default lane, in ./.venv
#   bash tools/install.sh --lane torch2.1  # torch 2.1.2, in ./.venv-torch2.1
#   bash tools/install.sh --lane latest    # the newest torch, ./.venv-latest
#
# Idempotent: a second run takes seconds. MMHATNET_VENV overrides the folder.
# Lanes (pins below, in `lane_pins`):
#   default      Python 3.11, torch 2.14.1, mmcv 2.1.0 with ops, mmengine
#                0.10.7, mmdet 3.3.0, mmsegmentation 1.2.2, mmpretrain 1.2.0,
#                the deployment stack.
#   torch2.1     what mmcv 2.1.0's prebuilt wheels serve: torch 2.1.2 and
#                torchvision 0.16.2 (numpy < 2), mmcv 2.1.0 with ops built
#                against it, the same mm libraries; no deployment stack (the
#                ONNX export needs torch >= 2.6).
#   torch2.1-lite torch 2.1.2 with mmcv-lite 2.1.0 and mmengine only: an
#                environment that adds mmhatnet to a model of its own (no
#                build; the backbone's tests and the install itself).
#   latest       the newest torch on the package index, 2.15.0, with the
#                newest torchvision, 0.29.2 (it declares torch>=2.14 and is
#                built for CUDA 13.2, as torch 2.15.0 is), mmcv 2.1.0 with
#                ops built against it, the same mm libraries.
#   latest-lite  torch 2.15.0 with mmcv-lite and mmengine only (as
#                torch2.1-lite).
#
# What it installs, and the traps it steps around:
#   * Python 3.11 venv; setuptools >=77,<82 (mmcv's setup.py and mmengine import
#     pkg_resources, which setuptools 82 removed).
#   * the lane's torch + torchvision. The machines' global pip config caps
#     torch at 2.14.1; the latest lane installs with PIP_CONFIG_FILE=/dev/null.
#   * mmcv 2.1.0 WITH its C++ ops (CUDA ops too when a GPU is visible or
#     FORCE_CUDA=1). PyPI has only its sdist; we build it without build
#     isolation (isolation builds against a different torch and silently drops
#     the ops) and, for torch >= 2.14, patch its hard-coded -std=c++17 to
#     -std=c++20 (those headers need it). It needs a C++ compiler, the Python
#     headers and, for the CUDA ops, nvcc. The build takes 15-35 min on 2
#     cores, so the wheel is cached under $MMHATNET_CACHE (default
#     ~/.cache/mmhatnet), keyed by the mmcv, torch (+CUDA) and Python
#     versions and the op flavour: a wheel built against another torch is
#     never reused. The lite lane takes mmcv-lite (no ops, no build) instead.
#   * mmengine 0.10.7, mmdet 3.3.0, mmsegmentation 1.2.2 (+ ftfy, regex, which it
#     imports but does not declare), mmpretrain 1.2.0. Never `transformers`: its
#     presence breaks `import mmpretrain`.
#   * the deployment stack (tools/deployment/, mmhatnet.deployment): onnx 1.23.2,
#     onnxruntime 1.32.0, onnxscript 0.7.2 (torch.onnx.export(dynamo=True) needs
#     it) and openvino 2026.4.1; not mmdeploy (1.3.1 pins protobuf<=3.20.2, below
#     onnx 1.23's protobuf>=6.31.1, and its export fails under torch 2.14; see
#     docs/user_guides/deployment.md).
#   * openmim 0.3.9 (`mim train/test/run mmhatnet`), without its opendatalab
#     dependency (whose openxlab pins setuptools 60 and old requests/rich),
#     and psutil, seaborn (mmdet's benchmark and analyze_logs tools import
#     them without declaring them).
#   * mmhatnet itself, editable, with its declared dependencies (which the
#     lane's torch and mmengine satisfy: pip installs nothing more).
# Finally it imports what the lane has, runs one mmcv op, and fails loudly
# if anything is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LANE="${MMHATNET_LANE:-default}"
while [ $# -gt 0 ]; do
  case "$1" in
    --lane) [ $# -ge 2 ] || { echo "error: --lane needs a name" >&2; exit 2; }
            LANE="$2"; shift 2 ;;
    --lane=*) LANE="${1#--lane=}"; shift ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (usage: bash tools/install.sh [--lane default|torch2.1|torch2.1-lite|latest|latest-lite])" >&2
       exit 2 ;;
  esac
done
CACHE="${MMHATNET_CACHE:-$HOME/.cache/mmhatnet}"
PYTHON="${PYTHON:-python3.11}"

MMCV_VERSION=2.1.0
MMCV_DIST=mmcv     # mmcv-lite in the lite lane: no ops, no build
DEPLOY=1           # the deployment stack (onnx, onnxruntime, openvino)
MM_LIBS=1          # mmdet, mmsegmentation, mmpretrain, openmim
case "$LANE" in
  default)
    VENV_NAME=.venv; TORCH_VERSION=2.14.1; TORCHVISION_VERSION=0.29.1
    NUMPY="numpy<2.3" ;;
  torch2.1)
    VENV_NAME=.venv-torch2.1; TORCH_VERSION=2.1.2; TORCHVISION_VERSION=0.16.2
    NUMPY="numpy<2"; DEPLOY=0 ;;
  torch2.1-lite)
    VENV_NAME=.venv-torch2.1-lite; TORCH_VERSION=2.1.2; TORCHVISION_VERSION=0.16.2
    NUMPY="numpy<2"; DEPLOY=0; MM_LIBS=0; MMCV_DIST=mmcv-lite ;;
  latest|latest-lite)
    VENV_NAME=".venv-$LANE"; TORCH_VERSION=2.15.0; TORCHVISION_VERSION=0.29.2
    NUMPY="numpy<2.3"
    if [ "$LANE" = latest-lite ]; then DEPLOY=0; MM_LIBS=0; MMCV_DIST=mmcv-lite; fi
    export PIP_CONFIG_FILE=/dev/null ;;  # the machines cap torch at 2.14.1
  *) echo "error: unknown lane '$LANE'; choose default, torch2.1, torch2.1-lite, latest or latest-lite" >&2
     exit 2 ;;
esac
VENV="${MMHATNET_VENV:-$ROOT/$VENV_NAME}"

log() { printf '\033[1m[install]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[install] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found; install Python 3.11 or set PYTHON=/path/to/python3.11"

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || die "$VENV is not a Python 3.11 environment; remove it and run again"

log "build tools (setuptools>=77,<82 keeps pkg_resources)"
"${PIP[@]}" install -q --upgrade "pip<26.2" "setuptools>=77,<82" wheel ninja

log "lane $LANE: torch $TORCH_VERSION, torchvision ${TORCHVISION_VERSION:-(none)}, $NUMPY"
TORCH_REQS=("torch==$TORCH_VERSION" "$NUMPY")
[ -n "$TORCHVISION_VERSION" ] && TORCH_REQS+=("torchvision==$TORCHVISION_VERSION")
if ! "$PY" -c 'import sys, torch; sys.exit(torch.__version__.split("+")[0] != sys.argv[1])' \
    "$TORCH_VERSION" 2>/dev/null; then
  # PyPI's Linux torch is a CUDA build: with its nvidia-* libraries a venv
  # takes 5.2 GB (torch 2.1.2) to 6.5 GB (2.14.1). Refuse up front rather
  # than fail half-way with "No space left on device"; --no-cache-dir keeps
  # pip from holding a second copy of the downloads in its cache.
  FREE_GB="$(df -Pk "$(dirname "$VENV")" | awk 'NR==2 {print int($4 / 1048576)}')"
  [ "$FREE_GB" -ge "${MMHATNET_MIN_FREE_GB:-7}" ] || die "torch $TORCH_VERSION needs about 7 GB free \
beside $VENV, and $FREE_GB GB are free; remove a lane you do not use (rm -r .venv-<lane>) \
or pip's cache (pip cache purge), then run again"
fi
"${PIP[@]}" install -q --no-cache-dir "${TORCH_REQS[@]}"

log "mmengine and the pure-Python dependencies of the OpenMMLab stack"
"${PIP[@]}" install -q "mmengine==0.10.7" "opencv-python>=4.8,<4.12" addict yapf packaging Pillow pyyaml \
  pycocotools scipy matplotlib terminaltables shapely six ftfy regex prettytable pytest "$NUMPY"

# ---------------------------------------------------------------- mmcv with ops
if [ "$MMCV_DIST" = mmcv-lite ]; then
  log "mmcv-lite $MMCV_VERSION (no ops, nothing to build)"
  "${PIP[@]}" install -q "mmcv-lite==$MMCV_VERSION" "$NUMPY"
fi
WITH_CUDA=0
if [ "${FORCE_CUDA:-0}" = "1" ] || "$PY" -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  WITH_CUDA=1
fi
TORCH_TAG="$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_") + "-cuda" + str(torch.version.cuda))')"
PY_TAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
FLAVOUR=$([ "$WITH_CUDA" = 1 ] && echo cudaops || echo cpuops)
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION/torch-$TORCH_TAG/$PY_TAG-$FLAVOUR"

mmcv_ok() {
  "$PY" - "$WITH_CUDA" <<'EOF' 2>/dev/null
import sys
import torch
import mmcv
from mmcv.ops import nms
assert mmcv.__version__ == '2.1.0', mmcv.__version__
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
scores = torch.tensor([0.9, 0.8, 0.7])
_, keep = nms(boxes, scores, 0.5)
assert keep.tolist() == [0, 2], keep
if sys.argv[1] == '1':
    _, keep = nms(boxes.cuda(), scores.cuda(), 0.5)
    assert keep.cpu().tolist() == [0, 2]
EOF
}

if [ "$MMCV_DIST" = mmcv-lite ]; then
  :
elif mmcv_ok; then
  log "mmcv $MMCV_VERSION with ops already installed"
else
  if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION with $FLAVOUR against torch $TORCH_TAG (about 20 min on 2 cores)"
    BUILD="$(mktemp -d)"
    trap 'rm -rf "$BUILD"' EXIT
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary=:all: "mmcv==$MMCV_VERSION" -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV_VERSION"
    # torch >= 2.14 headers use C++20 features; the sdist hard-codes c++17
    # (which is what older torch headers want)
    if "$PY" -c 'import sys, torch; sys.exit(tuple(map(int, torch.__version__.split(".")[:2])) < (2, 14))'; then
      sed -i 's/-std=c++1[47]/-std=c++20/g' "$SRC/setup.py"
      grep -q -- '-std=c++20' "$SRC/setup.py" || die "could not patch mmcv's C++ standard flag"
    fi
    mkdir -p "$WHEEL_DIR.partial"
    (cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA="$WITH_CUDA" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$WHEEL_DIR.partial" . ) \
      || die "mmcv build failed (see the compiler output above)"
    # publish the cache entry only once the wheel is complete
    rm -rf "$WHEEL_DIR" && mkdir -p "$(dirname "$WHEEL_DIR")" && mv "$WHEEL_DIR.partial" "$WHEEL_DIR"
  else
    log "using cached mmcv wheel from $WHEEL_DIR"
  fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
  mmcv_ok || die "mmcv $MMCV_VERSION is installed but its C++ ops do not work; remove $WHEEL_DIR and run again"
fi

# ------------------------------------------------------- downstream libraries
if [ "$MM_LIBS" = 1 ]; then
log "mmdet 3.3.0, mmsegmentation 1.2.2, mmpretrain 1.2.0"
"${PIP[@]}" install -q "mmdet==3.3.0" "mmsegmentation==1.2.2" "mmpretrain==1.2.0" "mmcv==$MMCV_VERSION" "$NUMPY"
# mim (`mim train/test/run mmhatnet ...`), and psutil and seaborn, which
# mmdet's analysis_tools/benchmark.py and analyze_logs.py import but mmdet
# does not declare. openmim
# without its declared dependencies: it wants opendatalab -> openxlab, which
# pins setuptools~=60.2 (no longer what torch and mmcv's build need),
# requests 2.28, rich 13.4, packaging 24, filelock 3.14 ... and is used by
# `mim download` of data sets only (no module of mim imports it).
log "openmim 0.3.9 (without opendatalab), psutil 7.2.2, seaborn 0.13.2"
"${PIP[@]}" install -q "psutil==7.2.2" "seaborn==0.13.2" click colorama model-index pandas requests rich tabulate \
  "$NUMPY"  # else the newest pandas lifts numpy past the lane's pin (torch 2.1 wants numpy < 2)
"${PIP[@]}" install -q --no-deps "openmim==0.3.9"
if "$PY" -c 'import transformers' 2>/dev/null; then
  log "removing transformers (it breaks mmpretrain's import)"
  "${PIP[@]}" uninstall -y -q transformers
fi
fi

if [ "$DEPLOY" = 1 ]; then
  log "deployment: onnx, onnxruntime, onnxscript, openvino"
  "${PIP[@]}" install -q "onnx==1.23.2" "onnxruntime==1.32.0" "onnxscript==0.7.2" "openvino==2026.4.1" "$NUMPY"
fi

log "lint: flake8 7.3.0, isort 6.1.0 (tools/run_tests.sh runs them first)"
"${PIP[@]}" install -q "flake8==7.3.0" "isort==6.1.0"

log "mmhatnet (editable, with its declared dependencies: the lane satisfies them)"
"${PIP[@]}" install -q --no-build-isolation -e "$ROOT" "$NUMPY"

log "verifying the stack"
"$PY" - "$LANE" "$TORCH_VERSION" "$MM_LIBS" "$DEPLOY" <<'EOF' || die "the installed stack does not import; see the traceback above"
import sys
lane, torch_version, mm_libs, deploy = sys.argv[1:]
import mmcv, mmengine, torch
import mmhatnet
assert torch.__version__.split('+')[0] == torch_version, (
    f'torch {torch.__version__} is installed, the {lane} lane pins '
    f'{torch_version}')
import numpy
assert numpy.lib.NumpyVersion(numpy.__version__) < '2.0.0' or lane not in (
    'torch2.1', 'torch2.1-lite'), f'numpy {numpy.__version__} beside torch 2.1'
line = (f'[install] ok ({lane} lane): torch {torch.__version__} | mmcv '
        f'{mmcv.__version__} | mmengine {mmengine.__version__}')
if mm_libs == '1':
    import mmcv.ops, mmdet.models, mmseg.models, mmpretrain.models  # noqa: F401
    import mmdet, mmseg, mmpretrain
    line += (f' (ops) | mmdet {mmdet.__version__} | mmseg {mmseg.__version__}'
             f' | mmpretrain {mmpretrain.__version__}')
if deploy == '1':
    import onnx, onnxruntime, onnxscript, openvino  # noqa: F401
print(line, '| mmhatnet', mmhatnet.__version__)
EOF
if [ "$MMCV_DIST" = mmcv ]; then
  mmcv_ok || die "mmcv ops stopped working after installing the downstream libraries"
fi
