#include "siamese/image.h"
#include "tests/support/temp_dir.h"

#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

// jpeglib.h needs FILE and size_t declared first.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>

namespace xgrad::siamese {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Pixels = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------------------
// Writers for test images (valid inputs only: the libraries' default error handling is
// fine here).

/// A PNG to write: `rows` holds the packed PNG rows (sub-byte samples packed high bits
/// first, 16-bit samples big-endian), exactly as in the file before filtering.
struct PngSpec {
  std::uint32_t width = 0, height = 0;
  int color_type = PNG_COLOR_TYPE_GRAY;
  int bit_depth = 8;
  Pixels rows;
  std::vector<png_color> palette;
  std::vector<png_byte> palette_alpha;  // tRNS for palette images
  bool interlaced = false;
  bool with_text = false;  // adds a tEXt chunk (ancillary) before the image data
};

std::string png_bytes(const PngSpec& spec) {
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
  png_set_IHDR(png, info, spec.width, spec.height, spec.bit_depth, spec.color_type,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty())
    png_set_PLTE(png, info, spec.palette.data(), static_cast<int>(spec.palette.size()));
  if (!spec.palette_alpha.empty()) {
    png_set_tRNS(png, info, spec.palette_alpha.data(), static_cast<int>(spec.palette_alpha.size()),
                 nullptr);
  }
  png_text text{};
  char key[] = "Comment", value[] = "written by image_test";
  if (spec.with_text) {
    text.compression = PNG_TEXT_COMPRESSION_NONE;
    text.key = key;
    text.text = value;
    png_set_text(png, info, &text, 1);
  }
  png_write_info(png, info);
  const std::size_t row_bytes = spec.rows.size() / spec.height;
  std::vector<png_bytep> rows(spec.height);
  for (std::size_t y = 0; y < spec.height; ++y)
    rows[y] = const_cast<png_bytep>(spec.rows.data() + y * row_bytes);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

/// A JPEG of `components` interleaved samples in `color_space`, optionally progressive or
/// stored in another JPEG colour space (e.g. YCCK for CMYK input).
std::string jpeg_bytes(std::size_t width, std::size_t height, int components,
                       J_COLOR_SPACE color_space, const Pixels& pixels, bool progressive = false,
                       J_COLOR_SPACE stored = JCS_UNKNOWN) {
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
  c.in_color_space = color_space;
  jpeg_set_defaults(&c);
  if (stored != JCS_UNKNOWN) jpeg_set_colorspace(&c, stored);
  jpeg_set_quality(&c, 95, TRUE);
  if (progressive) jpeg_simple_progression(&c);
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

/// `count` copies of one pixel.
Pixels flat(std::size_t count, std::initializer_list<std::uint8_t> pixel) {
  Pixels out(count * pixel.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = pixel.begin()[i % pixel.size()];
  return out;
}

/// Offset of the first chunk of `type` in a PNG file (at its length field).
std::size_t find_chunk(const std::string& png, const char* type) {
  std::size_t pos = 8;
  while (pos + 8 <= png.size()) {
    const auto u = [&](std::size_t i) {
      return static_cast<std::uint32_t>(static_cast<unsigned char>(png[i]));
    };
    const std::uint32_t length = u(pos) << 24 | u(pos + 1) << 16 | u(pos + 2) << 8 | u(pos + 3);
    if (png.compare(pos + 4, 4, type) == 0) return pos;
    pos += 12 + length;
  }
  ADD_FAILURE() << "no " << type << " chunk";
  return 0;
}

/// A PNG chunk with a correct CRC.
std::string chunk(const char* type, const std::string& data) {
  std::string out;
  const auto put32 = [&](std::uint32_t v) {
    for (int k = 3; k >= 0; --k) out += static_cast<char>((v >> (8 * k)) & 0xFF);
  };
  put32(static_cast<std::uint32_t>(data.size()));
  const std::string body = type + data;
  out += body;
  put32(static_cast<std::uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
  return out;
}

class ImageTest : public xgrad::testing::TempDirTest {
 protected:
  std::string write(const std::string& name, const std::string& bytes) {
    xgrad::testing::write_bytes(dir_ / name, bytes);
    return (dir_ / name).string();
  }

  /// decode_image's runtime_error text, or a test failure when it does not throw one.
  static std::string error_of(const std::string& path, std::size_t channels = 3) {
    try {
      decode_image(path, channels);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected std::runtime_error for " << path;
    return "";
  }
};

class ImageDecode : public ImageTest {};
class ImageErrors : public ImageTest {};

// ---------------------------------------------------------------------------------------
// PNG

TEST_F(ImageDecode, PngGray8IsExactAndReplicatesToRgb) {
  const auto path =
      write("g.png", png_bytes({.width = 3, .height = 2, .rows = {0, 1, 127, 128, 254, 255}}));
  const Image gray = decode_image(path, 1);
  EXPECT_EQ(gray.height, 2u);
  EXPECT_EQ(gray.width, 3u);
  EXPECT_EQ(gray.channels, 1u);
  EXPECT_EQ(gray.pixels, (Pixels{0, 1, 127, 128, 254, 255}));
  const Image rgb = decode_image(path, 3);
  EXPECT_EQ(rgb.channels, 3u);
  EXPECT_EQ(rgb.pixels,
            (Pixels{0, 0, 0, 1, 1, 1, 127, 127, 127, 128, 128, 128, 254, 254, 254, 255, 255, 255}));
}

TEST_F(ImageDecode, PngGrayAlphaDropsAlpha) {
  // (gray, alpha) pairs; a fully transparent pixel keeps its stored gray (no compositing).
  const auto path = write("ga.png", png_bytes({.width = 3,
                                               .height = 1,
                                               .color_type = PNG_COLOR_TYPE_GRAY_ALPHA,
                                               .rows = {10, 255, 200, 0, 77, 128}}));
  EXPECT_EQ(decode_image(path, 1).pixels, (Pixels{10, 200, 77}));
  EXPECT_EQ(decode_image(path, 3).pixels, (Pixels{10, 10, 10, 200, 200, 200, 77, 77, 77}));
}

TEST_F(ImageDecode, PngRgbIsExactAndConvertsToBt601Luma) {
  const Pixels rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 200, 100, 50, 255, 255, 255};
  const auto path =
      write("rgb.png",
            png_bytes({.width = 3, .height = 2, .color_type = PNG_COLOR_TYPE_RGB, .rows = rgb}));
  const Image color = decode_image(path, 3);
  EXPECT_EQ(color.width, 3u);
  EXPECT_EQ(color.height, 2u);
  EXPECT_EQ(color.pixels, rgb);
  // round(0.299 R + 0.587 G + 0.114 B):
  //   (255,0,0)     -> 76.245  -> 76
  //   (0,255,0)     -> 149.685 -> 150
  //   (0,0,255)     -> 29.07   -> 29
  //   (10,20,30)    -> 2.99 + 11.74 + 3.42 = 18.15 -> 18
  //   (200,100,50)  -> 59.8 + 58.7 + 5.7 = 124.2   -> 124
  //   (255,255,255) -> 255
  EXPECT_EQ(decode_image(path, 1).pixels, (Pixels{76, 150, 29, 18, 124, 255}));
}

TEST_F(ImageDecode, PngRgbaDropsAlpha) {
  const auto path = write("rgba.png", png_bytes({.width = 2,
                                                 .height = 1,
                                                 .color_type = PNG_COLOR_TYPE_RGB_ALPHA,
                                                 .rows = {200, 100, 50, 0, 10, 20, 30, 255}}));
  EXPECT_EQ(decode_image(path, 3).pixels, (Pixels{200, 100, 50, 10, 20, 30}));
  EXPECT_EQ(decode_image(path, 1).pixels, (Pixels{124, 18}));  // lumas as above
}

TEST_F(ImageDecode, PngPaletteWithTrnsAndSubBytePacking) {
  // 4-bit palette indices, two per byte, high nibble first; entry 1 fully transparent.
  PngSpec spec{.width = 3,
               .height = 2,
               .color_type = PNG_COLOR_TYPE_PALETTE,
               .bit_depth = 4,
               .rows = {0x01, 0x20, 0x21, 0x00},  // row 0: 0 1 2, row 1: 2 1 0
               .palette = {{255, 0, 0}, {0, 255, 0}, {10, 20, 30}},
               .palette_alpha = {255, 0, 128}};
  const auto path = write("pal.png", png_bytes(spec));
  EXPECT_EQ(decode_image(path, 3).pixels,
            (Pixels{255, 0, 0, 0, 255, 0, 10, 20, 30, 10, 20, 30, 0, 255, 0, 255, 0, 0}));
  EXPECT_EQ(decode_image(path, 1).pixels, (Pixels{76, 150, 18, 18, 150, 76}));
}

TEST_F(ImageDecode, PngOneAndTwoBitGray) {
  // 10 one-bit pixels per row: 1010110000 / 0111111111, packed into two bytes each.
  const auto one =
      write("1bit.png", png_bytes({.width = 10,
                                   .height = 2,
                                   .bit_depth = 1,
                                   .rows = {0b10101100, 0b00000000, 0b01111111, 0b11000000}}));
  EXPECT_EQ(decode_image(one, 1).pixels, (Pixels{255, 0,   255, 0,   255, 255, 0,   0,   0,  0, 0,
                                                 255, 255, 255, 255, 255, 255, 255, 255, 255}));
  // 2-bit levels 0..3 scale to 0, 85, 170, 255.
  const auto two =
      write("2bit.png", png_bytes({.width = 4, .height = 1, .bit_depth = 2, .rows = {0b00011011}}));
  EXPECT_EQ(decode_image(two, 1).pixels, (Pixels{0, 85, 170, 255}));
}

TEST_F(ImageDecode, Png16BitRgbKeepsTheHighByte) {
  // Big-endian samples 0x0000 0xFFFF 0x1234 | 0x80FF 0x00FF 0xFF00 -> high bytes, as
  // TF's decode_png(dtype=uint8).
  const auto path = write("16.png", png_bytes({.width = 2,
                                               .height = 1,
                                               .color_type = PNG_COLOR_TYPE_RGB,
                                               .bit_depth = 16,
                                               .rows = {0x00, 0x00, 0xFF, 0xFF, 0x12, 0x34,  //
                                                        0x80, 0xFF, 0x00, 0xFF, 0xFF, 0x00}}));
  EXPECT_EQ(decode_image(path, 3).pixels, (Pixels{0x00, 0xFF, 0x12, 0x80, 0x00, 0xFF}));
}

TEST_F(ImageDecode, PngInterlacedAdam7) {
  PngSpec spec{.width = 7, .height = 5, .color_type = PNG_COLOR_TYPE_RGB, .interlaced = true};
  for (std::uint8_t i = 0; i < 7 * 5 * 3; ++i)
    spec.rows.push_back(static_cast<std::uint8_t>(i * 2));
  const auto path = write("adam7.png", png_bytes(spec));
  EXPECT_EQ(decode_image(path, 3).pixels, spec.rows);
}

// ---------------------------------------------------------------------------------------
// JPEG (lossy: flat colours, checked within ±3)

void expect_all_near(const Image& image, std::initializer_list<int> pixel, int tolerance = 3) {
  const std::vector<int> want(pixel);
  ASSERT_EQ(image.channels, want.size());
  ASSERT_EQ(image.pixels.size(), image.height * image.width * image.channels);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    ASSERT_NEAR(image.pixels[i], want[i % want.size()], tolerance) << "sample " << i;
  }
}

TEST_F(ImageDecode, JpegRgbAndGrayWithinTolerance) {
  const auto rgb = write("rgb.jpg", jpeg_bytes(16, 12, 3, JCS_RGB, flat(16 * 12, {200, 100, 50})));
  const Image color = decode_image(rgb, 3);
  EXPECT_EQ(color.height, 12u);
  EXPECT_EQ(color.width, 16u);
  expect_all_near(color, {200, 100, 50});
  expect_all_near(decode_image(rgb, 1), {124});  // luma 124.2, see the PNG test
  const auto gray = write("gray.jpg", jpeg_bytes(9, 7, 1, JCS_GRAYSCALE, flat(9 * 7, {77})));
  expect_all_near(decode_image(gray, 1), {77});
  expect_all_near(decode_image(gray, 3), {77, 77, 77});
  const auto progressive =
      write("prog.jpg", jpeg_bytes(16, 16, 3, JCS_RGB, flat(256, {30, 60, 220}), true));
  expect_all_near(decode_image(progressive, 3), {30, 60, 220});
}

TEST_F(ImageDecode, JpegCmykAndYcck) {
  // Adobe-inverted CMYK: R = C·K/255 … so (255, 128, 0, 255) is RGB (255, 128, 0), luma
  // 76.245 + 75.136 + 0 = 151.4 -> 151; (255, 255, 255, 128) is RGB (128, 128, 128).
  for (J_COLOR_SPACE stored : {JCS_CMYK, JCS_YCCK}) {
    const auto a =
        write("a.jpg", jpeg_bytes(8, 8, 4, JCS_CMYK, flat(64, {255, 128, 0, 255}), false, stored));
    expect_all_near(decode_image(a, 3), {255, 128, 0});
    expect_all_near(decode_image(a, 1), {151});
    const auto b = write(
        "b.jpg", jpeg_bytes(8, 8, 4, JCS_CMYK, flat(64, {255, 255, 255, 128}), false, stored));
    expect_all_near(decode_image(b, 3), {128, 128, 128});
  }
}

// ---------------------------------------------------------------------------------------
// PGM / PPM

TEST_F(ImageDecode, PgmBinaryAndAsciiWithComments) {
  const auto p5 = write("a.pgm", std::string("P5\n# a comment\n3 2\n# another one\n255\n") +
                                     std::string("\x00\x80\xff\x01\x02\x03", 6));
  const Image binary = decode_image(p5, 1);
  EXPECT_EQ(binary.width, 3u);
  EXPECT_EQ(binary.height, 2u);
  EXPECT_EQ(binary.pixels, (Pixels{0, 128, 255, 1, 2, 3}));
  // maxval 15: round(v * 255 / 15) = 17 v.
  const auto p2 =
      write("b.pgm", "P2 # comment after the magic\n3 2\n15\n0 1 2\n# inside\n13 14 15\n");
  EXPECT_EQ(decode_image(p2, 1).pixels, (Pixels{0, 17, 34, 221, 238, 255}));
  EXPECT_EQ(decode_image(p2, 3).pixels,
            (Pixels{0, 0, 0, 17, 17, 17, 34, 34, 34, 221, 221, 221, 238, 238, 238, 255, 255, 255}));
}

TEST_F(ImageDecode, PpmBinaryAndAscii) {
  const auto p6 =
      write("a.ppm", std::string("P6\n#c\n2 1 255\n") + std::string("\xff\x00\x00\x0a\x14\x1e", 6));
  EXPECT_EQ(decode_image(p6, 3).pixels, (Pixels{255, 0, 0, 10, 20, 30}));
  EXPECT_EQ(decode_image(p6, 1).pixels, (Pixels{76, 18}));  // lumas of (255,0,0), (10,20,30)
  const auto p3 = write("b.ppm", "P3\n2 1\n255\n200 100 50   0 0 255\n");
  EXPECT_EQ(decode_image(p3, 3).pixels, (Pixels{200, 100, 50, 0, 0, 255}));
  EXPECT_EQ(decode_image(p3, 1).pixels, (Pixels{124, 29}));
}

TEST_F(ImageDecode, PnmMaxval65535) {
  // round(v * 255 / 65535): 65535 -> 255, 32768 -> 127.502 -> 128, 32767 -> 127.498 -> 127,
  // 25700 = 257 * 100 -> 100.
  const auto p5 = write("16.pgm", std::string("P5\n2 2\n65535\n") +
                                      std::string("\x00\x00\xff\xff\x80\x00\x64\x64", 8));
  EXPECT_EQ(decode_image(p5, 1).pixels, (Pixels{0, 255, 128, 100}));
  const auto p3 = write("16.ppm", "P3\n# 16-bit\n2 1\n65535\n65535 0 32768\n25700 32767 0\n");
  EXPECT_EQ(decode_image(p3, 3).pixels, (Pixels{255, 0, 128, 100, 127, 0}));
}

// ---------------------------------------------------------------------------------------
// Format by content, file names

TEST_F(ImageDecode, FormatComesFromContentNotExtension) {
  const std::string png = png_bytes({.width = 2, .height = 1, .rows = {5, 250}});
  EXPECT_EQ(decode_image(write("UPPER.PNG", png), 1).pixels, (Pixels{5, 250}));
  EXPECT_EQ(decode_image(write("lies.jpg", png), 1).pixels, (Pixels{5, 250}));
  EXPECT_EQ(decode_image(write("no_extension", png), 1).pixels, (Pixels{5, 250}));
  const std::string jpeg = jpeg_bytes(8, 8, 1, JCS_GRAYSCALE, flat(64, {100}));
  expect_all_near(decode_image(write("lies.png", jpeg), 1), {100});
  EXPECT_EQ(decode_image(write("lies.jpeg", "P5 1 1 255 \x07"), 1).pixels, (Pixels{7}));
  EXPECT_EQ(decode_image(write("ünïcödé_图.png", png), 1).pixels, (Pixels{5, 250}));
}

// ---------------------------------------------------------------------------------------
// Errors: runtime_error naming the file, nothing on stderr, whatever the input.

TEST_F(ImageErrors, MissingEmptyTextAndDirectory) {
  ::testing::internal::CaptureStderr();
  const std::string missing = (dir_ / "nope.png").string();
  EXPECT_THAT(error_of(missing), HasSubstr(missing));
  EXPECT_THAT(error_of(missing), HasSubstr("cannot open"));
  const auto empty = write("empty.png", "");
  EXPECT_THAT(error_of(empty), HasSubstr(empty));
  EXPECT_THAT(error_of(empty), HasSubstr("empty file"));
  const auto text = write("notes.jpg", "just some text, not an image\n");
  EXPECT_THAT(error_of(text), HasSubstr(text));
  EXPECT_THAT(error_of(text), HasSubstr("not a JPEG, PNG, PGM or PPM image"));
  const std::string dir = dir_.string();
  EXPECT_THAT(error_of(dir), HasSubstr(dir));
  const auto pbm = write("a.pbm", "P1\n1 1\n1\n");
  EXPECT_THAT(error_of(pbm), HasSubstr("not supported"));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(ImageErrors, ChannelsMustBeOneOrThree) {
  const auto path = write("g.png", png_bytes({.width = 1, .height = 1, .rows = {1}}));
  for (std::size_t bad : {0, 2, 4})
    EXPECT_THROW(decode_image(path, bad), std::invalid_argument) << bad;
}

TEST_F(ImageErrors, DamagedPngs) {
  PngSpec spec{.width = 16, .height = 16, .color_type = PNG_COLOR_TYPE_RGB, .with_text = true};
  for (int i = 0; i < 16 * 16 * 3; ++i)
    spec.rows.push_back(static_cast<std::uint8_t>((i * 37) % 251));
  const std::string good = png_bytes(spec);
  ASSERT_EQ(decode_image(write("good.png", good), 3).pixels, spec.rows);
  const std::size_t idat = find_chunk(good, "IDAT");
  const std::size_t text = find_chunk(good, "tEXt");
  ASSERT_GT(idat, text);

  ::testing::internal::CaptureStderr();
  // Cut in the middle of the IDAT data.
  const auto cut = write("cut.png", good.substr(0, idat + 8 + 20));
  EXPECT_THAT(error_of(cut), HasSubstr(cut));
  EXPECT_THAT(error_of(cut), HasSubstr("truncated"));
  // A flipped bit in the IDAT data (its CRC no longer matches), then in the CRC itself.
  std::string data_flip = good;
  data_flip[idat + 8 + 10] ^= 0x01;
  const auto bad_data = write("bad_data.png", data_flip);
  EXPECT_THAT(error_of(bad_data), HasSubstr(bad_data));
  std::string crc_flip = good;
  std::size_t idat_length = 0;
  for (int k = 0; k < 4; ++k)
    idat_length = idat_length << 8 | static_cast<unsigned char>(good[idat + k]);
  crc_flip[idat + 8 + idat_length] ^= 0x40;
  const auto bad_crc = write("bad_crc.png", crc_flip);
  EXPECT_THAT(error_of(bad_crc), HasSubstr(bad_crc));
  EXPECT_THAT(error_of(bad_crc), HasSubstr("CRC"));
  // A CRC error in an ancillary chunk (tEXt) is an error too.
  std::string text_flip = good;
  text_flip[text + 8 + 2] ^= 0x20;
  const auto bad_text = write("bad_text.png", text_flip);
  EXPECT_THAT(error_of(bad_text), HasSubstr(bad_text));
  EXPECT_THAT(error_of(bad_text), HasSubstr("tEXt: CRC error"));
  // Every truncation and every single-byte change of a PNG is detected (signature, CRCs).
  for (std::size_t n = 0; n < good.size(); ++n) {
    const auto p = write("prefix.png", good.substr(0, n));
    EXPECT_THAT(error_of(p), HasSubstr(p)) << "prefix of " << n << " bytes";
    std::string flipped = good;
    flipped[n] = static_cast<char>(flipped[n] ^ 0x55);
    const auto q = write("flip.png", flipped);
    EXPECT_THAT(error_of(q, 1), HasSubstr(q)) << "byte " << n << " changed";
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(ImageErrors, DamagedJpegs) {
  Pixels gradient;
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x)
      gradient.insert(gradient.end(), {std::uint8_t(8 * x), std::uint8_t(8 * y), 90});
  }
  for (bool progressive : {false, true}) {
    const std::string good = jpeg_bytes(32, 32, 3, JCS_RGB, gradient, progressive);
    ASSERT_NO_THROW(decode_image(write("good.jpg", good), 3));
    ::testing::internal::CaptureStderr();
    // Cut in half: a detailed 96x96 image, so that the cut falls in the entropy-coded
    // data, which libjpeg would pad with gray, only warning "Premature end of JPEG file".
    Pixels detailed;
    for (std::uint64_t i = 0; i < 96 * 96 * 3; ++i)
      detailed.push_back(static_cast<std::uint8_t>((i * i * 7 + i * 13) % 251));
    const std::string big = jpeg_bytes(96, 96, 3, JCS_RGB, detailed, progressive);
    ASSERT_NO_THROW(decode_image(write("big.jpg", big), 3));
    const auto half = write("half.jpg", big.substr(0, big.size() / 2));
    EXPECT_THAT(error_of(half), HasSubstr(half));
    EXPECT_THAT(error_of(half, 1), HasSubstr("Premature end of JPEG file"));
    // Every truncation is an error (libjpeg would pad it with gray and only warn).
    for (std::size_t n = 0; n < good.size(); ++n) {
      const auto p = write("prefix.jpg", good.substr(0, n));
      EXPECT_THAT(error_of(p), HasSubstr(p))
          << "prefix of " << n << " bytes, progressive " << progressive;
    }
    // Random damage: JPEG has no checksum, so some changes decode; none may crash, hang,
    // abort or print, and every failure is a runtime_error.
    std::mt19937 rng(42);
    for (int trial = 0; trial < 300; ++trial) {
      std::string damaged = good;
      for (int k = 0; k < 3; ++k) damaged[rng() % damaged.size()] = static_cast<char>(rng());
      const auto p = write("damaged.jpg", damaged);
      try {
        const Image image = decode_image(p, trial % 2 ? 1 : 3);
        EXPECT_EQ(image.pixels.size(), image.height * image.width * image.channels);
      } catch (const std::runtime_error& e) {
        EXPECT_THAT(e.what(), HasSubstr(p));
      }
    }
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  }
}

TEST_F(ImageErrors, DamagedPnms) {
  ::testing::internal::CaptureStderr();
  const std::string good = std::string("P6\n3 2\n255\n") + std::string(18, '\x10');
  for (std::size_t n = 0; n < good.size(); ++n) {
    const auto p = write("prefix.ppm", good.substr(0, n));
    EXPECT_THAT(error_of(p), HasSubstr(p)) << "prefix of " << n << " bytes";
  }
  const auto over = write("over.pgm", "P2\n2 1\n100\n50 101\n");
  EXPECT_THAT(error_of(over), HasSubstr("exceeds maxval"));
  const auto short_ascii = write("short.pgm", "P2\n3 1\n255\n1 2\n");
  EXPECT_THAT(error_of(short_ascii), HasSubstr("truncated"));
  const auto junk = write("junk.ppm", "P3\n1 1\n255\n1 x 3\n");
  EXPECT_THAT(error_of(junk), HasSubstr(junk));
  const auto zero = write("zero.pgm", "P5\n0 1\n255\n");
  EXPECT_THAT(error_of(zero), HasSubstr("no pixels"));
  const auto maxval = write("maxval.pgm", "P5\n1 1\n65536\n\x01\x02");
  EXPECT_THAT(error_of(maxval), HasSubstr("maxval"));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(ImageErrors, AbsurdDimensionsAreRejectedBeforeAllocating) {
  ::testing::internal::CaptureStderr();
  // A PNG header declaring 20000 x 20000 RGB (1.2e9 samples > 2^28) and an empty IDAT.
  std::string ihdr;
  for (int k = 0; k < 2; ++k) ihdr += std::string("\x00\x00\x4e\x20", 4);  // 20000
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) +
                          chunk("IDAT", "") + chunk("IEND", "");
  const auto big_png = write("big.png", png);
  EXPECT_THAT(error_of(big_png), HasSubstr(big_png));
  EXPECT_THAT(error_of(big_png), HasSubstr("too large"));
  // A JPEG whose SOF0 claims 65000 x 65000.
  std::string jpeg = jpeg_bytes(8, 8, 3, JCS_RGB, flat(64, {1, 2, 3}));
  const std::size_t sof = jpeg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  jpeg.replace(sof + 5, 4, "\xfd\xe8\xfd\xe8");
  const auto big_jpeg = write("big.jpg", jpeg);
  EXPECT_THAT(error_of(big_jpeg), HasSubstr(big_jpeg));
  EXPECT_THAT(error_of(big_jpeg), HasSubstr("too large"));
  const auto big_pgm = write("big.pgm", "P5\n100000 100000\n255\n\x01");
  EXPECT_THAT(error_of(big_pgm), HasSubstr("too large"));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

// ---------------------------------------------------------------------------------------
// Resize (TF half-pixel bilinear)

Image gray_image(std::size_t height, std::size_t width, Pixels pixels) {
  return Image{.height = height, .width = width, .channels = 1, .pixels = std::move(pixels)};
}

void expect_floats(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-4) << "element " << i;
}

TEST(ImageResize, SameSizeIsIdentity) {
  Image image{.height = 5, .width = 7, .channels = 3};
  for (int i = 0; i < 5 * 7 * 3; ++i)
    image.pixels.push_back(static_cast<std::uint8_t>(i * 7 % 256));
  const std::vector<float> out = resize_bilinear(image, 5, 7);
  ASSERT_EQ(out.size(), image.pixels.size());
  for (std::size_t i = 0; i < out.size(); ++i)
    EXPECT_EQ(out[i], static_cast<float>(image.pixels[i])) << i;
}

TEST(ImageResize, Upscale2x2To4x4) {
  // scale = 2/4 = 0.5, src = (i + 0.5) * 0.5 - 0.5 = -0.25, 0.25, 0.75, 1.25:
  //   i=0: floor -1 -> lower 0, upper min(ceil(-0.25), 1) = 0       -> p0
  //   i=1: lower 0, upper 1, lerp 0.25                              -> 0.75 p0 + 0.25 p1
  //   i=2: lower 0, upper 1, lerp 0.75                              -> 0.25 p0 + 0.75 p1
  //   i=3: lower 1, upper min(2, 1) = 1                             -> p1
  // Rows first: [0, 100] -> [0, 25, 75, 100];  [200, 40] -> [200, 160, 80, 40].
  // Then columns with the same weights:
  //   out row 1 = row0 + (row1 - row0) * 0.25 = [50, 58.75, 76.25, 85]
  //   out row 2 = row0 + (row1 - row0) * 0.75 = [150, 126.25, 78.75, 55]
  const auto out = resize_bilinear(gray_image(2, 2, {0, 100, 200, 40}), 4, 4);
  expect_floats(out, {0, 25, 75, 100,            //
                      50, 58.75f, 76.25f, 85,    //
                      150, 126.25f, 78.75f, 55,  //
                      200, 160, 80, 40});
}

TEST(ImageResize, Downscale4x4To2x2) {
  // scale = 2, src = (i + 0.5) * 2 - 0.5 = 0.5, 2.5: each output is the mean of a 2x2 block
  // (lerp 0.5 both ways), e.g. (1, 1) = (100 + 110 + 140 + 250) / 4 = 150.
  const auto out = resize_bilinear(gray_image(4, 4,
                                              {0, 10, 20, 30,     //
                                               40, 50, 60, 70,    //
                                               80, 90, 100, 110,  //
                                               120, 130, 140, 250}),
                                   2, 2);
  expect_floats(out, {25, 45, 105, 150});
}

TEST(ImageResize, SingleRowAndSinglePixel) {
  // 1x3 -> 1x5: scale 0.6, src = (i + 0.5) * 0.6 - 0.5 = -0.2, 0.4, 1.0, 1.6, 2.2
  //   -> p0, p0 + 0.4 (p1 - p0), p1, p1 + 0.6 (p2 - p1), p2 (clamped)
  //   with p = [0, 100, 250]: [0, 40, 100, 190, 250]. The single row is used for every
  // output row (both vertical taps clamp to row 0).
  const auto out = resize_bilinear(gray_image(1, 3, {0, 100, 250}), 2, 5);
  expect_floats(out, {0, 40, 100, 190, 250, 0, 40, 100, 190, 250});
  // 1x4 -> 1x2: src = 0.5, 2.5 -> means of neighbours.
  expect_floats(resize_bilinear(gray_image(1, 4, {0, 10, 20, 60}), 1, 2), {5, 40});
  // A single pixel spreads everywhere.
  expect_floats(resize_bilinear(gray_image(1, 1, {42}), 2, 3), {42, 42, 42, 42, 42, 42});
  // N x 1 -> N x 3 repeats each row.
  expect_floats(resize_bilinear(gray_image(2, 1, {7, 9}), 2, 3), {7, 7, 7, 9, 9, 9});
}

TEST(ImageResize, NonSquareRgb) {
  // 2x3 -> 3x2.
  // Rows 2 -> 3: scale 2/3, src = (i + 0.5) * 2/3 - 0.5 = -1/6, 0.5, 7/6
  //   -> row0, (row0 + row1) / 2, row1 (clamped).
  // Columns 3 -> 2: scale 1.5, src = (i + 0.5) * 1.5 - 0.5 = 0.25, 1.75
  //   -> p0 + 0.25 (p1 - p0), p1 + 0.75 (p2 - p1).
  // Channel 0, v: [0, 40, 80] -> [10, 70];  [100, 100, 20] -> [100, 40];
  //   out = [10, 70], [55, 55], [100, 40].
  // Channel 1 is 255 - v and channel 2 is v / 2; interpolation is affine, so they give
  // 255 - out and out / 2.
  const Pixels v = {0, 40, 80, 100, 100, 20};
  Image image{.height = 2, .width = 3, .channels = 3};
  for (std::uint8_t x : v)
    image.pixels.insert(image.pixels.end(), {x, std::uint8_t(255 - x), std::uint8_t(x / 2)});
  std::vector<float> want;
  for (float o : {10.f, 70.f, 55.f, 55.f, 100.f, 40.f})
    want.insert(want.end(), {o, 255 - o, o / 2});
  expect_floats(resize_bilinear(image, 3, 2), want);
}

TEST(ImageResize, FlatRgbStaysFlat) {
  const Image image{.height = 2, .width = 2, .channels = 3, .pixels = flat(4, {10, 20, 30})};
  std::vector<float> want;
  for (int i = 0; i < 3 * 5; ++i) want.insert(want.end(), {10, 20, 30});
  expect_floats(resize_bilinear(image, 3, 5), want);
}

TEST(ImageResize, BadArgumentsNameTheShapes) {
  const Image image = gray_image(2, 2, {1, 2, 3, 4});
  try {
    resize_bilinear(image, 0, 3);
    ADD_FAILURE() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("[0, 3, 1]"));
  }
  EXPECT_THROW(resize_bilinear(gray_image(2, 2, {1, 2, 3}), 2, 2), std::invalid_argument);
  EXPECT_THROW(resize_bilinear(Image{}, 2, 2), std::invalid_argument);
}

}  // namespace
}  // namespace xgrad::siamese
