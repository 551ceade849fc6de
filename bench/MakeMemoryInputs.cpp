// Writes the inputs of the memory benchmark: a float32 NIfTI volume of the given size with
// smooth structures, and an untrained U-Net model file (memory does not depend on training).
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <itkImage.h>
#include <itkImageFileWriter.h>
#include <itkImageRegionIteratorWithIndex.h>

#include "ima/Model.h"

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s VOLUME.nii MODEL.imamodel X Y Z DIMS\n", argv[0]);
    return 2;
  }
  using Image = itk::Image<float, 3>;
  Image::SizeType size = {{std::strtoul(argv[3], nullptr, 10), std::strtoul(argv[4], nullptr, 10),
                           std::strtoul(argv[5], nullptr, 10)}};
  auto image = Image::New();
  image->SetRegions(size);
  image->Allocate();
  for (itk::ImageRegionIteratorWithIndex<Image> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it) {
    const auto i = it.GetIndex();
    it.Set(static_cast<float>(100 * std::sin(0.05 * i[0]) * std::cos(0.04 * i[1]) + 0.5 * i[2]));
  }
  auto writer = itk::ImageFileWriter<Image>::New();
  writer->SetFileName(argv[1]);
  writer->SetInput(image);
  writer->Update();

  ima::ModelMetadata meta;
  meta.network.dims = std::atoi(argv[6]);
  // Memory is set by the volume and the accumulator slab, not the network's width; a narrow 3D
  // network keeps the 3D run's time (~1350 windows of 64^3) reasonable on two cores.
  meta.network.baseFeatures = meta.network.dims == 3 ? 4 : 16;
  meta.network.stages = 4;
  meta.network.classes = 3;
  meta.patchSize = meta.network.dims == 3 ? std::vector<int64_t>{64, 64, 64} : std::vector<int64_t>{256, 256};
  ima::Model::create(meta, 1).save(argv[2]);
  return 0;
}
