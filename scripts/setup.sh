#!/usr/bin/env bash
# Installs everything the studio and its tests need on a fresh Debian 12 machine:
# Debian packages (apertium pairs, espeak-ng, Chromium, PostgreSQL, Redis) and a virtualenv
# with the project, its test tools, the local LLM translator's model (1.12 GB) and the test
# engine plugin.
# Safe to rerun: it installs only what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  apertium apertium-eng-spa apertium-eng-cat apertium-en-gl apertium-eo-en apertium-fr-es
  apertium-es-pt apertium-spa-cat apertium-spa-ita apertium-fra-cat
  espeak-ng
  chromium                      # the studio page's browser tests (driven by Playwright)
  postgresql redis-server       # the scale-out path's tests (started by with-services.sh)
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.setup-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
# llama.cpp (the chat server of the LLM tests) compiles from source. A native build on a CPU that
# reports AMX dies on the first decode (the VM does not grant AMX tile state), and pip's wheel
# cache may hold such a build from another machine: build it portable, uncached, once per venv.
llama_spec=$(grep -o '"llama-cpp-python\[server\]==[^"]*"' pyproject.toml | tr -d '"')
llama_stamp=".venv/.llama-portable-${llama_spec##*==}"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  if [ ! -f "$llama_stamp" ]; then
    echo "setup: building $llama_spec for any x86-64 (about 12 minutes on 2 cores)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
      .venv/bin/python -m pip install -q --no-cache-dir --force-reinstall --no-deps \
      --no-binary llama-cpp-python "$llama_spec"
    touch "$llama_stamp"
  fi
  .venv/bin/python -m pip install -q -e '.[dev,postgres,scale,separate,speakers,llm-local]'
  # An engine plugin installed the way third-party ones are, for the plugin tests.
  .venv/bin/python -m pip install -q -e tests/plugins/dubbing_studio_echo
  rm -f .venv/.setup-*
  touch "$stamp"
fi
