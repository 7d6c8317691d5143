#pragma once
/// \file
/// IDX files: the MNIST / Fashion-MNIST format, plain or gzipped.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace xgrad::siamese {

/// An unsigned-byte IDX array: its shape (outermost first) and row-major data.
struct IdxArray {
  std::vector<std::size_t> shape;
  std::vector<std::uint8_t> data;
};

/// Reads an IDX file of unsigned bytes (type code 0x08), gzipped or not (detected from the
/// content). Throws std::runtime_error naming the file and the problem: missing or
/// unreadable file, corrupt gzip stream, bad magic, another element type, a header that
/// promises more data than the file holds (truncated), or trailing bytes.
IdxArray read_idx(const std::string& path);

/// Images and labels of an IDX pair such as train-images-idx3-ubyte.gz +
/// train-labels-idx1-ubyte.gz.
struct IdxImages {
  std::size_t count = 0, height = 0, width = 0;
  std::vector<std::uint8_t> pixels;  ///< count × height × width, row-major, 0..255
  std::vector<std::int64_t> labels;  ///< count labels
};

/// Reads an images file ([N, H, W]) and a labels file ([N]) and checks that they agree.
/// Throws std::runtime_error naming the file(s) when they do not.
IdxImages read_idx_images(const std::string& images_path, const std::string& labels_path);

}  // namespace xgrad::siamese
