// Conversion between ITK images and the core's plain containers (ima::Volume, ima::LabelMap).
//
// Supported image types: itk::Image<T, D> with a scalar T, itk::VectorImage<T, D>, and
// itk::Image<P, D> with a fixed-length pixel P (itk::Vector, itk::RGBPixel, ...), D = 2 or 3.
// The core layout is channel-planar and x-fastest: value of channel c at index (x, y[, z]) sits at
// c * N + z * H * W + y * W + x (N voxels, W = size[0], H = size[1]).
//
// Only the buffered region is converted. A core container has no start index, so its origin is
// the physical position of the buffered region's first voxel; converting back yields an image
// whose index starts at 0 and which covers the same physical points.
#ifndef itkIMAImageConversion_h
#define itkIMAImageConversion_h

#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>

#include "itkImage.h"
#include "itkNumericTraits.h"
#include "itkVectorImage.h"

#include "ima/Error.h"
#include "ima/Volume.h"

namespace itk
{
namespace IMAConversionDetail
{
// Scalar component type of a pixel: T for scalars, VariableLengthVector<T> and Vector<T, N>.
template <typename TImage>
using ComponentType = typename NumericTraits<typename TImage::PixelType>::ValueType;

template <typename TImage>
constexpr void
CheckImageType()
{
  static_assert(TImage::ImageDimension == 2 || TImage::ImageDimension == 3,
                "the IMA core handles 2D and 3D images only");
  static_assert(std::is_arithmetic<ComponentType<TImage>>::value,
                "pixel components must be arithmetic (integer or floating point)");
}
} // namespace IMAConversionDetail

/** Geometry of an image in the core's form: origin and spacing in millimetres, direction cosines
 * (columns = axis directions). A 2D image is embedded in 3D: z spacing 1, z origin 0, and the
 * identity for the z row and column. */
template <typename TImage>
ima::Geometry
IMAGeometryOf(const TImage * image)
{
  IMAConversionDetail::CheckImageType<TImage>();
  constexpr unsigned int D = TImage::ImageDimension;
  ima::Geometry g;
  for (unsigned int r = 0; r < D; ++r)
  {
    g.origin[r] = image->GetOrigin()[r];
    g.spacing[r] = image->GetSpacing()[r];
    for (unsigned int c = 0; c < D; ++c)
    {
      g.direction[3 * r + c] = image->GetDirection()(r, c);
    }
  }
  return g;
}

/** Sets origin, spacing and direction of `image` from a core geometry; a 2D image takes the upper
 * left 2x2 block of the direction and the first two origin and spacing entries. */
template <typename TImage>
void
SetIMAGeometry(TImage * image, const ima::Geometry & geometry)
{
  IMAConversionDetail::CheckImageType<TImage>();
  constexpr unsigned int D = TImage::ImageDimension;
  typename TImage::PointType origin;
  typename TImage::SpacingType spacing;
  typename TImage::DirectionType direction;
  for (unsigned int r = 0; r < D; ++r)
  {
    origin[r] = geometry.origin[r];
    spacing[r] = geometry.spacing[r];
    for (unsigned int c = 0; c < D; ++c)
    {
      direction(r, c) = geometry.direction[3 * r + c];
    }
  }
  image->SetOrigin(origin);
  image->SetSpacing(spacing);
  image->SetDirection(direction);
}

namespace IMAConversionDetail
{
// Pixel buffers of itk::Image<fixed-length pixel> and itk::VectorImage are interleaved arrays of
// components, so both are read and written through a component pointer.
template <typename TImage>
const ComponentType<TImage> *
ComponentBuffer(const TImage * image)
{
  return reinterpret_cast<const ComponentType<TImage> *>(image->GetBufferPointer());
}

template <typename TImage>
ComponentType<TImage> *
ComponentBuffer(TImage * image)
{
  return reinterpret_cast<ComponentType<TImage> *>(image->GetBufferPointer());
}

// VectorImage has a run-time component count; every other image type a compile-time one.
template <typename TImage>
struct IsVectorImage : std::false_type
{};
template <typename TPixel, unsigned int VDimension>
struct IsVectorImage<VectorImage<TPixel, VDimension>> : std::true_type
{};

template <typename TImage>
ima::Shape
ShapeOf(const typename TImage::RegionType & region)
{
  ima::Shape shape;
  for (unsigned int d = 0; d < TImage::ImageDimension; ++d)
  {
    shape.size.push_back(static_cast<int64_t>(region.GetSize(d)));
  }
  return shape;
}

// Geometry of the buffered region (origin = physical point of its first index).
template <typename TImage>
ima::Geometry
BufferedGeometryOf(const TImage * image)
{
  ima::Geometry g = IMAGeometryOf(image);
  typename TImage::PointType first;
  image->TransformIndexToPhysicalPoint(image->GetBufferedRegion().GetIndex(), first);
  for (unsigned int d = 0; d < TImage::ImageDimension; ++d)
  {
    g.origin[d] = first[d];
  }
  return g;
}

// Allocates `image` with the container's shape, geometry and (for VectorImage) channel count.
template <typename TImage, typename T>
void
AllocateLike(TImage * image, const ima::ImageBuffer<T> & buffer, const std::string & what)
{
  constexpr unsigned int D = TImage::ImageDimension;
  if (buffer.shape.dims() != static_cast<int>(D))
  {
    throw ima::Error(what + " is " + std::to_string(buffer.shape.dims()) + "D (" + buffer.shape.str() +
                     ") but the ITK image type is " + std::to_string(D) + "D");
  }
  if (buffer.data.size() != static_cast<size_t>(buffer.channels) * static_cast<size_t>(buffer.shape.voxels()))
  {
    throw ima::Error(what + " holds " + std::to_string(buffer.data.size()) + " values, expected " +
                     std::to_string(buffer.channels) + " channels x " + buffer.shape.str());
  }
  typename TImage::SizeType size;
  for (unsigned int d = 0; d < D; ++d)
  {
    size[d] = static_cast<SizeValueType>(buffer.shape.size[d]);
  }
  typename TImage::RegionType region;
  region.SetSize(size); // index 0
  image->SetRegions(region);

  SetIMAGeometry(image, buffer.geometry);

  if constexpr (IsVectorImage<TImage>::value)
  {
    image->SetNumberOfComponentsPerPixel(static_cast<unsigned int>(buffer.channels));
  }
  else if (image->GetNumberOfComponentsPerPixel() != static_cast<unsigned int>(buffer.channels))
  {
    throw ima::Error(what + " has " + std::to_string(buffer.channels) + " channels but the ITK pixel type has " +
                     std::to_string(image->GetNumberOfComponentsPerPixel()) +
                     " components (use itk::VectorImage for a run-time channel count)");
  }
  image->Allocate();
}

// Copies planar channels into the interleaved pixel buffer of an allocated image of equal size.
template <typename TImage, typename T>
void
CopyPlanarToImage(const ima::ImageBuffer<T> & buffer, TImage * image)
{
  using Component = ComponentType<TImage>;
  const size_t voxels = static_cast<size_t>(buffer.shape.voxels());
  const size_t channels = static_cast<size_t>(buffer.channels);
  Component * out = ComponentBuffer(image);
  for (size_t c = 0; c < channels; ++c)
  {
    const T * in = buffer.channel(static_cast<int>(c));
    for (size_t i = 0; i < voxels; ++i)
    {
      out[i * channels + c] = static_cast<Component>(in[i]);
    }
  }
}
} // namespace IMAConversionDetail


/** Copies the buffered region of a scalar or multi-component image into a float volume with one
 * channel per pixel component. Integer and double values are converted to float. */
template <typename TImage>
ima::Volume
ImageToIMAVolume(const TImage * image)
{
  IMAConversionDetail::CheckImageType<TImage>();
  if (image == nullptr)
  {
    throw ima::Error("ImageToIMAVolume: the image is null");
  }
  const auto & region = image->GetBufferedRegion();
  const int channels = static_cast<int>(image->GetNumberOfComponentsPerPixel());
  ima::Volume volume(IMAConversionDetail::ShapeOf<TImage>(region), channels,
                     IMAConversionDetail::BufferedGeometryOf(image));
  const size_t voxels = static_cast<size_t>(volume.shape.voxels());
  if (voxels == 0)
  {
    return volume;
  }
  const auto * in = IMAConversionDetail::ComponentBuffer(image);
  for (int c = 0; c < channels; ++c)
  {
    float * out = volume.channel(c);
    for (size_t i = 0; i < voxels; ++i)
    {
      out[i] = static_cast<float>(in[i * static_cast<size_t>(channels) + static_cast<size_t>(c)]);
    }
  }
  return volume;
}

/** A new image holding a float volume; for itk::VectorImage the vector length is the channel
 * count, other pixel types must have exactly volume.channels components (else ima::Error). */
template <typename TImage>
typename TImage::Pointer
IMAVolumeToImage(const ima::Volume & volume)
{
  IMAConversionDetail::CheckImageType<TImage>();
  auto image = TImage::New();
  IMAConversionDetail::AllocateLike(image.GetPointer(), volume, "volume");
  IMAConversionDetail::CopyPlanarToImage(volume, image.GetPointer());
  return image;
}

/** Copies the buffered region of a scalar label image; every value must be an integer in
 * 0..255 (else ima::Error naming the value and its index). */
template <typename TLabelImage>
ima::LabelMap
LabelImageToIMALabelMap(const TLabelImage * image)
{
  IMAConversionDetail::CheckImageType<TLabelImage>();
  static_assert(std::is_same<IMAConversionDetail::ComponentType<TLabelImage>, typename TLabelImage::PixelType>::value,
                "label images must have a scalar pixel type");
  if (image == nullptr)
  {
    throw ima::Error("LabelImageToIMALabelMap: the label image is null");
  }
  const auto & region = image->GetBufferedRegion();
  ima::LabelMap labels(IMAConversionDetail::ShapeOf<TLabelImage>(region), 1,
                       IMAConversionDetail::BufferedGeometryOf(image));
  const size_t voxels = static_cast<size_t>(labels.shape.voxels());
  const auto * in = image->GetBufferPointer();
  for (size_t i = 0; i < voxels; ++i)
  {
    const double v = static_cast<double>(in[i]);
    if (!(v >= 0.0 && v <= 255.0 && v == std::floor(v)))
    {
      std::ostringstream msg;
      msg << "label image value " << static_cast<typename NumericTraits<typename TLabelImage::PixelType>::PrintType>(in[i])
          << " at index " << image->ComputeIndex(static_cast<OffsetValueType>(i))
          << " is not a label (labels are integers 0..255)";
      throw ima::Error(msg.str());
    }
    labels.data[i] = static_cast<uint8_t>(v);
  }
  return labels;
}

/** A new scalar label image holding a label map. */
template <typename TLabelImage>
typename TLabelImage::Pointer
IMALabelMapToImage(const ima::LabelMap & labels)
{
  IMAConversionDetail::CheckImageType<TLabelImage>();
  if (labels.channels != 1)
  {
    throw ima::Error("a label map must have 1 channel, got " + std::to_string(labels.channels));
  }
  auto image = TLabelImage::New();
  IMAConversionDetail::AllocateLike(image.GetPointer(), labels, "label map");
  IMAConversionDetail::CopyPlanarToImage(labels, image.GetPointer());
  return image;
}

} // namespace itk

#endif // itkIMAImageConversion_h
