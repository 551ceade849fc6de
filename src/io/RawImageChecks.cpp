#include "internal/RawImageChecks.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <zlib.h>

#include "ima/io/ImageFiles.h"
#include "ima/Error.h"

namespace ima::io {

namespace {

// Voxel data shorter than the header declares. `capped`: the declared size was counted only up to
// 2^40 voxels, so `expected` is a lower bound.
Error truncated(const std::string& label, int64_t found, int64_t expected, bool capped) {
  return Error(label + " is truncated: it holds " + std::to_string(found) + " of the " + (capped ? "more than " : "") +
               std::to_string(expected) + " bytes of voxel data its header declares");
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  std::ostringstream s;
  s << v;
  return s.str();
}

// Bytes per voxel of a NIfTI datatype code; 0 when unknown (ITK then reports the type).
int niftiBytesPerVoxel(int datatype) {
  switch (datatype) {
    case 2: case 256: return 1;               // uint8, int8
    case 4: case 512: return 2;               // int16, uint16
    case 8: case 16: case 768: case 2304: return 4;  // int32, float32, uint32, rgba32
    case 128: return 3;                       // rgb24
    case 32: case 64: case 1024: case 1280: return 8;  // complex64, float64, int64, uint64
    case 1792: return 16;                     // complex128
    default: return 0;
  }
}

// Reads all of `file` from its current position, counting the bytes; float voxels are checked
// for NaN/Inf on the way. Returns the byte count, or -1 when the compressed stream is damaged.
int64_t readVoxelData(gzFile file, int64_t expected, int floatBytes, bool swapped, const std::string& label) {
  std::vector<unsigned char> buffer(size_t{1} << 20);
  int64_t total = 0;
  for (;;) {
    const int n = gzread(file, buffer.data(), static_cast<unsigned>(buffer.size()));
    if (n < 0) return -1;
    if (n == 0) break;
    if (floatBytes > 0) {
      // Only whole voxels inside the declared data; a buffer boundary never splits one because
      // the buffer size is a multiple of 8 and reading starts at the data offset.
      const int64_t usable = std::max<int64_t>(0, std::min<int64_t>(n, expected - total));
      for (int64_t i = 0; i + floatBytes <= usable; i += floatBytes) {
        unsigned char* p = buffer.data() + i;
        if (swapped) std::reverse(p, p + floatBytes);
        double v;
        if (floatBytes == 4) { float f; std::memcpy(&f, p, 4); v = f; }
        else std::memcpy(&v, p, 8);
        if (!std::isfinite(v))
          throw Error(label + ": the value at linear index " + std::to_string((total + i) / floatBytes) + " is " +
                      (std::isnan(v) ? "NaN" : "infinite") + " (NaN or infinite values cannot be used)");
      }
    }
    total += n;
  }
  return total;
}

void checkNifti(const std::string& path, const std::string& label) {
  gzFile file = gzopen(path.c_str(), "rb");  // reads plain files too
  if (!file) return;  // ITK reports unreadable files
  struct Closer {
    gzFile f;
    ~Closer() { gzclose(f); }
  } closer{file};

  unsigned char header[540];
  const int got = gzread(file, header, sizeof header);
  if (got < 348) return;  // not NIfTI at all: ITK says so
  int32_t sizeofHdr;
  std::memcpy(&sizeofHdr, header, 4);
  bool swapped = false;
  if (sizeofHdr != 348 && sizeofHdr != 540) {
    std::reverse(header, header + 4);
    std::memcpy(&sizeofHdr, header, 4);
    swapped = true;
    if (sizeofHdr != 348 && sizeofHdr != 540) return;
  }
  const bool nifti2 = sizeofHdr == 540;
  if (nifti2 && got < 540) throw Error(label + ": the NIfTI-2 header is truncated");
  auto raw = [&](int offset, int bytes, void* out) {
    unsigned char b[8];
    std::memcpy(b, header + offset, static_cast<size_t>(bytes));
    if (swapped) std::reverse(b, b + bytes);
    std::memcpy(out, b, static_cast<size_t>(bytes));
  };
  auto integer = [&](int offset, int bytes) -> int64_t {
    if (bytes == 2) { int16_t v; raw(offset, 2, &v); return v; }
    if (bytes == 4) { int32_t v; raw(offset, 4, &v); return v; }
    int64_t v; raw(offset, 8, &v); return v;
  };
  auto real = [&](int offset) -> double {  // float in NIfTI-1, double in NIfTI-2
    if (!nifti2) { float v; raw(offset, 4, &v); return v; }
    double v; raw(offset, 8, &v); return v;
  };
  const int ib = nifti2 ? 8 : 2, rb = nifti2 ? 8 : 4;
  const int dimAt = nifti2 ? 16 : 40, pixdimAt = nifti2 ? 104 : 76, datatypeAt = nifti2 ? 12 : 70;
  const int qformAt = nifti2 ? 344 : 252, sformAt = nifti2 ? 348 : 254, codeBytes = nifti2 ? 4 : 2;
  const int quaternAt = nifti2 ? 352 : 256, srowAt = nifti2 ? 400 : 280;

  const int64_t rank = integer(dimAt, ib);
  if (rank < 1 || rank > 7)
    throw Error(label + ": NIfTI dim[0] (the number of dimensions) is " + std::to_string(rank) + "; it must be 1..7");
  int64_t voxels = 1;
  for (int d = 1; d <= rank; ++d) {
    const int64_t n = integer(dimAt + ib * d, ib);
    if (n < 1) throw Error(label + ": NIfTI dim[" + std::to_string(d) + "] (the size of axis " + std::to_string(d) +
                           ") is " + std::to_string(n) + "; it must be at least 1");
    voxels = n > (int64_t{1} << 40) / voxels ? (int64_t{1} << 40) : voxels * n;
  }
  for (int d = 1; d <= std::min<int64_t>(rank, 3); ++d) {
    const double s = real(pixdimAt + rb * d);
    if (!std::isfinite(s) || s == 0)
      throw Error(label + ": NIfTI pixdim[" + std::to_string(d) + "] (the voxel spacing along axis " + std::to_string(d) +
                  ") is " + number(s) + "; it must be a finite non-zero number");
  }
  if (integer(qformAt, codeBytes) > 0) {
    const char* names[] = {"quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"};
    for (int i = 0; i < 6; ++i) {
      const double v = real(quaternAt + rb * i);
      if (!std::isfinite(v))
        throw Error(label + ": the NIfTI qform is unusable: " + names[i] + " is " + number(v));
    }
  }
  if (integer(sformAt, codeBytes) > 0) {
    double m[3][4];
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c) {
        m[r][c] = real(srowAt + rb * (4 * r + c));
        if (!std::isfinite(m[r][c]))
          throw Error(label + ": the NIfTI sform is unusable: srow_" + "xyz"[r] + "[" + std::to_string(c) + "] is " +
                      number(m[r][c]));
      }
    const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                       m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                       m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if (det == 0) throw Error(label + ": the NIfTI sform is unusable: its 3x3 matrix is singular");
  }

  const int bytes = niftiBytesPerVoxel(static_cast<int>(integer(datatypeAt, 2)));
  if (bytes == 0) return;
  // NIfTI-1 keeps vox_offset as a float: NaN, infinite or beyond any file size is damage (and no
  // integer can hold it).
  const double floatOffset = nifti2 ? 0 : real(108);
  if (!(floatOffset > -1e18 && floatOffset < 1e18))
    throw Error(label + ": the NIfTI vox_offset (where the voxel data starts) is " + number(floatOffset) +
                "; it must be a byte offset within the file");
  // A single .nii file holds its voxels after its header, whatever vox_offset says: an Analyze
  // header without the NIfTI magic may give any offset, and ITK then allocated the declared size
  // (61 TB for a 427-byte file found by FuzzNiftiImage) before reading. So the declared voxel data
  // must fit after the header.
  const int64_t offset = std::max<int64_t>(sizeofHdr, nifti2 ? integer(168, 8) : static_cast<int64_t>(floatOffset));
  if (gzseek(file, static_cast<z_off_t>(offset), SEEK_SET) < 0)
    throw Error(label + ": the voxel data offset " + std::to_string(offset) + " lies beyond the end of the file");
  const int64_t expected = voxels * bytes;
  const int datatype = static_cast<int>(integer(datatypeAt, 2));
  const int floatBytes = datatype == 16 ? 4 : datatype == 64 ? 8 : 0;
  const int64_t found = readVoxelData(file, expected, floatBytes, swapped, label);
  if (found < 0) throw Error(label + ": the compressed data is damaged or truncated");
  if (found < expected)
    throw truncated(label, found, expected, voxels == (int64_t{1} << 40));
}

// MetaImage with ElementDataFile = LOCAL: the data follows the header in the same file.
void checkMetaImage(const std::string& path, const std::string& label) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  int64_t voxels = 1, channels = 1, bytes = 0;
  bool compressed = false, local = false, haveSize = false;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) return;  // not a MetaImage header: ITK decides
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t\r"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "DimSize") {
      std::istringstream s(value);
      int64_t n;
      haveSize = true;
      while (s >> n) voxels = (n < 1 || voxels > (int64_t{1} << 40)) ? 0 : voxels * n;
    } else if (key == "ElementNumberOfChannels") {
      channels = std::max<int64_t>(1, std::atoll(value.c_str()));
    } else if (key == "CompressedData") {
      compressed = value == "True" || value == "true";
    } else if (key == "HeaderSize") {
      return;  // skipped bytes: leave to ITK
    } else if (key == "ElementType") {
      static const std::pair<const char*, int> sizes[] = {
          {"MET_CHAR", 1}, {"MET_UCHAR", 1}, {"MET_SHORT", 2}, {"MET_USHORT", 2}, {"MET_INT", 4},
          {"MET_UINT", 4}, {"MET_FLOAT", 4}, {"MET_LONG_LONG", 8}, {"MET_ULONG_LONG", 8}, {"MET_DOUBLE", 8}};
      for (const auto& [name, size] : sizes)
        if (value == name) bytes = size;
    } else if (key == "ElementDataFile") {
      local = value == "LOCAL";
      break;
    }
  }
  if (!local || !haveSize || bytes == 0 || voxels == 0) return;
  const int64_t expected = voxels * channels * bytes;
  const std::streamoff start = in.tellg();
  int64_t found = 0;
  if (!compressed) {
    in.seekg(0, std::ios::end);
    found = static_cast<int64_t>(in.tellg() - start);
  } else {
    z_stream z{};
    if (inflateInit2(&z, 15 + 32) != Z_OK) return;  // zlib or gzip header
    std::vector<unsigned char> input(size_t{1} << 16), output(size_t{1} << 20);
    int status = Z_OK;
    while (status != Z_STREAM_END) {
      if (z.avail_in == 0) {
        in.read(reinterpret_cast<char*>(input.data()), static_cast<std::streamsize>(input.size()));
        z.avail_in = static_cast<uInt>(in.gcount());
        z.next_in = input.data();
        if (z.avail_in == 0) break;
      }
      z.next_out = output.data();
      z.avail_out = static_cast<uInt>(output.size());
      status = inflate(&z, Z_NO_FLUSH);
      found += static_cast<int64_t>(output.size() - z.avail_out);
      if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR) break;
    }
    inflateEnd(&z);
  }
  if (found < expected)
    throw truncated(label, found, expected, false);
}

}  // namespace

void checkRawImageFile(const std::string& path, const std::string& what) {
  const std::string ext = imageExtension(path);
  const std::string label = what + " '" + path + "'";
  if (ext == ".nii" || ext == ".nii.gz") checkNifti(path, label);
  else if (ext == ".mha" || ext == ".mhd") checkMetaImage(path, label);
}

}  // namespace ima::io
