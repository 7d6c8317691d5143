#include "siamese/idx.h"

#include <zlib.h>

#include <array>
#include <limits>
#include <memory>
#include <stdexcept>

namespace xgrad::siamese {

namespace {

// zlib's gz* functions read gzip and plain files alike.
struct GzFile {
  explicit GzFile(const std::string& path) : path(path), f(gzopen(path.c_str(), "rb")) {
    if (!f) throw std::runtime_error(path + ": cannot open (missing or unreadable file)");
  }
  ~GzFile() {
    if (f) gzclose(f);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes; returns how many. Throws on a corrupt stream.
  std::size_t read(void* buffer, std::size_t n) {
    std::size_t total = 0;
    auto* p = static_cast<unsigned char*>(buffer);
    while (total < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - total, 1u << 30));
      const int got = gzread(f, p + total, chunk);
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(f, &code);
        throw std::runtime_error(path + ": corrupt file (" + std::string(msg ? msg : "read error") + ")");
      }
      if (got == 0) break;
      total += static_cast<std::size_t>(got);
    }
    return total;
  }

  std::string path;
  gzFile f;
};

}  // namespace

IdxArray read_idx(const std::string& path) {
  GzFile file(path);
  std::array<unsigned char, 4> magic{};
  if (file.read(magic.data(), 4) != 4) throw std::runtime_error(path + ": not an IDX file (shorter than its 4-byte magic)");
  if (magic[0] != 0 || magic[1] != 0) {
    throw std::runtime_error(path + ": not an IDX file (bad magic number)");
  }
  if (magic[2] != 0x08) {
    throw std::runtime_error(path + ": IDX element type 0x" + std::to_string(magic[2]) +
                             " is not supported (only unsigned bytes, 0x08)");
  }
  const std::size_t rank = magic[3];
  if (rank == 0 || rank > 4) {
    throw std::runtime_error(path + ": IDX rank " + std::to_string(rank) + " is not supported (1 to 4)");
  }
  IdxArray out;
  std::size_t count = 1;
  for (std::size_t i = 0; i < rank; ++i) {
    unsigned char b[4];
    if (file.read(b, 4) != 4) throw std::runtime_error(path + ": truncated IDX header");
    const std::size_t d = (std::size_t(b[0]) << 24) | (std::size_t(b[1]) << 16) | (std::size_t(b[2]) << 8) | b[3];
    out.shape.push_back(d);
    if (d != 0 && count > (std::size_t(1) << 40) / d) {
      throw std::runtime_error(path + ": IDX header declares an implausibly large array");
    }
    count *= d;
  }
  // Read in bounded chunks so a header that lies about the size cannot make us allocate
  // more than the data actually present (plus one chunk).
  constexpr std::size_t kChunk = std::size_t(1) << 24;
  while (out.data.size() < count) {
    const std::size_t want = std::min(kChunk, count - out.data.size());
    const std::size_t old = out.data.size();
    out.data.resize(old + want);
    const std::size_t got = file.read(out.data.data() + old, want);
    if (got < want) {
      throw std::runtime_error(path + ": truncated: the header promises " + std::to_string(count) +
                               " bytes of data, the file holds " + std::to_string(old + got));
    }
  }
  unsigned char extra;
  if (file.read(&extra, 1) != 0) {
    throw std::runtime_error(path + ": has trailing bytes after the " + std::to_string(count) +
                             " bytes its header declares");
  }
  return out;
}

IdxImages read_idx_images(const std::string& images_path, const std::string& labels_path) {
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  if (images.shape.size() != 3) {
    throw std::runtime_error(images_path + ": an images file must have rank 3 [N, H, W]; got rank " +
                             std::to_string(images.shape.size()));
  }
  if (labels.shape.size() != 1) {
    throw std::runtime_error(labels_path + ": a labels file must have rank 1 [N]; got rank " +
                             std::to_string(labels.shape.size()));
  }
  if (images.shape[0] != labels.shape[0]) {
    throw std::runtime_error(images_path + " holds " + std::to_string(images.shape[0]) + " images but " +
                             labels_path + " holds " + std::to_string(labels.shape[0]) + " labels");
  }
  if (images.shape[0] == 0 || images.shape[1] == 0 || images.shape[2] == 0) {
    throw std::runtime_error(images_path + ": holds no images");
  }
  IdxImages out;
  out.count = images.shape[0];
  out.height = images.shape[1];
  out.width = images.shape[2];
  out.pixels = std::move(images.data);
  out.labels.assign(labels.data.begin(), labels.data.end());
  return out;
}

}  // namespace xgrad::siamese
