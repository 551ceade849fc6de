// The bad-input corpus through the command line (docs/bad-input.md): each test builds a valid
// input, damages it in one known way, runs `ima` and checks the exit code, the exact message
// (which names the file and the problem) and that no output appeared. The damaged bytes are
// written here, so the expected figures (byte counts, field names) follow from the damage itself.
#include <cstring>

#include <zlib.h>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcvrobow.h"

#include "CLITestSupport.h"

namespace imatest::cli {
namespace imaCLIBadInputGTest {  // this file's names apart from the others' in a unity build
namespace {

std::string readBytes(const fs::path& p) { return readText(p); }

// NIfTI-1 header fields (little endian, as ITK writes them on this machine).
template <typename T>
void put(std::string& bytes, size_t offset, T value) {
  std::memcpy(&bytes[offset], &value, sizeof value);
}

void gzipTo(const fs::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.string().c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

class ImaBadInput : public ImaCLI {
protected:
  void SetUp() override {
    ImaCLI::SetUp();
    makeModel("m.imamodel");
    writeImage(discImage().GetPointer(), work_ / "good.nii");
    good_ = readBytes(work_ / "good.nii");
    ASSERT_EQ(good_.size(), 352u + 20u * 18u * 4u) << "expected a float NIfTI-1 file with a 352-byte header";
  }

  // Segments `input`; a refused input must leave the directory as it was (no output, no temporary).
  RunResult segmentRefused(const std::string& input, const std::string& extra = "") {
    const auto before = listing();
    RunResult r = run("segment --model m.imamodel --input " + input + " --output out.nii.gz --quiet " + extra);
    EXPECT_EQ(listing(), before) << "a refused input left files behind";
    return r;
  }

  // `good.nii` with `edit` applied, saved as `name`; returns the segment run.
  RunResult segmentEdited(const std::string& name, const std::function<void(std::string&)>& edit) {
    std::string bytes = good_;
    edit(bytes);
    writeText(work_ / name, bytes);
    return segmentRefused(name);
  }

  std::string good_;
};

#define EXPECT_REFUSED(r, message)                           \
  do {                                                       \
    EXPECT_EQ((r).code, 1) << (r).err;                       \
    EXPECT_NE((r).err.find(message), std::string::npos) << (r).err; \
    EXPECT_EQ((r).err.find("Exception raised from"), std::string::npos) << (r).err; \
  } while (0)

TEST_F(ImaBadInput, TheUndamagedFileIsSegmented) {
  const RunResult r = run("segment --model m.imamodel --input good.nii --output out.nii.gz --quiet");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(work_ / "out.nii.gz"));
  EXPECT_EQ(r.err.find("constant"), std::string::npos) << r.err;
}

TEST_F(ImaBadInput, NiftiSformOrQformWithNaNOrInfIsRefusedBeforeITK) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  RunResult r = segmentEdited("sform.nii", [&](std::string& b) {
    put<int16_t>(b, 254, 1);  // sform_code
    put<float>(b, 280, nan);  // srow_x[0]
  });
  EXPECT_REFUSED(r, "image 'sform.nii': the NIfTI sform is unusable: srow_x[0] is NaN");
  r = segmentEdited("sform_inf.nii", [&](std::string& b) {
    put<int16_t>(b, 254, 1);
    put<float>(b, 312 + 12, -inf);  // srow_z[3]
  });
  EXPECT_REFUSED(r, "image 'sform_inf.nii': the NIfTI sform is unusable: srow_z[3] is -Inf");
  r = segmentEdited("singular.nii", [&](std::string& b) {
    put<int16_t>(b, 254, 1);
    for (int i = 0; i < 12; ++i) put<float>(b, 280 + 4 * static_cast<size_t>(i), 0.f);
  });
  EXPECT_REFUSED(r, "image 'singular.nii': the NIfTI sform is unusable: its 3x3 matrix is singular");
  r = segmentEdited("qform.nii", [&](std::string& b) {
    put<int16_t>(b, 252, 1);  // qform_code
    put<int16_t>(b, 254, 0);
    put<float>(b, 256, inf);  // quatern_b
  });
  EXPECT_REFUSED(r, "image 'qform.nii': the NIfTI qform is unusable: quatern_b is Inf");
}

TEST_F(ImaBadInput, NiftiDimensionsAndSpacingMustBeUsable) {
  RunResult r = segmentEdited("dim0.nii", [](std::string& b) { put<int16_t>(b, 40, 0); });
  EXPECT_REFUSED(r, "image 'dim0.nii': NIfTI dim[0] (the number of dimensions) is 0; it must be 1..7");
  r = segmentEdited("dimneg.nii", [](std::string& b) { put<int16_t>(b, 40, -2); });
  EXPECT_REFUSED(r, "image 'dimneg.nii': NIfTI dim[0] (the number of dimensions) is -2; it must be 1..7");
  r = segmentEdited("dim2.nii", [](std::string& b) { put<int16_t>(b, 44, 0); });
  EXPECT_REFUSED(r, "image 'dim2.nii': NIfTI dim[2] (the size of axis 2) is 0; it must be at least 1");
  r = segmentEdited("pixdim0.nii", [](std::string& b) { put<float>(b, 80, 0.f); });
  EXPECT_REFUSED(r, "image 'pixdim0.nii': NIfTI pixdim[1] (the voxel spacing along axis 1) is 0; it must be a "
                    "finite non-zero number");
  r = segmentEdited("pixdimnan.nii",
                    [](std::string& b) { put<float>(b, 84, std::numeric_limits<float>::quiet_NaN()); });
  EXPECT_REFUSED(r, "image 'pixdimnan.nii': NIfTI pixdim[2] (the voxel spacing along axis 2) is NaN");
}

TEST_F(ImaBadInput, TruncatedNiftiAndMetaImageFilesAreRefused) {
  // Half of the 1440 bytes of voxel data (20 x 18 float32) cut off.
  const std::string truncated = good_.substr(0, 352 + 720);
  writeText(work_ / "cut.nii", truncated);
  RunResult r = segmentRefused("cut.nii");
  EXPECT_REFUSED(r, "image 'cut.nii' is truncated: it holds 720 of the 1440 bytes of voxel data its header declares");
  gzipTo(work_ / "cut.nii.gz", truncated);
  r = segmentRefused("cut.nii.gz");
  EXPECT_REFUSED(r, "image 'cut.nii.gz' is truncated: it holds 720 of the 1440 bytes of voxel data its header declares");
  // A .nii.gz whose compressed stream itself is cut.
  gzipTo(work_ / "whole.nii.gz", good_);
  const std::string gz = readBytes(work_ / "whole.nii.gz");
  writeText(work_ / "cutstream.nii.gz", gz.substr(0, gz.size() - 40));
  r = segmentRefused("cutstream.nii.gz");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("image 'cutstream.nii.gz'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;

  const std::string header = "ObjectType = Image\nNDims = 2\nDimSize = 20 18\nElementType = MET_FLOAT\n"
                             "ElementSpacing = 1 1\n";
  writeText(work_ / "cut.mha", header + "ElementDataFile = LOCAL\n" + std::string(700, '\0'));
  r = segmentRefused("cut.mha");
  EXPECT_REFUSED(r, "image 'cut.mha' is truncated: it holds 700 of the 1440 bytes of voxel data its header declares");
  // Compressed MetaImage: a zlib stream of the 1440 bytes, cut in half.
  std::string raw(1440, '\0');
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(i * 37 % 251);
  std::string packed(compressBound(1440), '\0');
  uLongf packedSize = packed.size();
  ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(&packed[0]), &packedSize, reinterpret_cast<const Bytef*>(raw.data()),
                      raw.size(), 6),
            Z_OK);
  writeText(work_ / "cutz.mha", header + "CompressedData = True\nElementDataFile = LOCAL\n" + packed.substr(0, packedSize / 2));
  r = segmentRefused("cutz.mha");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("image 'cutz.mha' is truncated"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("of the 1440 bytes"), std::string::npos) << r.err;
  // The same header with all its data is read (the check counts correctly).
  writeText(work_ / "whole.mha", header + "ElementDataFile = LOCAL\n" + raw);
  EXPECT_EQ(run("segment --model m.imamodel --input whole.mha --output whole_seg.nii.gz --quiet").code, 0);
}

TEST_F(ImaBadInput, PatchSizesAreLimitedBeforeWork) {
  RunResult r = segmentRefused("good.nii", "--patch 0,0");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--patch entries must be at least 1, got 0,0"), std::string::npos) << r.err;
  r = segmentRefused("good.nii", "--patch 65536,65536");
  EXPECT_REFUSED(r, "patch size 65536,65536 exceeds the limit of 16777216 voxels per patch");
}

TEST_F(ImaBadInput, TrainingPatchMustSuitTheNetworkStrides) {
  fs::create_directories(work_ / "images");
  fs::create_directories(work_ / "labels");
  writeImage(discImage().GetPointer(), work_ / "images" / "a.nii.gz");
  writeImage(discLabels().GetPointer(), work_ / "labels" / "a.nii.gz");
  const auto before = listing();
  // The tiny U-Net has 2 stages: sizes must be multiples of 2; 31 x 33 (ITK order) fails on 33.
  const RunResult r = run("train --images images --labels labels --init m.imamodel --patch 31,33 --out m2.imamodel "
                          "--epochs 1 --iterations 1 --quiet");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--patch is 31,33 (expected positive multiples of 2^(stages-1) = 2, at most 4096)"), std::string::npos)
      << r.err;
  EXPECT_EQ(listing(), before);
}

TEST_F(ImaBadInput, AConstantImageIsSegmentedWithAWarning) {
  writeImage(makeImage<Image2F>(20, 18, 1, 1, [](int, int) { return 5.f; }).GetPointer(), work_ / "flat.nii.gz");
  const RunResult r = run("segment --model m.imamodel --input flat.nii.gz --output out.nii.gz --quiet");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: image 'flat.nii.gz': the input image is constant (every voxel has one value, e.g. 5)"),
            std::string::npos)
      << r.err;
}

TEST_F(ImaBadInput, AttackNamesTheLabelFileWhoseLabelsTheModelLacks) {
  writeImage(makeImage<Label2>(20, 18, 0.7, 1.3, [](int x, int) { return static_cast<uint8_t>(x == 4 ? 7 : 0); })
                 .GetPointer(),
             work_ / "lab.nii.gz");
  const auto before = listing();
  const RunResult r = run("attack --model m.imamodel --input good.nii --label lab.nii.gz --output adv.nii.gz --quiet");
  EXPECT_REFUSED(r, "label image 'lab.nii.gz' holds label 7 but model 'm.imamodel' has labels 0..2 only");
  EXPECT_EQ(listing(), before);
}

// m.imamodel with its JSON metadata edited and the container's CRC-32 recomputed (the container
// layout: "IMAMODEL", u32 version, u64 n, n bytes JSON, u64 m, m bytes weights, u32 CRC-32).
void rewriteModel(const fs::path& from, const fs::path& to, const std::function<void(nlohmann::json&)>& edit) {
  const std::string bytes = readText(from);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data() + 12, 8);
  nlohmann::json j = nlohmann::json::parse(bytes.substr(20, n));
  edit(j);
  const std::string text = j.dump();
  std::string out = bytes.substr(0, 12);
  const uint64_t length = text.size();
  out.append(reinterpret_cast<const char*>(&length), 8);
  out += text;
  out += bytes.substr(20 + n, bytes.size() - 4 - (20 + n));
  const uint32_t crc = static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(out.data()), static_cast<uInt>(out.size())));
  out.append(reinterpret_cast<const char*>(&crc), 4);
  writeText(to, out);
}

TEST_F(ImaBadInput, ModelFilesWithImpossibleMetadataAreRefusedNamingTheFile) {
  rewriteModel(work_ / "m.imamodel", work_ / "same.imamodel", [](nlohmann::json&) {});
  EXPECT_EQ(run("segment --model same.imamodel --input good.nii --output same.nii.gz --quiet").code, 0);
  fs::remove(work_ / "same.nii.gz");
  rewriteModel(work_ / "m.imamodel", work_ / "ts.imamodel", [](nlohmann::json& j) { j["network"]["kind"] = "torchscript"; });
  rewriteModel(work_ / "m.imamodel", work_ / "cls.imamodel", [](nlohmann::json& j) { j["network"]["classes"] = int64_t{1} << 31; });
  rewriteModel(work_ / "m.imamodel", work_ / "big.imamodel", [](nlohmann::json& j) { j["patch_size"] = {65536, 65536}; });
  const auto before = listing();
  RunResult r = run("segment --model ts.imamodel --input good.nii --output out.nii.gz --quiet");
  EXPECT_REFUSED(r, "model file 'ts.imamodel': the TorchScript archive defines no forward method");
  r = run("segment --model cls.imamodel --input good.nii --output out.nii.gz --quiet");
  EXPECT_REFUSED(r, "model file 'cls.imamodel': network.classes is 2147483648; at most 256 classes fit a label map of 0..255");
  r = run("segment --model big.imamodel --input good.nii --output out.nii.gz --quiet");
  EXPECT_REFUSED(r, "model file 'big.imamodel': patch_size exceeds the limit of 16777216 voxels");
  EXPECT_EQ(listing(), before);
}

TEST(ImaBadModelMetadata, LimitsAndMessagesNameTheFile) {
  const nlohmann::json good = nlohmann::json::parse(ima::test::tinyUNet2DMetadata("a", "b").toJson(0));
  auto refused = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = good;
    edit(j);
    try {
      ima::ModelMetadata::fromJson(j.dump(), "m.json");
    } catch (const std::runtime_error& e) {  // ima::Error
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refused([](nlohmann::json&) {}), "accepted");
  EXPECT_EQ(refused([](nlohmann::json& j) { j["network"]["classes"] = int64_t{1} << 31; }),
            "m.json: network.classes is 2147483648; at most 256 classes fit a label map of 0..255");
  EXPECT_EQ(refused([](nlohmann::json& j) { j["patch_size"] = {65536, 65536}; }),
            "m.json: patch_size exceeds the limit of 16777216 voxels");
  EXPECT_EQ(refused([](nlohmann::json& j) { j["network"]["base_features"] = 1 << 20; }).find("m.json: network hyper-"),
            0u);
  EXPECT_EQ(refused([](nlohmann::json& j) { j["normalization"]["kind"] = "weird"; }),
            "m.json: normalization: unknown normalisation 'weird' (expected zscore or ct)");
}

// ---------------------------------------------------------------- DICOM

class ImaBadDicom : public ImaCLI {
protected:
  void SetUp() override {
    ImaCLI::SetUp();
    makeModel("m.imamodel");
  }
  // Loads `file`, applies `edit` to its dataset and saves it back in the same transfer syntax.
  static void editFile(const fs::path& file, const std::function<void(DcmDataset*)>& edit) {
    DcmFileFormat f;
    ASSERT_TRUE(f.loadFile(file.string().c_str()).good());
    edit(f.getDataset());
    ASSERT_TRUE(f.saveFile(file.string().c_str(), EXS_LittleEndianExplicit).good());
  }
  RunResult segmentRefused(const std::string& input) {
    const auto before = listing();
    RunResult r = run("segment --model m.imamodel --input " + input + " --output seg.nii.gz --quiet");
    EXPECT_EQ(listing(), before);
    return r;
  }
};

TEST_F(ImaBadDicom, NonFiniteGeometryNamesTheFile) {
  const ima::dicomtest::CtPhantom phantom;
  const auto paths = phantom.write(work_ / "series");
  const std::string slice = fs::relative(paths[3], work_).string();
  editFile(paths[3], [](DcmDataset* d) { d->putAndInsertString(DCM_ImagePositionPatient, "NaN\\0\\0"); });
  RunResult r = segmentRefused("series");
  EXPECT_REFUSED(r, "DICOM file '" + slice + "' has a non-finite Image Position (Patient) (0020,0032) (value 1 is NaN)");

  const auto paths2 = phantom.write(work_ / "series2");
  const std::string slice2 = fs::relative(paths2[0], work_).string();
  editFile(paths2[0], [](DcmDataset* d) { d->putAndInsertString(DCM_PixelSpacing, "0.7\\inf"); });
  r = segmentRefused("series2");
  EXPECT_REFUSED(r, "DICOM file '" + slice2 + "' has a non-finite Pixel Spacing (0028,0030) (value 2 is infinite)");
}

TEST_F(ImaBadDicom, NumberOfFramesMustBeAWholeNumber) {
  ima::dicomtest::CtPhantom phantom;
  phantom.writeMultiFrame(work_ / "mf" / "ct.dcm");
  ASSERT_EQ(run("segment --model m.imamodel --input mf --output ok.nii.gz --quiet").code, 0);
  editFile(work_ / "mf" / "ct.dcm", [](DcmDataset* d) { d->putAndInsertString(DCM_NumberOfFrames, "10A"); });
  const RunResult r = segmentRefused("mf");
  EXPECT_REFUSED(r, "DICOM file 'mf/ct.dcm' has an invalid Number of Frames (0028,0008) '10A' (not a whole number)");
}

TEST_F(ImaBadDicom, RowsAndColumnsBeyondThePixelDataAreRefusedBeforeAllocation) {
  const ima::dicomtest::CtPhantom phantom;  // 16 x 12 16-bit pixels: 384 bytes per slice
  const auto paths = phantom.write(work_ / "series");
  const std::string slice = fs::relative(paths[5], work_).string();
  editFile(paths[5], [](DcmDataset* d) {
    d->putAndInsertUint16(DCM_Rows, 65535);
    d->putAndInsertUint16(DCM_Columns, 65535);
  });
  const RunResult r = segmentRefused("series");
  EXPECT_REFUSED(r, "DICOM file '" + slice + "' has 384 bytes of pixel data but Rows 65535 x Columns 65535 x 1 frame(s) "
                    "x 1 sample(s) x 2 byte(s) need 8589672450");
}

TEST_F(ImaBadDicom, AttributesStoredWithVRUnknownKeepTheirGeometry) {
  // As in pydicom's rtdose_rle.dcm: position, orientation and spacing written with VR UN. The
  // oracle is the same series written normally.
  const ima::dicomtest::CtPhantom phantom;
  phantom.write(work_ / "plain");
  for (const auto& file : phantom.write(work_ / "un"))
    editFile(file, [](DcmDataset* d) {
      for (const DcmTagKey& key : {DCM_ImagePositionPatient, DCM_ImageOrientationPatient, DCM_PixelSpacing}) {
        OFString text;
        ASSERT_TRUE(d->findAndGetOFStringArray(key, text).good());
        auto* element = new DcmOtherByteOtherWord(DcmTag(key, EVR_UN));
        if (text.length() % 2) text += ' ';
        ASSERT_TRUE(element->putUint8Array(reinterpret_cast<const Uint8*>(text.c_str()), text.length()).good());
        ASSERT_TRUE(d->insert(element, true).good());
      }
    });
  ASSERT_EQ(run("segment --model m.imamodel --input plain --output plain.nii.gz --quiet").code, 0);
  const RunResult r = run("segment --model m.imamodel --input un --output un.nii.gz --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto plain = readImage<Label3>(work_ / "plain.nii.gz"), un = readImage<Label3>(work_ / "un.nii.gz");
  for (unsigned i = 0; i < 3; ++i) {
    EXPECT_NEAR(un->GetSpacing()[i], plain->GetSpacing()[i], 1e-6);
    EXPECT_NEAR(un->GetOrigin()[i], plain->GetOrigin()[i], 1e-4);
  }
  EXPECT_EQ(un->GetDirection(), plain->GetDirection());
  EXPECT_NE(plain->GetSpacing()[0], 1.0);  // the phantom's geometry is not the fallback
}

}  // namespace
}  // namespace imaCLIBadInputGTest
}  // namespace imatest::cli
