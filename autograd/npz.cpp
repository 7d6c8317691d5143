#include "autograd/npz.h"

// NumPy .npy / .npz files.
//
// .npy (numpy/lib/format.py): "\x93NUMPY", major, minor, then the header length (uint16 LE for
// 1.0, uint32 LE for 2.0/3.0), then a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a final '\n' so that the data starts at a multiple of 64; then the raw
// elements in C (or Fortran) order.
//
// .npz: a zip archive (PKWARE APPNOTE 6.3) of NAME.npy members. A zip is read from its end: the
// end-of-central-directory (EOCD) record, and for big archives the zip64 EOCD record found through
// the zip64 locator just before it, give the offset and size of the central directory, whose
// entries give each member's name, CRC-32, sizes and local-header offset. The central directory is
// the source of truth: local headers may hold zeros (data descriptors) or 0xFFFFFFFF (zip64)
// instead of sizes, so only their name and extra-field lengths are used (to find the data) and
// their name and method are cross-checked.
//
// Robustness: every offset and size read from the file is checked against the file size (or the
// start of the central directory) before use, with overflow-safe arithmetic; an array is
// allocated only after its declared shape has been checked to need exactly the bytes its member
// holds (and that member size is bounded by the file size, or by the maximum deflate ratio of
// 1032:1 for compressed members). Members are decoded as streams straight into the array
// storage, so loading needs one copy of each array, not two.
//
// Writing computes each member's CRC-32 in a first pass over the data (converting to float32
// chunk by chunk in a double build) and then writes the local header with exact sizes followed by
// the data: the file is written sequentially and never assembled in memory.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_set>

namespace xgrad {

namespace {

using u8 = unsigned char;

constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEocdSig = 0x06054b50;
constexpr std::uint32_t kZip64EocdSig = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;
constexpr std::size_t kLocalHeaderSize = 30;
constexpr std::size_t kCentralHeaderSize = 46;
constexpr std::size_t kEocdSize = 22;
constexpr std::size_t kZip64EocdSize = 56;
constexpr std::size_t kZip64LocatorSize = 20;
constexpr std::uint32_t kMax32 = 0xFFFFFFFFu;
constexpr std::uint16_t kMax16 = 0xFFFFu;
// DOS date of 1980-01-01 (the earliest): files are deterministic.
constexpr std::uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;
// A deflate stream cannot expand by more than about 1032:1 (258-byte matches coded in 2 bits).
constexpr std::uint64_t kMaxDeflateRatio = 1032;
// Larger than any real .npy header (numpy itself refuses more than 10000 bytes by default).
constexpr std::uint64_t kMaxNpyHeader = 1 << 20;
constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr std::size_t kNpyMagicSize = 6;
constexpr std::size_t kChunkBytes = 1 << 16;

// ---------------------------------------------------------------------------------------------
// Errors and messages

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": " + what);
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// A name or header for an error message: control characters (and all non-ASCII bytes unless the
// text is valid UTF-8) escaped, long text cut.
bool valid_utf8(std::string_view s);

std::string printable(std::string_view s, std::size_t max_len = 200) {
  const bool utf8 = valid_utf8(s.substr(0, max_len));
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max_len; ++i) {
    const auto c = static_cast<u8>(s[i]);
    if (c >= 0x20 && c != 0x7f && (c < 0x80 || utf8)) {
      out += static_cast<char>(c);
    } else {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

std::string quoted(std::string_view s) {
  std::string out = "'";  // (not "'" + ...: GCC 12 warns falsely, -Wrestrict bug 105329)
  out += printable(s);
  out += '\'';
  return out;
}

std::string where_of(const char* fn, const std::string& path) {
  return std::string(fn) + ": " + quoted(path);
}

// ---------------------------------------------------------------------------------------------
// Little-endian fields

std::uint16_t get16(const u8* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t get32(const u8* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t get64(const u8* p) {
  return static_cast<std::uint64_t>(get32(p)) | (static_cast<std::uint64_t>(get32(p + 4)) << 32);
}
void put16(std::string& s, std::uint16_t v) {
  s += static_cast<char>(v & 0xFF);
  s += static_cast<char>(v >> 8);
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, static_cast<std::uint16_t>(v & 0xFFFF));
  put16(s, static_cast<std::uint16_t>(v >> 16));
}
void put64(std::string& s, std::uint64_t v) {
  put32(s, static_cast<std::uint32_t>(v & kMax32));
  put32(s, static_cast<std::uint32_t>(v >> 32));
}

std::uint32_t crc_update(std::uint32_t crc, const void* p, std::size_t n) {
  if (n == 0) return crc;  // zlib's crc32 returns the initial value for a null buffer
  return static_cast<std::uint32_t>(crc32_z(crc, static_cast<const Bytef*>(p), n));
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Array names: relative '/'-separated paths that cannot escape a directory when extracted.

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<u8>(s[i]);
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<u8>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMinForLen[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLen[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Empty when `name` is acceptable, else what is wrong with it.
std::string name_problem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > 60000) return "is too long (" + std::to_string(name.size()) + " bytes)";
  if (name.front() == '/') return "is an absolute path";
  if (name.find('\\') != std::string_view::npos) return "contains '\\'";
  if (name.find('\0') != std::string_view::npos) return "contains a NUL byte";
  std::size_t start = 0;
  while (true) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string_view part = name.substr(start, end - start);
    if (part.empty()) return "has an empty path component";
    if (part == "." || part == "..") return "has a '" + std::string(part) + "' path component";
    if (end == name.size()) break;
    start = end + 1;
  }
  if (!valid_utf8(name)) return "is not valid UTF-8";
  return {};
}

bool needs_utf8_flag(std::string_view name) {
  return std::any_of(name.begin(), name.end(), [](char c) { return static_cast<u8>(c) >= 0x80; });
}

// ---------------------------------------------------------------------------------------------
// Reading: a file with bounds-checked positional reads

class InFile {
 public:
  InFile(const std::string& path, const std::string& where) : where_(where) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail(where_, "cannot open: " + errno_text(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(where_, "cannot stat: " + errno_text(errno));
    if (!S_ISREG(st.st_mode)) fail(where_, "not a regular file");
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~InFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  InFile(const InFile&) = delete;
  InFile& operator=(const InFile&) = delete;

  std::uint64_t size() const { return size_; }
  const std::string& where() const { return where_; }

  // Reads [offset, offset + n) into dst; `what` names the part for the "truncated" message.
  void read_at(std::uint64_t offset, void* dst, std::size_t n, const std::string& what) const {
    if (offset > size_ || n > size_ - offset) {
      fail(where_, "truncated file: " + what + " (offset " + std::to_string(offset) + ", " +
                       std::to_string(n) + " bytes) runs past the end of the file (" +
                       std::to_string(size_) + " bytes)");
    }
    auto* out = static_cast<u8*>(dst);
    while (n > 0) {
      const std::size_t step = std::min<std::size_t>(n, std::size_t{1} << 30);
      const ssize_t got = ::pread(fd_, out, step, static_cast<off_t>(offset));
      if (got < 0) {
        const int err = errno;
        if (err == EINTR) continue;
        fail(where_, "read error at offset " + std::to_string(offset) + ": " + errno_text(err));
      }
      if (got == 0) fail(where_, "unexpected end of file at offset " + std::to_string(offset));
      out += got;
      offset += static_cast<std::uint64_t>(got);
      n -= static_cast<std::size_t>(got);
    }
  }

 private:
  std::string where_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// The uncompressed bytes of one member (or of a whole .npy file), read sequentially: stored
// bytes straight from the file, or deflate data inflated on the fly. Keeps the CRC-32.
class EntryReader {
 public:
  EntryReader(const InFile& file, std::string where, std::uint64_t offset, std::uint64_t csize,
              std::uint64_t usize, bool deflate)
      : file_(file),
        where_(std::move(where)),
        offset_(offset),
        csize_(csize),
        usize_(usize),
        deflate_(deflate) {
    if (deflate_) {
      if (usize_ / kMaxDeflateRatio > csize_ + 1) {
        fail(where_, "declared uncompressed size " + std::to_string(usize_) +
                         " is impossible for " + std::to_string(csize_) + " bytes of deflate data");
      }
      if (inflateInit2(&z_, -15) != Z_OK) fail(where_, "zlib inflateInit2 failed");
      z_ready_ = true;
      in_buf_.resize(static_cast<std::size_t>(std::min<std::uint64_t>(csize_, 1 << 18)));
    }
  }
  ~EntryReader() {
    if (z_ready_) inflateEnd(&z_);
  }
  EntryReader(const EntryReader&) = delete;
  EntryReader& operator=(const EntryReader&) = delete;

  const std::string& where() const { return where_; }
  std::uint64_t remaining() const { return usize_ - produced_; }
  std::uint32_t crc() const { return crc_; }

  // Reads exactly n more bytes (n <= remaining()).
  void read(void* dst, std::size_t n) {
    if (n > remaining()) {
      fail(where_, "data ends early: need " + std::to_string(n) + " more bytes, " +
                       std::to_string(remaining()) + " left");
    }
    if (!deflate_) {
      file_.read_at(offset_ + produced_, dst, n, "member data");
    } else {
      inflate_into(static_cast<u8*>(dst), n);
    }
    crc_ = crc_update(crc_, dst, n);
    produced_ += n;
  }

  // Checks that the member was consumed exactly: the deflate stream ends right there, with no
  // bytes after it. (The caller compares crc() with the zip directory's.)
  void finish() {
    if (remaining() != 0) {
      fail(where_, std::to_string(remaining()) + " unread bytes after the array data");
    }
    if (deflate_) {
      u8 extra = 0;
      while (!ended_) {
        z_.next_out = &extra;
        z_.avail_out = 1;
        refill();
        const int rc = inflate(&z_, Z_NO_FLUSH);
        if (z_.avail_out == 0) {
          fail(where_,
               "deflate data holds more than the declared " + std::to_string(usize_) + " bytes");
        }
        if (rc == Z_STREAM_END) {
          ended_ = true;
        } else if (rc != Z_OK) {
          inflate_failed(rc);
        }
      }
      const std::uint64_t used = in_pos_ - z_.avail_in;
      if (used != csize_) {
        fail(where_, std::to_string(csize_ - used) + " bytes of garbage after the deflate stream");
      }
    }
  }

 private:
  void refill() {
    if (z_.avail_in == 0 && in_pos_ < csize_) {
      const auto k =
          static_cast<std::size_t>(std::min<std::uint64_t>(in_buf_.size(), csize_ - in_pos_));
      file_.read_at(offset_ + in_pos_, in_buf_.data(), k, "compressed member data");
      in_pos_ += k;
      z_.next_in = in_buf_.data();
      z_.avail_in = static_cast<uInt>(k);
    }
  }

  [[noreturn]] void inflate_failed(int rc) {
    if (rc == Z_BUF_ERROR && z_.avail_in == 0 && in_pos_ == csize_) {
      fail(where_,
           "truncated or corrupt deflate data: the compressed bytes end before the deflate "
           "stream does");
    }
    fail(where_, std::string("corrupt deflate data (zlib: ") +
                     (z_.msg ? z_.msg : "error " + std::to_string(rc)) + ")");
  }

  void inflate_into(u8* dst, std::size_t n) {
    while (n > 0) {
      if (ended_) {
        fail(where_, "deflate stream ends after " + std::to_string(produced_) +
                         " bytes but the member declares " + std::to_string(usize_));
      }
      const auto step = static_cast<uInt>(std::min<std::size_t>(n, std::size_t{1} << 30));
      z_.next_out = dst;
      z_.avail_out = step;
      while (z_.avail_out > 0) {
        refill();
        const int rc = inflate(&z_, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
          ended_ = true;
          if (z_.avail_out > 0) {
            fail(where_, "deflate stream ends before the declared " + std::to_string(usize_) +
                             " bytes (corrupt sizes)");
          }
        } else if (rc != Z_OK) {
          inflate_failed(rc);
        }
      }
      dst += step;
      n -= step;
    }
  }

  const InFile& file_;
  std::string where_;
  std::uint64_t offset_, csize_, usize_;
  bool deflate_;
  std::uint64_t produced_ = 0;
  std::uint32_t crc_ = 0;
  z_stream z_{};
  bool z_ready_ = false;
  bool ended_ = false;
  std::uint64_t in_pos_ = 0;  // compressed bytes handed to zlib so far
  std::vector<u8> in_buf_;
};

// ---------------------------------------------------------------------------------------------
// .npy header: a Python dict literal with exactly 'descr', 'fortran_order' and 'shape'.

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& where) : s_(text), where_(where) {}

  NpyHeader parse() {
    NpyHeader h;
    bool has_descr = false, has_fortran = false, has_shape = false;
    skip_ws();
    expect('{');
    while (true) {
      skip_ws();
      if (eat('}')) break;
      const std::string key = parse_string();
      skip_ws();
      expect(':');
      skip_ws();
      bool* seen = nullptr;
      if (key == "descr") {
        if (peek() == '[') bad("structured dtypes (a descr list) are not supported");
        h.descr = parse_string();
        seen = &has_descr;
      } else if (key == "fortran_order") {
        h.fortran_order = parse_bool();
        seen = &has_fortran;
      } else if (key == "shape") {
        h.shape = parse_shape();
        seen = &has_shape;
      } else {
        bad("unexpected key " + quoted(key));
      }
      if (*seen) bad("duplicate key " + quoted(key));
      *seen = true;
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      expect('}');
      break;
    }
    skip_ws();
    if (pos_ != s_.size()) bad("unexpected text after the closing '}'");
    if (!has_descr || !has_fortran || !has_shape) {
      bad("missing key(s):" + std::string(has_descr ? "" : " 'descr'") +
          (has_fortran ? "" : " 'fortran_order'") + (has_shape ? "" : " 'shape'"));
    }
    return h;
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    std::string_view shown = s_;
    while (!shown.empty() && (shown.back() == ' ' || shown.back() == '\n')) shown.remove_suffix(1);
    fail(where_, "bad .npy header: " + what + "; header: " + quoted(shown));
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) bad(std::string("expected '") + c + "' at position " + std::to_string(pos_));
  }
  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  std::string parse_string() {
    const char q = peek();
    if (q != '\'' && q != '"') bad("expected a string at position " + std::to_string(pos_));
    ++pos_;
    const std::size_t end = s_.find(q, pos_);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string out(s_.substr(pos_, end - pos_));
    if (out.find('\\') != std::string::npos) bad("escape sequences in strings are not supported");
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    bad("'fortran_order' must be True or False");
  }
  std::size_t parse_int() {
    if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') {
      bad("expected a non-negative integer in 'shape' at position " + std::to_string(pos_));
    }
    std::uint64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      const auto digit = static_cast<std::uint64_t>(s_[pos_] - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) bad("dimension too large");
      v = v * 10 + digit;
      ++pos_;
    }
    eat('L');  // Python 2 long literals, as numpy's reader still accepts
    return static_cast<std::size_t>(v);
  }
  Shape parse_shape() {
    expect('(');
    Shape shape;
    skip_ws();
    if (eat(')')) return shape;
    while (true) {
      shape.push_back(parse_int());
      skip_ws();
      if (eat(',')) {
        skip_ws();
        if (eat(')')) break;
        continue;
      }
      if (eat(')')) {
        if (shape.size() == 1) bad("'shape' (n) is an int, not a tuple (n,)");
        break;
      }
      bad("expected ',' or ')' in 'shape' at position " + std::to_string(pos_));
    }
    return shape;
  }

  std::string_view s_;
  const std::string& where_;
  std::size_t pos_ = 0;
};

// A supported element type.
struct DType {
  char kind = 'f';  // 'f' float, 'i' signed int, 'u' unsigned int, 'b' bool
  std::size_t size = 4;
  bool swap = false;  // byte order differs from the host's
};

[[noreturn]] void unsupported_dtype(const std::string& where, const std::string& descr,
                                    const std::string& what) {
  fail(where, "unsupported dtype " + quoted(descr) + ": " + what +
                  " (supported: float32/64, int8-64, uint8-64, bool)");
}

DType parse_descr(const std::string& descr, const std::string& where) {
  if (descr.size() < 2) unsupported_dtype(where, descr, "not a dtype string");
  const char order = descr[0];
  const char kind = descr[1];
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    unsupported_dtype(where, descr, "unknown byte order");
  }
  switch (kind) {
    case 'f':
    case 'i':
    case 'u':
    case 'b':
      break;
    case 'c':
      unsupported_dtype(where, descr, "complex arrays are not supported");
    case 'O':
      unsupported_dtype(where, descr, "object arrays are not supported (they need pickle)");
    case 'U':
    case 'S':
    case 'a':
      unsupported_dtype(where, descr, "string arrays are not supported");
    case 'V':
      unsupported_dtype(where, descr, "void/record arrays are not supported");
    case 'M':
    case 'm':
      unsupported_dtype(where, descr, "datetime arrays are not supported");
    default:
      unsupported_dtype(where, descr, "unknown kind '" + printable(std::string(1, kind)) + "'");
  }
  std::size_t size = 0;
  if (descr.size() < 3 || descr.size() > 4) unsupported_dtype(where, descr, "bad item size");
  for (std::size_t i = 2; i < descr.size(); ++i) {
    if (descr[i] < '0' || descr[i] > '9') unsupported_dtype(where, descr, "bad item size");
    size = size * 10 + static_cast<std::size_t>(descr[i] - '0');
  }
  if (kind == 'f' && size == 2) unsupported_dtype(where, descr, "float16 arrays are not supported");
  const bool ok = kind == 'f'   ? size == 4 || size == 8
                  : kind == 'b' ? size == 1
                                : size == 1 || size == 2 || size == 4 || size == 8;
  if (!ok) unsupported_dtype(where, descr, "unsupported item size");
  if (order == '|' && size != 1)
    unsupported_dtype(where, descr, "byte order '|' on a multi-byte type");
  const bool file_big = order == '>';
  const bool host_big = std::endian::native == std::endian::big;
  DType t;
  t.kind = kind;
  t.size = size;
  t.swap = size > 1 && order != '=' && order != '|' && file_big != host_big;
  return t;
}

template <class Bits>
Bits load_bits(const u8* p, bool swap) {
  Bits v;
  std::memcpy(&v, p, sizeof v);
  if (swap) {
    Bits r = 0;
    for (std::size_t i = 0; i < sizeof v; ++i)
      r = static_cast<Bits>((r << 8) | ((v >> (8 * i)) & 0xFF));
    v = r;
  }
  return v;
}

// Converts n elements of type `t` at src to real.
void convert(const u8* src, std::size_t n, const DType& t, real* dst) {
  for (std::size_t i = 0; i < n; ++i, src += t.size) {
    switch (t.kind) {
      case 'f':
        dst[i] =
            t.size == 4
                ? static_cast<real>(std::bit_cast<float>(load_bits<std::uint32_t>(src, t.swap)))
                : static_cast<real>(std::bit_cast<double>(load_bits<std::uint64_t>(src, t.swap)));
        break;
      case 'b':
        dst[i] = src[0] != 0 ? real(1) : real(0);
        break;
      case 'u':
        switch (t.size) {
          case 1:
            dst[i] = static_cast<real>(src[0]);
            break;
          case 2:
            dst[i] = static_cast<real>(load_bits<std::uint16_t>(src, t.swap));
            break;
          case 4:
            dst[i] = static_cast<real>(load_bits<std::uint32_t>(src, t.swap));
            break;
          default:
            dst[i] = static_cast<real>(load_bits<std::uint64_t>(src, t.swap));
            break;
        }
        break;
      default:  // 'i'
        switch (t.size) {
          case 1:
            dst[i] = static_cast<real>(static_cast<std::int8_t>(src[0]));
            break;
          case 2:
            dst[i] =
                static_cast<real>(static_cast<std::int16_t>(load_bits<std::uint16_t>(src, t.swap)));
            break;
          case 4:
            dst[i] =
                static_cast<real>(static_cast<std::int32_t>(load_bits<std::uint32_t>(src, t.swap)));
            break;
          default:
            dst[i] =
                static_cast<real>(static_cast<std::int64_t>(load_bits<std::uint64_t>(src, t.swap)));
            break;
        }
        break;
    }
  }
}

// Row-major copy of an array stored in Fortran order: `src` holds it as the C-order array of the
// reversed shape, and out[i0, ..., in-1] = src[in-1, ..., i0].
Array from_fortran(const Array& src, const Shape& shape) {
  Array out = empty_array(shape);
  const std::size_t n = shape.size();
  const std::size_t total = out.size();
  std::vector<std::size_t> stride(n), idx(n, 0);
  for (std::size_t k = 0, s = 1; k < n; ++k) {
    stride[k] = s;
    s *= shape[k];
  }
  const real* in = src.data();
  real* dst = out.data();
  std::size_t off = 0;
  for (std::size_t k = 0; k < total; ++k) {
    dst[k] = in[off];
    for (std::size_t ax = n; ax-- > 0;) {
      if (++idx[ax] < shape[ax]) {
        off += stride[ax];
        break;
      }
      off -= stride[ax] * (shape[ax] - 1);
      idx[ax] = 0;
    }
  }
  return out;
}

// numpy's name of a dtype ("float32", "uint8", "bool", ...).
std::string dtype_name(const DType& t) {
  switch (t.kind) {
    case 'f':
      return "float" + std::to_string(8 * t.size);
    case 'i':
      return "int" + std::to_string(8 * t.size);
    case 'u':
      return "uint" + std::to_string(8 * t.size);
    default:
      return "bool";
  }
}

// Reads one .npy from `in`, which must hold exactly the .npy; `dtype` receives its dtype name.
Tensor read_npy(EntryReader& in, std::string& dtype) {
  const std::string& where = in.where();
  if (in.remaining() < kNpyMagicSize + 4) {
    fail(where, "too short for an .npy array (" + std::to_string(in.remaining()) + " bytes)");
  }
  u8 pre[kNpyMagicSize + 2];
  in.read(pre, sizeof pre);
  if (std::memcmp(pre, kNpyMagic, kNpyMagicSize) != 0) {
    fail(where, "bad .npy magic (not a NumPy .npy array)");
  }
  const int major = pre[6], minor = pre[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    fail(where, "unsupported .npy format version " + std::to_string(major) + "." +
                    std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  }
  std::uint64_t header_len;
  if (major == 1) {
    u8 b[2];
    in.read(b, 2);
    header_len = get16(b);
  } else {
    if (in.remaining() < 4) fail(where, "truncated .npy header");
    u8 b[4];
    in.read(b, 4);
    header_len = get32(b);
  }
  if (header_len > in.remaining()) {
    fail(where, "truncated .npy: header length " + std::to_string(header_len) + " exceeds the " +
                    std::to_string(in.remaining()) + " bytes left");
  }
  if (header_len > kMaxNpyHeader) {
    fail(where, "bad .npy header: implausible length " + std::to_string(header_len));
  }
  std::string text(static_cast<std::size_t>(header_len), '\0');
  in.read(text.data(), text.size());
  const NpyHeader h = HeaderParser(text, where).parse();
  const DType t = parse_descr(h.descr, where);

  // Element and byte counts, overflow-checked (every dimension counts, even next to a zero, so
  // that no stride computation can overflow either).
  constexpr std::uint64_t kLimit = std::uint64_t{1} << 60;
  std::uint64_t bound = 1, count = 1;
  for (std::size_t d : h.shape) {
    const std::uint64_t dim = d;
    if (dim > kLimit || std::max<std::uint64_t>(dim, 1) > kLimit / bound) {
      fail(where, "shape " + shape_to_string(h.shape) + " is too large");
    }
    bound *= std::max<std::uint64_t>(dim, 1);
    count *= dim;
  }
  const std::uint64_t bytes = count * t.size;  // < 2^63: count < 2^60, size <= 8
  if (bytes != in.remaining()) {
    fail(where, "shape " + shape_to_string(h.shape) + " of dtype " + quoted(h.descr) + " needs " +
                    std::to_string(bytes) + " bytes of data but " + std::to_string(in.remaining()) +
                    " follow the header (truncated or corrupt)");
  }

  Shape storage_shape = h.shape;
  const bool transpose = h.fortran_order && h.shape.size() > 1;
  if (transpose) std::reverse(storage_shape.begin(), storage_shape.end());
  Array a;
  try {
    a = empty_array(storage_shape);
  } catch (const std::bad_alloc&) {
    fail(where, "out of memory for an array of shape " + shape_to_string(h.shape));
  }
  const auto n = static_cast<std::size_t>(count);
  const bool direct = t.kind == 'f' && t.size == sizeof(real) && !t.swap;
  if (direct) {
    in.read(a.data(), n * sizeof(real));
  } else {
    std::vector<u8> buf(kChunkBytes);
    const std::size_t per_chunk = kChunkBytes / t.size;
    for (std::size_t done = 0; done < n;) {
      const std::size_t k = std::min(per_chunk, n - done);
      in.read(buf.data(), k * t.size);
      convert(buf.data(), k, t, a.data() + done);
      done += k;
    }
  }
  in.finish();
  if (transpose) a = from_fortran(a, h.shape);
  dtype = dtype_name(t);
  return Tensor(std::move(a));
}

// ---------------------------------------------------------------------------------------------
// Zip directory

struct ZipEntry {
  std::string member;  // name inside the zip, e.g. "dense/kernel.npy"
  std::uint16_t flags = 0;
  std::uint16_t method = 0;
  std::uint32_t crc = 0;
  std::uint64_t csize = 0;
  std::uint64_t usize = 0;
  std::uint64_t offset = 0;  // of the local header
};

struct ZipDirectory {
  std::vector<ZipEntry> entries;
  std::uint64_t cd_offset = 0;  // members must end before this
};

ZipDirectory read_zip_directory(const InFile& file) {
  const std::string& where = file.where();
  const std::uint64_t size = file.size();
  if (size == 0) fail(where, "empty file (0 bytes): not an .npz");

  // The EOCD record is the last 22 bytes plus a comment of up to 65535 bytes: search backwards
  // for a signature whose comment length ends exactly at the end of the file.
  const auto tail_len = static_cast<std::size_t>(std::min<std::uint64_t>(size, kEocdSize + 0xFFFF));
  std::vector<u8> tail(tail_len);
  file.read_at(size - tail_len, tail.data(), tail_len, "end of file");
  std::optional<std::size_t> found;
  for (std::size_t pos = tail_len >= kEocdSize ? tail_len - kEocdSize + 1 : 0; pos-- > 0;) {
    if (get32(&tail[pos]) == kEocdSig && pos + kEocdSize + get16(&tail[pos + 20]) == tail_len) {
      found = pos;
      break;
    }
  }
  if (!found) {
    u8 head[kNpyMagicSize] = {};
    const auto head_len = static_cast<std::size_t>(std::min<std::uint64_t>(size, kNpyMagicSize));
    file.read_at(0, head, head_len, "start of file");
    if (head_len == kNpyMagicSize && std::memcmp(head, kNpyMagic, kNpyMagicSize) == 0) {
      fail(where, "this is an .npy array file, not an .npz archive (use load_npy)");
    }
    if (head_len >= 4 && get32(head) == kLocalSig) {
      fail(where,
           "truncated or corrupt zip: no end-of-central-directory record (the central "
           "directory is missing)");
    }
    fail(where, "not an .npz (zip) file, or truncated: no end-of-central-directory record");
  }
  const std::uint64_t eocd_pos = size - tail_len + *found;
  const u8* e = &tail[*found];
  std::uint64_t disk = get16(e + 4), cd_disk = get16(e + 6), n_disk = get16(e + 8);
  std::uint64_t n_total = get16(e + 10), cd_size = get32(e + 12), cd_offset = get32(e + 16);
  std::uint64_t cd_end = eocd_pos;

  // zip64: a locator right before the EOCD points at the zip64 EOCD record.
  if (eocd_pos >= kZip64LocatorSize) {
    u8 loc[kZip64LocatorSize];
    const std::uint64_t loc_pos = eocd_pos - kZip64LocatorSize;
    file.read_at(loc_pos, loc, sizeof loc, "zip64 end-of-central-directory locator");
    if (get32(loc) == kZip64LocatorSig) {
      const std::uint64_t rec_pos = get64(loc + 8);
      if (get32(loc + 4) != 0 || get32(loc + 16) > 1) {
        fail(where, "multi-disk (split) zip archives are not supported");
      }
      if (rec_pos > loc_pos || loc_pos - rec_pos < kZip64EocdSize) {
        fail(where, "corrupt zip64 locator: record offset " + std::to_string(rec_pos) +
                        " is not before the locator at " + std::to_string(loc_pos));
      }
      u8 rec[kZip64EocdSize];
      file.read_at(rec_pos, rec, sizeof rec, "zip64 end-of-central-directory record");
      if (get32(rec) != kZip64EocdSig) {
        fail(where, "corrupt zip: bad zip64 end-of-central-directory signature at offset " +
                        std::to_string(rec_pos));
      }
      // "size of record" excludes its first 12 bytes; it may be followed by an extensible
      // data sector, but must end at the locator.
      if (get64(rec + 4) != loc_pos - rec_pos - 12) {
        fail(where,
             "corrupt zip64 end-of-central-directory record: its size does not reach the "
             "locator");
      }
      disk = get32(rec + 16);
      cd_disk = get32(rec + 20);
      n_disk = get64(rec + 24);
      n_total = get64(rec + 32);
      cd_size = get64(rec + 40);
      cd_offset = get64(rec + 48);
      cd_end = rec_pos;
    }
  }
  if (disk != 0 || cd_disk != 0 || n_disk != n_total) {
    fail(where, "multi-disk (split) zip archives are not supported");
  }
  if (cd_offset > cd_end || cd_size != cd_end - cd_offset) {
    fail(where, "truncated or corrupt zip: the central directory (offset " +
                    std::to_string(cd_offset) + ", " + std::to_string(cd_size) +
                    " bytes) does not end where the end record starts (offset " +
                    std::to_string(cd_end) + ")");
  }
  if (n_total > cd_size / kCentralHeaderSize) {
    fail(where, "corrupt zip: " + std::to_string(n_total) + " entries cannot fit in a " +
                    std::to_string(cd_size) + "-byte central directory");
  }
  std::vector<u8> cd(static_cast<std::size_t>(cd_size));
  file.read_at(cd_offset, cd.data(), cd.size(), "central directory");

  ZipDirectory dir;
  dir.cd_offset = cd_offset;
  dir.entries.reserve(static_cast<std::size_t>(n_total));
  std::size_t p = 0;
  for (std::uint64_t i = 0; i < n_total; ++i) {
    const std::string entry_no = "central directory entry " + std::to_string(i);
    if (cd.size() - p < kCentralHeaderSize || get32(&cd[p]) != kCentralSig) {
      fail(where, "corrupt zip: bad " + entry_no + " at offset " + std::to_string(cd_offset + p));
    }
    const u8* c = &cd[p];
    ZipEntry z;
    z.flags = get16(c + 8);
    z.method = get16(c + 10);
    z.crc = get32(c + 16);
    const std::uint32_t csize32 = get32(c + 20), usize32 = get32(c + 24);
    const std::size_t name_len = get16(c + 28), extra_len = get16(c + 30),
                      comment_len = get16(c + 32);
    const std::uint16_t disk16 = get16(c + 34);
    const std::uint32_t offset32 = get32(c + 42);
    if (cd.size() - p - kCentralHeaderSize < name_len + extra_len + comment_len) {
      fail(where, "corrupt zip: " + entry_no + " runs past the end of the central directory");
    }
    const u8* name = c + kCentralHeaderSize;
    z.member.assign(reinterpret_cast<const char*>(name), name_len);
    z.csize = csize32;
    z.usize = usize32;
    z.offset = offset32;
    std::uint64_t entry_disk = disk16;
    // zip64 extra field (id 1): the 64-bit values of the fields set to 0xFFFFFFFF, in order.
    const bool need_u = usize32 == kMax32, need_c = csize32 == kMax32;
    const bool need_o = offset32 == kMax32, need_d = disk16 == kMax16;
    bool have_zip64 = false;
    const u8* x = name + name_len;
    const u8* x_end = x + extra_len;
    while (x_end - x >= 4) {
      const std::uint16_t id = get16(x);
      const std::size_t len = get16(x + 2);
      if (static_cast<std::size_t>(x_end - x - 4) < len) {
        fail(where, "corrupt zip: malformed extra field in " + entry_no);
      }
      if (id == 1 && !have_zip64) {
        have_zip64 = true;
        const std::size_t need = 8 * (need_u + need_c + need_o) + 4 * need_d;
        if (len < need) fail(where, "corrupt zip: zip64 extra field too short in " + entry_no);
        const u8* v = x + 4;
        if (need_u) z.usize = get64(v), v += 8;
        if (need_c) z.csize = get64(v), v += 8;
        if (need_o) z.offset = get64(v), v += 8;
        if (need_d) entry_disk = get32(v);
      }
      x += 4 + len;
    }
    if ((need_u || need_c || need_o || need_d) && !have_zip64) {
      fail(where, "corrupt zip: " + entry_no + " lacks its zip64 extra field");
    }
    if (entry_disk != 0) fail(where, "multi-disk (split) zip archives are not supported");
    dir.entries.push_back(std::move(z));
    p += kCentralHeaderSize + name_len + extra_len + comment_len;
  }
  if (p != cd.size()) {
    fail(where, "corrupt zip: " + std::to_string(cd.size() - p) +
                    " unexpected bytes after the last central directory entry");
  }
  return dir;
}

// Offset of a member's data, after checking its local header against the central directory.
std::uint64_t member_data_offset(const InFile& file, const ZipDirectory& dir, const ZipEntry& z,
                                 const std::string& where) {
  if (z.offset > dir.cd_offset || dir.cd_offset - z.offset < kLocalHeaderSize) {
    fail(where, "corrupt zip: local header offset " + std::to_string(z.offset) +
                    " is not before the central directory (offset " +
                    std::to_string(dir.cd_offset) + ")");
  }
  u8 h[kLocalHeaderSize];
  file.read_at(z.offset, h, sizeof h, "local header");
  if (get32(h) != kLocalSig) {
    fail(where, "corrupt zip: no local file header at offset " + std::to_string(z.offset));
  }
  const std::size_t name_len = get16(h + 26), extra_len = get16(h + 28);
  const std::uint64_t data = z.offset + kLocalHeaderSize + name_len + extra_len;
  if (data > dir.cd_offset) {
    fail(where, "corrupt zip: local header at offset " + std::to_string(z.offset) +
                    " runs into the central directory");
  }
  std::string name(name_len, '\0');
  file.read_at(z.offset + kLocalHeaderSize, name.data(), name_len, "local header name");
  if (name != z.member) {
    fail(where, "corrupt zip: local header name " + quoted(name) +
                    " differs from the central directory's");
  }
  if (get16(h + 8) != z.method || (get16(h + 6) & 0x41) != (z.flags & 0x41)) {
    fail(where, "corrupt zip: local header method/flags differ from the central directory's");
  }
  if (z.csize > dir.cd_offset - data) {
    fail(where, "truncated or corrupt zip: member data (offset " + std::to_string(data) + ", " +
                    std::to_string(z.csize) + " bytes) runs past the central directory (offset " +
                    std::to_string(dir.cd_offset) + ")");
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// Writing

// A temporary file next to `path`, renamed over it by commit() and removed otherwise.
class OutFile {
 public:
  OutFile(const std::string& path, std::string where) : path_(path), where_(std::move(where)) {
    static std::atomic<unsigned> counter{0};
    for (int attempt = 0;; ++attempt) {
      tmp_ = path + ".tmp" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
      f_ = std::fopen(tmp_.c_str(), "wbx");  // "x": fails rather than reuse an existing file
      if (f_) break;
      const int err = errno;
      if (err != EEXIST || attempt > 100) {
        fail(where_, "cannot create the temporary file " + quoted(tmp_) + ": " + errno_text(err));
      }
    }
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  }
  ~OutFile() {
    if (f_) std::fclose(f_);
    if (!committed_) std::remove(tmp_.c_str());
  }
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;

  const std::string& where() const { return where_; }
  std::uint64_t pos() const { return pos_; }

  void write(const void* p, std::size_t n) {
    if (n > 0 && std::fwrite(p, 1, n, f_) != n) io_error(errno, "write failed");
    pos_ += n;
  }
  void write(const std::string& s) { write(s.data(), s.size()); }

  // Flushes, syncs and closes the temporary file, then renames it over the target.
  void commit() {
    if (std::fflush(f_) != 0) io_error(errno, "write failed");
    if (::fsync(::fileno(f_)) != 0) io_error(errno, "fsync failed");
    FILE* f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) io_error(errno, "close failed");
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const int err = errno;
      io_error(err, "cannot rename " + quoted(tmp_) + " into place");
    }
    committed_ = true;
    // Make the rename itself durable (best effort: some file systems refuse to sync a dir).
    const auto slash = path_.rfind('/');
    const std::string dir = slash == std::string::npos ? "."
                            : slash == 0               ? "/"
                                                       : path_.substr(0, slash);
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }

 private:
  // `err` is errno, read right after the failing call (before any allocation can change it).
  [[noreturn]] void io_error(int err, const std::string& what) {
    fail(where_, what + ": " + errno_text(err));
  }

  std::string path_, tmp_, where_;
  FILE* f_ = nullptr;
  std::uint64_t pos_ = 0;
  bool committed_ = false;
};

// The .npy header of a float32 C-order array of `shape`, as numpy writes it.
std::string npy_header(const Shape& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) dict += ", ";
    dict += std::to_string(shape[i]);
  }
  dict += shape.size() == 1 ? ",), }" : "), }";
  // Pad with spaces and end with '\n' so that the data starts at a multiple of 64 bytes.
  std::size_t prefix = kNpyMagicSize + 2 + 2;
  bool v2 = false;
  auto padded = [&] { return dict.size() + 1 + (64 - (prefix + dict.size() + 1) % 64) % 64; };
  if (padded() > kMax16) {
    v2 = true;
    prefix += 2;
  }
  const std::size_t len = padded();
  std::string out(kNpyMagic, kNpyMagicSize);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  if (v2) {
    put32(out, static_cast<std::uint32_t>(len));
  } else {
    put16(out, static_cast<std::uint16_t>(len));
  }
  out += dict;
  out.append(len - dict.size() - 1, ' ');
  out += '\n';
  return out;
}

// Calls fn(bytes, n) on the little-endian float32 bytes of `t`, in chunks.
template <class Fn>
void for_each_f32_chunk(const Tensor& t, Fn&& fn) {
  const real* p = t.data();
  const std::size_t n = t.size();
  if constexpr (std::is_same_v<real, float> && std::endian::native == std::endian::little) {
    for (std::size_t i = 0; i < n; i += kChunkBytes * 64) {
      const std::size_t k = std::min(kChunkBytes * 64, n - i);
      fn(p + i, k * sizeof(float));
    }
  } else {
    std::vector<std::uint32_t> buf(kChunkBytes / 4);
    for (std::size_t i = 0; i < n;) {
      const std::size_t k = std::min(buf.size(), n - i);
      for (std::size_t j = 0; j < k; ++j) {
        std::uint32_t bits = std::bit_cast<std::uint32_t>(static_cast<float>(p[i + j]));
        if constexpr (std::endian::native == std::endian::big) {
          bits = (bits >> 24) | ((bits >> 8) & 0xFF00) | ((bits << 8) & 0xFF0000) | (bits << 24);
        }
        buf[j] = bits;
      }
      fn(buf.data(), k * 4);
      i += k;
    }
  }
}

void check_defined(const Tensor& t, const std::string& where, const std::string& what) {
  if (!t.defined()) throw std::invalid_argument(where + ": " + what + " is an undefined Tensor");
}

void write_npz(const std::string& path, const NamedTensors& arrays, bool force_zip64,
               const char* fn) {
  const std::string where = where_of(fn, path);
  std::unordered_set<std::string_view> seen;
  for (const auto& [name, tensor] : arrays) {
    if (const std::string problem = name_problem(name); !problem.empty()) {
      throw std::invalid_argument(where + ": array name " + quoted(name) + " " + problem +
                                  " (names must be non-empty relative paths without '.' or '..' "
                                  "components)");
    }
    if (!seen.insert(name).second) {
      throw std::invalid_argument(where + ": duplicate array name " + quoted(name));
    }
    check_defined(tensor, where, "array " + quoted(name));
  }

  struct Written {
    std::string member;
    std::uint16_t flags;
    std::uint32_t crc;
    std::uint64_t size, offset;
  };
  std::vector<Written> written;
  written.reserve(arrays.size());
  OutFile out(path, where);
  for (const auto& [name, tensor] : arrays) {
    Written w;
    w.member = name + ".npy";
    w.flags = needs_utf8_flag(name) ? 0x0800 : 0;  // bit 11: the name is UTF-8
    const std::string header = npy_header(tensor.shape());
    w.size = header.size() + std::uint64_t{4} * tensor.size();
    w.crc = crc_update(0, header.data(), header.size());
    for_each_f32_chunk(tensor,
                       [&](const void* p, std::size_t n) { w.crc = crc_update(w.crc, p, n); });
    w.offset = out.pos();
    const bool zip64 = force_zip64 || w.size >= kMax32;
    std::string local;
    put32(local, kLocalSig);
    put16(local, zip64 ? 45 : 20);  // version needed: 4.5 for zip64, else 2.0
    put16(local, w.flags);
    put16(local, 0);  // stored
    put16(local, 0);  // time 00:00
    put16(local, kDosDate);
    put32(local, w.crc);
    put32(local, zip64 ? kMax32 : static_cast<std::uint32_t>(w.size));  // compressed size
    put32(local, zip64 ? kMax32 : static_cast<std::uint32_t>(w.size));  // uncompressed size
    put16(local, static_cast<std::uint16_t>(w.member.size()));
    put16(local, zip64 ? 20 : 0);
    local += w.member;
    if (zip64) {
      put16(local, 1);
      put16(local, 16);
      put64(local, w.size);
      put64(local, w.size);
    }
    out.write(local);
    out.write(header);
    for_each_f32_chunk(tensor, [&](const void* p, std::size_t n) { out.write(p, n); });
    written.push_back(std::move(w));
  }

  const std::uint64_t cd_offset = out.pos();
  for (const Written& w : written) {
    const bool big_size = force_zip64 || w.size >= kMax32;
    const bool big_offset = force_zip64 || w.offset >= kMax32;
    std::string extra;
    if (big_size || big_offset) {
      put16(extra, 1);
      put16(extra, static_cast<std::uint16_t>(8 * (2 * big_size + big_offset)));
      if (big_size) {
        put64(extra, w.size);
        put64(extra, w.size);
      }
      if (big_offset) put64(extra, w.offset);
    }
    const std::uint16_t version = big_size || big_offset ? 45 : 20;
    std::string c;
    put32(c, kCentralSig);
    put16(c, static_cast<std::uint16_t>((3 << 8) | 45));  // made by: Unix, zip 4.5
    put16(c, version);
    put16(c, w.flags);
    put16(c, 0);  // stored
    put16(c, 0);
    put16(c, kDosDate);
    put32(c, w.crc);
    put32(c, big_size ? kMax32 : static_cast<std::uint32_t>(w.size));
    put32(c, big_size ? kMax32 : static_cast<std::uint32_t>(w.size));
    put16(c, static_cast<std::uint16_t>(w.member.size()));
    put16(c, static_cast<std::uint16_t>(extra.size()));
    put16(c, 0);               // comment length
    put16(c, 0);               // disk
    put16(c, 0);               // internal attributes
    put32(c, 0100644u << 16);  // external attributes: regular file, rw-r--r--
    put32(c, big_offset ? kMax32 : static_cast<std::uint32_t>(w.offset));
    c += w.member;
    c += extra;
    out.write(c);
  }
  const std::uint64_t cd_size = out.pos() - cd_offset;
  const std::uint64_t n = written.size();
  const bool zip64_end = force_zip64 || n >= kMax16 || cd_size >= kMax32 || cd_offset >= kMax32;
  std::string end;
  if (zip64_end) {
    const std::uint64_t record = out.pos();
    put32(end, kZip64EocdSig);
    put64(end, kZip64EocdSize - 12);
    put16(end, static_cast<std::uint16_t>((3 << 8) | 45));
    put16(end, 45);
    put32(end, 0);  // this disk
    put32(end, 0);  // disk of the central directory
    put64(end, n);
    put64(end, n);
    put64(end, cd_size);
    put64(end, cd_offset);
    put32(end, kZip64LocatorSig);
    put32(end, 0);
    put64(end, record);
    put32(end, 1);  // total disks
  }
  put32(end, kEocdSig);
  put16(end, 0);
  put16(end, 0);
  put16(end, zip64_end ? kMax16 : static_cast<std::uint16_t>(n));
  put16(end, zip64_end ? kMax16 : static_cast<std::uint16_t>(n));
  put32(end, zip64_end ? kMax32 : static_cast<std::uint32_t>(cd_size));
  put32(end, zip64_end ? kMax32 : static_cast<std::uint32_t>(cd_offset));
  put16(end, 0);  // comment length
  out.write(end);
  out.commit();
}

// Called when decoding a member failed. The CRC is only known once the whole member is read,
// so a corrupt byte usually surfaces first as a bad header or size; if the member's CRC-32 is
// wrong, say so (the file is corrupt), else rethrow the original error.
[[noreturn]] void fail_with_crc_hint(const InFile& file, const ZipEntry& z, std::uint64_t data,
                                     const std::string& entry, const std::runtime_error& error) {
  std::optional<std::uint32_t> actual;
  try {
    EntryReader reader(file, entry, data, z.csize, z.usize, z.method == 8);
    std::vector<u8> buf(kChunkBytes);
    while (reader.remaining() > 0) {
      reader.read(buf.data(), static_cast<std::size_t>(
                                  std::min<std::uint64_t>(buf.size(), reader.remaining())));
    }
    reader.finish();
    actual = reader.crc();
  } catch (const std::runtime_error&) {
    // Not even decodable as a whole: the first error is the better description.
  }
  if (actual && *actual != z.crc) {
    std::string_view first = error.what();
    if (first.starts_with(entry + ": ")) first.remove_prefix(entry.size() + 2);
    fail(entry, "CRC-32 mismatch: data has " + hex32(*actual) + ", the zip directory says " +
                    hex32(z.crc) + " (corrupt file; decoding failed with: " + std::string(first) +
                    ")");
  }
  throw error;
}

}  // namespace

void save_npz(const std::string& path, const NamedTensors& arrays) {
  write_npz(path, arrays, false, "save_npz");
}

namespace detail {
void save_npz_force_zip64(const std::string& path, const NamedTensors& arrays) {
  write_npz(path, arrays, true, "save_npz");
}
}  // namespace detail

NamedTensors load_npz(const std::string& path, NpzDtypes* dtypes) {
  const InFile file(path, where_of("load_npz", path));
  const std::string& where = file.where();
  const ZipDirectory dir = read_zip_directory(file);

  // Names first: every problem that needs no data reading is reported before any is read.
  std::unordered_set<std::string_view> seen;
  for (const ZipEntry& z : dir.entries) {
    const std::string entry = where + ": entry " + quoted(z.member);
    constexpr std::string_view kExt = ".npy";
    if (z.member.size() < kExt.size() || z.member.compare(z.member.size() - 4, 4, kExt) != 0) {
      fail(entry, "not an .npy array (the name does not end in \".npy\")");
    }
    const std::string_view name(z.member.data(), z.member.size() - kExt.size());
    if (const std::string problem = name_problem(name); !problem.empty()) {
      fail(entry, "invalid array name: it " + problem);
    }
    if (!seen.insert(name).second) fail(entry, "duplicate array name");
    if (z.flags & 0x2041) fail(entry, "encrypted zip entries are not supported");
    if (z.method != 0 && z.method != 8) {
      fail(entry, "unsupported compression method " + std::to_string(z.method) +
                      " (supported: 0 stored, 8 deflate)");
    }
    if (z.method == 0 && z.csize != z.usize) {
      fail(entry, "corrupt zip: a stored entry's compressed and uncompressed sizes differ (" +
                      std::to_string(z.csize) + " vs " + std::to_string(z.usize) + ")");
    }
  }

  NamedTensors out;
  NpzDtypes types;
  out.reserve(dir.entries.size());
  types.reserve(dir.entries.size());
  for (const ZipEntry& z : dir.entries) {
    const std::string entry = where + ": entry " + quoted(z.member);
    const std::uint64_t data = member_data_offset(file, dir, z, entry);
    Tensor t;
    std::string dtype;
    std::uint32_t crc = 0;
    try {
      EntryReader reader(file, entry, data, z.csize, z.usize, z.method == 8);
      t = read_npy(reader, dtype);
      crc = reader.crc();
    } catch (const std::runtime_error& e) {
      fail_with_crc_hint(file, z, data, entry, e);
    }
    if (crc != z.crc) {
      fail(entry, "CRC-32 mismatch: data has " + hex32(crc) + ", the zip directory says " +
                      hex32(z.crc) + " (corrupt file)");
    }
    out.emplace_back(z.member.substr(0, z.member.size() - 4), std::move(t));
    types.push_back(std::move(dtype));
  }
  if (dtypes) *dtypes = std::move(types);
  return out;
}

void save_npy(const std::string& path, const Tensor& t) {
  const std::string where = where_of("save_npy", path);
  check_defined(t, where, "the tensor");
  OutFile out(path, where);
  out.write(npy_header(t.shape()));
  for_each_f32_chunk(t, [&](const void* p, std::size_t n) { out.write(p, n); });
  out.commit();
}

Tensor load_npy(const std::string& path, std::string* dtype) {
  const InFile file(path, where_of("load_npy", path));
  if (file.size() >= 4) {
    u8 head[4];
    file.read_at(0, head, 4, "start of file");
    if (get32(head) == kLocalSig || get32(head) == kEocdSig) {
      fail(file.where(), "this is a zip (.npz) archive, not an .npy array (use load_npz)");
    }
  }
  EntryReader reader(file, file.where(), 0, file.size(), file.size(), false);
  std::string type;
  Tensor t = read_npy(reader, type);
  if (dtype) *dtype = std::move(type);
  return t;
}

}  // namespace xgrad
