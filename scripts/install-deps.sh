#!/usr/bin/env bash
# Installs every build and test dependency from Debian's archive, only when something is missing
# (idempotent: a second run installs nothing and takes a second).
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libtorch-dev            # libtorch 1.13 (CPU)
  libgloo-dev             # Gloo headers: distributed training on c10d (the symbols are in libtorch)
  libopenblas0-openmp     # libtorch's BLAS calls (transposed and 1x1 convolutions): Debian's reference BLAS is far slower
  libinsighttoolkit5-dev  # ITK 5.2
  libdcmtk-dev            # DCMTK 3.6.7: DICOM reading, DICOM SEG (dcmseg)
  libgtest-dev nlohmann-json3-dev zlib1g-dev
  python3-pydicom         # test data: the DICOM files it ships; an independent SEG reader (tests skip without it)
  python3-numpy           # pydicom's pixel arrays (the SEG test decodes frames with it)
  dicom3tools             # dciodvfy: validates the DICOM SEGs the tests write (the check is skipped without it)
  python3-nibabel         # the imaseg Python package's tests (NIfTI round trip)
  python3-torch           # docs/import.md tests: networks built and checked in PyTorch (skipped without it)
  clang-14 llvm-14        # the sanitizer build and the fuzz targets (scripts/sanitize.sh); llvm-symbolizer for reports
  libclang-rt-14-dev      # clang's ASan and UBSan runtimes
  libfuzzer-14-dev        # libFuzzer (-fsanitize=fuzzer)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
