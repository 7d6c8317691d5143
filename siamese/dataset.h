#pragma once
/// \file
/// Labelled image sets for siamese training: loaded from IDX files or from a folder with
/// one subfolder per class, kept in memory as 8-bit images of the model's size, split into
/// train / validation / test, and sampled into balanced pairs or triplets.

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace xgrad::siamese {

/// A file that could not be used, and why.
struct SkippedFile {
  std::string path;
  std::string reason;
};

/// Images of one size and channel count, 8-bit, with integer class labels.
struct ImageDataset {
  std::size_t height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;      ///< size() × height × width × channels, NHWC
  std::vector<std::int64_t> labels;      ///< class index of each image
  std::vector<std::string> class_names;  ///< name of each class index
  /// Source file of each image (size() entries), or no entry at all for IDX data.
  std::vector<std::string> paths;
  std::vector<SkippedFile> skipped;  ///< files (and dropped class folders) skipped on loading

  std::size_t size() const { return labels.size(); }
  std::size_t image_size() const { return height * width * channels; }
  /// The images at `indices` (in that order, repeats allowed) as a batch
  /// [n, height, width, channels] of `real` values v / 255, so in [0, 1]. Throws
  /// std::out_of_range naming the index for an index >= size(), and std::invalid_argument
  /// when `pixels` does not hold size() × image_size() samples.
  Tensor batch(const std::vector<std::size_t>& indices) const;
  /// Number of images of each class, indexed by label; max(class_names.size(), largest
  /// label + 1) entries. Throws std::invalid_argument for a negative label.
  std::vector<std::size_t> class_counts() const;
};

/// How images are brought to the model's input format.
struct ImageFormat {
  std::size_t height = 28, width = 28;
  std::size_t channels = 1;  ///< 1 (gray) or 3 (RGB)
};

/// Largest in-memory dataset a loader accepts: count × height × width × channels bytes.
/// Checked before the pixels are allocated.
inline constexpr std::size_t kMaxDatasetBytes = std::size_t(8) << 30;  // 8 GiB

/// Loads an IDX images + labels pair (MNIST/Fashion-MNIST layout, gzipped or not), converted
/// to `format`: when the size differs, each image is resized with resize_bilinear (TF's
/// half-pixel convention) and rounded to 8 bits (halves up, clamped to 0..255); gray is
/// replicated to R, G and B when channels = 3. Classes are the distinct label values in
/// increasing order: class_names are those values as decimal strings and labels are
/// remapped to 0..K-1 in that order (the identity for MNIST / Fashion-MNIST's "0" … "9").
/// `paths` stays empty. Throws std::invalid_argument for a bad format (channels not 1 or 3,
/// zero size), and std::runtime_error naming the file on any file problem or when the
/// converted set would exceed kMaxDatasetBytes.
ImageDataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                              const ImageFormat& format);

/// Options of load_image_folder.
struct FolderOptions {
  ImageFormat format;
  /// An undecodable file is an error instead of a skipped file.
  bool strict = false;
  /// Decoding threads (0: xgrad::num_threads()). The result does not depend on it.
  int threads = 0;
};

/// Loads `root`/<class>/<image> — one subfolder per class.
///
/// - Classes: the non-hidden subfolders of `root` (symbolic links to folders count), sorted
///   by the bytes of their UTF-8 names (so "Zebra" < "cat" < "chat_z" < "chat_é"); the class
///   name is the folder name and labels are 0..K-1 in that order.
/// - Images: the regular files (symbolic links followed) of a class folder whose extension
///   is .jpg .jpeg .png .pgm or .ppm in any case (".JPG", ".Png"), sorted by the bytes of
///   the file name. Only one level is read: sub-subfolders are not searched. Ignored
///   silently: hidden files and folders (name starting with '.'), files with another
///   extension (Thumbs.db, notes.txt), and files directly under `root`. The content, not
///   the extension, decides how a file is decoded (decode_image).
/// - Every image is decoded when the set is opened (in parallel, `threads`), converted to
///   `format.channels` (decode_image's conversion), resized to the format's size when it
///   differs (resize_bilinear, TF half-pixel, rounded to 8 bits with halves up) and kept as
///   8-bit. The result — order, pixels, skipped list — is the same for any thread count.
/// - A file that cannot be used (undecodable, truncated, empty, unreadable, a broken
///   symbolic link) is recorded once in `skipped` as {path, reason} — or, with `strict`,
///   throws std::runtime_error "<path>: <reason> (--strict)" for the first such file in
///   load order. A class left with no usable image is dropped (later classes move up a
///   label) and recorded as {class folder, "class '<name>' has no usable image"}. A class
///   with a single image is kept (it serves in different-class pairs).
///
/// Throws std::invalid_argument for a bad format, and std::runtime_error naming `root` when
/// it is missing ("no such folder"), not a folder, cannot be listed, has no class
/// subfolder, has no usable image at all (the message says how many class folders and
/// skipped files were found, and the first skip reason), or when the images would exceed
/// kMaxDatasetBytes.
ImageDataset load_image_folder(const std::string& root, const FolderOptions& options);

/// Index lists of a split (indices into one ImageDataset), each sorted in increasing order.
struct Split {
  std::vector<std::size_t> train, validation, test;
};

/// Common rules of the two splits. How many of a class's n images are held out for a
/// fraction f (validation or test): floor(n · f), computed with a 1e-9 tolerance so that
/// 0.29 × 100 gives 29; but at least 1 when f > 0 and n >= 3; and never so many that fewer
/// than 2 images of the class stay in training (classes of 1 or 2 images stay whole in
/// training). Which images are held out is a seeded shuffle of each class (std::mt19937_64
/// and a portable Fisher–Yates, so the same seed gives the same split with any standard
/// library); each class has its own stream derived from (seed, label), so the choice within
/// one class does not depend on the other classes.
/// Labels are checked: a negative one is std::invalid_argument.
///
/// Split by class (the siamese use: test classes are never seen in training): every image
/// of the last `test_classes` classes (labels K - test_classes … K - 1, K = number of
/// classes) forms the test set; of each remaining class, the held-out count above for
/// `validation_fraction` goes to validation and the rest to training. Throws
/// std::invalid_argument when test_classes is < 1 or leaves fewer than 2 training classes,
/// or validation_fraction is not in [0, 1).
Split split_by_class(const ImageDataset& data, std::size_t test_classes, double validation_fraction,
                     std::uint64_t seed);

/// Split by image (stratified): per class, the held-out count above for `test_fraction` goes
/// to test, then the count for `validation_fraction` to validation (reduced if needed so
/// that 2 images stay in training), and the rest to training. Throws std::invalid_argument
/// when a fraction is outside [0, 1) or they sum to >= 1.
Split split_by_image(const ImageDataset& data, double validation_fraction, double test_fraction,
                     std::uint64_t seed);

/// A batch of pairs: image indices and labels (1 = same class, 0 = different).
struct PairBatch {
  std::vector<std::size_t> first, second;
  std::vector<int> same;
};

/// A batch of triplets: anchor and positive share a class, negative does not.
struct TripletBatch {
  std::vector<std::size_t> anchor, positive, negative;
};

/// Draws balanced pairs (and triplets) from a subset of a dataset.
///
/// Half of the pairs of every batch are same-class pairs (for an odd batch size B:
/// floor(B / 2) in even-numbered batches and ceil(B / 2) in odd-numbered ones, so two
/// consecutive batches are balanced): a class chosen uniformly among classes with >= 2
/// images in the subset, then two distinct images of it, uniformly. The others are
/// different-class pairs: two distinct classes chosen uniformly among all the subset's
/// classes, one image of each, uniformly. The pairs are then shuffled within the batch.
///
/// The stream is a pure function of (seed, epoch, batch number) — a std::mt19937_64 seeded
/// with a splitmix64 hash of the three, and integer draws by rejection instead of
/// std::uniform_int_distribution — so it is the same with every standard library, and a
/// run resumed at any batch draws exactly the pairs an uninterrupted run would. It depends
/// on the subset as a set: its order and repeated indices do not matter.
class PairSampler {
 public:
  /// Reads `data.labels` (and `class_names`, for messages); keeps nothing of `data`. Throws
  /// std::invalid_argument naming the problem when a subset index is >= data.size() or a label is
  /// negative, when the subset has fewer than 2 classes, or when no class has 2 images (no positive
  /// pair is possible; the message lists the classes' image counts).
  PairSampler(const ImageDataset& data, std::vector<std::size_t> subset, std::uint64_t seed);

  /// The `batch_size` pairs of batch `batch` of epoch `epoch` (empty for batch_size 0).
  PairBatch pairs(std::uint64_t epoch, std::uint64_t batch, std::size_t batch_size) const;
  /// The `batch_size` triplets of batch `batch` of epoch `epoch`: the anchor's class is
  /// chosen uniformly among classes with >= 2 images, anchor and positive are two distinct
  /// images of it, and the negative is an image of another class chosen uniformly. (A stream
  /// of its own: triplets and pairs of the same batch number are unrelated.)
  TripletBatch triplets(std::uint64_t epoch, std::uint64_t batch, std::size_t batch_size) const;

  std::size_t num_classes() const { return by_class_.size(); }
  /// Classes with at least two images (usable for positive pairs).
  std::size_t num_positive_classes() const { return positive_classes_.size(); }

 private:
  std::vector<std::vector<std::size_t>> by_class_;  // image indices per class present
  std::vector<std::size_t> positive_classes_;       // positions in by_class_ with >= 2 images
  std::uint64_t seed_;
};

}  // namespace xgrad::siamese
