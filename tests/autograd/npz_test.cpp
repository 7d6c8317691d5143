// Tests of autograd/npz.h: round trips, interop with NumPy (when a python3 with numpy exists),
// crafted files for every supported and rejected feature, truncation and byte-flip fuzzing, and
// atomic saving.

#include "autograd/npz.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/expect.h"
#include "tests/support/numpy_script.h"
#include "tests/support/temp_dir.h"
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace xgrad {
namespace {

namespace fs = std::filesystem;
using testing::error_message;
using ::testing::HasSubstr;
using testing::invalid_argument_message;
using ::testing::Not;

// ---------------------------------------------------------------------------------------------
// Helpers

using xgrad::testing::read_bytes;
using xgrad::testing::TempDir;
using xgrad::testing::write_bytes;

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

// Shapes equal and the values identical bit for bit.
::testing::AssertionResult same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    return ::testing::AssertionFailure()
           << "shape " << shape_to_string(a.shape()) << " vs " << shape_to_string(b.shape());
  }
  if (a.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(real)) != 0) {
    return ::testing::AssertionFailure() << "values differ: " << a << " vs " << b;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult same_arrays(const NamedTensors& a, const NamedTensors& b) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure() << a.size() << " arrays vs " << b.size();
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first) {
      return ::testing::AssertionFailure()
             << "name '" << a[i].first << "' vs '" << b[i].first << "'";
    }
    if (auto r = same_bits(a[i].second, b[i].second); !r) return r << " in '" << a[i].first << "'";
  }
  return ::testing::AssertionSuccess();
}

// The value a saved `v` loads back as: float32 on disk.
real stored(real v) { return static_cast<real>(static_cast<float>(v)); }

Tensor tensor_of(const Shape& shape, std::vector<real> values) {
  return Tensor::from_vector(shape, std::move(values));
}

Tensor stored(const Tensor& t) {
  std::vector<real> v = t.to_vector();
  for (real& x : v) x = stored(x);
  return tensor_of(t.shape(), std::move(v));
}

// Deterministic values 0.1 * k * (-1)^k, not exact in binary (so float rounding shows).
Tensor ramp(const Shape& shape) {
  std::vector<real> v(shape_size(shape));
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = real(0.1) * real(k) * (k % 2 ? -1 : 1);
  return tensor_of(shape, std::move(v));
}

// Arrays covering ranks 0, 1, 4, empty shapes, special values and names with '/' and UTF-8.
NamedTensors sample_arrays() {
  const real inf = std::numeric_limits<real>::infinity();
  return {
      {"scalar", Tensor(real(3.25))},
      {"layer/bias", tensor_of({8}, {real(0), real(-0.0), real(1e-40), inf, -inf,
                                     std::numeric_limits<real>::quiet_NaN(), real(1) / real(3),
                                     static_cast<real>(std::numeric_limits<float>::max())})},
      {"tower/conv2d_1/kernel", ramp({2, 3, 4, 5})},
      {"empty", Tensor::zeros({0, 3})},
      {"tower/empty_tail", Tensor::zeros({3, 0})},
      {"\xc3\xa9t\xc3\xa9/\xe2\x82\xac", ramp({2, 2})},  // "été/€"
  };
}

NamedTensors stored(const NamedTensors& arrays) {
  NamedTensors out;
  for (const auto& [name, t] : arrays) out.emplace_back(name, stored(t));
  return out;
}

// IEEE CRC-32 (what zip uses), for crafting archives without linking zlib.
std::uint32_t crc32_of(std::string_view s) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (char ch : s) {
    c ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void le(std::string& s, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// An .npy file with the given header dict (padded like numpy) and raw data.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  le(out, header.size(), major == 1 ? 2 : 4);
  return out + header + data;
}

std::string f32_dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

struct Member {
  std::string name;  // the zip member name, e.g. "x.npy"
  std::string data;
  std::uint16_t method = 0;
  std::uint16_t flags = 0;
  bool bad_crc = false;
};

// A zip of stored members (the data is written as given, whatever `method` says).
std::string zip_bytes(const std::vector<Member>& members) {
  std::string out, cd;
  for (const Member& m : members) {
    const std::uint32_t crc = crc32_of(m.data) ^ (m.bad_crc ? 1u : 0u);
    const std::size_t offset = out.size();
    auto common = [&](std::string& s) {
      le(s, 20, 2);
      le(s, m.flags, 2);
      le(s, m.method, 2);
      le(s, 0, 2);
      le(s, 0x21, 2);
      le(s, crc, 4);
      le(s, m.data.size(), 4);
      le(s, m.data.size(), 4);
      le(s, m.name.size(), 2);
      le(s, 0, 2);
    };
    le(out, 0x04034b50, 4);
    common(out);
    out += m.name + m.data;
    le(cd, 0x02014b50, 4);
    le(cd, 20, 2);
    common(cd);
    cd.append(2 + 2 + 2 + 4, '\0');  // comment length, disk, internal and external attributes
    le(cd, offset, 4);
    cd += m.name;
  }
  const std::size_t cd_offset = out.size();
  out += cd;
  le(out, 0x06054b50, 4);
  le(out, 0, 4);
  le(out, members.size(), 2);
  le(out, members.size(), 2);
  le(out, cd.size(), 4);
  le(out, cd_offset, 4);
  le(out, 0, 2);
  return out;
}

// Small archives written by numpy 1.24 (python3 -c "import numpy as np; d = {'w/k':
// np.array([[1.5, -2.25, 3], [0.5, 0, -1]], np.float32), 'i': np.array([-3, 7], np.int16)};
// np.savez('gs.npz', **d); np.savez_compressed('gc.npz', **d)"): zip64 extra fields in the
// local headers, and deflate in the second.
const std::string kNumpyStored = from_hex(
    "504b03041400000000000000210061c434a9980000009800000007001400772f6b2e6e707901001000980000"
    "00000000009800000000000000934e554d5059010076007b276465736372273a20273c6634272c2027666f72"
    "7472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2033292c207d202020202020"
    "2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
    "20202020202020200a0000c03f000010c0000040400000003f00000000000080bf504b030414000000000000"
    "0021002a5bda35840000008400000005001400692e6e70790100100084000000000000008400000000000000"
    "934e554d5059010076007b276465736372273a20273c6932272c2027666f727472616e5f6f72646572273a20"
    "46616c73652c20277368617065273a2028322c292c207d202020202020202020202020202020202020202020"
    "2020202020202020202020202020202020202020202020202020202020202020202020202020200afdff0700"
    "504b010214031400000000000000210061c434a9980000009800000007000000000000000000000080010000"
    "0000772f6b2e6e7079504b01021403140000000000000021002a5bda35840000008400000005000000000000"
    "00000000008001d1000000692e6e7079504b05060000000002000200680000008c0100000000");
const std::string kNumpyCompressed = from_hex(
    "504b03041400000008000000210061c434a95b0000009800000007001400772f6b2e6e707901001000980000"
    "00000000005b000000000000009bec17ea1b10c9c850c650ad9e925a9c5ca46ea5a06e9366a2aea3a09e965f"
    "54529498179f5f94920a12774bcc294e058a17672416a402f91a463a0ac69a3a0ab50a64032e068603f60c0c"
    "020718181c1c181818806c1068d80f00504b0304140000000800000021002a5bda3548000000840000000500"
    "1400692e6e707901001000840000000000000048000000000000009bec17ea1b10c9c850c650ad9e925a9c5c"
    "a46ea5a06e9369a4aea3a09e965f54529498179f5f94920a12774bcc294e058a17672416a402f91a463a9a3a"
    "0ab50a1400aebfffd91900504b010214031400000008000000210061c434a95b000000980000000700000000"
    "00000000000000800100000000772f6b2e6e7079504b01021403140000000800000021002a5bda3548000000"
    "84000000050000000000000000000000800194000000692e6e7079504b050600000000020002006800000013"
    "0100000000");

NamedTensors golden_arrays() {
  return {{"w/k", tensor_of({2, 3}, {1.5, -2.25, 3, 0.5, 0, -1})}, {"i", tensor_of({2}, {-3, 7})}};
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(NpzRoundTrip, SavesAndLoadsBitExactly) {
  TempDir dir;
  const std::string path = dir.file("weights.npz");
  const NamedTensors arrays = sample_arrays();
  save_npz(path, arrays);
  // Float build: bit-exact; double build: exactly the float32 rounding of every value.
  NpzDtypes dtypes;
  EXPECT_TRUE(same_arrays(load_npz(path, &dtypes), stored(arrays)));
  EXPECT_EQ(dtypes, NpzDtypes(arrays.size(), "float32"));
  EXPECT_EQ(dir.list(), std::vector<std::string>{"weights.npz"});  // no temporary file left
}

TEST(NpzRoundTrip, OverwritesAndIsDeterministic) {
  TempDir dir;
  const std::string path = dir.file("w.npz");
  save_npz(path, {{"a", ramp({5})}});
  save_npz(path, sample_arrays());
  const std::string first = read_bytes(path);
  EXPECT_TRUE(same_arrays(load_npz(path), stored(sample_arrays())));
  save_npz(path, sample_arrays());
  EXPECT_EQ(read_bytes(path), first);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"w.npz"});
}

TEST(NpzRoundTrip, EmptyArchive) {
  TempDir dir;
  const std::string path = dir.file("none.npz");
  save_npz(path, {});
  EXPECT_TRUE(load_npz(path).empty());
}

TEST(NpzRoundTrip, ForcedZip64RecordsReadBack) {
  TempDir dir;
  const std::string path = dir.file("z64.npz");
  detail::save_npz_force_zip64(path, sample_arrays());
  EXPECT_TRUE(same_arrays(load_npz(path), stored(sample_arrays())));
}

TEST(NpzRoundTrip, ReadsNumpyGoldenFiles) {
  TempDir dir;
  for (const std::string* bytes : {&kNumpyStored, &kNumpyCompressed}) {
    const std::string path = dir.file("golden.npz");
    write_bytes(path, *bytes);
    EXPECT_TRUE(same_arrays(load_npz(path), golden_arrays()));
  }
}

TEST(NpyRoundTrip, SavesAndLoadsBitExactly) {
  TempDir dir;
  const std::string path = dir.file("a.npy");
  for (const auto& [name, t] : sample_arrays()) {
    save_npy(path, t);
    EXPECT_TRUE(same_bits(load_npy(path), stored(t))) << name;
  }
  EXPECT_EQ(dir.list(), std::vector<std::string>{"a.npy"});
  // The header is numpy's, padded so that the data starts at byte 128.
  save_npy(path, ramp({2, 3}));
  const std::string bytes = read_bytes(path);
  ASSERT_EQ(bytes.size(), 128u + 24u);
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  EXPECT_EQ(bytes.substr(10, dict.size()), dict);
  EXPECT_EQ(bytes[127], '\n');
}

// ---------------------------------------------------------------------------------------------
// Crafted .npy files: every supported encoding, and every rejection

TEST(NpyLoad, ConvertsSupportedDtypes) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  std::string dtype;
  auto load = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    return load_npy(path, &dtype);
  };
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict("<f8", "(3,)"), raw<double>({0.1, -2, 1e300}))),
                        tensor_of({3}, {real(0.1), -2, static_cast<real>(1e300)})));
  EXPECT_EQ(dtype, "float64");
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict("|u1", "(3,)"), raw<std::uint8_t>({0, 255, 7}))),
                        tensor_of({3}, {0, 255, 7})));
  EXPECT_EQ(dtype, "uint8");
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict("|i1", "(2,)"), raw<std::int8_t>({-128, 5}))),
                        tensor_of({2}, {-128, 5})));
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict("|b1", "(3,)"), raw<std::uint8_t>({1, 0, 1}))),
                        tensor_of({3}, {1, 0, 1})));
  EXPECT_EQ(dtype, "bool");
  EXPECT_TRUE(
      same_bits(load(npy_bytes(f32_dict("<i2", "(2,)"), raw<std::int16_t>({-32768, 32767}))),
                tensor_of({2}, {-32768, 32767})));
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict("<u2", "(1,)"), raw<std::uint16_t>({65535}))),
                        tensor_of({1}, {65535})));
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict("<i4", "(2,)"), raw<std::int32_t>({-7, 1 << 20}))),
                        tensor_of({2}, {-7, 1 << 20})));
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict("<u4", "()"), raw<std::uint32_t>({123456}))),
                        Tensor(real(123456))));
  EXPECT_TRUE(same_bits(
      load(npy_bytes(f32_dict("<i8", "(2,)"), raw<std::int64_t>({-(std::int64_t{1} << 40), 3}))),
      tensor_of({2}, {-static_cast<real>(std::int64_t{1} << 40), 3})));
  EXPECT_TRUE(same_bits(
      load(npy_bytes(f32_dict("<u8", "(1,)"), raw<std::uint64_t>({std::uint64_t{1} << 63}))),
      tensor_of({1}, {static_cast<real>(std::uint64_t{1} << 63)})));
  // Big-endian float32 and int16.
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict(">f4", "(2,)"), from_hex("3fc00000c0100000"))),
                        tensor_of({2}, {1.5, -2.25})));
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict(">i2", "(2,)"), from_hex("fffe0102"))),
                        tensor_of({2}, {-2, 258})));
  EXPECT_EQ(dtype, "int16");
  // Fortran order: the data [1..6] of a (2, 3) array is column by column.
  EXPECT_TRUE(
      same_bits(load(npy_bytes(f32_dict("<f4", "(2, 3)", true), raw<float>({1, 2, 3, 4, 5, 6}))),
                tensor_of({2, 3}, {1, 3, 5, 2, 4, 6})));
  // A (2, 3, 2) Fortran array: element [i, j, k] sits at i + 2 j + 6 k.
  std::vector<float> f(12);
  std::vector<real> c(12);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k) {
        f[i + 2 * j + 6 * k] = static_cast<float>(100 * i + 10 * j + k);
        c[6 * i + 2 * j + k] = static_cast<real>(100 * i + 10 * j + k);
      }
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict("<f4", "(2, 3, 2)", true), raw(f))),
                        tensor_of({2, 3, 2}, c)));
  // Format versions 2.0 and 3.0, keys in another order, double quotes, no trailing comma.
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict("<f4", "(2,)"), raw<float>({1, 2}), 2)),
                        tensor_of({2}, {1, 2})));
  EXPECT_TRUE(
      same_bits(load(npy_bytes("{\"shape\": (1, 2), \"fortran_order\": False, \"descr\": \"<f4\"}",
                               raw<float>({1, 2}), 3)),
                tensor_of({1, 2}, {1, 2})));
  EXPECT_TRUE(same_bits(load(npy_bytes(f32_dict("<f4", "(0, 5)"), "")), Tensor::zeros({0, 5})));
}

TEST(NpyLoad, RejectsUnsupportedAndMalformedFiles) {
  TempDir dir;
  const std::string path = dir.file("bad.npy");
  auto error = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    const std::string msg = error_message<std::runtime_error>([&] { load_npy(path); });
    EXPECT_THAT(msg, HasSubstr(path));
    return msg;
  };
  const std::string four_floats = raw<float>({1, 2, 3, 4});
  std::string msg = error(npy_bytes(f32_dict("<c8", "(2,)"), four_floats));
  EXPECT_THAT(msg, HasSubstr("'<c8'"));
  EXPECT_THAT(msg, HasSubstr("complex"));
  EXPECT_THAT(error(npy_bytes(f32_dict("|O", "(2,)"), std::string(16, 'x'))), HasSubstr("object"));
  EXPECT_THAT(error(npy_bytes(f32_dict("<f2", "(2,)"), "abcd")), HasSubstr("float16"));
  EXPECT_THAT(error(npy_bytes(f32_dict("<U3", "(1,)"), std::string(12, 'x'))), HasSubstr("string"));
  EXPECT_THAT(error(npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                              "abcd")),
              HasSubstr("structured"));
  EXPECT_THAT(error(npy_bytes(f32_dict("<f4", "(2, 3)"), four_floats)),
              HasSubstr("needs 24 bytes of data but 16"));
  EXPECT_THAT(error(npy_bytes(f32_dict("<f4", "(3,)"), four_floats)), HasSubstr("needs 12 bytes"));
  EXPECT_THAT(error(npy_bytes(f32_dict("<f4", "(4611686018427387904, 4)"), four_floats)),
              HasSubstr("too large"));
  EXPECT_THAT(error(npy_bytes(f32_dict("<f4", "(4)"), four_floats)), HasSubstr("not a tuple"));
  EXPECT_THAT(error(npy_bytes(f32_dict("<f4", "(-4,)"), four_floats)),
              HasSubstr("bad .npy header"));
  EXPECT_THAT(error(npy_bytes("{'descr': '<f4', 'shape': (4,), }", four_floats)),
              HasSubstr("missing key(s): 'fortran_order'"));
  EXPECT_THAT(error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}",
                              four_floats)),
              HasSubstr("unexpected key 'x'"));
  EXPECT_THAT(
      error(npy_bytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (4,), }", four_floats)),
      HasSubstr("True or False"));
  EXPECT_THAT(
      error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } x", four_floats)),
      HasSubstr("after the closing"));
  std::string v4 = npy_bytes(f32_dict("<f4", "(4,)"), four_floats);
  v4[6] = 4;
  EXPECT_THAT(error(v4), HasSubstr("version 4.0"));
  std::string magic = npy_bytes(f32_dict("<f4", "(4,)"), four_floats);
  magic[1] = 'X';
  EXPECT_THAT(error(magic), HasSubstr("magic"));
  EXPECT_THAT(error(npy_bytes(f32_dict("<f4", "(4,)"), four_floats + "xx")),
              HasSubstr("follow the header"));
  EXPECT_THAT(error(""), HasSubstr("too short"));
  EXPECT_THAT(error("hello, world\n"), HasSubstr("magic"));
  std::string long_header = npy_bytes(f32_dict("<f4", "(4,)"), four_floats);
  long_header[8] = '\xff';  // header length beyond the file
  EXPECT_THAT(error(long_header), HasSubstr("truncated"));
  // A zip given to load_npy says so.
  save_npz(dir.file("a.npz"), {{"a", ramp({2})}});
  EXPECT_THAT(error(read_bytes(dir.file("a.npz"))), HasSubstr("use load_npz"));
}

// ---------------------------------------------------------------------------------------------
// Crafted .npz files

TEST(NpzLoad, RejectsBadArchives) {
  TempDir dir;
  const std::string path = dir.file("bad.npz");
  auto error = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    const std::string msg = error_message<std::runtime_error>([&] { load_npz(path); });
    EXPECT_THAT(msg, HasSubstr(path));
    return msg;
  };
  const std::string good = npy_bytes(f32_dict("<f4", "(2,)"), raw<float>({1, 2}));
  // The crafted writer itself is right.
  write_bytes(path, zip_bytes({{"a/b.npy", good}}));
  EXPECT_TRUE(same_arrays(load_npz(path), {{"a/b", tensor_of({2}, {1, 2})}}));

  EXPECT_THAT(error(""), HasSubstr("empty file"));
  EXPECT_THAT(error("just some text, long enough to be searched for a zip end record\n"),
              HasSubstr("not an .npz"));
  EXPECT_THAT(error(good), HasSubstr("use load_npy"));
  std::string msg =
      error(zip_bytes({{"c.npy", npy_bytes(f32_dict("<c8", "(2,)"), raw<float>({1, 2, 3, 4}))}}));
  EXPECT_THAT(msg, Not(HasSubstr("CRC")));
  EXPECT_THAT(msg, HasSubstr("entry 'c.npy'"));
  EXPECT_THAT(msg, HasSubstr("'<c8'"));
  EXPECT_THAT(error(zip_bytes({{"a.npy", good, 12}})), HasSubstr("compression method 12"));
  EXPECT_THAT(error(zip_bytes({{"a.npy", good, 0, 1}})), HasSubstr("encrypted"));
  EXPECT_THAT(error(zip_bytes({{"a.npy", good, 0, 0, true}})), HasSubstr("CRC-32 mismatch"));
  // A corrupt byte that breaks the header first is still reported as a CRC mismatch.
  std::string flipped = zip_bytes({{"a.npy", good}});
  flipped[30 + 5] ^= 0x01;  // first byte of the member data: the .npy magic
  msg = error(flipped);
  EXPECT_THAT(msg, HasSubstr("CRC-32 mismatch"));
  EXPECT_THAT(msg, HasSubstr("decoding failed with: bad .npy magic"));
  EXPECT_THAT(error(zip_bytes({{"a.npy", good}, {"a.npy", good}})), HasSubstr("duplicate"));
  EXPECT_THAT(error(zip_bytes({{"../a.npy", good}})), HasSubstr("invalid array name"));
  EXPECT_THAT(error(zip_bytes({{"/a.npy", good}})), HasSubstr("absolute"));
  EXPECT_THAT(error(zip_bytes({{".npy", good}})), HasSubstr("empty"));
  EXPECT_THAT(error(zip_bytes({{"readme.txt", "hello"}})), HasSubstr("not an .npy"));
  EXPECT_THAT(error(zip_bytes({{"a.npy", "not an npy at all"}})), HasSubstr("magic"));
  // Deflate data that is not deflate.
  EXPECT_THAT(error(zip_bytes({{"a.npy", good, 8}})), HasSubstr("deflate"));
  // Central directory cut off: the end record points past it.
  const std::string zip = zip_bytes({{"a.npy", good}});
  EXPECT_THAT(error(zip.substr(0, zip.size() - 22 - 10) + zip.substr(zip.size() - 22)),
              HasSubstr("central directory"));
  EXPECT_THAT(error(zip.substr(0, zip.size() - 1)), HasSubstr("truncated"));
}

TEST(NpzLoad, MissingFileAndDirectoryNameThePath) {
  TempDir dir;
  const std::string missing = dir.file("no_such.npz");
  std::string msg = error_message<std::runtime_error>([&] { load_npz(missing); });
  EXPECT_THAT(msg, HasSubstr(missing));
  EXPECT_THAT(msg, HasSubstr("No such file"));
  EXPECT_THAT(error_message<std::runtime_error>([&] { load_npy(missing); }), HasSubstr(missing));
  msg = error_message<std::runtime_error>([&] { load_npz(dir.path().string()); });
  EXPECT_THAT(msg, HasSubstr("not a regular file"));
}

// ---------------------------------------------------------------------------------------------
// Corruption: every truncation fails; every byte flip fails or changes nothing

struct CorpusFile {
  std::string label;
  std::string bytes;
  NamedTensors arrays;
};

std::vector<CorpusFile> corpus(const TempDir& dir) {
  const std::string ours = dir.file("ours.npz");
  save_npz(ours, {{"a/w", ramp({2, 3})}, {"b", Tensor(real(-1.5))}});
  const std::string z64 = dir.file("z64.npz");
  detail::save_npz_force_zip64(z64, {{"k", ramp({3})}});
  return {{"ours", read_bytes(ours), load_npz(ours)},
          {"ours zip64", read_bytes(z64), load_npz(z64)},
          {"numpy savez", kNumpyStored, golden_arrays()},
          {"numpy savez_compressed", kNumpyCompressed, golden_arrays()}};
}

TEST(NpzCorruption, EveryTruncationFails) {
  TempDir dir;
  const std::string path = dir.file("cut.npz");
  for (const CorpusFile& f : corpus(dir)) {
    for (std::size_t len = 0; len < f.bytes.size(); ++len) {
      write_bytes(path, f.bytes.substr(0, len));
      const std::string msg = error_message<std::runtime_error>([&] { load_npz(path); });
      ASSERT_THAT(msg, HasSubstr(path)) << f.label << " cut at " << len;
    }
  }
}

TEST(NpzCorruption, ByteFlipsFailOrLoadTheSameArrays) {
  TempDir dir;
  const std::string path = dir.file("flip.npz");
  for (const CorpusFile& f : corpus(dir)) {
    int errors = 0, same = 0;
    for (std::size_t pos = 0; pos < f.bytes.size(); ++pos) {
      for (unsigned mask : {0x01u, 0x80u, 0xFFu}) {
        std::string bytes = f.bytes;
        bytes[pos] = static_cast<char>(static_cast<unsigned char>(bytes[pos]) ^ mask);
        write_bytes(path, bytes);
        try {
          const NamedTensors got = load_npz(path);
          ASSERT_TRUE(same_arrays(got, f.arrays))
              << f.label << ": byte " << pos << " ^ " << mask << " loaded different arrays";
          ++same;
        } catch (const std::runtime_error& e) {
          ASSERT_THAT(e.what(), HasSubstr(path));
          ++errors;
        }
      }
    }
    // Most flips hit validated bytes (data, CRC, sizes, offsets, names, headers).
    EXPECT_GT(errors, 2 * same) << f.label;
  }
}

TEST(NpyCorruption, EveryTruncationFailsAndFlipsFailOrLoadTheSame) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  save_npy(path, ramp({3, 2}));
  const std::string bytes = read_bytes(path);
  const Tensor expected = load_npy(path);
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    write_bytes(path, bytes.substr(0, len));
    ASSERT_THAT(error_message<std::runtime_error>([&] { load_npy(path); }), HasSubstr(path)) << len;
  }
  // An .npy has no checksum: flips in the data change values; elsewhere they fail or are
  // harmless (header padding).
  for (std::size_t pos = 0; pos < 128; ++pos) {
    std::string b = bytes;
    b[pos] = static_cast<char>(b[pos] ^ 0x01);
    write_bytes(path, b);
    try {
      const Tensor got = load_npy(path);
      EXPECT_TRUE(same_bits(got, expected)) << "byte " << pos;
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), HasSubstr(path));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Saving: argument checks, failures and atomicity

TEST(NpzSave, RejectsBadNamesBeforeWriting) {
  TempDir dir;
  const std::string path = dir.file("w.npz");
  const Tensor t = ramp({2});
  for (const std::string& name :
       std::vector<std::string>{"", "/abs", "a/../b", "..", ".", "a//b", "a/", "a\\b",
                                std::string("a\0b", 3), std::string("\xff\xfe")}) {
    const std::string msg = invalid_argument_message([&] { save_npz(path, {{name, t}}); });
    EXPECT_THAT(msg, HasSubstr("array name")) << name;
  }
  EXPECT_THAT(invalid_argument_message([&] {
                save_npz(path, {{"a", t}, {"b", t}, {"a", t}});
              }),
              HasSubstr("duplicate array name 'a'"));
  EXPECT_THAT(invalid_argument_message([&] {
                save_npz(path, {{"a", Tensor()}});
              }),
              HasSubstr("undefined"));
  EXPECT_THAT(invalid_argument_message([&] { save_npy(path, Tensor()); }), HasSubstr("undefined"));
  EXPECT_TRUE(dir.list().empty());
}

TEST(NpzSave, MissingDirectoryThrowsAndLeavesNothing) {
  TempDir dir;
  const std::string path = dir.file("missing/w.npz");
  std::string msg = error_message<std::runtime_error>([&] { save_npz(path, sample_arrays()); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("No such file or directory"));
  EXPECT_THAT(error_message<std::runtime_error>([&] { save_npy(path, ramp({2})); }),
              HasSubstr(path));
  EXPECT_TRUE(dir.list().empty());
}

TEST(NpzSave, TargetIsADirectoryThrowsAndLeavesNoTemporary) {
  TempDir dir;
  fs::create_directory(dir.path() / "taken.npz");
  const std::string path = dir.file("taken.npz");
  EXPECT_THAT(error_message<std::runtime_error>([&] { save_npz(path, sample_arrays()); }),
              HasSubstr(path));
  EXPECT_EQ(dir.list(), std::vector<std::string>{"taken.npz"});
}

// A real mid-write failure: the file size limit (which binds root too) makes the write fail.
TEST(NpzSave, FailedWriteKeepsTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("w.npz");
  const NamedTensors old = {{"old", ramp({4})}};
  save_npz(path, old);
  const std::string old_bytes = read_bytes(path);

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of the signal
  rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string msg_npz, msg_npy;
  try {
    msg_npz = error_message<std::runtime_error>([&] { save_npz(path, {{"big", ramp({100000})}}); });
    msg_npy = error_message<std::runtime_error>([&] { save_npy(path, ramp({100000})); });
  } catch (...) {
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_THAT(msg_npz, HasSubstr(path));
  EXPECT_THAT(msg_npz, HasSubstr("File too large"));
  EXPECT_THAT(msg_npy, HasSubstr(path));
  EXPECT_EQ(read_bytes(path), old_bytes);
  EXPECT_TRUE(same_arrays(load_npz(path), stored(old)));
  EXPECT_EQ(dir.list(), std::vector<std::string>{"w.npz"});
}

// ---------------------------------------------------------------------------------------------
// Interop with NumPy. The python3 first on PATH may lack numpy; Debian's /usr/bin/python3 has it
// when python3-numpy is installed.

using xgrad::testing::PythonRun;
PythonRun run_numpy_script(const TempDir& dir, const std::string& body) {
  return xgrad::testing::run_numpy_script(dir.path().string(), body);
}

// "name|dtype|d0,d1|crc32 of the float32 bytes" as the python below prints it.
std::string describe(const std::string& name, const Tensor& t) {
  std::string shape;
  for (std::size_t i = 0; i < t.rank(); ++i) {
    if (i) shape += ',';
    shape += std::to_string(t.shape()[i]);
  }
  std::string bytes;
  for (real v : t.to_vector()) {
    const auto bits = std::bit_cast<std::uint32_t>(static_cast<float>(v));
    le(bytes, bits, 4);
  }
  return name + "|<f4|" + shape + "|" + std::to_string(crc32_of(bytes)) + "\n";
}

TEST(NpzPython, NumpyLoadsOurFiles) {
  TempDir dir;
  save_npz(dir.file("ours.npz"), sample_arrays());
  detail::save_npz_force_zip64(dir.file("ours_zip64.npz"), sample_arrays());
  save_npy(dir.file("ours.npy"), ramp({2, 3, 4}));
  const PythonRun run = run_numpy_script(dir, R"(
def show(name, a):
    print('%s|%s|%s|%d' % (name, a.dtype.str, ','.join(map(str, a.shape)),
                           zlib.crc32(np.ascontiguousarray(a).tobytes())))
for f in ('ours.npz', 'ours_zip64.npz'):
    print('file', f)
    with np.load(d + '/' + f, allow_pickle=False) as z:
        for k in z.files:
            show(k, z[k])
print('file ours.npy')
show('x', np.load(d + '/ours.npy', allow_pickle=False))
)");
  if (!run.found) GTEST_SKIP() << "no python3 with numpy (apt-get install python3-numpy)";
  ASSERT_EQ(run.status, 0) << run.output;
  std::string expected;
  for (const char* f : {"ours.npz", "ours_zip64.npz"}) {
    expected += std::string("file ") + f + "\n";
    for (const auto& [name, t] : sample_arrays()) expected += describe(name, t);
  }
  expected += "file ours.npy\n" + describe("x", ramp({2, 3, 4}));
  EXPECT_EQ(run.output, expected);
}

TEST(NpzPython, LoadsFilesWrittenByNumpy) {
  TempDir dir;
  const PythonRun run = run_numpy_script(dir, R"(
arrays = {
    'f32': np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    'f64': np.arange(6, dtype=np.float64).reshape(2, 3) * 0.1,
    'i64': np.arange(-5, 7).reshape(3, 4).astype(np.int64),
    'u8': np.array([0, 255, 7], np.uint8),
    'i16': np.array([-32768, 32767, 0], np.int16),
    'flag': np.array([True, False, True]),
    'big/endian': np.arange(5, dtype='>f4') - 2.5,
    'tower/fortran': np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)),
    'scalar': np.float32(2.5),
    'empty': np.zeros((0, 3), np.float32),
}
np.savez(d + '/stored.npz', **arrays)
np.savez_compressed(d + '/compressed.npz', **arrays)
class Unseekable:  # zipfile then writes data descriptors after each member
    def __init__(self, f): self.f = f
    def write(self, b): return self.f.write(b)
    def flush(self): self.f.flush()
    def read(self, *args): raise OSError('write-only')  # (numpy wants a file object)
with open(d + '/streamed.npz', 'wb') as f:
    np.savez_compressed(Unseekable(f), **arrays)
np.save(d + '/single.npy', arrays['f64'])
np.save(d + '/fortran.npy', arrays['tower/fortran'])
np.savez(d + '/complex.npz', ok=np.zeros(2, np.float32), c=np.ones(3, np.complex64))
np.save(d + '/object.npy', np.array([{}, 1], dtype=object), allow_pickle=True)
print('ok')
)");
  if (!run.found) GTEST_SKIP() << "no python3 with numpy (apt-get install python3-numpy)";
  ASSERT_EQ(run.status, 0) << run.output;
  ASSERT_EQ(run.output, "ok\n");

  std::vector<real> f32(12), f64(6), i64(12), fortran(24);
  for (int k = 0; k < 12; ++k) f32[k] = static_cast<real>(static_cast<float>(k) / 7.0f);
  for (int k = 0; k < 6; ++k) f64[k] = static_cast<real>(k * 0.1);
  for (int k = 0; k < 12; ++k) i64[k] = static_cast<real>(k - 5);
  for (int k = 0; k < 24; ++k) fortran[k] = static_cast<real>(k);
  const NamedTensors expected = {
      {"f32", tensor_of({3, 4}, f32)},
      {"f64", tensor_of({2, 3}, f64)},
      {"i64", tensor_of({3, 4}, i64)},
      {"u8", tensor_of({3}, {0, 255, 7})},
      {"i16", tensor_of({3}, {-32768, 32767, 0})},
      {"flag", tensor_of({3}, {1, 0, 1})},
      {"big/endian", tensor_of({5}, {-2.5, -1.5, -0.5, 0.5, 1.5})},
      {"tower/fortran", tensor_of({2, 3, 4}, fortran)},
      {"scalar", Tensor(real(2.5))},
      {"empty", Tensor::zeros({0, 3})},
  };
  NpzDtypes dtypes;
  EXPECT_TRUE(same_arrays(load_npz(dir.file("stored.npz"), &dtypes), expected));
  EXPECT_EQ(dtypes, (NpzDtypes{"float32", "float64", "int64", "uint8", "int16", "bool", "float32",
                               "float32", "float32", "float32"}));
  EXPECT_TRUE(same_arrays(load_npz(dir.file("compressed.npz")), expected));
  EXPECT_TRUE(same_arrays(load_npz(dir.file("streamed.npz")), expected));
  std::string dtype;
  EXPECT_TRUE(same_bits(load_npy(dir.file("single.npy"), &dtype), expected[1].second));
  EXPECT_EQ(dtype, "float64");
  EXPECT_TRUE(same_bits(load_npy(dir.file("fortran.npy")), expected[7].second));
  std::string msg = error_message<std::runtime_error>([&] { load_npz(dir.file("complex.npz")); });
  EXPECT_THAT(msg, HasSubstr(dir.file("complex.npz")));
  EXPECT_THAT(msg, HasSubstr("entry 'c.npy'"));
  EXPECT_THAT(msg, HasSubstr("'<c8'"));
  msg = error_message<std::runtime_error>([&] { load_npy(dir.file("object.npy")); });
  EXPECT_THAT(msg, HasSubstr(dir.file("object.npy")));
  EXPECT_THAT(msg, HasSubstr("'|O'"));
}

}  // namespace
}  // namespace xgrad
