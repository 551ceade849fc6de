// Image files for the tests that run executables: written and read back with ITK directly, not
// through the code under test (src/io), so that its IO is checked against ITK's.
#pragma once
#include <filesystem>

#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"

namespace ima::test {

template <typename TImage>
void writeImage(const TImage* image, const std::filesystem::path& path) {
  auto writer = itk::ImageFileWriter<TImage>::New();
  writer->SetInput(image);
  writer->SetFileName(path.string());
  writer->Update();
}

template <typename TImage>
typename TImage::Pointer readImage(const std::filesystem::path& path) {
  auto reader = itk::ImageFileReader<TImage>::New();
  reader->SetFileName(path.string());
  reader->Update();
  return reader->GetOutput();
}

}  // namespace ima::test
