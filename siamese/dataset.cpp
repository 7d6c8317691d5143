#include "siamese/dataset.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "autograd/array.h"
#include "autograd/threads.h"
#include "siamese/idx.h"
#include "siamese/image.h"

namespace xgrad::siamese {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------
// Portable randomness.
//
// std::mt19937_64's output sequence is fixed by the standard, but the distributions and
// std::shuffle are not: libstdc++ and libc++ turn the same engine output into different
// integers. Everything random here goes through uniform_below and shuffle_portable below,
// so a seed means the same split and the same pairs with any standard library.

/// splitmix64's finaliser (Steele, Lea & Flood 2014): a bijection on 64 bits whose output
/// bits each depend on every input bit. Used to derive independent engine seeds.
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// The seed of the stream identified by (salt, a, b, c): chained hashes, so that e.g.
/// (epoch 1, batch 2) and (epoch 2, batch 1) get unrelated streams.
std::uint64_t stream_seed(std::uint64_t salt, std::uint64_t a, std::uint64_t b = 0,
                          std::uint64_t c = 0) {
  std::uint64_t h = splitmix64(salt);
  h = splitmix64(h ^ a);
  h = splitmix64(h ^ b);
  return splitmix64(h ^ c);
}

// Salts that keep the streams of the different users of one seed apart.
constexpr std::uint64_t kSplitSalt = 0x73706C6974ull;  // "split"
constexpr std::uint64_t kPairSalt = 0x7061697273ull;   // "pairs"
constexpr std::uint64_t kTripletSalt = 0x74726970ull;  // "trip"

/// A uniform integer in [0, n), n >= 1, unbiased: draws below 2^64 mod n are rejected, so
/// the accepted range [2^64 mod n, 2^64) holds a whole number of copies of [0, n).
std::size_t uniform_below(std::mt19937_64& engine, std::size_t n) {
  const std::uint64_t range = n;
  const std::uint64_t threshold = (0 - range) % range;  // 2^64 mod n
  std::uint64_t x = engine();
  while (x < threshold) x = engine();
  return static_cast<std::size_t>(x % range);
}

/// Fisher–Yates with uniform_below (std::shuffle's use of the engine is unspecified).
template <typename T>
void shuffle_portable(std::vector<T>& v, std::mt19937_64& engine) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(engine, i)]);
}

// ---------------------------------------------------------------------------------------
// Shared checks and helpers.

/// The shortest text that reads back as `v` ("0.1", "1", "1.5", "nan"), unlike
/// std::to_string's fixed six decimals.
std::string number(double v) {
  std::array<char, 32> buf{};
  const auto result = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return std::string(buf.data(), result.ptr);
}

void check_format(const char* fn, const ImageFormat& format) {
  if (format.channels != 1 && format.channels != 3) {
    throw std::invalid_argument(std::string(fn) +
                                ": format.channels must be 1 (gray) or 3 (RGB); got " +
                                std::to_string(format.channels));
  }
  if (format.height == 0 || format.width == 0) {
    throw std::invalid_argument(std::string(fn) + ": format size must be at least 1x1; got " +
                                std::to_string(format.height) + "x" + std::to_string(format.width) +
                                " (height x width)");
  }
}

/// Throws unless `count` images of `format` fit in kMaxDatasetBytes (overflow-safe).
void check_memory(const std::string& where, std::size_t count, const ImageFormat& format) {
  const std::size_t per_image = format.height * format.width * format.channels;
  const bool too_large = format.height > kMaxDatasetBytes || format.width > kMaxDatasetBytes ||
                         per_image / format.width / format.channels != format.height ||
                         per_image > kMaxDatasetBytes ||
                         (count > 0 && per_image > kMaxDatasetBytes / count);
  if (too_large) {
    const double gib = static_cast<double>(count) * static_cast<double>(format.height) *
                       static_cast<double>(format.width) * static_cast<double>(format.channels) /
                       static_cast<double>(std::size_t(1) << 30);
    throw std::runtime_error(
        where + ": " + std::to_string(count) + " images of " + std::to_string(format.height) + "x" +
        std::to_string(format.width) + "x" + std::to_string(format.channels) + " would need " +
        number(std::ceil(gib * 10) / 10) + " GiB in memory; the limit is " +
        std::to_string(kMaxDatasetBytes >> 30) + " GiB (use a smaller image size or fewer images)");
  }
}

/// Float samples (0..255 scale) to 8 bits: halves round up, out-of-range values clamp.
void round_to_u8(const std::vector<float>& in, std::uint8_t* out) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    const float v = std::clamp(in[i], 0.0f, 255.0f);
    out[i] = static_cast<std::uint8_t>(v + 0.5f);  // v + 0.5 >= 0: truncation is floor
  }
}

/// `image` (already of `format.channels` channels) brought to the format's size into `out`
/// (height × width × channels bytes).
void fit_to_format(const Image& image, const ImageFormat& format, std::uint8_t* out) {
  if (image.height == format.height && image.width == format.width) {
    std::memcpy(out, image.pixels.data(), image.pixels.size());
  } else {
    round_to_u8(resize_bilinear(image, format.height, format.width), out);
  }
}

/// Labels as vector positions, checked non-negative (std::invalid_argument naming `fn`).
std::vector<std::size_t> checked_labels(const char* fn, const ImageDataset& data) {
  std::vector<std::size_t> out(data.labels.size());
  for (std::size_t i = 0; i < data.labels.size(); ++i) {
    if (data.labels[i] < 0) {
      throw std::invalid_argument(std::string(fn) + ": labels must be >= 0; got labels[" +
                                  std::to_string(i) + "]=" + std::to_string(data.labels[i]));
    }
    out[i] = static_cast<std::size_t>(data.labels[i]);
  }
  return out;
}

/// Image indices of each class (indexed by label), each list increasing.
std::vector<std::vector<std::size_t>> indices_by_class(const char* fn, const ImageDataset& data) {
  const std::vector<std::size_t> labels = checked_labels(fn, data);
  std::size_t classes = data.class_names.size();
  for (std::size_t l : labels) classes = std::max(classes, l + 1);
  std::vector<std::vector<std::size_t>> out(classes);
  for (std::size_t i = 0; i < labels.size(); ++i) out[labels[i]].push_back(i);
  return out;
}

// ---------------------------------------------------------------------------------------
// Folder listing.

bool is_hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".pgm" || ext == ".ppm";
}

/// `what` without a leading "<path>: " or "<path>" (decode_image's messages start with the
/// path, which SkippedFile already holds).
std::string reason_without_path(const std::string& what, const std::string& path) {
  if (what.compare(0, path.size(), path) != 0) return what;
  std::string rest = what.substr(path.size());
  if (rest.compare(0, 2, ": ") == 0) rest.erase(0, 2);
  return rest.empty() ? what : rest;
}

/// An image file of a class folder: its name, and why it cannot be used when the listing
/// already knows (a broken symbolic link, a socket, …; empty otherwise).
struct FolderEntry {
  std::string name, problem;
};

/// One class folder: its name and its image files (sorted by the bytes of the name).
struct ClassFolder {
  std::string name;
  fs::path dir;
  std::vector<FolderEntry> files;
};

/// The non-hidden subfolders of `root`, sorted by name bytes. Counts the other entries.
std::vector<ClassFolder> list_classes(const std::string& root, std::size_t& root_files) {
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  if (ec) throw std::runtime_error(root + ": cannot list the folder (" + ec.message() + ")");
  std::vector<ClassFolder> classes;
  root_files = 0;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (is_hidden(name)) continue;
    std::error_code type_ec;
    if (it->is_directory(type_ec)) {  // follows symbolic links
      classes.push_back({name, it->path(), {}});
    } else {
      ++root_files;
    }
  }
  if (ec) throw std::runtime_error(root + ": cannot list the folder (" + ec.message() + ")");
  // std::string compares through char_traits<char>, i.e. as unsigned bytes (memcmp): the
  // UTF-8 byte order, independent of the locale and of char's signedness.
  std::sort(classes.begin(), classes.end(),
            [](const ClassFolder& a, const ClassFolder& b) { return a.name < b.name; });
  return classes;
}

/// Fills `folder.files`. Entries with an image extension that are not regular files (broken
/// links, sockets, …) are listed with their problem — never opened: reading a FIFO could
/// block forever. A folder that cannot be listed goes to `skipped`.
void list_images(ClassFolder& folder, std::vector<SkippedFile>& skipped) {
  std::error_code ec;
  fs::directory_iterator it(folder.dir, ec);
  if (ec) {
    skipped.push_back({folder.dir.string(), "cannot list the folder (" + ec.message() + ")"});
    return;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    const std::string name = path.filename().string();
    if (is_hidden(name) || !has_image_extension(path)) continue;
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) {  // follows symbolic links
      folder.files.push_back({name, ""});
    } else if (it->is_directory(type_ec)) {
      continue;  // a sub-subfolder, even one named "x.png": not searched
    } else if (it->is_symlink(type_ec) && !fs::exists(path, type_ec)) {
      folder.files.push_back({name, "broken symbolic link"});
    } else {
      folder.files.push_back({name, "not a regular file"});
    }
  }
  if (ec) skipped.push_back({folder.dir.string(), "cannot list the folder (" + ec.message() + ")"});
  // std::string's < compares bytes as unsigned (see list_classes).
  std::sort(folder.files.begin(), folder.files.end(),
            [](const FolderEntry& a, const FolderEntry& b) { return a.name < b.name; });
}

int thread_count(const char* fn, int requested) {
  if (requested < 0) {
    throw std::invalid_argument(std::string(fn) +
                                ": threads must be >= 0 (0: the library setting); got " +
                                std::to_string(requested));
  }
  return requested > 0 ? requested : xgrad::num_threads();
}

/// Held-out count of a class of n images for fraction f (documented in dataset.h), at most
/// `budget` (the images the class may give up while keeping 2 in training).
std::size_t held_out(std::size_t n, double f, std::size_t budget) {
  if (f <= 0) return 0;
  auto k = static_cast<std::size_t>(std::floor(static_cast<double>(n) * f + 1e-9));
  if (k == 0 && n >= 3) k = 1;
  return std::min(k, budget);
}

std::size_t train_budget(std::size_t n) { return n >= 2 ? n - 2 : 0; }

void check_fraction(const char* fn, const char* name, double f) {
  if (!(f >= 0 && f < 1)) {  // also rejects NaN
    throw std::invalid_argument(std::string(fn) + ": " + name + " must be in [0, 1); got " +
                                number(f));
  }
}

/// Shuffles `images` (one class) with the (seed, label) stream, then deals them out: for each
/// {count, list} of `held` in turn, the next `count` images go to `list`; the rest to `rest`.
void deal(std::vector<std::size_t> images, std::uint64_t seed, std::size_t label,
          std::initializer_list<std::pair<std::size_t, std::vector<std::size_t>*>> held,
          std::vector<std::size_t>& rest) {
  std::mt19937_64 engine(stream_seed(kSplitSalt, seed, label));
  shuffle_portable(images, engine);
  std::size_t at = 0;
  for (const auto& [count, out] : held) {
    out->insert(out->end(), images.begin() + static_cast<std::ptrdiff_t>(at),
                images.begin() + static_cast<std::ptrdiff_t>(at + count));
    at += count;
  }
  rest.insert(rest.end(), images.begin() + static_cast<std::ptrdiff_t>(at), images.end());
}

void sort_split(Split& split) {
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.validation.begin(), split.validation.end());
  std::sort(split.test.begin(), split.test.end());
}

}  // namespace

// ---------------------------------------------------------------------------------------
// ImageDataset

Tensor ImageDataset::batch(const std::vector<std::size_t>& indices) const {
  const std::size_t n = size(), sample_count = image_size();
  if (pixels.size() != n * sample_count) {
    throw std::invalid_argument("ImageDataset::batch: pixels hold " +
                                std::to_string(pixels.size()) + " samples; expected " +
                                std::to_string(n) + " images x " + std::to_string(height) + "x" +
                                std::to_string(width) + "x" + std::to_string(channels) + " = " +
                                std::to_string(n * sample_count));
  }
  for (std::size_t k = 0; k < indices.size(); ++k) {
    if (indices[k] >= n) {
      throw std::out_of_range("ImageDataset::batch: indices[" + std::to_string(k) +
                              "]=" + std::to_string(indices[k]) + " is out of range for " +
                              std::to_string(n) + " images");
    }
  }
  Array out = empty_array({indices.size(), height, width, channels});
  real* dst = out.data();
  // A division, not a multiplication by 1/255: v / 255 is then the correctly rounded value
  // (255 / 255 is exactly 1). The loop vectorises either way.
  const real scale = 255;
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::uint8_t* src = pixels.data() + indices[k] * sample_count;
    real* d = dst + k * sample_count;
    for (std::size_t i = 0; i < sample_count; ++i) d[i] = static_cast<real>(src[i]) / scale;
  }
  return Tensor(std::move(out));
}

std::vector<std::size_t> ImageDataset::class_counts() const {
  const std::vector<std::size_t> l = checked_labels("ImageDataset::class_counts", *this);
  std::size_t classes = class_names.size();
  for (std::size_t v : l) classes = std::max(classes, v + 1);
  std::vector<std::size_t> counts(classes, 0);
  for (std::size_t v : l) ++counts[v];
  return counts;
}

// ---------------------------------------------------------------------------------------
// IDX

ImageDataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                              const ImageFormat& format) {
  check_format("load_idx_dataset", format);
  IdxImages idx = read_idx_images(images_path, labels_path);
  check_memory(images_path, idx.count, format);

  ImageDataset out;
  out.height = format.height;
  out.width = format.width;
  out.channels = format.channels;

  // Classes: distinct label values in increasing order.
  std::map<std::int64_t, std::int64_t> class_of;
  for (std::int64_t v : idx.labels) class_of.emplace(v, 0);
  for (auto& [value, index] : class_of) {
    index = static_cast<std::int64_t>(out.class_names.size());
    out.class_names.push_back(std::to_string(value));
  }
  out.labels.resize(idx.count);
  for (std::size_t i = 0; i < idx.count; ++i) out.labels[i] = class_of.at(idx.labels[i]);

  const std::size_t in_size = idx.height * idx.width;
  const std::size_t gray_size = format.height * format.width;
  const bool same_size = idx.height == format.height && idx.width == format.width;
  if (same_size && format.channels == 1) {
    out.pixels = std::move(idx.pixels);
    return out;
  }
  out.pixels.resize(idx.count * out.image_size());
  // One image: resized (and rounded) if needed, then replicated to RGB if needed.
  auto convert = [&](std::size_t i) {
    std::uint8_t* dst = out.pixels.data() + i * out.image_size();
    const std::uint8_t* src = idx.pixels.data() + i * in_size;
    std::vector<std::uint8_t> resized;
    if (!same_size) {
      Image gray{idx.height, idx.width, 1, std::vector<std::uint8_t>(src, src + in_size)};
      resized.resize(gray_size);
      round_to_u8(resize_bilinear(gray, format.height, format.width), resized.data());
      src = resized.data();
    }
    if (format.channels == 1) {
      std::memcpy(dst, src, gray_size);
    } else {
      for (std::size_t p = 0; p < gray_size; ++p) {
        dst[3 * p] = dst[3 * p + 1] = dst[3 * p + 2] = src[p];
      }
    }
  };
  const auto count = static_cast<std::ptrdiff_t>(idx.count);
  std::exception_ptr error;  // e.g. bad_alloc: nothing may escape an OpenMP region
  // Each image is independent: the result does not depend on the thread count.
#pragma omp parallel for schedule(static) num_threads(xgrad::num_threads())
  for (std::ptrdiff_t n = 0; n < count; ++n) {
    try {
      convert(static_cast<std::size_t>(n));
    } catch (...) {
#pragma omp critical(xgrad_load_idx_dataset)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return out;
}

// ---------------------------------------------------------------------------------------
// Image folders

ImageDataset load_image_folder(const std::string& root, const FolderOptions& options) {
  const ImageFormat& format = options.format;
  check_format("load_image_folder", format);
  const int threads = thread_count("load_image_folder", options.threads);

  std::error_code ec;
  const fs::file_status status = fs::status(root, ec);  // follows symbolic links
  if (ec && status.type() != fs::file_type::not_found) {
    throw std::runtime_error(root + ": cannot access (" + ec.message() + ")");
  }
  if (!fs::exists(status)) throw std::runtime_error(root + ": no such folder");
  if (!fs::is_directory(status)) throw std::runtime_error(root + ": not a folder");

  ImageDataset out;
  out.height = format.height;
  out.width = format.width;
  out.channels = format.channels;

  std::size_t root_files = 0;
  std::vector<ClassFolder> classes = list_classes(root, root_files);
  if (classes.empty()) {
    throw std::runtime_error(
        root + ": no class subfolders (expected one subfolder of images per class; found " +
        std::to_string(root_files) + (root_files == 1 ? " file" : " files") +
        " directly in the folder)");
  }

  // Candidate files in load order: classes by name, files by name.
  std::vector<std::string> paths;
  std::vector<std::size_t> class_of;  // position in `classes`
  std::vector<std::string> errors;    // why each file cannot be used ("" if it can, so far)
  for (std::size_t c = 0; c < classes.size(); ++c) {
    list_images(classes[c], out.skipped);
    for (FolderEntry& file : classes[c].files) {
      paths.push_back((classes[c].dir / file.name).string());
      class_of.push_back(c);
      errors.push_back(std::move(file.problem));
    }
  }
  if (options.strict && !out.skipped.empty()) {  // a class folder that cannot be listed
    const SkippedFile& first = out.skipped.front();
    throw std::runtime_error(first.path + ": " + first.reason + " (--strict)");
  }
  check_memory(root, paths.size(), format);

  // Decode every candidate straight into its slot of the final buffer (no second copy),
  // then compact the usable ones in order: the result does not depend on which thread
  // decoded what. With `strict`, files after the first failure found so far are not
  // decoded; every file before it still is, so the failure reported is always the first
  // in load order.
  const std::size_t count = paths.size(), sample_count = out.image_size();
  out.pixels.resize(count * sample_count);
  std::vector<char> failed(count, 0);
  std::size_t first_listed_failure = count;
  for (std::size_t i = count; i-- > 0;) {
    if (!errors[i].empty()) {
      failed[i] = 1;
      first_listed_failure = i;
    }
  }
  std::atomic<std::size_t> first_failure{first_listed_failure};
  const auto n_files = static_cast<std::ptrdiff_t>(count);
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (std::ptrdiff_t n = 0; n < n_files; ++n) {
    const auto i = static_cast<std::size_t>(n);
    if (failed[i] || (options.strict && i > first_failure.load(std::memory_order_relaxed))) {
      continue;
    }
    try {
      const Image image = decode_image(paths[i], format.channels);
      fit_to_format(image, format, out.pixels.data() + i * sample_count);
    } catch (const std::exception& e) {  // nothing may escape an OpenMP region
      failed[i] = 1;
      errors[i] = reason_without_path(e.what(), paths[i]);
      std::size_t seen = first_failure.load(std::memory_order_relaxed);
      while (i < seen && !first_failure.compare_exchange_weak(seen, i)) {
      }
    }
  }
  if (options.strict && first_failure.load() < count) {
    const std::size_t i = first_failure.load();
    throw std::runtime_error(paths[i] + ": " + errors[i] + " (--strict)");
  }

  std::vector<std::size_t> usable_per_class(classes.size(), 0);
  for (std::size_t i = 0; i < count; ++i) {
    if (!failed[i]) ++usable_per_class[class_of[i]];
  }
  // Labels of the kept classes: 0..K-1 in name order, skipping emptied classes.
  std::vector<std::int64_t> label_of(classes.size(), -1);
  for (std::size_t c = 0; c < classes.size(); ++c) {
    if (usable_per_class[c] == 0) continue;
    label_of[c] = static_cast<std::int64_t>(out.class_names.size());
    out.class_names.push_back(classes[c].name);
  }

  std::size_t kept = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (failed[i]) {
      out.skipped.push_back({paths[i], errors[i]});
      continue;
    }
    if (kept != i) {  // kept < i: moving down never overwrites an unread slot
      std::memcpy(out.pixels.data() + kept * sample_count, out.pixels.data() + i * sample_count,
                  sample_count);
    }
    out.labels.push_back(label_of[class_of[i]]);
    out.paths.push_back(std::move(paths[i]));
    ++kept;
  }
  out.pixels.resize(kept * sample_count);
  for (std::size_t c = 0; c < classes.size(); ++c) {
    if (usable_per_class[c] == 0) {
      out.skipped.push_back(
          {classes[c].dir.string(), "class '" + classes[c].name + "' has no usable image"});
    }
  }

  if (kept == 0) {
    std::string msg = root + ": found " + std::to_string(classes.size()) + " class folder" +
                      (classes.size() == 1 ? "" : "s") + " but no usable image";
    const std::size_t files_skipped = out.skipped.size() - classes.size();
    if (count == 0 && files_skipped == 0) {
      msg += " (no file with extension .jpg .jpeg .png .pgm or .ppm in them)";
    } else {
      msg += " (" + std::to_string(files_skipped) + " file" + (files_skipped == 1 ? "" : "s") +
             " skipped; first: " + out.skipped.front().path + ": " + out.skipped.front().reason +
             ")";
    }
    throw std::runtime_error(msg);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Splits

Split split_by_class(const ImageDataset& data, std::size_t test_classes, double validation_fraction,
                     std::uint64_t seed) {
  const auto by_class = indices_by_class("split_by_class", data);
  const std::size_t k = by_class.size();
  if (test_classes < 1) {
    throw std::invalid_argument("split_by_class: --test-classes must be >= 1; got 0");
  }
  if (test_classes >= k || k - test_classes < 2) {
    const std::size_t left = test_classes >= k ? 0 : k - test_classes;
    throw std::invalid_argument("split_by_class: --test-classes " + std::to_string(test_classes) +
                                " of " + std::to_string(k) + " classes leaves " +
                                std::to_string(left) + " training class" + (left == 1 ? "" : "es") +
                                "; need at least 2");
  }
  check_fraction("split_by_class", "validation_fraction", validation_fraction);

  Split split;
  const std::size_t first_test = k - test_classes;
  for (std::size_t c = 0; c < k; ++c) {
    const std::vector<std::size_t>& images = by_class[c];
    if (c >= first_test) {
      split.test.insert(split.test.end(), images.begin(), images.end());
      continue;
    }
    const std::size_t v = held_out(images.size(), validation_fraction, train_budget(images.size()));
    deal(images, seed, c, {{v, &split.validation}}, split.train);
  }
  sort_split(split);
  return split;
}

Split split_by_image(const ImageDataset& data, double validation_fraction, double test_fraction,
                     std::uint64_t seed) {
  check_fraction("split_by_image", "validation_fraction", validation_fraction);
  check_fraction("split_by_image", "test_fraction", test_fraction);
  if (validation_fraction + test_fraction >= 1) {
    throw std::invalid_argument(
        "split_by_image: validation_fraction + test_fraction must be < 1; got " +
        number(validation_fraction) + " + " + number(test_fraction));
  }
  const auto by_class = indices_by_class("split_by_image", data);
  Split split;
  for (std::size_t c = 0; c < by_class.size(); ++c) {
    const std::size_t n = by_class[c].size();
    const std::size_t t = held_out(n, test_fraction, train_budget(n));
    const std::size_t v = held_out(n, validation_fraction, train_budget(n) - t);
    deal(by_class[c], seed, c, {{t, &split.test}, {v, &split.validation}}, split.train);
  }
  sort_split(split);
  return split;
}

// ---------------------------------------------------------------------------------------
// PairSampler

PairSampler::PairSampler(const ImageDataset& data, std::vector<std::size_t> subset,
                         std::uint64_t seed)
    : seed_(seed) {
  const std::vector<std::size_t> labels = checked_labels("PairSampler", data);
  // The stream depends on the subset as a set: sorted, repeats removed.
  std::sort(subset.begin(), subset.end());
  subset.erase(std::unique(subset.begin(), subset.end()), subset.end());
  if (!subset.empty() && subset.back() >= labels.size()) {
    throw std::invalid_argument("PairSampler: subset index " + std::to_string(subset.back()) +
                                " is out of range for " + std::to_string(labels.size()) +
                                " images");
  }
  std::map<std::size_t, std::vector<std::size_t>> groups;  // by label, increasing
  for (std::size_t i : subset) groups[labels[i]].push_back(i);
  if (groups.size() < 2) {
    throw std::invalid_argument("PairSampler: the training images cover only " +
                                std::to_string(groups.size()) + " class" +
                                (groups.size() == 1 ? "" : "es") + " (" +
                                std::to_string(subset.size()) + " images); pairs need at least 2");
  }
  std::vector<std::size_t> group_labels;
  for (auto& [label, images] : groups) {
    if (images.size() >= 2) positive_classes_.push_back(by_class_.size());
    group_labels.push_back(label);
    by_class_.push_back(std::move(images));
  }
  if (positive_classes_.empty()) {
    std::string counts;
    const std::size_t shown = std::min<std::size_t>(by_class_.size(), 10);
    for (std::size_t c = 0; c < shown; ++c) {
      const std::size_t l = group_labels[c];
      const std::string name =
          l < data.class_names.size() ? data.class_names[l] : std::to_string(l);
      counts += (c ? ", '" : "'") + name + "': " + std::to_string(by_class_[c].size());
    }
    if (shown < by_class_.size()) {
      counts += ", ... (" + std::to_string(by_class_.size()) + " classes)";
    }
    throw std::invalid_argument(
        "PairSampler: no class has 2 images, so no same-class pair can be drawn (classes: " +
        counts + ")");
  }
}

PairBatch PairSampler::pairs(std::uint64_t epoch, std::uint64_t batch,
                             std::size_t batch_size) const {
  std::mt19937_64 engine(stream_seed(kPairSalt, seed_, epoch, batch));
  const std::size_t same = batch_size / 2 + ((batch_size % 2 == 1 && batch % 2 == 1) ? 1 : 0);
  struct Pair {
    std::size_t a, b;
    int same;
  };
  std::vector<Pair> drawn;
  drawn.reserve(batch_size);
  for (std::size_t k = 0; k < same; ++k) {
    const auto& images =
        by_class_[positive_classes_[uniform_below(engine, positive_classes_.size())]];
    const std::size_t i = uniform_below(engine, images.size());
    std::size_t j = uniform_below(engine, images.size() - 1);
    if (j >= i) ++j;  // uniform over the images other than i
    drawn.push_back({images[i], images[j], 1});
  }
  const std::size_t classes = by_class_.size();
  for (std::size_t k = same; k < batch_size; ++k) {
    const std::size_t c1 = uniform_below(engine, classes);
    std::size_t c2 = uniform_below(engine, classes - 1);
    if (c2 >= c1) ++c2;
    const auto& a = by_class_[c1];
    const auto& b = by_class_[c2];
    drawn.push_back({a[uniform_below(engine, a.size())], b[uniform_below(engine, b.size())], 0});
  }
  shuffle_portable(drawn, engine);

  PairBatch out;
  out.first.reserve(batch_size);
  out.second.reserve(batch_size);
  out.same.reserve(batch_size);
  for (const Pair& p : drawn) {
    out.first.push_back(p.a);
    out.second.push_back(p.b);
    out.same.push_back(p.same);
  }
  return out;
}

TripletBatch PairSampler::triplets(std::uint64_t epoch, std::uint64_t batch,
                                   std::size_t batch_size) const {
  std::mt19937_64 engine(stream_seed(kTripletSalt, seed_, epoch, batch));
  const std::size_t classes = by_class_.size();
  TripletBatch out;
  out.anchor.reserve(batch_size);
  out.positive.reserve(batch_size);
  out.negative.reserve(batch_size);
  for (std::size_t k = 0; k < batch_size; ++k) {
    const std::size_t c = positive_classes_[uniform_below(engine, positive_classes_.size())];
    const auto& images = by_class_[c];
    const std::size_t i = uniform_below(engine, images.size());
    std::size_t j = uniform_below(engine, images.size() - 1);
    if (j >= i) ++j;
    std::size_t other = uniform_below(engine, classes - 1);
    if (other >= c) ++other;
    const auto& negatives = by_class_[other];
    out.anchor.push_back(images[i]);
    out.positive.push_back(images[j]);
    out.negative.push_back(negatives[uniform_below(engine, negatives.size())]);
  }
  return out;
}

}  // namespace xgrad::siamese
