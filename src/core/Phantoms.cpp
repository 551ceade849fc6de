#include "ima/Phantoms.h"

#include <array>
#include <cmath>

#include "ima/Error.h"
#include "internal/Random.h"

namespace ima {
namespace {

using Vec3 = std::array<double, 3>;

// A smooth closed shape: an ellipsoid with a random rotation whose surface is perturbed by
// low-frequency harmonics. inside(p) < 1 means inside.
struct Blob {
  Vec3 centre{}, radii{};
  std::array<double, 9> rotation{};
  double wobble = 0;
  Vec3 phase{};

  static Blob random(Random& r, Vec3 centre, double rmin, double rmax, double wobble) {
    Blob b;
    b.centre = centre;
    for (double& x : b.radii) x = r.uniform(rmin, rmax);
    // Rotation from three random Euler angles.
    const double a = r.uniform(0, 6.283185), c = r.uniform(-0.6, 0.6), e = r.uniform(0, 6.283185);
    const double ca = std::cos(a), sa = std::sin(a), cc = std::cos(c), sc = std::sin(c), ce = std::cos(e), se = std::sin(e);
    b.rotation = {ca * ce - sa * cc * se, -ca * se - sa * cc * ce, sa * sc,
                  sa * ce + ca * cc * se, -sa * se + ca * cc * ce, -ca * sc,
                  sc * se, sc * ce, cc};
    b.wobble = wobble;
    for (double& p : b.phase) p = r.uniform(0, 6.283185);
    return b;
  }

  double inside(const Vec3& p) const {
    const Vec3 d{p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]};
    double q = 0;
    for (int i = 0; i < 3; ++i) {
      const double u = rotation[3 * i] * d[0] + rotation[3 * i + 1] * d[1] + rotation[3 * i + 2] * d[2];
      q += (u / radii[static_cast<size_t>(i)]) * (u / radii[static_cast<size_t>(i)]);
    }
    const double bump = wobble * std::sin(3 * d[0] / radii[0] + phase[0]) * std::sin(2 * d[1] / radii[1] + phase[1]) *
                        std::cos(2 * d[2] / radii[2] + phase[2]);
    return q * (1 + bump);
  }
};

// Soft edge for intensities (partial volume); labels use the hard edge inside < 1.
double softInside(double f, double sharpness) { return 1.0 / (1.0 + std::exp((f - 1.0) * sharpness)); }

}  // namespace

std::pair<Volume, LabelMap> makePhantom(const PhantomOptions& o, int index) {
  if (o.dims != 2 && o.dims != 3) throw Error("phantom dims must be 2 or 3, got " + std::to_string(o.dims));
  if (o.size < 16 || o.size > 1024) throw Error("phantom size must be in 16..1024, got " + std::to_string(o.size));
  if (index < 0) throw Error("phantom index must be >= 0");
  Random r(o.seed * 1000003ULL + static_cast<uint64_t>(index) * 7919ULL + 17ULL);

  const bool flat = o.dims == 2;
  const double zc = flat ? 0.0 : 1.0;  // 2D phantoms are the central slice of a 3D phantom
  const Blob organ = Blob::random(r, {r.uniform(-0.2, 0.2), r.uniform(-0.2, 0.2), zc * r.uniform(-0.15, 0.15)},
                                  0.35, 0.62, r.uniform(0.0, 0.35));
  // Lesion: inside the organ, found by rejection sampling near the organ's centre.
  Vec3 lesionCentre = organ.centre;
  for (int attempt = 0; attempt < 200; ++attempt) {
    const Vec3 p{organ.centre[0] + r.uniform(-0.4, 0.4), organ.centre[1] + r.uniform(-0.4, 0.4),
                 organ.centre[2] + zc * r.uniform(-0.3, 0.3)};
    if (organ.inside(p) < 0.35) { lesionCentre = p; break; }
  }
  const Blob lesion = Blob::random(r, lesionCentre, 0.14, 0.28, 0.15);
  // Distractor: an unlabelled blob outside the organ that looks like a lesion, so intensity alone
  // cannot separate the classes.
  Vec3 distractorCentre{0.8, 0.8, 0.0};
  for (int attempt = 0; attempt < 200; ++attempt) {
    const Vec3 p{r.uniform(-0.8, 0.8), r.uniform(-0.8, 0.8), zc * r.uniform(-0.6, 0.6)};
    if (organ.inside(p) > 2.2) { distractorCentre = p; break; }
  }
  const Blob distractor = Blob::random(r, distractorCentre, 0.07, 0.16, 0.1);

  const double organContrast = r.uniform(0.5, 1.4);
  const double lesionSign = r.coin() ? 1.0 : -1.0;
  const double lesionContrast = lesionSign * r.uniform(0.5, 1.0);
  const double distractorLevel = organContrast + (r.coin() ? 1.0 : -1.0) * r.uniform(0.5, 1.0);
  const Vec3 biasLinear{r.uniform(-0.3, 0.3), r.uniform(-0.3, 0.3), zc * r.uniform(-0.3, 0.3)};
  const double biasQuadratic = r.uniform(-0.25, 0.25);
  const Vec3 textureFrequency{r.uniform(2, 5), r.uniform(2, 5), r.uniform(2, 5)};
  const double textureAmplitude = r.uniform(0.05, 0.2);
  const double scale = r.uniform(100, 1000), offset = r.uniform(-200, 200);  // arbitrary scanner units

  const int64_t n = o.size;
  const int64_t nz = flat ? 1 : n;
  Shape shape{flat ? std::vector<int64_t>{n, n} : std::vector<int64_t>{n, n, n}};
  Geometry g;
  g.spacing = {1.0, 1.0, 1.0};
  Volume image(shape, 1, g);
  LabelMap labels(shape, 1, g);
  const double sharpness = 0.25 * static_cast<double>(n);  // edge width ~ a voxel or two
  for (int64_t z = 0; z < nz; ++z)
    for (int64_t y = 0; y < n; ++y)
      for (int64_t x = 0; x < n; ++x) {
        const auto coordinate = [n](int64_t i) { return (2.0 * static_cast<double>(i) + 1.0) / static_cast<double>(n) - 1.0; };
        const Vec3 p{coordinate(x), coordinate(y), flat ? 0.0 : coordinate(z)};
        const double fo = organ.inside(p), fl = lesion.inside(p), fd = distractor.inside(p);
        const size_t i = static_cast<size_t>((z * n + y) * n + x);
        labels.data[i] = fl < 1.0 && fo < 1.0 ? 2 : (fo < 1.0 ? 1 : 0);
        const double so = softInside(fo, sharpness), sl = softInside(fl, sharpness) * so, sd = softInside(fd, sharpness);
        double v = organContrast * so + lesionContrast * sl + (distractorLevel)*sd * (1 - so);
        v += textureAmplitude * std::sin(textureFrequency[0] * p[0] * 3.14159) * std::cos(textureFrequency[1] * p[1] * 3.14159) *
             std::sin(textureFrequency[2] * p[2] * 3.14159 + 1.0);
        const double bias = std::exp(biasLinear[0] * p[0] + biasLinear[1] * p[1] + biasLinear[2] * p[2] +
                                     biasQuadratic * (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]));
        v = v * bias + o.noise * r.normal();
        image.data[i] = static_cast<float>(v * scale + offset);
      }
  return {std::move(image), std::move(labels)};
}

}  // namespace ima
