// Conversion between ITK images and the core's planar containers. Oracle: the core layout
// formula, value of channel c at (x, y, z) = data[c * N + z * H * W + y * W + x], applied to
// pixels whose values encode their own index and channel.
#include <cmath>
#include <string>

#include "gtest/gtest.h"

#include "itkIMAImageConversion.h"
#include "itkImage.h"
#include "itkVectorImage.h"

#include "ima/Error.h"

namespace
{
constexpr double kPi = 3.14159265358979323846;

// Rotation about z by 30 degrees, then about x by 20 degrees: a direction with no zero entries
// off the diagonal, so row/column mix-ups show.
itk::Matrix<double, 3, 3>
Rotation3D()
{
  const double a = 30.0 * kPi / 180.0, b = 20.0 * kPi / 180.0;
  itk::Matrix<double, 3, 3> rz, rx;
  rz.SetIdentity();
  rx.SetIdentity();
  rz(0, 0) = std::cos(a);
  rz(0, 1) = -std::sin(a);
  rz(1, 0) = std::sin(a);
  rz(1, 1) = std::cos(a);
  rx(1, 1) = std::cos(b);
  rx(1, 2) = -std::sin(b);
  rx(2, 1) = std::sin(b);
  rx(2, 2) = std::cos(b);
  return rz * rx;
}

itk::Matrix<double, 2, 2>
Rotation2D()
{
  const double a = 40.0 * kPi / 180.0;
  itk::Matrix<double, 2, 2> r;
  r(0, 0) = std::cos(a);
  r(0, 1) = -std::sin(a);
  r(1, 0) = std::sin(a);
  r(1, 1) = std::cos(a);
  return r;
}

template <typename TImage>
void
SetGeometry(TImage * image)
{
  constexpr unsigned int    D = TImage::ImageDimension;
  typename TImage::PointType   origin;
  typename TImage::SpacingType spacing;
  const double                 o[3] = { 10.5, -3.25, 7.0 };
  const double                 s[3] = { 0.7, 1.2, 2.5 };
  for (unsigned int d = 0; d < D; ++d)
  {
    origin[d] = o[d];
    spacing[d] = s[d];
  }
  image->SetOrigin(origin);
  image->SetSpacing(spacing);
  if constexpr (D == 3)
  {
    image->SetDirection(Rotation3D());
  }
  else
  {
    image->SetDirection(Rotation2D());
  }
}

// Value of channel c at index (x, y, z): unique per voxel and channel.
double
Encode(int c, long x, long y, long z)
{
  return 1000.0 * c + 100.0 * z + 10.0 * y + x;
}

template <typename TImage>
typename TImage::Pointer
MakeImage(const typename TImage::SizeType & size, unsigned int channels)
{
  auto image = TImage::New();
  image->SetRegions(size);
  if constexpr (itk::IMAConversionDetail::IsVectorImage<TImage>::value)
  {
    image->SetNumberOfComponentsPerPixel(channels);
  }
  SetGeometry(image.GetPointer());
  image->Allocate();
  auto * buffer = itk::IMAConversionDetail::ComponentBuffer(image.GetPointer());
  for (itk::OffsetValueType i = 0; i < static_cast<itk::OffsetValueType>(image->GetBufferedRegion().GetNumberOfPixels());
       ++i)
  {
    const auto index = image->ComputeIndex(i);
    for (unsigned int c = 0; c < channels; ++c)
    {
      buffer[i * channels + c] = static_cast<itk::IMAConversionDetail::ComponentType<TImage>>(
        Encode(static_cast<int>(c), index[0], index[1], TImage::ImageDimension == 3 ? index[2] : 0));
    }
  }
  return image;
}

template <typename TImage>
void
ExpectGeometryEmbedded(const ima::Geometry & g, const TImage * image)
{
  constexpr unsigned int D = TImage::ImageDimension;
  for (unsigned int r = 0; r < 3; ++r)
  {
    EXPECT_EQ(g.origin[r], r < D ? image->GetOrigin()[r] : 0.0) << "origin " << r;
    EXPECT_EQ(g.spacing[r], r < D ? image->GetSpacing()[r] : 1.0) << "spacing " << r;
    for (unsigned int c = 0; c < 3; ++c)
    {
      const double expected = (r < D && c < D) ? image->GetDirection()(r, c) : (r == c ? 1.0 : 0.0);
      EXPECT_EQ(g.direction[3 * r + c], expected) << "direction " << r << "," << c;
    }
  }
}

template <typename TA, typename TB>
void
ExpectSameGeometry(const TA * a, const TB * b)
{
  EXPECT_EQ(a->GetOrigin(), b->GetOrigin());
  EXPECT_EQ(a->GetSpacing(), b->GetSpacing());
  EXPECT_EQ(a->GetDirection(), b->GetDirection());
  EXPECT_EQ(a->GetLargestPossibleRegion(), b->GetLargestPossibleRegion());
}

// Picked indices cover the corners and an interior voxel in every axis.
void
ExpectPlanarValues(const ima::Volume & v, unsigned int channels)
{
  const long W = v.shape.size[0], H = v.shape.size[1], Z = v.shape.dims() == 3 ? v.shape.size[2] : 1;
  const long N = W * H * Z;
  const long picks[][3] = { { 0, 0, 0 }, { W - 1, 0, 0 }, { 0, H - 1, 0 }, { 0, 0, Z - 1 }, { W - 1, H - 1, Z - 1 }, { 2, 1, Z / 2 } };
  for (const auto & p : picks)
  {
    for (unsigned int c = 0; c < channels; ++c)
    {
      const long planar = c * N + p[2] * H * W + p[1] * W + p[0];
      EXPECT_EQ(v.data[static_cast<size_t>(planar)], static_cast<float>(Encode(static_cast<int>(c), p[0], p[1], p[2])))
        << "channel " << c << " at (" << p[0] << ", " << p[1] << ", " << p[2] << ")";
    }
  }
}
} // namespace

TEST(IMAImageConversion, ScalarImage3DToVolumeAndBack)
{
  using ImageType = itk::Image<float, 3>;
  const auto image = MakeImage<ImageType>({ { 5, 4, 3 } }, 1);

  const ima::Volume v = itk::ImageToIMAVolume(image.GetPointer());
  EXPECT_EQ(v.shape.size, (std::vector<int64_t>{ 5, 4, 3 }));
  EXPECT_EQ(v.channels, 1);
  ASSERT_EQ(v.data.size(), 60u);
  ExpectGeometryEmbedded(v.geometry, image.GetPointer());
  ExpectPlanarValues(v, 1);

  const auto back = itk::IMAVolumeToImage<ImageType>(v);
  ExpectSameGeometry(back.GetPointer(), image.GetPointer());
  EXPECT_EQ(back->GetPixel({ { 4, 3, 2 } }), static_cast<float>(Encode(0, 4, 3, 2)));
  EXPECT_EQ(back->GetPixel({ { 2, 1, 1 } }), static_cast<float>(Encode(0, 2, 1, 1)));
}

TEST(IMAImageConversion, ScalarImage2DEmbedsGeometry)
{
  using ImageType = itk::Image<short, 2>;
  const auto image = MakeImage<ImageType>({ { 7, 3 } }, 1);

  const ima::Volume v = itk::ImageToIMAVolume(image.GetPointer());
  EXPECT_EQ(v.shape.size, (std::vector<int64_t>{ 7, 3 }));
  ExpectGeometryEmbedded(v.geometry, image.GetPointer());
  ExpectPlanarValues(v, 1);

  const auto back = itk::IMAVolumeToImage<ImageType>(v);
  ExpectSameGeometry(back.GetPointer(), image.GetPointer());
  EXPECT_EQ(back->GetPixel({ { 6, 2 } }), static_cast<short>(Encode(0, 6, 2, 0)));
}

TEST(IMAImageConversion, VectorImage3DIsChannelPlanar)
{
  using ImageType = itk::VectorImage<float, 3>;
  const auto image = MakeImage<ImageType>({ { 6, 5, 4 } }, 2);

  const ima::Volume v = itk::ImageToIMAVolume(image.GetPointer());
  EXPECT_EQ(v.channels, 2);
  ASSERT_EQ(v.data.size(), 2u * 120u);
  ExpectGeometryEmbedded(v.geometry, image.GetPointer());
  ExpectPlanarValues(v, 2);

  const auto back = itk::IMAVolumeToImage<ImageType>(v);
  ExpectSameGeometry(back.GetPointer(), image.GetPointer());
  ASSERT_EQ(back->GetNumberOfComponentsPerPixel(), 2u);
  const auto pixel = back->GetPixel({ { 5, 3, 2 } });
  EXPECT_EQ(pixel[0], static_cast<float>(Encode(0, 5, 3, 2)));
  EXPECT_EQ(pixel[1], static_cast<float>(Encode(1, 5, 3, 2)));
}

TEST(IMAImageConversion, VectorImage2DThreeChannels)
{
  using ImageType = itk::VectorImage<short, 2>;
  const auto image = MakeImage<ImageType>({ { 6, 5 } }, 3);

  const ima::Volume v = itk::ImageToIMAVolume(image.GetPointer());
  EXPECT_EQ(v.channels, 3);
  ExpectGeometryEmbedded(v.geometry, image.GetPointer());
  ExpectPlanarValues(v, 3);

  // Back into a different component type: values survive, the vector length follows the volume.
  using FloatImageType = itk::VectorImage<float, 2>;
  const auto back = itk::IMAVolumeToImage<FloatImageType>(v);
  ExpectSameGeometry(back.GetPointer(), image.GetPointer());
  ASSERT_EQ(back->GetNumberOfComponentsPerPixel(), 3u);
  EXPECT_EQ(back->GetPixel({ { 4, 1 } })[2], static_cast<float>(Encode(2, 4, 1, 0)));
}

TEST(IMAImageConversion, FixedVectorPixelsCountAsChannels)
{
  using ImageType = itk::Image<itk::Vector<float, 2>, 3>;
  const auto        image = MakeImage<ImageType>({ { 3, 4, 5 } }, 2);
  const ima::Volume v = itk::ImageToIMAVolume(image.GetPointer());
  EXPECT_EQ(v.channels, 2);
  ExpectPlanarValues(v, 2);
  const auto back = itk::IMAVolumeToImage<ImageType>(v);
  EXPECT_EQ(back->GetPixel({ { 2, 3, 4 } })[1], static_cast<float>(Encode(1, 2, 3, 4)));
}

TEST(IMAImageConversion, BufferedRegionWithOffsetKeepsPhysicalPositions)
{
  using ImageType = itk::Image<float, 3>;
  auto                  image = ImageType::New();
  const ImageType::IndexType start{ { 3, -2, 5 } };
  const ImageType::SizeType  size{ { 4, 3, 2 } };
  image->SetRegions(ImageType::RegionType(start, size));
  SetGeometry(image.GetPointer());
  image->Allocate();
  image->FillBuffer(1.5f);
  image->SetPixel({ { 3, -2, 5 } }, 7.0f); // first voxel of the region

  const ima::Volume v = itk::ImageToIMAVolume(image.GetPointer());
  EXPECT_EQ(v.data[0], 7.0f);
  const auto back = itk::IMAVolumeToImage<ImageType>(v);
  EXPECT_EQ(back->GetLargestPossibleRegion().GetIndex(), (ImageType::IndexType{ { 0, 0, 0 } }));
  ImageType::PointType expected, actual;
  image->TransformIndexToPhysicalPoint({ { 4, 0, 6 } }, expected);
  back->TransformIndexToPhysicalPoint({ { 1, 2, 1 } }, actual);
  for (unsigned int d = 0; d < 3; ++d)
  {
    EXPECT_NEAR(actual[d], expected[d], 1e-9) << "axis " << d;
  }
}

TEST(IMAImageConversion, ScalarImageRejectsMultiChannelVolume)
{
  ima::Volume v(ima::Shape{ { 4, 4, 4 } }, 2);
  try
  {
    using ImageType = itk::Image<float, 3>;
    itk::IMAVolumeToImage<ImageType>(v);
    FAIL() << "expected ima::Error";
  }
  catch (const ima::Error & e)
  {
    EXPECT_NE(std::string(e.what()).find("2 channels"), std::string::npos) << e.what();
  }
}

TEST(IMAImageConversion, DimensionMismatchThrows)
{
  ima::Volume v(ima::Shape{ { 4, 4 } }, 1);
  using ImageType = itk::Image<float, 3>;
  EXPECT_THROW(itk::IMAVolumeToImage<ImageType>(v), ima::Error);
}

TEST(IMAImageConversion, LabelMapRoundTrip)
{
  using LabelImageType = itk::Image<short, 3>;
  auto image = LabelImageType::New();
  image->SetRegions(LabelImageType::SizeType{ { 4, 3, 2 } });
  SetGeometry(image.GetPointer());
  image->Allocate();
  image->FillBuffer(0);
  image->SetPixel({ { 3, 0, 0 } }, 2);
  image->SetPixel({ { 1, 2, 1 } }, 255);

  const ima::LabelMap labels = itk::LabelImageToIMALabelMap(image.GetPointer());
  EXPECT_EQ(labels.channels, 1);
  ExpectGeometryEmbedded(labels.geometry, image.GetPointer());
  EXPECT_EQ(labels.data[3], 2);                  // (3, 0, 0)
  EXPECT_EQ(labels.data[1 * 12 + 2 * 4 + 1], 255); // (1, 2, 1)

  const auto back = itk::IMALabelMapToImage<LabelImageType>(labels);
  ExpectSameGeometry(back.GetPointer(), image.GetPointer());
  EXPECT_EQ(back->GetPixel({ { 3, 0, 0 } }), 2);
  EXPECT_EQ(back->GetPixel({ { 1, 2, 1 } }), 255);
  EXPECT_EQ(back->GetPixel({ { 0, 0, 0 } }), 0);
}

TEST(IMAImageConversion, LabelOutsideByteRangeNamesTheValue)
{
  using LabelImageType = itk::Image<short, 2>;
  for (const short bad : { short{ 300 }, short{ -1 } })
  {
    auto image = LabelImageType::New();
    image->SetRegions(LabelImageType::SizeType{ { 3, 3 } });
    image->Allocate();
    image->FillBuffer(1);
    image->SetPixel({ { 2, 1 } }, bad);
    try
    {
      itk::LabelImageToIMALabelMap(image.GetPointer());
      FAIL() << "expected ima::Error for " << bad;
    }
    catch (const ima::Error & e)
    {
      const std::string message = e.what();
      EXPECT_NE(message.find(std::to_string(bad)), std::string::npos) << message;
      EXPECT_NE(message.find("[2, 1]"), std::string::npos) << message;
    }
  }
}

TEST(IMAImageConversion, FractionalLabelIsRejected)
{
  using LabelImageType = itk::Image<float, 2>;
  auto image = LabelImageType::New();
  image->SetRegions(LabelImageType::SizeType{ { 2, 2 } });
  image->Allocate();
  image->FillBuffer(1.5f);
  EXPECT_THROW(itk::LabelImageToIMALabelMap(image.GetPointer()), ima::Error);
}

TEST(IMAImageConversion, GeometryRoundTrip)
{
  using ImageType = itk::Image<unsigned char, 3>;
  auto image = ImageType::New();
  SetGeometry(image.GetPointer());
  const ima::Geometry g = itk::IMAGeometryOf(image.GetPointer());
  ExpectGeometryEmbedded(g, image.GetPointer());

  auto other = ImageType::New();
  itk::SetIMAGeometry(other.GetPointer(), g);
  EXPECT_EQ(other->GetOrigin(), image->GetOrigin());
  EXPECT_EQ(other->GetSpacing(), image->GetSpacing());
  EXPECT_EQ(other->GetDirection(), image->GetDirection());
}
