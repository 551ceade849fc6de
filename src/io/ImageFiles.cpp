#include "ima/io/ImageFiles.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "itkImageIOFactory.h"
#include "itkVectorImage.h"

#include "itkIMAImageConversion.h"

#include "internal/LowerCase.h"
#include "internal/RawImageChecks.h"
#include "internal/WrittenImageCheck.h"

#include "ima/DicomSeries.h"
#include "ima/Error.h"
#include "ima/Files.h"

namespace fs = std::filesystem;

namespace ima::io {

namespace {

const char* const kExtensions[] = {".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"};
const char* const kExtensionList = ".nii.gz, .nii, .nrrd, .nhdr, .mha or .mhd";

std::string quoted(const std::string& path) { return "'" + path + "'"; }

struct OpenedImage {
  itk::ImageIOBase::Pointer io;
  ImageFileInfo info;
};

OpenedImage openImage(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(what + " " + quoted(path) + " does not exist");
  if (fs::is_directory(path, ec)) throw Error(what + " " + quoted(path) + " is a directory, not an image file");
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw Error(what + " " + quoted(path) + " cannot be opened: " + std::strerror(errno));
  }
  itk::ImageIOBase::Pointer io;
  try {
    io = itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::IOFileModeEnum::ReadMode);
  } catch (const itk::ExceptionObject& e) {
    throw Error("cannot read " + what + " " + quoted(path) + ": " + e.GetDescription());
  }
  if (!io)
    throw Error("cannot read " + what + " " + quoted(path) +
                ": not a readable NIfTI, NRRD or MetaImage file (damaged or unsupported format)");
  io->SetFileName(path);
  try {
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    throw Error("cannot read " + what + " " + quoted(path) + ": " + e.GetDescription());
  }

  OpenedImage opened;
  opened.io = io;
  ImageFileInfo& info = opened.info;
  const unsigned fileDims = io->GetNumberOfDimensions();
  for (unsigned d = 0; d < fileDims; ++d) info.size.push_back(static_cast<int64_t>(io->GetDimensions(d)));
  // 4D files with a single time point (common in NIfTI) are 3D volumes.
  while (info.size.size() > 3 && info.size.back() == 1) info.size.pop_back();
  info.dims = static_cast<int>(info.size.size());
  if (info.dims < 2 || info.dims > 3)
    throw Error(what + " " + quoted(path) + " has " + std::to_string(fileDims) +
                " dimensions; only 2D and 3D images are supported");
  info.components = static_cast<int>(io->GetNumberOfComponents());
  info.componentType = itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType());
  if (io->GetPixelType() == itk::IOPixelEnum::COMPLEX)
    throw Error(what + " " + quoted(path) + " has complex pixels; only real-valued images are supported");
  for (auto s : info.size)
    if (s <= 0) throw Error(what + " " + quoted(path) + " is empty");
  return opened;
}

template <typename TImage>
typename TImage::Pointer readWith(const OpenedImage& opened, const std::string& path,
                                  const std::string& what) {
  auto reader = itk::ImageFileReader<TImage>::New();
  reader->SetImageIO(opened.io);
  reader->SetFileName(path);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw Error("cannot read " + what + " " + quoted(path) + ": " + e.GetDescription());
  }
  return reader->GetOutput();
}

template <unsigned D>
Volume readVolumeOfDimension(const OpenedImage& opened, const std::string& path) {
  if (opened.info.components == 1)
    return itk::ImageToIMAVolume(readWith<itk::Image<float, D>>(opened, path, "image").GetPointer());
  return itk::ImageToIMAVolume(readWith<itk::VectorImage<float, D>>(opened, path, "image").GetPointer());
}

template <unsigned D>
LabelMap readLabelMapOfDimension(const OpenedImage& opened, const std::string& path) {
  // Read as float so that any integer file type converts exactly (values above 255 are rejected).
  auto image = readWith<itk::Image<float, D>>(opened, path, "label image");
  try {
    return itk::LabelImageToIMALabelMap(image.GetPointer());
  } catch (const Error& e) {
    throw Error("label image " + quoted(path) + ": " + e.what());
  }
}

std::string directoryOf(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Writes into a fresh hidden directory next to the target, checks what ITK wrote (its write errors
// reach stderr only), flushes every produced file to the disk, then renames each into place (a
// .mhd/.nhdr header last, after its data file).
template <typename TImage>
std::vector<std::string> writeAtomically(TImage* image, const std::string& path, bool overwrite) {
  checkOutputPath(path, overwrite, "output");
  const fs::path directory = directoryOf(path);
  const std::string fileName = fs::path(path).filename().string();
  std::string pattern = (directory / ".ima-write-XXXXXX").string();
  if (!mkdtemp(pattern.data()))
    throw Error("cannot write " + quoted(path) + ": cannot create a temporary directory in " +
                quoted(directory.string()) + ": " + std::strerror(errno));
  const fs::path temporary = pattern;
  try {
    auto writer = itk::ImageFileWriter<TImage>::New();
    writer->SetInput(image);
    writer->SetFileName((temporary / fileName).string());
    writer->SetUseCompression(true);
    try {
      writer->Update();
    } catch (const itk::ExceptionObject& e) {
      throw Error("cannot write " + quoted(path) + ": " + e.GetDescription());
    }
    checkWrittenImageFile((temporary / fileName).string(),
                          image->GetPixelContainer()->Size() * sizeof(typename TImage::InternalPixelType), path);
    std::vector<fs::path> produced;
    for (const auto& entry : fs::directory_iterator(temporary)) produced.push_back(entry.path());
    for (const auto& p : produced) flushFile(p.string(), path);
    std::stable_partition(produced.begin(), produced.end(),
                          [&](const fs::path& p) { return p.filename() != fileName; });
    std::vector<std::string> placed;
    for (const auto& p : produced) {
      const fs::path destination = directory / p.filename();
      if (!overwrite && fs::exists(destination))
        throw Error("cannot write " + quoted(path) + ": its data file " + quoted(destination.string()) +
                    " already exists (use --force to overwrite)");
      moveIntoPlace(p.string(), destination.string());
      placed.push_back(destination.string());
    }
    fs::remove(temporary);
    return placed;
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(temporary, ignored);
    throw;
  }
}

}  // namespace

std::string imageExtension(const std::string& fileName) {
  const std::string name = lowerCase(fs::path(fileName).filename().string());
  for (const char* ext : kExtensions) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return e;
  }
  return "";
}

std::string caseIdOf(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  const std::string ext = imageExtension(name);
  return ext.empty() ? fs::path(name).stem().string() : name.substr(0, name.size() - ext.size());
}

void checkOutputPath(const std::string& path, bool overwrite, const std::string& what) {
  if (imageExtension(path).empty())
    throw Error(what + " " + quoted(path) + " has an unsupported file extension (use " + kExtensionList + ")");
  checkFileOutputPath(path, overwrite, what);
}

void checkFileOutputPath(const std::string& path, bool overwrite, const std::string& what) {
  if (path.empty()) return;
  const std::string directory = directoryOf(path);
  std::error_code ec;
  if (!fs::is_directory(directory, ec))
    throw Error(what + " " + quoted(path) + ": directory " + quoted(directory) + " does not exist");
  if (fs::is_directory(path, ec)) throw Error(what + " " + quoted(path) + " is a directory");
  if (!overwrite && fs::exists(path, ec))
    throw Error(what + " " + quoted(path) + " already exists (use --force to overwrite)");
}

void checkOutputFiles(const InputFiles& inputs, const std::vector<OutputFile>& outputs, bool overwrite) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const OutputFile& o = outputs[i];
    if (o.path.empty()) continue;
    inputs.checkNotAnInput(o.path, o.what);
    checkFileOutputPath(o.path, overwrite, o.what);
    for (size_t j = 0; j < i; ++j)
      if (!outputs[j].path.empty() && sameFile(outputs[j].path, o.path))
        throw Error(o.what + " " + quoted(o.path) + " and " + outputs[j].what + " " + quoted(outputs[j].path) +
                    " are the same file; give each output its own name");
  }
}

bool isDicomInput(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return true;
  return lowerCase(fs::path(path).extension().string()) == ".dcm";
}

namespace {

dicom::ReadOptions dicomOptions(const DicomInput& dicom) {
  // Our messages name the file and the reason; DCMTK's own log lines would only repeat them.
  static const bool silenced = (dicom::silenceDcmtkLogging(), true);
  (void)silenced;
  dicom::ReadOptions options;
  options.series = dicom.series;
  options.allowUneven = dicom.allowUneven;
  options.warn = [](const std::string& message) { std::cerr << message << "\n"; };
  return options;
}

}  // namespace

ImageFileInfo readImageInfo(const std::string& path, const DicomInput& dicom) {
  if (!isDicomInput(path)) {
    checkRawImageFile(path, "image");
    return openImage(path, "image").info;
  }
  const dicom::SeriesInfo series = dicom::findSeries(path, dicomOptions(dicom));
  ImageFileInfo info;
  info.dims = 3;
  info.components = series.channels;
  info.size = {series.columns, series.rows, static_cast<int64_t>(series.slices.size())};
  info.componentType = "float (DICOM series " + series.id + ")";
  return info;
}

Volume readVolume(const std::string& path, const DicomInput& dicom, dicom::SeriesInfo* series) {
  if (isDicomInput(path)) {
    if (!series) return dicom::readDirectory(path, dicomOptions(dicom));
    *series = dicom::findSeries(path, dicomOptions(dicom));  // warns
    dicom::ReadOptions quiet = dicomOptions(dicom);
    quiet.warn = nullptr;
    return dicom::readSeries(*series, quiet, path);
  }
  checkRawImageFile(path, "image");  // before ITK, which aborts on some of what it checks
  const OpenedImage opened = openImage(path, "image");
  return opened.info.dims == 2 ? readVolumeOfDimension<2>(opened, path)
                               : readVolumeOfDimension<3>(opened, path);
}

LabelMap readLabelMap(const std::string& path) {
  checkRawImageFile(path, "label image");
  const OpenedImage opened = openImage(path, "label image");
  if (opened.info.components != 1)
    throw Error("label image " + quoted(path) + " has " + std::to_string(opened.info.components) +
                " components per pixel; a label image must be scalar");
  return opened.info.dims == 2 ? readLabelMapOfDimension<2>(opened, path)
                               : readLabelMapOfDimension<3>(opened, path);
}

std::vector<std::string> writeVolume(const Volume& volume, const std::string& path, bool overwrite) {
  const int dims = volume.shape.dims();
  if (dims != 2 && dims != 3) throw Error("cannot write " + quoted(path) + ": the volume is " + std::to_string(dims) + "D");
  if (dims == 2) {
    if (volume.channels == 1)
      return writeAtomically(itk::IMAVolumeToImage<itk::Image<float, 2>>(volume).GetPointer(), path, overwrite);
    return writeAtomically(itk::IMAVolumeToImage<itk::VectorImage<float, 2>>(volume).GetPointer(), path, overwrite);
  }
  if (volume.channels == 1)
    return writeAtomically(itk::IMAVolumeToImage<itk::Image<float, 3>>(volume).GetPointer(), path, overwrite);
  return writeAtomically(itk::IMAVolumeToImage<itk::VectorImage<float, 3>>(volume).GetPointer(), path, overwrite);
}

std::vector<std::string> writeLabelMap(const LabelMap& labels, const std::string& path, bool overwrite) {
  const int dims = labels.shape.dims();
  if (dims == 2)
    return writeAtomically(itk::IMALabelMapToImage<itk::Image<uint8_t, 2>>(labels).GetPointer(), path, overwrite);
  if (dims == 3)
    return writeAtomically(itk::IMALabelMapToImage<itk::Image<uint8_t, 3>>(labels).GetPointer(), path, overwrite);
  throw Error("cannot write " + quoted(path) + ": the label map is " + std::to_string(dims) + "D");
}

}  // namespace ima::io
