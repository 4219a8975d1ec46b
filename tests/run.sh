#!/usr/bin/env bash
# Set up everything a fresh machine needs, then run the whole test suite.
#   bash tests/run.sh            # all tests
#   bash tests/run.sh -k engine  # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: Chromium for the browser tests, the Fashion-MNIST files and the Noto emoji
# font for the data-source tests. Installed only where missing (needs root and apt).
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: cannot install ${need[*]} (needs root and apt-get); their tests will be skipped" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
if ! .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt -r requirements-train.txt -r requirements-dev.txt \
    >.venv/pip.log 2>&1; then
  cat .venv/pip.log >&2
  exit 1
fi
exec .venv/bin/python -m pytest "$@"
