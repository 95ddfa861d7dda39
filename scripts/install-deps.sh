#!/usr/bin/env bash
# Installs flashmc's build and run dependencies from Debian 12's packages. Idempotent: packages
# already present are left alone; nothing is downloaded when all are installed.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git libeigen3-dev libhdf5-dev hdf5-tools libboost-random-dev
      catch2 libtomlplusplus-dev libssl-dev libopenmpi-dev openmpi-bin python3-h5py python3-matplotlib
      ca-certificates curl
      libonnx-dev libprotobuf-dev  # flashmc import: ONNX's own protobuf schema (libonnx_proto), not a hand-written parser
      libxml2-utils  # xmllint: the tests validate flashmc check's JUnit reports against tests/data/junit.xsd
      clang libclang-rt-14-dev libomp-dev)  # the fuzz targets (scripts/fuzz.sh): clang, libFuzzer + sanitizers, OpenMP
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
