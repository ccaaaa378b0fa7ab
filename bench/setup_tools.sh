#!/bin/sh
# Install the tools bench_tools.py compares the harness with, under bench/ (git-ignored), from the package
# registries only (npm, PyPI); nothing goes into the project's own environment.
#
#   sh bench/setup_tools.sh            # Node 22 + promptfoo (npm), inspect-ai (a venv beside the project's)
#   sh bench/setup_tools.sh node       # only Node 22 + promptfoo
#   sh bench/setup_tools.sh inspect    # only inspect-ai
#
# Versions are pinned to the ones the README's figures were measured with; change them here to re-measure.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
NODE_SPEC=${NODE_SPEC:-node@22}
PROMPTFOO_SPEC=${PROMPTFOO_SPEC:-promptfoo@0.123.1}
INSPECT_SPEC=${INSPECT_SPEC:-inspect-ai==0.3.285}
what=${1:-all}

if [ "$what" = all ] || [ "$what" = node ]; then
  command -v npm >/dev/null 2>&1 || { echo "setup_tools: npm not found (any Node with npm will do: it installs Node 22 itself)" >&2; exit 1; }
  # node@22 is the Node binary as an npm package; promptfoo 0.123 needs Node >= 22.22
  npm install --prefix "$HERE/.node" --no-audit --no-fund "$NODE_SPEC" "$PROMPTFOO_SPEC"
  "$HERE/.node/node_modules/node/bin/node" --version
  "$HERE/.node/node_modules/node/bin/node" "$HERE/.node/node_modules/.bin/promptfoo" --version
fi
if [ "$what" = all ] || [ "$what" = inspect ]; then
  # --system-site-packages: the venv sees the anthropic SDK already installed; inspect-ai's own dependencies
  # go into the venv, not into the project's environment
  python3 -m venv --system-site-packages "$HERE/.venv-inspect"
  "$HERE/.venv-inspect/bin/pip" install -q "$INSPECT_SPEC"
  "$HERE/.venv-inspect/bin/inspect" --version || true
fi
