#include "siamese/idx.h"
#include "tests/support/expect.h"
#include "tests/support/temp_dir.h"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace xgrad::siamese {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class IdxFiles : public xgrad::testing::TempDirTest {
 protected:

  static std::string idx_bytes(const std::vector<std::uint32_t>& shape, const std::vector<unsigned char>& data,
                               unsigned char type = 0x08) {
    std::string s{'\0', '\0', static_cast<char>(type), static_cast<char>(shape.size())};
    for (std::uint32_t d : shape) {
      for (int k = 3; k >= 0; --k) s += static_cast<char>((d >> (8 * k)) & 0xFF);
    }
    s.append(data.begin(), data.end());
    return s;
  }
  std::string write_plain(const std::string& name, const std::string& bytes) {
    xgrad::testing::write_bytes(dir_ / name, bytes);
    return (dir_ / name).string();
  }
  std::string write_gz(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return path;
  }
  static std::string error_of(const std::function<void()>& fn) {
    return xgrad::testing::error_message<std::runtime_error>(fn);
  }
};

TEST_F(IdxFiles, ReadsPlainAndGzipped) {
  const std::vector<unsigned char> data{1, 2, 3, 4, 5, 6};
  for (const std::string& path : {write_plain("a.idx", idx_bytes({2, 1, 3}, data)),
                                  write_gz("a.idx.gz", idx_bytes({2, 1, 3}, data))}) {
    IdxArray a = read_idx(path);
    EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 1, 3})) << path;
    EXPECT_EQ(a.data, data) << path;
  }
}

TEST_F(IdxFiles, ImagesAndLabelsPair) {
  auto images = write_gz("i.gz", idx_bytes({2, 2, 2}, {0, 255, 1, 2, 3, 4, 5, 6}));
  auto labels = write_plain("l", idx_bytes({2}, {7, 3}));
  IdxImages set = read_idx_images(images, labels);
  EXPECT_EQ(set.count, 2u);
  EXPECT_EQ(set.height, 2u);
  EXPECT_EQ(set.width, 2u);
  EXPECT_EQ(set.pixels[1], 255);
  EXPECT_EQ(set.labels, (std::vector<std::int64_t>{7, 3}));
}

TEST_F(IdxFiles, BadFilesAreClearErrorsNamingThePath) {
  const std::string good = idx_bytes({2, 3}, {1, 2, 3, 4, 5, 6});
  auto missing = (dir_ / "nope.gz").string();
  EXPECT_THAT(error_of([&] { read_idx(missing); }), HasSubstr(missing));
  auto empty = write_plain("empty", "");
  EXPECT_THAT(error_of([&] { read_idx(empty); }), HasSubstr("not an IDX file"));
  auto text = write_plain("text", "hello world, not idx");
  EXPECT_THAT(error_of([&] { read_idx(text); }), HasSubstr("bad magic"));
  auto floats = write_plain("floats", idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
  EXPECT_THAT(error_of([&] { read_idx(floats); }), HasSubstr("not supported"));
  auto trailing = write_plain("trailing", good + "x");
  EXPECT_THAT(error_of([&] { read_idx(trailing); }), HasSubstr("trailing"));
  // Every truncation of a valid file is an error, plain or gzipped.
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto p = write_plain("t" + std::to_string(n), good.substr(0, n));
    EXPECT_THAT(error_of([&] { read_idx(p); }), HasSubstr(p)) << n;
  }
  // A gzip stream cut short or with a corrupt body.
  auto gz = write_gz("g.gz", idx_bytes({64, 64}, std::vector<unsigned char>(4096, 9)));
  std::string bytes;
  {
    std::ifstream in(gz, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto cut = write_plain("cut.gz", bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(error_of([&] { read_idx(cut); }), HasSubstr("cut.gz"));
  std::string flipped = bytes;
  flipped[bytes.size() - 6] ^= 0x5A;  // inside the CRC/length trailer
  auto bad_crc = write_plain("crc.gz", flipped);
  EXPECT_THAT(error_of([&] { read_idx(bad_crc); }), HasSubstr("crc.gz"));
}

TEST_F(IdxFiles, MismatchedPairNamesBothFiles) {
  auto images = write_plain("i", idx_bytes({3, 1, 1}, {1, 2, 3}));
  auto labels = write_plain("l", idx_bytes({2}, {1, 2}));
  const std::string msg = error_of([&] { read_idx_images(images, labels); });
  EXPECT_THAT(msg, HasSubstr("3 images"));
  EXPECT_THAT(msg, HasSubstr("2 labels"));
  auto flat = write_plain("flat", idx_bytes({3}, {1, 2, 3}));
  EXPECT_THAT(error_of([&] { read_idx_images(flat, labels); }), HasSubstr("rank 3"));
}

TEST(IdxFashionMnist, ReadsTheDebianPackage) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  if (!fs::exists(dir + "t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/setup.sh installs it)";
  }
  IdxImages test = read_idx_images(dir + "t10k-images-idx3-ubyte.gz", dir + "t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(test.count, 10000u);
  EXPECT_EQ(test.height, 28u);
  EXPECT_EQ(test.width, 28u);
  std::vector<int> per_class(10, 0);
  for (auto l : test.labels) {
    ASSERT_GE(l, 0);
    ASSERT_LT(l, 10);
    ++per_class[static_cast<std::size_t>(l)];
  }
  for (int c : per_class) EXPECT_EQ(c, 1000);
}

}  // namespace
}  // namespace xgrad::siamese
