#!/usr/bin/env bash
# Stage in .device/ (ignored by git) what the GPU runs need that the GPU machine lacks: it has
# no package index and no ../shared. neuraloperator's wheels for its Python (3.12; the machine
# already has torch, numpy, scipy, scikit-learn, pyyaml, opt-einsum and safetensors; wandb,
# which neuraloperator imports but these scripts never use, is replaced by an empty module,
# benchmarks/_common.py) and the heat benchmark's reference fields. Run here, from anywhere:
#
#   bash benchmarks/gpu_stage.sh
#
# then, on the GPU machine, with .device carried beside the checkout (the device tool's carry):
#
#   python3 -m pip install -q --no-index --no-deps .device/wheels/*.whl
#   export SKOPERATOR_HEAT_REFERENCE=$PWD/.device/heat2d_reference PYTHONPATH=$PWD
#   python3 benchmarks/gpu_all.py                          # issue 30: at most 8 minutes
#   python3 benchmarks/gpu_operators.py darcy-85           # issue 32: under 10 minutes each
#   python3 benchmarks/gpu_operators.py burgers-1024
#   python3 benchmarks/gpu_navier_stokes.py                # issue 33: under 12 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
python="${GPU_PYTHON_VERSION:-3.12}"
mkdir -p .device/wheels
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$python" \
    --platform manylinux2014_x86_64 --platform any -d .device/wheels \
    neuraloperator==2.0.0 tensorly==0.10.0 tensorly-torch==0.5.0
reference="${SKOPERATOR_HEAT_REFERENCE:-../shared/data/heat2d_reference}"
rm -rf .device/heat2d_reference
cp -r "$reference" .device/heat2d_reference
du -sh .device/wheels .device/heat2d_reference
