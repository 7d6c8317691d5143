#!/usr/bin/env bash
# Installs every Debian package xgrad needs to build, test, benchmark and run its examples.
# Idempotent: when everything is already installed it only checks (no apt-get update).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libxtensor-dev libxsimd-dev xtl-dev
  libopenblas-dev libopenblas0-openmp libopenblas-openmp-dev
  libdnnl-dev
  libboost-program-options-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  zlib1g-dev libjpeg62-turbo-dev libpng-dev
  python3-numpy
  dataset-fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages are installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
