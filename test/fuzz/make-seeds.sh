#!/usr/bin/env bash
# Makes the seed corpora of the fuzz targets (test/fuzz/corpus/<target>/) from valid files written
# by the project's own commands, pydicom's test files and a few hand-written manifests, then
# minimises each corpus with libFuzzer's -merge=1 (only inputs that add coverage are kept).
# Usage: test/fuzz/make-seeds.sh [BUILD_DIR]   (default build-asan, built by scripts/sanitize.sh)
# Needs /usr/bin/python3 with pydicom, numpy and nibabel (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${1:-build-asan}")
ima="$build/Module/ima"
fuzz="$build/test/fuzz"
corpus=test/fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=/dev/null
source "$build/sanitizer-environment.sh"
seeds="$work/seeds"
mkdir -p "$seeds"/{FuzzModelFile,FuzzCheckpoint,FuzzDicomSeries,FuzzDicomSeg,FuzzNiftiImage,FuzzBatchManifest}
separator=$'\n--IMA-FUZZ-NEXT-FILE--\n'  # test/fuzz/FuzzFiles.h
join() {  # join OUT FILE...: the files of one input
  local out=$1
  shift
  : > "$out"
  local first=1
  for f in "$@"; do
    ((first)) || printf '%s' "$separator" >> "$out"
    cat "$f" >> "$out"
    first=0
  done
}

# NIfTI: phantoms (3D and 2D, .nii.gz as written, .nii uncompressed), image and label.
"$ima" phantoms --out "$work/ph3" --count 2 --size 16 --dims 3 --quiet
"$ima" phantoms --out "$work/ph2" --count 1 --size 16 --dims 2 --quiet
cp "$work/ph3/images/case_000.nii.gz" "$seeds/FuzzNiftiImage/image3d.nii.gz"
cp "$work/ph3/labels/case_000.nii.gz" "$seeds/FuzzNiftiImage/label3d.nii.gz"
cp "$work/ph2/images/case_000.nii.gz" "$seeds/FuzzNiftiImage/image2d.nii.gz"
gunzip -c "$work/ph3/images/case_000.nii.gz" > "$seeds/FuzzNiftiImage/image3d.nii"
gunzip -c "$work/ph2/labels/case_000.nii.gz" > "$seeds/FuzzNiftiImage/label2d.nii"

# Models and checkpoints: the network FuzzCheckpoint.cpp resumes (3D, 4 features, 2 stages, 3
# classes), and a 2D one.
"$ima" train --images "$work/ph3/images" --labels "$work/ph3/labels" --out "$work/m3.imamodel" --features 4 \
  --stages 2 --epochs 1 --iterations 1 --batch 1 --patch 16,16,16 --val-fraction 0 --threads 1 --quiet
"$ima" train --images "$work/ph2/images" --labels "$work/ph2/labels" --out "$work/m2.imamodel" --features 4 \
  --stages 2 --epochs 1 --iterations 1 --batch 2 --patch 16,16 --val-fraction 0 --threads 1 --quiet
cp "$work/m3.imamodel" "$work/m2.imamodel" "$seeds/FuzzModelFile/"
cp "$work/m3.imamodel.ckpt" "$seeds/FuzzCheckpoint/m3.ckpt"

# DICOM: a small CT series (3 slices of 16x16, written with pydicom), pydicom's small test files.
/usr/bin/python3 - "$work/series" <<'PY'
import sys, os, numpy as np, pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid, CTImageStorage
out = sys.argv[1]; os.makedirs(out)
study, series, frame = generate_uid(), generate_uid(), generate_uid()
for z in range(3):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    d = Dataset(); d.file_meta = meta
    d.SOPClassUID, d.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    d.StudyInstanceUID, d.SeriesInstanceUID, d.FrameOfReferenceUID = study, series, frame
    d.Modality, d.PatientName, d.PatientID, d.InstanceNumber = "CT", "Fuzz^Seed", "FUZZ", z + 1
    d.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    d.ImagePositionPatient = [0, 0, 2.5 * z]
    d.PixelSpacing = [0.8, 0.8]; d.SliceThickness = 2.5
    d.Rows = d.Columns = 16
    d.SamplesPerPixel, d.PhotometricInterpretation = 1, "MONOCHROME2"
    d.BitsAllocated, d.BitsStored, d.HighBit, d.PixelRepresentation = 16, 12, 11, 1
    d.RescaleSlope, d.RescaleIntercept = 1, -1024
    d.PixelData = (np.arange(256, dtype=np.int16).reshape(16, 16) * (z + 1)).tobytes()
    d.is_little_endian, d.is_implicit_VR = True, False
    d.save_as(os.path.join(out, f"slice{z}.dcm"), write_like_original=False)
PY
join "$seeds/FuzzDicomSeries/ct-series-3-slices" "$work"/series/slice{0,1,2}.dcm
pydicom_files=$(/usr/bin/python3 -c 'import pydicom.data, os; print(os.path.dirname(pydicom.data.get_testdata_file("CT_small.dcm")))')
for f in CT_small MR_small MR_small_RLE MR_small_jpeg_ls_lossless MR_small_bigendian MR_truncated JPEG-lossy \
         SC_rgb_small_odd SC_rgb_rle_2frame rtdose_1frame rtdose_rle_1frame rtdose_expb_1frame badVR no_meta \
         image_dfl liver_1frame emri_small; do
  [[ -f "$pydicom_files/$f.dcm" ]] && cp "$pydicom_files/$f.dcm" "$seeds/FuzzDicomSeries/pydicom-$f.dcm"
done

# DICOM SEG: the CT series and the SEG `ima segment` writes on it.
"$ima" segment --model "$work/m3.imamodel" --input "$work/series" --output "$work/seg.dcm" --threads 1 --quiet
join "$seeds/FuzzDicomSeg/ct-series-and-seg" "$work"/series/slice{0,1,2}.dcm "$work/seg.dcm"

# Batch manifest: the one `ima batch segment` writes, and hand-written rows (quoted fields, an
# earlier version without the model column, a torn last line).
mkdir -p "$work/archive/a" && cp "$work"/series/*.dcm "$work/archive/a/"
"$ima" batch segment --model "$work/m3.imamodel" --input "$work/archive" --output "$work/batch" --threads 1 --quiet
cp "$work/batch/manifest.csv" "$seeds/FuzzBatchManifest/written-by-batch-segment.csv"
printf 'series,output,status,reason,model\n1.2.3,"out,1.nii.gz",failed,"bad ""quote""",abc\n1.2.3,1.2.3.nii.gz,ok,,abc\n1.2.4,x,fail' \
  > "$seeds/FuzzBatchManifest/quoted-and-torn.csv"
printf 'series,output,status,reason\r\n1.2.3.part2,1.2.3.part2.dcm,ok,\r\n,,failed,file x.dcm: damaged\r\n' \
  > "$seeds/FuzzBatchManifest/without-model-column.csv"

# Minimise into the committed corpora (files already there, e.g. crash regressions, are kept).
for target in FuzzModelFile FuzzCheckpoint FuzzDicomSeries FuzzDicomSeg FuzzNiftiImage FuzzBatchManifest; do
  mkdir -p "$corpus/$target"
  "$fuzz/$target" -merge=1 -rss_limit_mb=4096 "$corpus/$target" "$seeds/$target" 2>&1 | tail -1
done
du -sh "$corpus"
