#include "siamese/dataset.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

// jpeglib.h needs FILE and size_t declared first.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>

#include "siamese/image.h"
#include "tests/support/expect.h"
#include "tests/support/temp_dir.h"

namespace xgrad::siamese {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using testing::error_message;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Pixels = std::vector<std::uint8_t>;

// "é" in UTF-8, spelled as bytes so the test does not depend on the source charset.
const std::string kE = "\xC3\xA9";

// ---------------------------------------------------------------------------------------
// Writers for test files.

std::string png_bytes(std::size_t width, std::size_t height, std::size_t channels,
                      const Pixels& pixels) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        static_cast<std::string*>(png_get_io_ptr(p))
            ->append(reinterpret_cast<const char*>(data), n);
      },
      [](png_structp) {});
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (std::size_t y = 0; y < height; ++y)
    png_write_row(png, const_cast<png_bytep>(pixels.data() + y * width * channels));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::string jpeg_bytes(std::size_t width, std::size_t height, int components,
                       const Pixels& pixels) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buffer, &size);
  c.image_width = static_cast<JDIMENSION>(width);
  c.image_height = static_cast<JDIMENSION>(height);
  c.input_components = components;
  c.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels.data() + c.next_scanline * width * components);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::string out(reinterpret_cast<const char*>(buffer), size);
  jpeg_destroy_compress(&c);
  std::free(buffer);
  return out;
}

/// Binary PGM (channels 1) or PPM (channels 3), maxval 255.
std::string pnm_bytes(std::size_t width, std::size_t height, std::size_t channels,
                      const Pixels& pixels) {
  std::string out = (channels == 1 ? "P5\n" : "P6\n") + std::to_string(width) + " " +
                    std::to_string(height) + "\n255\n";
  out.append(pixels.begin(), pixels.end());
  return out;
}

/// `count` copies of one pixel.
Pixels flat(std::size_t count, std::initializer_list<std::uint8_t> pixel) {
  Pixels out;
  for (std::size_t i = 0; i < count; ++i) out.insert(out.end(), pixel);
  return out;
}

/// A gray ramp with distinct values, to see resizing at work.
Pixels ramp(std::size_t count, std::uint8_t start = 3, std::uint8_t step = 7) {
  Pixels out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<std::uint8_t>(start + step * i);
  return out;
}

/// round(resize_bilinear(image)) as the loaders are documented to do it.
Pixels resized(const Image& image, std::size_t height, std::size_t width) {
  Pixels out;
  for (float v : resize_bilinear(image, height, width))
    out.push_back(static_cast<std::uint8_t>(std::floor(std::clamp(v, 0.0f, 255.0f) + 0.5f)));
  return out;
}

/// A per-test scratch folder (dir_), with helpers to fill it.
class TempDirTest : public xgrad::testing::TempDirTest {
 protected:
  /// Writes `bytes` to dir_/relative (creating folders) and returns the full path.
  std::string write(const std::string& relative, const std::string& bytes) {
    xgrad::testing::write_bytes(dir_ / relative, bytes);
    return (dir_ / relative).string();
  }
  std::string path(const std::string& relative) const { return (dir_ / relative).string(); }
};

/// A dataset of 1×1 gray images with `counts[c]` images of class c, labels in order.
ImageDataset labelled(const std::vector<std::size_t>& counts) {
  ImageDataset d;
  d.height = d.width = d.channels = 1;
  for (std::size_t c = 0; c < counts.size(); ++c) {
    d.class_names.push_back("class" + std::to_string(c));
    for (std::size_t i = 0; i < counts[c]; ++i) {
      d.labels.push_back(static_cast<std::int64_t>(c));
      d.pixels.push_back(static_cast<std::uint8_t>(d.pixels.size()));
    }
  }
  return d;
}

// ---------------------------------------------------------------------------------------
// ImageDataset

TEST(DatasetBatch, ScalesToUnitRangeInIndexOrder) {
  ImageDataset d;
  d.height = 2;
  d.width = 1;
  d.channels = 3;
  d.labels = {0, 1, 1};
  d.class_names = {"a", "b"};
  for (int i = 0; i < 18; ++i) d.pixels.push_back(static_cast<std::uint8_t>(i * 15));
  d.pixels.back() = 255;
  const Tensor t = d.batch({2, 0, 2});
  EXPECT_EQ(t.shape(), (Shape{3, 2, 1, 3}));
  const std::vector<std::size_t> order = {2, 0, 2};
  for (std::size_t k = 0; k < 3; ++k) {
    for (std::size_t i = 0; i < 6; ++i) {
      EXPECT_EQ(t.flat(k * 6 + i), static_cast<real>(d.pixels[order[k] * 6 + i]) / real(255));
    }
  }
  EXPECT_EQ(t.flat(17), real(1));
  EXPECT_EQ(t.flat(6), real(0));
  EXPECT_EQ(d.batch({}).shape(), (Shape{0, 2, 1, 3}));
}

TEST(DatasetBatch, BadIndexAndInconsistentPixelsThrow) {
  ImageDataset d = labelled({2, 1});
  EXPECT_THAT(
      error_message<std::out_of_range>([&] {
        d.batch({0, 3});
      }),
      AllOf(HasSubstr("ImageDataset::batch"), HasSubstr("indices[1]=3"), HasSubstr("3 images")));
  d.pixels.pop_back();
  EXPECT_THAT(error_message<std::invalid_argument>([&] { d.batch({0}); }),
              HasSubstr("pixels hold 2"));
}

TEST(DatasetClassCounts, CountsPerLabel) {
  ImageDataset d = labelled({3, 0, 2});
  EXPECT_THAT(d.class_counts(), ElementsAre(3u, 0u, 2u));
  d.labels[0] = -1;
  EXPECT_THROW(d.class_counts(), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// IDX

class DatasetIdx : public TempDirTest {
 protected:
  static std::string idx_bytes(const std::vector<std::uint32_t>& shape, const Pixels& data) {
    std::string s{'\0', '\0', '\x08', static_cast<char>(shape.size())};
    for (std::uint32_t d : shape) {
      for (int k = 3; k >= 0; --k) s += static_cast<char>((d >> (8 * k)) & 0xFF);
    }
    s.append(data.begin(), data.end());
    return s;
  }
  void SetUp() override {
    TempDirTest::SetUp();
    std::mt19937 rng(5);
    pixels_.resize(3 * 28 * 28);
    for (auto& p : pixels_) p = static_cast<std::uint8_t>(rng() & 0xFF);
    images_ = write("images", idx_bytes({3, 28, 28}, pixels_));
    labels_ = write("labels", idx_bytes({3}, {7, 2, 7}));
  }
  Pixels pixels_;
  std::string images_, labels_;
};

TEST_F(DatasetIdx, SameFormatKeepsPixelsAndRemapsLabelsInValueOrder) {
  const ImageDataset d = load_idx_dataset(images_, labels_, {28, 28, 1});
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.height, 28u);
  EXPECT_EQ(d.width, 28u);
  EXPECT_EQ(d.channels, 1u);
  EXPECT_EQ(d.pixels, pixels_);
  EXPECT_THAT(d.class_names, ElementsAre("2", "7"));
  EXPECT_THAT(d.labels, ElementsAre(1, 0, 1));
  EXPECT_TRUE(d.paths.empty());
  EXPECT_TRUE(d.skipped.empty());
}

TEST_F(DatasetIdx, OtherFormatIsResizedRoundedAndReplicated) {
  const ImageDataset d = load_idx_dataset(images_, labels_, {14, 14, 3});
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d.image_size(), 14u * 14u * 3u);
  ASSERT_EQ(d.pixels.size(), 3u * 14u * 14u * 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    Image gray{28, 28, 1, Pixels(pixels_.begin() + i * 784, pixels_.begin() + (i + 1) * 784)};
    const Pixels expect = resized(gray, 14, 14);
    for (std::size_t p = 0; p < 196; ++p) {
      for (std::size_t c = 0; c < 3; ++c) {
        ASSERT_EQ(d.pixels[i * 588 + p * 3 + c], expect[p]) << "image " << i << " pixel " << p;
      }
    }
  }
}

TEST_F(DatasetIdx, UpsizesGrayToo) {
  const ImageDataset d = load_idx_dataset(images_, labels_, {32, 30, 1});
  Image gray{28, 28, 1, Pixels(pixels_.begin() + 784, pixels_.begin() + 2 * 784)};
  const Pixels expect = resized(gray, 32, 30);
  EXPECT_TRUE(std::equal(expect.begin(), expect.end(), d.pixels.begin() + 32 * 30));
}

TEST_F(DatasetIdx, Errors) {
  EXPECT_THAT(error_message<std::invalid_argument>([&] {
                load_idx_dataset(images_, labels_, {28, 28, 2});
              }),
              HasSubstr("channels must be 1 (gray) or 3 (RGB); got 2"));
  EXPECT_THAT(error_message<std::invalid_argument>([&] {
                load_idx_dataset(images_, labels_, {0, 28, 1});
              }),
              HasSubstr("0x28"));
  EXPECT_THAT(error_message<std::runtime_error>([&] {
                load_idx_dataset(path("missing"), labels_, {28, 28, 1});
              }),
              HasSubstr(path("missing")));
  EXPECT_THAT(error_message<std::runtime_error>([&] {
                load_idx_dataset(images_, labels_, {1u << 20, 1u << 20, 3});
              }),
              AllOf(HasSubstr(images_), HasSubstr("the limit is 8 GiB")));
}

TEST(DatasetFashionMnist, TestSetHas1000ImagesPerClass) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  if (!fs::exists(dir + "t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  const ImageDataset d =
      load_idx_dataset(dir + "t10k-images-idx3-ubyte.gz", dir + "t10k-labels-idx1-ubyte.gz", {});
  EXPECT_EQ(d.size(), 10000u);
  EXPECT_EQ(d.pixels.size(), 10000u * 784u);
  EXPECT_THAT(d.class_names, ElementsAre("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"));
  for (std::size_t n : d.class_counts()) EXPECT_EQ(n, 1000u);
}

// ---------------------------------------------------------------------------------------
// Image folders

class FolderLoad : public TempDirTest {
 protected:
  /// Three classes, named so that byte order differs from a signed-char or locale order,
  /// with every format, upper-case extensions, a UTF-8 file name, and files to ignore.
  void make_tree() {
    write("B/a.PNG", png_bytes(4, 4, 1, flat(16, {10})));
    write("B/b.jpg", jpeg_bytes(8, 8, 1, flat(64, {100})));
    write("B/c.Jpeg", jpeg_bytes(4, 4, 3, flat(16, {200, 200, 200})));
    write("chat_z/d.pgm", pnm_bytes(6, 5, 1, ramp(30)));
    write("chat_z/e.PPM", pnm_bytes(2, 2, 3, flat(4, {10, 200, 30})));
    write("chat_" + kE + "/f.Ppm", pnm_bytes(4, 4, 3, flat(16, {0, 0, 255})));
    write("chat_" + kE + "/" + kE + "t" + kE + ".png", png_bytes(4, 4, 3, flat(16, {255, 0, 0})));
    // Ignored: hidden files and folders, other extensions, files under root, deeper levels.
    write("B/.hidden.png", "not an image");
    write("B/notes.txt", "text");
    write("B/Thumbs.db", "junk");
    write("B/noextension", "junk");
    write("chat_z/deeper/g.png", png_bytes(4, 4, 1, flat(16, {1})));
    write(".hidden_class/h.png", png_bytes(4, 4, 1, flat(16, {1})));
    write("root.png", png_bytes(4, 4, 1, flat(16, {1})));
    write("README.txt", "about");
    fs::create_directories(dir_ / "chat_z" / "dir.png");  // a folder with an image name
  }
  std::vector<std::string> expected_paths() const {
    return {path("B/a.PNG"),
            path("B/b.jpg"),
            path("B/c.Jpeg"),
            path("chat_z/d.pgm"),
            path("chat_z/e.PPM"),
            path("chat_" + kE + "/f.Ppm"),
            path("chat_" + kE + "/" + kE + "t" + kE + ".png")};
  }
};

TEST_F(FolderLoad, ClassesAndFilesInByteOrderWithConversionAndResize) {
  make_tree();
  const ImageDataset d = load_image_folder(dir_.string(), {.format = {4, 4, 1}, .threads = 2});
  EXPECT_THAT(d.class_names, ElementsAre("B", "chat_z", "chat_" + kE));
  EXPECT_THAT(d.labels, ElementsAre(0, 0, 0, 1, 1, 2, 2));
  EXPECT_EQ(d.paths, expected_paths());
  EXPECT_TRUE(d.skipped.empty()) << d.skipped.front().path << ": " << d.skipped.front().reason;
  ASSERT_EQ(d.pixels.size(), 7u * 16u);
  auto image = [&](std::size_t i) {
    return Pixels(d.pixels.begin() + i * 16, d.pixels.begin() + (i + 1) * 16);
  };
  EXPECT_EQ(image(0), flat(16, {10}));                           // same size: as decoded
  for (std::uint8_t v : image(1)) EXPECT_NEAR(v, 100, 1);        // JPEG 8x8 -> 4x4
  for (std::uint8_t v : image(2)) EXPECT_NEAR(v, 200, 2);        // colour JPEG -> gray
  EXPECT_EQ(image(3), resized(Image{5, 6, 1, ramp(30)}, 4, 4));  // PGM 6x5 -> 4x4
  EXPECT_EQ(image(4), flat(16, {124}));  // luma(10, 200, 30) = 123.81, 2x2 -> 4x4
  EXPECT_EQ(image(5), flat(16, {29}));   // luma(0, 0, 255) = 29.07
  EXPECT_EQ(image(6), flat(16, {76}));   // luma(255, 0, 0) = 76.245
  EXPECT_THAT(d.class_counts(), ElementsAre(3u, 2u, 2u));
}

TEST_F(FolderLoad, RgbFormatReplicatesGrayAndKeepsColour) {
  make_tree();
  const ImageDataset d = load_image_folder(dir_.string(), {.format = {3, 5, 3}});
  EXPECT_EQ(d.channels, 3u);
  EXPECT_EQ(d.height, 3u);
  EXPECT_EQ(d.width, 5u);
  ASSERT_EQ(d.pixels.size(), 7u * 45u);
  auto image = [&](std::size_t i) {
    return Pixels(d.pixels.begin() + i * 45, d.pixels.begin() + (i + 1) * 45);
  };
  EXPECT_EQ(image(0), flat(15, {10, 10, 10}));
  EXPECT_EQ(image(4), flat(15, {10, 200, 30}));
  EXPECT_EQ(image(6), flat(15, {255, 0, 0}));
  Image gray_rgb{5, 6, 3, {}};
  for (std::uint8_t v : ramp(30)) gray_rgb.pixels.insert(gray_rgb.pixels.end(), {v, v, v});
  EXPECT_EQ(image(3), resized(gray_rgb, 3, 5));
}

TEST_F(FolderLoad, SameResultWithOneOrTwoThreads) {
  make_tree();
  write("B/broken.png", "not a png");
  const ImageDataset one = load_image_folder(dir_.string(), {.format = {7, 3, 3}, .threads = 1});
  const ImageDataset two = load_image_folder(dir_.string(), {.format = {7, 3, 3}, .threads = 2});
  EXPECT_EQ(one.pixels, two.pixels);
  EXPECT_EQ(one.labels, two.labels);
  EXPECT_EQ(one.paths, two.paths);
  EXPECT_EQ(one.class_names, two.class_names);
  ASSERT_EQ(one.skipped.size(), 1u);
  ASSERT_EQ(two.skipped.size(), 1u);
  EXPECT_EQ(one.skipped[0].path, two.skipped[0].path);
  EXPECT_EQ(one.skipped[0].reason, two.skipped[0].reason);
}

TEST_F(FolderLoad, FollowsSymbolicLinks) {
  write("a/x.pgm", pnm_bytes(4, 4, 1, flat(16, {1})));
  write("a/y.pgm", pnm_bytes(4, 4, 1, flat(16, {2})));
  write("elsewhere/z.pgm", pnm_bytes(4, 4, 1, flat(16, {3})));
  fs::create_directories(dir_ / "root");
  fs::create_directory_symlink(dir_ / "a", dir_ / "root" / "linked_class");
  fs::create_directories(dir_ / "root" / "b");
  fs::create_symlink(dir_ / "elsewhere" / "z.pgm", dir_ / "root" / "b" / "z.pgm");
  write("root/b/w.pgm", pnm_bytes(4, 4, 1, flat(16, {4})));
  const ImageDataset d = load_image_folder(path("root"), {.format = {4, 4, 1}});
  EXPECT_THAT(d.class_names, ElementsAre("b", "linked_class"));
  EXPECT_THAT(d.labels, ElementsAre(0, 0, 1, 1));
  EXPECT_EQ(d.pixels[0], 4);   // b/w.pgm
  EXPECT_EQ(d.pixels[16], 3);  // b/z.pgm -> elsewhere/z.pgm
  EXPECT_EQ(d.pixels[32], 1);
  EXPECT_TRUE(d.skipped.empty());
}

TEST_F(FolderLoad, BadFilesAreSkippedOnceWithTheirReason) {
  const std::string png = png_bytes(8, 8, 1, ramp(64));
  write("good/one.pgm", pnm_bytes(4, 4, 1, flat(16, {1})));
  write("good/two.pgm", pnm_bytes(4, 4, 1, flat(16, {2})));
  write("mixed/a_ok.pgm", pnm_bytes(4, 4, 1, flat(16, {3})));
  write("mixed/b_truncated.png", png.substr(0, png.size() / 2));
  write("mixed/c_empty.jpg", "");
  write("mixed/d_text.png", "just some text, renamed");
  fs::create_symlink(dir_ / "nowhere.png", dir_ / "mixed" / "e_dangling.png");
  write("only_broken/x.png", "text");

  for (int threads : {1, 2}) {
    const ImageDataset d =
        load_image_folder(dir_.string(), {.format = {4, 4, 1}, .threads = threads});
    EXPECT_THAT(d.class_names, ElementsAre("good", "mixed"));  // only_broken dropped
    EXPECT_THAT(d.labels, ElementsAre(0, 0, 1));
    EXPECT_THAT(d.paths,
                ElementsAre(path("good/one.pgm"), path("good/two.pgm"), path("mixed/a_ok.pgm")));
    EXPECT_EQ(d.pixels.size(), 3u * 16u);
    EXPECT_EQ(d.pixels[32], 3);
    ASSERT_EQ(d.skipped.size(), 6u);
    const std::vector<std::string> paths = {
        path("mixed/b_truncated.png"), path("mixed/c_empty.jpg"), path("mixed/d_text.png"),
        path("mixed/e_dangling.png"),  path("only_broken/x.png"), path("only_broken")};
    for (std::size_t i = 0; i < paths.size(); ++i) {
      EXPECT_EQ(d.skipped[i].path, paths[i]);
      EXPECT_FALSE(d.skipped[i].reason.empty());
      EXPECT_THAT(d.skipped[i].reason, Not(HasSubstr(dir_.string())));  // path not repeated
    }
    EXPECT_THAT(d.skipped[0].reason, HasSubstr("PNG"));
    EXPECT_THAT(d.skipped[1].reason, HasSubstr("empty file"));
    EXPECT_THAT(d.skipped[2].reason, HasSubstr("not a JPEG, PNG, PGM or PPM image"));
    EXPECT_THAT(d.skipped[3].reason, HasSubstr("broken symbolic link"));
    EXPECT_EQ(d.skipped[5].reason, "class 'only_broken' has no usable image");
  }
}

TEST_F(FolderLoad, StrictThrowsForTheFirstBadFile) {
  write("a/1.pgm", pnm_bytes(4, 4, 1, flat(16, {1})));
  write("a/2.pgm", pnm_bytes(4, 4, 1, flat(16, {1})));
  write("b/1_ok.pgm", pnm_bytes(4, 4, 1, flat(16, {1})));
  write("b/2_bad.png", "text");
  write("b/3_bad.jpg", "");
  for (int threads : {1, 2}) {
    const std::string msg = error_message<std::runtime_error>([&] {
      load_image_folder(dir_.string(), {.format = {4, 4, 1}, .strict = true, .threads = threads});
    });
    EXPECT_THAT(msg, StartsWith(path("b/2_bad.png") + ": not a JPEG"));
    EXPECT_THAT(msg, HasSubstr("(--strict)"));
  }
}

TEST_F(FolderLoad, AClassWithOneImageIsKept) {
  write("a/1.pgm", pnm_bytes(4, 4, 1, flat(16, {1})));
  write("b/1.pgm", pnm_bytes(4, 4, 1, flat(16, {1})));
  write("b/2.pgm", pnm_bytes(4, 4, 1, flat(16, {1})));
  const ImageDataset d = load_image_folder(dir_.string(), {.format = {4, 4, 1}});
  EXPECT_THAT(d.class_counts(), ElementsAre(1u, 2u));
}

TEST_F(FolderLoad, FolderErrorsNameTheRoot) {
  const std::string missing = path("missing");
  EXPECT_EQ(error_message<std::runtime_error>([&] { load_image_folder(missing, {}); }),
            missing + ": no such folder");
  const std::string file = write("file.png", png_bytes(4, 4, 1, flat(16, {1})));
  EXPECT_EQ(error_message<std::runtime_error>([&] { load_image_folder(file, {}); }),
            file + ": not a folder");

  write("flat/x.png", png_bytes(4, 4, 1, flat(16, {1})));
  EXPECT_THAT(error_message<std::runtime_error>([&] { load_image_folder(path("flat"), {}); }),
              AllOf(StartsWith(path("flat") + ": no class subfolders"),
                    HasSubstr("found 1 file directly")));

  write("nothing/a/notes.txt", "x");
  fs::create_directories(dir_ / "nothing" / "b");
  EXPECT_THAT(error_message<std::runtime_error>([&] { load_image_folder(path("nothing"), {}); }),
              AllOf(StartsWith(path("nothing") + ": found 2 class folders but no usable image"),
                    HasSubstr("no file with extension")));

  write("broken/a/x.png", "text");
  write("broken/b/y.jpg", "");
  write("broken/c/z.pgm", "P5\n4 4\n255\n");
  EXPECT_THAT(
      error_message<std::runtime_error>([&] { load_image_folder(path("broken"), {}); }),
      AllOf(StartsWith(path("broken") + ": found 3 class folders but no usable image"),
            HasSubstr("3 files skipped; first: " + path("broken/a/x.png") + ": not a JPEG")));
}

TEST_F(FolderLoad, BadOptionsAndMemoryGuard) {
  write("a/x.pgm", pnm_bytes(4, 4, 1, flat(16, {1})));
  EXPECT_THAT(error_message<std::invalid_argument>([&] {
                load_image_folder(dir_.string(), {.format = {4, 4, 4}});
              }),
              HasSubstr("load_image_folder: format.channels must be 1 (gray) or 3 (RGB); got 4"));
  EXPECT_THAT(error_message<std::invalid_argument>([&] {
                load_image_folder(dir_.string(), {.format = {4, 4, 1}, .threads = -1});
              }),
              HasSubstr("threads must be >= 0"));
  EXPECT_THAT(error_message<std::runtime_error>([&] {
                load_image_folder(dir_.string(), {.format = {60000, 60000, 3}});
              }),
              AllOf(StartsWith(dir_.string() + ": 1 images of 60000x60000x3"),
                    HasSubstr("10.1 GiB"), HasSubstr("the limit is 8 GiB")));
}

// ---------------------------------------------------------------------------------------
// Splits

std::vector<std::int64_t> labels_of(const ImageDataset& d, const std::vector<std::size_t>& idx) {
  std::vector<std::int64_t> out;
  for (std::size_t i : idx) out.push_back(d.labels[i]);
  return out;
}

/// Checks that the three lists are sorted, disjoint and together cover every image.
void expect_partition(const ImageDataset& d, const Split& s) {
  EXPECT_TRUE(std::is_sorted(s.train.begin(), s.train.end()));
  EXPECT_TRUE(std::is_sorted(s.validation.begin(), s.validation.end()));
  EXPECT_TRUE(std::is_sorted(s.test.begin(), s.test.end()));
  std::vector<std::size_t> all = s.train;
  all.insert(all.end(), s.validation.begin(), s.validation.end());
  all.insert(all.end(), s.test.begin(), s.test.end());
  std::sort(all.begin(), all.end());
  std::vector<std::size_t> expect(d.size());
  std::iota(expect.begin(), expect.end(), 0);
  EXPECT_EQ(all, expect);  // no repeats, nothing missing
}

std::size_t count_label(const ImageDataset& d, const std::vector<std::size_t>& idx,
                        std::int64_t l) {
  const auto labels = labels_of(d, idx);
  return static_cast<std::size_t>(std::count(labels.begin(), labels.end(), l));
}

TEST(SplitByClass, LastClassesAreTestAndValidationIsPerClass) {
  const ImageDataset d = labelled({20, 15, 10, 3, 2, 1, 7, 5});
  const Split s = split_by_class(d, 2, 0.1, 42);
  expect_partition(d, s);
  EXPECT_EQ(s.test.size(), 12u);
  for (auto l : labels_of(d, s.test)) EXPECT_GE(l, 6);
  for (auto l : labels_of(d, s.train)) EXPECT_LT(l, 6);
  for (auto l : labels_of(d, s.validation)) EXPECT_LT(l, 6);
  // floor(n · 0.1), at least 1 from n >= 3, keeping 2 in training.
  const std::vector<std::size_t> val = {2, 1, 1, 1, 0, 0};
  for (std::int64_t c = 0; c < 6; ++c) {
    EXPECT_EQ(count_label(d, s.validation, c), val[static_cast<std::size_t>(c)]) << "class " << c;
  }
  EXPECT_EQ(s.validation.size(), 5u);
  EXPECT_EQ(s.train.size(), 46u);
}

TEST(SplitByClass, DeterministicPerSeed) {
  const ImageDataset d = labelled({30, 30, 30, 30});
  const Split a = split_by_class(d, 1, 0.2, 7);
  const Split b = split_by_class(d, 1, 0.2, 7);
  const Split c = split_by_class(d, 1, 0.2, 8);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.validation, b.validation);
  EXPECT_EQ(a.test, b.test);
  EXPECT_NE(a.validation, c.validation);
  EXPECT_EQ(a.validation.size(), c.validation.size());
  const Split none = split_by_class(d, 1, 0.0, 7);
  EXPECT_TRUE(none.validation.empty());
  EXPECT_EQ(none.train.size(), 90u);
}

TEST(SplitByClass, ToleratesFloatingPointInTheCount) {
  const ImageDataset d = labelled({100, 100, 100});
  EXPECT_EQ(split_by_class(d, 1, 0.29, 1).validation.size(), 58u);  // 0.29 * 100 = 28.999…
}

TEST(SplitByClass, Errors) {
  const ImageDataset d = labelled({5, 5, 5, 5, 5, 5, 5, 5, 5, 5});
  EXPECT_THAT(error_message<std::invalid_argument>([&] { split_by_class(d, 9, 0.1, 1); }),
              HasSubstr("split_by_class: --test-classes 9 of 10 classes leaves 1 training class; "
                        "need at least 2"));
  EXPECT_THAT(error_message<std::invalid_argument>([&] { split_by_class(d, 10, 0.1, 1); }),
              HasSubstr("leaves 0 training classes"));
  EXPECT_THAT(error_message<std::invalid_argument>([&] { split_by_class(d, 0, 0.1, 1); }),
              HasSubstr("--test-classes must be >= 1"));
  EXPECT_EQ(error_message<std::invalid_argument>([&] { split_by_class(d, 2, 1.0, 1); }),
            "split_by_class: validation_fraction must be in [0, 1); got 1");
  EXPECT_THROW(split_by_class(d, 2, -0.1, 1), std::invalid_argument);
  EXPECT_THROW(split_by_class(d, 2, std::nan(""), 1), std::invalid_argument);
  ImageDataset bad = labelled({3, 3, 3});
  bad.labels[1] = -2;
  EXPECT_THAT(error_message<std::invalid_argument>([&] { split_by_class(bad, 1, 0.1, 1); }),
              HasSubstr("labels[1]=-2"));
}

TEST(SplitByImage, StratifiedSizes) {
  const ImageDataset d = labelled({20, 10, 3, 2, 1});
  const Split s = split_by_image(d, 0.1, 0.2, 3);
  expect_partition(d, s);
  const std::vector<std::size_t> test = {4, 2, 1, 0, 0}, val = {2, 1, 0, 0, 0};
  for (std::int64_t c = 0; c < 5; ++c) {
    const auto k = static_cast<std::size_t>(c);
    EXPECT_EQ(count_label(d, s.test, c), test[k]) << "class " << c;
    EXPECT_EQ(count_label(d, s.validation, c), val[k]) << "class " << c;
  }
  EXPECT_EQ(s.train.size(), 36u - 7u - 3u);
  const Split again = split_by_image(d, 0.1, 0.2, 3);
  EXPECT_EQ(s.test, again.test);
  EXPECT_EQ(s.validation, again.validation);
  EXPECT_NE(split_by_image(d, 0.1, 0.2, 4).test, s.test);
}

TEST(SplitByImage, Errors) {
  const ImageDataset d = labelled({5, 5});
  EXPECT_THAT(
      error_message<std::invalid_argument>([&] { split_by_image(d, 0.5, 0.5, 1); }),
      HasSubstr("split_by_image: validation_fraction + test_fraction must be < 1; got 0.5 + 0.5"));
  EXPECT_THAT(error_message<std::invalid_argument>([&] { split_by_image(d, 0.1, 1.5, 1); }),
              HasSubstr("split_by_image: test_fraction must be in [0, 1); got 1.5"));
  EXPECT_THROW(split_by_image(d, -0.2, 0.1, 1), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// PairSampler

class PairSamplerTest : public ::testing::Test {
 protected:
  // Class sizes 5, 4, 1, 3, 6, 2; the subset leaves out class 5 and a few images.
  PairSamplerTest() : data_(labelled({5, 4, 1, 3, 6, 2})) {
    for (std::size_t i = 0; i < data_.size(); ++i) {
      if (data_.labels[i] != 5 && i != 0 && i != 7) subset_.push_back(i);
    }
  }
  std::int64_t label(std::size_t i) const { return data_.labels[i]; }
  bool in_subset(std::size_t i) const {
    return std::find(subset_.begin(), subset_.end(), i) != subset_.end();
  }
  ImageDataset data_;
  std::vector<std::size_t> subset_;
};

TEST_F(PairSamplerTest, BalancedValidPairsFromTheSubset) {
  const PairSampler sampler(data_, subset_, 11);
  EXPECT_EQ(sampler.num_classes(), 5u);
  EXPECT_EQ(sampler.num_positive_classes(), 4u);  // class 2 has a single image
  for (std::uint64_t b = 0; b < 20; ++b) {
    const PairBatch p = sampler.pairs(3, b, 64);
    ASSERT_EQ(p.first.size(), 64u);
    ASSERT_EQ(p.second.size(), 64u);
    ASSERT_EQ(p.same.size(), 64u);
    EXPECT_EQ(std::count(p.same.begin(), p.same.end(), 1), 32);
    for (std::size_t k = 0; k < 64; ++k) {
      ASSERT_TRUE(in_subset(p.first[k]) && in_subset(p.second[k]))
          << p.first[k] << " " << p.second[k];
      if (p.same[k] == 1) {
        EXPECT_EQ(label(p.first[k]), label(p.second[k]));
        EXPECT_NE(p.first[k], p.second[k]);
      } else {
        EXPECT_EQ(p.same[k], 0);
        EXPECT_NE(label(p.first[k]), label(p.second[k]));
      }
    }
  }
  // Same and different pairs are mixed, not grouped.
  const PairBatch p = sampler.pairs(0, 0, 64);
  EXPECT_FALSE(std::is_sorted(p.same.begin(), p.same.end(), std::greater<>()));
}

TEST_F(PairSamplerTest, OddBatchesAlternateTheExtraPair) {
  const PairSampler sampler(data_, subset_, 11);
  const PairBatch even = sampler.pairs(0, 4, 7), odd = sampler.pairs(0, 5, 7);
  EXPECT_EQ(std::count(even.same.begin(), even.same.end(), 1), 3);
  EXPECT_EQ(std::count(odd.same.begin(), odd.same.end(), 1), 4);
  EXPECT_TRUE(sampler.pairs(0, 0, 0).first.empty());
}

TEST_F(PairSamplerTest, PureFunctionOfSeedEpochAndBatch) {
  const PairSampler a(data_, subset_, 11);
  std::vector<std::size_t> shuffled = subset_;
  std::reverse(shuffled.begin(), shuffled.end());
  shuffled.push_back(shuffled.front());  // a repeat changes nothing
  const PairSampler b(data_, shuffled, 11);
  const PairSampler other_seed(data_, subset_, 12);
  const PairBatch p = a.pairs(2, 9, 32);
  const PairBatch q = b.pairs(2, 9, 32);
  EXPECT_EQ(p.first, q.first);
  EXPECT_EQ(p.second, q.second);
  EXPECT_EQ(p.same, q.same);
  (void)a.pairs(0, 0, 32);  // no hidden state
  EXPECT_EQ(a.pairs(2, 9, 32).first, p.first);
  EXPECT_NE(a.pairs(3, 9, 32).first, p.first);
  EXPECT_NE(a.pairs(2, 10, 32).first, p.first);
  EXPECT_NE(a.pairs(9, 2, 32).first, p.first);
  EXPECT_NE(other_seed.pairs(2, 9, 32).first, p.first);
  EXPECT_EQ(a.triplets(1, 1, 16).anchor, b.triplets(1, 1, 16).anchor);
  EXPECT_NE(a.triplets(1, 1, 16).anchor, a.triplets(1, 2, 16).anchor);
}

TEST_F(PairSamplerTest, ClassesAndImagesAreDrawnUniformly) {
  const PairSampler sampler(data_, subset_, 5);
  std::vector<double> positive(6, 0), negative(6, 0);
  std::map<std::size_t, double> image_in_class4;
  for (std::uint64_t b = 0; b < 500; ++b) {
    const PairBatch p = sampler.pairs(0, b, 64);
    for (std::size_t k = 0; k < 64; ++k) {
      if (p.same[k]) {
        positive[static_cast<std::size_t>(label(p.first[k]))] += 1;
        if (label(p.first[k]) == 4) image_in_class4[p.first[k]] += 1;
      } else {
        negative[static_cast<std::size_t>(label(p.first[k]))] += 1;
        negative[static_cast<std::size_t>(label(p.second[k]))] += 1;
      }
    }
  }
  // 16000 positive pairs over 4 classes; 32000 class draws over 5 classes for negatives.
  for (std::size_t c : {0, 1, 3, 4}) EXPECT_NEAR(positive[c], 4000, 250) << "class " << c;
  EXPECT_EQ(positive[2], 0);
  EXPECT_EQ(positive[5], 0);
  for (std::size_t c : {0, 1, 2, 3, 4}) EXPECT_NEAR(negative[c], 6400, 350) << "class " << c;
  EXPECT_EQ(negative[5], 0);
  ASSERT_EQ(image_in_class4.size(), 6u);
  for (const auto& [image, n] : image_in_class4) EXPECT_NEAR(n, 4000.0 / 6, 120) << image;
}

TEST_F(PairSamplerTest, TripletsAreValid) {
  const PairSampler sampler(data_, subset_, 3);
  for (std::uint64_t b = 0; b < 20; ++b) {
    const TripletBatch t = sampler.triplets(1, b, 50);
    ASSERT_EQ(t.anchor.size(), 50u);
    ASSERT_EQ(t.positive.size(), 50u);
    ASSERT_EQ(t.negative.size(), 50u);
    for (std::size_t k = 0; k < 50; ++k) {
      ASSERT_TRUE(in_subset(t.anchor[k]) && in_subset(t.positive[k]) && in_subset(t.negative[k]));
      EXPECT_EQ(label(t.anchor[k]), label(t.positive[k]));
      EXPECT_NE(t.anchor[k], t.positive[k]);
      EXPECT_NE(label(t.anchor[k]), label(t.negative[k]));
      EXPECT_NE(label(t.anchor[k]), 2);  // single-image class: never an anchor
    }
  }
}

TEST_F(PairSamplerTest, Errors) {
  std::vector<std::size_t> one_class;
  for (std::size_t i = 0; i < data_.size(); ++i) {
    if (data_.labels[i] == 4) one_class.push_back(i);
  }
  EXPECT_EQ(
      error_message<std::invalid_argument>([&] { PairSampler s(data_, one_class, 1); }),
      "PairSampler: the training images cover only 1 class (6 images); pairs need at least 2");
  EXPECT_THAT(error_message<std::invalid_argument>([&] { PairSampler s(data_, {}, 1); }),
              HasSubstr("cover only 0 classes"));
  // One image of each of classes 0, 2 and 4.
  EXPECT_EQ(error_message<std::invalid_argument>([&] {
              PairSampler s(data_, {1, 9, 15}, 1);
            }),
            "PairSampler: no class has 2 images, so no same-class pair can be drawn (classes: "
            "'class0': 1, 'class2': 1, 'class4': 1)");
  EXPECT_THAT(error_message<std::invalid_argument>([&] {
                PairSampler s(data_, {1, 2, 99}, 1);
              }),
              HasSubstr("subset index 99 is out of range for 21 images"));
}

}  // namespace
}  // namespace xgrad::siamese
