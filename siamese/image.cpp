#include "siamese/image.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>
#include <png.h>

namespace xgrad::siamese {

// How decoding stays safe around two C libraries.
//
// libjpeg and libpng report a fatal error by calling a callback that must not return; the
// documented way out is longjmp back to a setjmp in the caller. longjmp across C++ frames
// is only defined when the frames it skips hold no objects with non-trivial destructors
// (replacing it by throw/catch would run none). So each library is driven by one
// "run_*" function that calls setjmp and holds nothing but trivially destructible locals;
// everything with a destructor (the library handles, the output vectors) lives in a state
// struct owned by the caller, whose destructor releases the library handles. The run
// function returns false after a longjmp and the caller turns the saved message into a
// std::runtime_error. Neither library prints anything: the error/warning callbacks only
// record their text.

namespace {

/// Largest decoded image accepted, in samples (width × height × channels): 2^28 bytes.
constexpr std::size_t kMaxSamples = std::size_t(1) << 28;
/// A progressive JPEG with more scans than this is rejected: crafted files with thousands
/// of tiny scans make libjpeg spend minutes on a few kilobytes (libjpeg-turbo's fuzzers
/// use the same limit idea).
constexpr int kMaxJpegScans = 1000;
/// Files larger than this are not images we want to load whole into memory.
constexpr std::size_t kMaxFileBytes = std::size_t(1) << 30;

using Bytes = std::vector<std::uint8_t>;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

std::string dims(std::size_t w, std::size_t h) {
  return std::to_string(w) + "x" + std::to_string(h);
}

/// Throws unless width × height × max(channels) fits in kMaxSamples (no overflow: each
/// factor is checked before multiplying).
void check_size(const std::string& path, const char* format, std::size_t width, std::size_t height,
                std::size_t channels) {
  const bool too_large =
      width > kMaxSamples || height > kMaxSamples || width * height > kMaxSamples / channels;
  if (too_large) {
    fail(path, std::string(format) + " image too large: " + dims(width, height) + " with " +
                   std::to_string(channels) + " channels exceeds 2^28 samples");
  }
}

Bytes read_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) fail(path, std::string("cannot open (") + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(::fileno(file.get()), &st) != 0)
    fail(path, std::string("cannot stat (") + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory, not an image file");
  if (S_ISREG(st.st_mode) && static_cast<std::size_t>(st.st_size) > kMaxFileBytes) {
    fail(path, "file too large for an image (" + std::to_string(st.st_size) + " bytes)");
  }
  Bytes bytes;
  // A regular file is read in one call; other files (pipes, /proc) grow chunk by chunk.
  std::size_t capacity = S_ISREG(st.st_mode) ? static_cast<std::size_t>(st.st_size) + 1 : 65536;
  for (;;) {
    const std::size_t old = bytes.size();
    bytes.resize(old + capacity);
    const std::size_t got = std::fread(bytes.data() + old, 1, capacity, file.get());
    bytes.resize(old + got);
    if (got < capacity) break;
    if (bytes.size() > kMaxFileBytes) fail(path, "file too large for an image");
    capacity = 65536;
  }
  if (std::ferror(file.get()))
    fail(path, std::string("cannot read (") + std::strerror(errno) + ")");
  return bytes;
}

// ---------------------------------------------------------------------------------------
// Channel conversion (8-bit samples).

/// ITU-R BT.601 luma, round(0.299 R + 0.587 G + 0.114 B) with halves rounded up, exact in
/// integers: the weights are thousandths, so (N + 500) / 1000 rounds N / 1000.
inline std::uint8_t luma(unsigned r, unsigned g, unsigned b) {
  return static_cast<std::uint8_t>((299u * r + 587u * g + 114u * b + 500u) / 1000u);
}

/// Converts `count` pixels of `from` interleaved channels (1 gray, 2 gray+alpha, 3 RGB,
/// 4 RGBA) to `to` channels (1 or 3). Alpha is dropped.
void convert_channels(const std::uint8_t* src, std::size_t from, std::size_t count,
                      std::uint8_t* dst, std::size_t to) {
  if (from == to) {
    std::memcpy(dst, src, count * to);
    return;
  }
  if (from <= 2) {  // gray (+ alpha)
    if (to == 1) {
      for (std::size_t i = 0; i < count; ++i) dst[i] = src[i * from];
    } else {
      for (std::size_t i = 0; i < count; ++i)
        dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[i * from];
    }
    return;
  }
  if (to == 1) {  // RGB (+ alpha) → gray
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint8_t* p = src + i * from;
      dst[i] = luma(p[0], p[1], p[2]);
    }
  } else {  // RGBA → RGB
    for (std::size_t i = 0; i < count; ++i) {
      dst[3 * i] = src[i * from];
      dst[3 * i + 1] = src[i * from + 1];
      dst[3 * i + 2] = src[i * from + 2];
    }
  }
}

// ---------------------------------------------------------------------------------------
// JPEG (libjpeg-turbo)

struct JpegErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg only sees this part
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];  // the error that stopped decoding
  char warning[JMSG_LENGTH_MAX];  // the first warning (corrupt data)
};

[[noreturn]] void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Replaces libjpeg's default, which prints warnings to stderr. Level -1 is a warning
// (always about corrupt or truncated data when decoding); levels >= 0 are trace messages.
void jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  if (err->pub.num_warnings++ == 0) (*cinfo->err->format_message)(cinfo, err->warning);
}

void jpeg_progress(j_common_ptr common) {
  if (!common->is_decompressor) return;
  auto* cinfo = reinterpret_cast<j_decompress_ptr>(common);
  if (cinfo->input_scan_number > kMaxJpegScans) {
    auto* err = reinterpret_cast<JpegErrorManager*>(common->err);
    std::snprintf(err->message, sizeof err->message, "more than %d progressive scans",
                  kMaxJpegScans);
    std::longjmp(err->jump, 1);
  }
}

struct JpegState {
  jpeg_decompress_struct cinfo{};
  JpegErrorManager err{};
  jpeg_progress_mgr progress{};
  bool created = false;
  bool cmyk = false;       // decoded as (Adobe-inverted) CMYK into `buffer`
  bool too_large = false;  // stopped after the header: see check_size
  Bytes buffer;            // CMYK samples, when `cmyk`
  JpegState() = default;
  JpegState(const JpegState&) = delete;
  JpegState& operator=(const JpegState&) = delete;
  ~JpegState() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

// The setjmp frame: trivially destructible locals only (see the comment at the top).
bool run_jpeg(JpegState& st, const Bytes& data, std::size_t channels, Image& out) {
  j_decompress_ptr cinfo = &st.cinfo;
  cinfo->err = jpeg_std_error(&st.err.pub);
  st.err.pub.error_exit = jpeg_error_exit;
  st.err.pub.emit_message = jpeg_emit_message;
  if (setjmp(st.err.jump)) return false;
  st.created = true;  // jpeg_destroy_decompress copes with a half-created struct
  jpeg_create_decompress(cinfo);
  st.progress.progress_monitor = jpeg_progress;
  cinfo->progress = &st.progress;
  jpeg_mem_src(cinfo, data.data(), static_cast<unsigned long>(data.size()));
  jpeg_read_header(cinfo, TRUE);

  st.cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  // libjpeg converts gray, YCbCr and RGB files to either output itself; CMYK it only
  // delivers as CMYK, and we convert.
  cinfo->out_color_space = st.cmyk ? JCS_CMYK : channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  const std::size_t decoded_channels = st.cmyk ? 4 : channels;
  const std::size_t w = cinfo->image_width, h = cinfo->image_height;
  if (w > kMaxSamples || h > kMaxSamples || w * h > kMaxSamples / decoded_channels) {
    st.too_large = true;
    return true;
  }
  jpeg_start_decompress(cinfo);
  if (static_cast<std::size_t>(cinfo->output_components) != decoded_channels) {
    std::snprintf(st.err.message, sizeof st.err.message, "unexpected output layout (%d components)",
                  cinfo->output_components);
    return false;
  }
  out.width = cinfo->output_width;
  out.height = cinfo->output_height;
  out.channels = channels;
  Bytes& target = st.cmyk ? st.buffer : out.pixels;
  target.resize(out.width * out.height * decoded_channels);
  const std::size_t stride = out.width * decoded_channels;
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW rows[16];
    const JDIMENSION first = cinfo->output_scanline;
    const JDIMENSION n = std::min<JDIMENSION>(16, cinfo->output_height - first);
    for (JDIMENSION i = 0; i < n; ++i) rows[i] = target.data() + (first + i) * stride;
    if (jpeg_read_scanlines(cinfo, rows, n) == 0) {
      std::snprintf(st.err.message, sizeof st.err.message, "decoder made no progress");
      return false;
    }
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

Image decode_jpeg(const std::string& path, const Bytes& data, std::size_t channels) {
  JpegState st;
  Image out;
  if (!run_jpeg(st, data, channels, out))
    fail(path, std::string("corrupt JPEG (") + st.err.message + ")");
  if (st.too_large)
    check_size(path, "JPEG", st.cinfo.image_width, st.cinfo.image_height, st.cmyk ? 4 : channels);
  // libjpeg pads a truncated file with gray and merely warns: here any warning is fatal.
  if (st.err.pub.num_warnings > 0)
    fail(path, std::string("corrupt or truncated JPEG (") + st.err.warning + ")");
  if (st.cmyk) {
    // Adobe writes CMYK JPEGs inverted (255 = no ink), so R = C·K/255 etc., rounded.
    const std::size_t count = out.width * out.height;
    out.pixels.resize(count * channels);
    const std::uint8_t* p = st.buffer.data();
    for (std::size_t i = 0; i < count; ++i, p += 4) {
      const unsigned k = p[3];
      const unsigned r = (p[0] * k + 127) / 255, g = (p[1] * k + 127) / 255,
                     b = (p[2] * k + 127) / 255;
      if (channels == 1) {
        out.pixels[i] = luma(r, g, b);
      } else {
        out.pixels[3 * i] = static_cast<std::uint8_t>(r);
        out.pixels[3 * i + 1] = static_cast<std::uint8_t>(g);
        out.pixels[3 * i + 2] = static_cast<std::uint8_t>(b);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// PNG (libpng, classic API)

struct PngState {
  const Bytes* data = nullptr;
  std::size_t pos = 0;
  char message[256] = {};
  png_structp png = nullptr;
  png_infop info = nullptr;
  bool too_large = false;
  std::size_t width = 0, height = 0, decoded_channels = 0;
  Bytes native;                 // rows as libpng delivers them, when they need converting
  std::vector<png_bytep> rows;  // row pointers for png_read_image
  PngState() = default;
  PngState(const PngState&) = delete;
  PngState& operator=(const PngState&) = delete;
  ~PngState() {
    if (png) png_destroy_read_struct(&png, &info, nullptr);
  }
};

[[noreturn]] void png_error_fn(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(st->message, sizeof st->message, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

// libpng's warnings (bad ancillary chunks it skips, colour-profile remarks) are not
// printed; the ones that matter for pixels are errors (see the CRC action below).
void png_warning_fn(png_structp, png_const_charp) {}

void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* st = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > st->data->size() - st->pos) png_error(png, "unexpected end of file (truncated)");
  std::memcpy(out, st->data->data() + st->pos, n);
  st->pos += n;
}

// The setjmp frame: trivially destructible locals only (see the comment at the top).
bool run_png(PngState& st, std::size_t channels, Image& out) {
  png_structp png = st.png;
  png_infop info = st.info;
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, &st, png_read_memory);
  // A CRC error in an ancillary chunk is an error too, not a warning: the file is damaged.
  png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
  // The pixels need no ancillary chunk but tRNS (colour management, text, time … are
  // ignored, as in TF), so libpng skips all of them unparsed, still checking their CRCs.
  // Faster, and a crafted chunk length can no longer make libpng allocate and zero up to
  // 8 MB per chunk. An unknown critical chunk remains an error.
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  png_read_info(png, info);
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  // Everything to 8-bit gray, gray+alpha, RGB or RGBA; alpha and channels are then
  // handled by convert_channels. tRNS is left alone for gray and RGB (alpha would be
  // dropped anyway); palette expansion may add it as an alpha channel, also dropped.
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (!(color_type & PNG_COLOR_MASK_COLOR) && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  // High byte of 16-bit samples, as TF's decode_png(dtype=uint8).
  if (bit_depth == 16) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  st.width = png_get_image_width(png, info);
  st.height = png_get_image_height(png, info);
  st.decoded_channels = png_get_channels(png, info);
  if (st.width > kMaxSamples || st.height > kMaxSamples ||
      st.width * st.height > kMaxSamples / std::max(st.decoded_channels, channels)) {
    st.too_large = true;
    return true;
  }
  if (png_get_bit_depth(png, info) != 8 || st.decoded_channels < 1 || st.decoded_channels > 4 ||
      png_get_rowbytes(png, info) != st.width * st.decoded_channels) {
    std::snprintf(st.message, sizeof st.message, "unexpected pixel layout after conversion");
    return false;
  }
  out.width = st.width;
  out.height = st.height;
  out.channels = channels;
  // Rows straight into the output when no channel conversion is needed.
  Bytes& target = st.decoded_channels == channels ? out.pixels : st.native;
  target.resize(st.width * st.height * st.decoded_channels);
  st.rows.resize(st.height);
  for (std::size_t y = 0; y < st.height; ++y)
    st.rows[y] = target.data() + y * st.width * st.decoded_channels;
  png_read_image(png, st.rows.data());
  // Reads the rest up to IEND: checks the last IDAT's CRC and that the file is complete.
  png_read_end(png, nullptr);
  return true;
}

Image decode_png(const std::string& path, const Bytes& data, std::size_t channels) {
  PngState st;
  st.data = &data;
  st.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, png_error_fn, png_warning_fn);
  if (!st.png) fail(path, "cannot initialise libpng");
  st.info = png_create_info_struct(st.png);
  if (!st.info) fail(path, "cannot initialise libpng");
  Image out;
  if (!run_png(st, channels, out))
    fail(path, std::string("corrupt or truncated PNG (") + st.message + ")");
  if (st.too_large)
    check_size(path, "PNG", st.width, st.height, std::max(st.decoded_channels, channels));
  if (st.decoded_channels != channels) {
    out.pixels.resize(st.width * st.height * channels);
    convert_channels(st.native.data(), st.decoded_channels, st.width * st.height, out.pixels.data(),
                     channels);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// PGM / PPM (Netpbm), read directly

inline bool is_space(std::uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
inline bool is_digit(std::uint8_t c) { return c >= '0' && c <= '9'; }

class PnmParser {
 public:
  PnmParser(const std::string& path, const Bytes& data) : path_(path), data_(data) {}

  /// Skips whitespace and `#` comments (to the end of the line).
  void skip_space() {
    while (pos_ < data_.size()) {
      if (is_space(data_[pos_])) {
        ++pos_;
      } else if (data_[pos_] == '#') {
        while (pos_ < data_.size() && data_[pos_] != '\n' && data_[pos_] != '\r') ++pos_;
      } else {
        break;
      }
    }
  }

  /// Reads an unsigned decimal number (at most `limit`) after optional space/comments.
  std::size_t number(const char* what, std::size_t limit) {
    skip_space();
    if (pos_ >= data_.size()) fail(path_, format_ + " truncated: missing " + what);
    if (!is_digit(data_[pos_]))
      fail(path_, format_ + " corrupt: expected " + what + ", found a non-digit");
    std::size_t v = 0;
    while (pos_ < data_.size() && is_digit(data_[pos_])) {
      v = v * 10 + (data_[pos_++] - '0');
      if (v > limit)
        fail(path_, format_ + " corrupt: " + what + " exceeds " + std::to_string(limit));
    }
    return v;
  }

  Image decode(std::size_t channels) {
    const char kind = static_cast<char>(data_[1]);
    const bool ascii = kind == '2' || kind == '3';
    const std::size_t native = (kind == '2' || kind == '5') ? 1 : 3;
    format_ = native == 1 ? "PGM" : "PPM";
    pos_ = 2;
    const std::size_t width = number("width", kMaxSamples);
    const std::size_t height = number("height", kMaxSamples);
    const std::size_t maxval = number("maxval", 65535);
    if (width == 0 || height == 0)
      fail(path_, format_ + " has no pixels (" + dims(width, height) + ")");
    if (maxval == 0) fail(path_, format_ + " corrupt: maxval is 0");
    check_size(path_, format_.c_str(), width, height, std::max(native, channels));

    const std::size_t count = width * height * native;
    Bytes samples(count);
    // Scales 0..maxval to 0..255 as round(v · 255 / maxval), halves up, in integers.
    auto scale = [maxval](std::size_t v) {
      return static_cast<std::uint8_t>(maxval == 255 ? v : (2 * v * 255 + maxval) / (2 * maxval));
    };
    if (ascii) {
      // Each sample needs a separator and a digit: a cheap truncation check before parsing.
      if (data_.size() - pos_ < 2 * count) {
        fail(path_, format_ + " truncated: " + std::to_string(count) + " samples expected");
      }
      for (std::size_t i = 0; i < count; ++i) {
        const std::size_t v = number("a sample", 65535);
        if (v > maxval)
          fail(path_, format_ + " corrupt: sample " + std::to_string(v) + " exceeds maxval " +
                          std::to_string(maxval));
        samples[i] = scale(v);
      }
    } else {
      // Exactly one whitespace character separates the header from the raster.
      if (pos_ >= data_.size() || !is_space(data_[pos_]))
        fail(path_, format_ + " truncated or corrupt header");
      ++pos_;
      const std::size_t bytes_per_sample = maxval < 256 ? 1 : 2;
      const std::size_t need = count * bytes_per_sample;
      const std::size_t have = data_.size() - pos_;
      if (have < need) {
        fail(path_, format_ + " truncated: " + dims(width, height) + " needs " +
                        std::to_string(need) + " bytes of pixels, the file holds " +
                        std::to_string(have));
      }
      const std::uint8_t* p = data_.data() + pos_;
      for (std::size_t i = 0; i < count; ++i) {
        const std::size_t v =
            bytes_per_sample == 1 ? p[i] : (std::size_t(p[2 * i]) << 8 | p[2 * i + 1]);
        if (v > maxval)
          fail(path_, format_ + " corrupt: sample " + std::to_string(v) + " exceeds maxval " +
                          std::to_string(maxval));
        samples[i] = scale(v);
      }
    }
    Image out;
    out.width = width;
    out.height = height;
    out.channels = channels;
    if (native == channels) {
      out.pixels = std::move(samples);
    } else {
      out.pixels.resize(width * height * channels);
      convert_channels(samples.data(), native, width * height, out.pixels.data(), channels);
    }
    return out;
  }

 private:
  const std::string& path_;
  const Bytes& data_;
  std::size_t pos_ = 0;
  std::string format_;
};

}  // namespace

Image decode_image(const std::string& path, std::size_t channels) {
  if (channels != 1 && channels != 3) {
    throw std::invalid_argument("decode_image: channels must be 1 or 3; got " +
                                std::to_string(channels) + " (for " + path + ")");
  }
  const Bytes data = read_file(path);
  if (data.empty()) fail(path, "empty file");
  static constexpr std::uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (data.size() >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
    return decode_jpeg(path, data, channels);
  }
  if (data.size() >= 8 && std::memcmp(data.data(), kPngSignature, 8) == 0)
    return decode_png(path, data, channels);
  if (data.size() >= 3 && data[0] == 'P' && is_space(data[2])) {
    switch (data[1]) {
      case '2':
      case '3':
      case '5':
      case '6':
        return PnmParser(path, data).decode(channels);
      case '1':
      case '4':
        fail(path, "PBM (P1/P4) bitmaps are not supported (only PGM and PPM)");
      case '7':
        fail(path, "PAM (P7) images are not supported (only PGM and PPM)");
      default:
        break;
    }
  }
  fail(path, "not a JPEG, PNG, PGM or PPM image");
}

// ---------------------------------------------------------------------------------------
// Bilinear resize

namespace {

/// One output coordinate's two source samples (already multiplied by their stride) and
/// the weight of the upper one, as TF's compute_interpolation_weights with
/// HalfPixelScaler computes them.
struct Tap {
  std::size_t lower, upper;
  float lerp;
};

std::vector<Tap> half_pixel_taps(std::size_t out_size, std::size_t in_size, std::size_t stride) {
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  const auto last = static_cast<std::int64_t>(in_size) - 1;
  std::vector<Tap> taps(out_size);
  for (std::size_t i = 0; i < out_size; ++i) {
    const float src = (static_cast<float>(i) + 0.5f) * scale - 0.5f;
    const float floor_src = std::floor(src);
    // Below 0 (first half pixel) both taps are 0; above in_size - 1 both are the last.
    const std::int64_t lower = std::max<std::int64_t>(static_cast<std::int64_t>(floor_src), 0);
    const std::int64_t upper =
        std::min<std::int64_t>(static_cast<std::int64_t>(std::ceil(src)), last);
    taps[i] = {static_cast<std::size_t>(lower) * stride, static_cast<std::size_t>(upper) * stride,
               src - floor_src};
  }
  return taps;
}

/// The interpolation loop; `C` > 0 fixes the channel count at compile time (1 and 3 are
/// the common cases), `C` == 0 reads it from `channels`.
template <std::size_t C>
void resize_rows(const std::uint8_t* pixels, std::size_t channels, const std::vector<Tap>& ys,
                 const std::vector<Tap>& xs, float* out) {
  const std::size_t c_count = C > 0 ? C : channels;
  for (const Tap& ty : ys) {
    const std::uint8_t* top = pixels + ty.lower;
    const std::uint8_t* bottom = pixels + ty.upper;
    for (const Tap& tx : xs) {
      for (std::size_t c = 0; c < c_count; ++c) {
        const float tl = top[tx.lower + c], tr = top[tx.upper + c];
        const float bl = bottom[tx.lower + c], br = bottom[tx.upper + c];
        // Same operation order as TF's compute_lerp.
        const float t = tl + (tr - tl) * tx.lerp;
        const float b = bl + (br - bl) * tx.lerp;
        *out++ = t + (b - t) * ty.lerp;
      }
    }
  }
}

std::string shape_str(std::size_t h, std::size_t w, std::size_t c) {
  return "[" + std::to_string(h) + ", " + std::to_string(w) + ", " + std::to_string(c) + "]";
}

}  // namespace

std::vector<float> resize_bilinear(const Image& image, std::size_t height, std::size_t width) {
  const std::size_t c = image.channels;
  if (image.height == 0 || image.width == 0 || c == 0) {
    throw std::invalid_argument("resize_bilinear: image must be non-empty; got image shape " +
                                shape_str(image.height, image.width, c));
  }
  if (image.height > kMaxSamples || image.width > kMaxSamples || c > kMaxSamples ||
      image.pixels.size() != image.height * image.width * c) {
    throw std::invalid_argument("resize_bilinear: image.pixels holds " +
                                std::to_string(image.pixels.size()) + " samples, image shape " +
                                shape_str(image.height, image.width, c) + " needs their product");
  }
  if (height == 0 || width == 0 || height > kMaxSamples || width > kMaxSamples ||
      height * width > kMaxSamples / c) {
    throw std::invalid_argument(
        "resize_bilinear: output size must be positive and at most 2^28 samples; got " +
        shape_str(height, width, c));
  }
  const std::vector<Tap> ys = half_pixel_taps(height, image.height, image.width * c);
  const std::vector<Tap> xs = half_pixel_taps(width, image.width, c);
  std::vector<float> out(height * width * c);
  switch (c) {
    case 1:
      resize_rows<1>(image.pixels.data(), c, ys, xs, out.data());
      break;
    case 3:
      resize_rows<3>(image.pixels.data(), c, ys, xs, out.data());
      break;
    default:
      resize_rows<0>(image.pixels.data(), c, ys, xs, out.data());
      break;
  }
  return out;
}

}  // namespace xgrad::siamese
