#include "siamese/report.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <stdexcept>

namespace xgrad::siamese {

void write_text_atomic(const std::string& path, const std::string& content) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  // Built by appending: GCC 12 warns (-Wrestrict, a false positive) on "." + std::string.
  std::string name = ".";
  name += target.filename().string();
  name += ".tmp";
  name += std::to_string(::getpid());
  const fs::path tmp = target.parent_path() / name;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(path + ": cannot write (cannot create " + tmp.string() + ")");
    out << content;
    out.flush();
    if (!out) {
      out.close();
      std::error_code ec;
      fs::remove(tmp, ec);
      throw std::runtime_error(path + ": write failed");
    }
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error(path + ": cannot replace the file (" + ec.message() + ")");
  }
}

void JsonWriter::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ << ",";
    first_.back() = false;
    out_ << "\n" << std::string(2 * first_.size(), ' ');
  }
}

JsonWriter& JsonWriter::begin_object() {
  separate();
  out_ << "{";
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  separate();
  out_ << "[";
  first_.push_back(true);
  return *this;
}

namespace {
void close_container(std::ostringstream& out, std::vector<bool>& first, char bracket) {
  const bool empty = first.back();
  first.pop_back();
  if (!empty) out << "\n" << std::string(2 * first.size(), ' ');
  out << bracket;
}
}  // namespace

JsonWriter& JsonWriter::end_object() {
  close_container(out_, first_, '}');
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  close_container(out_, first_, ']');
  return *this;
}

JsonWriter& JsonWriter::key(const std::string& k) {
  value(k);
  out_ << ": ";
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(const std::string& v) {
  separate();
  out_ << '"';
  for (unsigned char c : v) {
    switch (c) {
      case '"': out_ << "\\\""; break;
      case '\\': out_ << "\\\\"; break;
      case '\n': out_ << "\\n"; break;
      case '\r': out_ << "\\r"; break;
      case '\t': out_ << "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out_ << buf;
        } else {
          out_ << static_cast<char>(c);  // UTF-8 bytes pass through
        }
    }
  }
  out_ << '"';
  return *this;
}

JsonWriter& JsonWriter::value(double v) {
  separate();
  if (!std::isfinite(v)) {
    out_ << "null";
  } else {
    std::ostringstream num;
    num << std::setprecision(10) << v;
    out_ << num.str();
  }
  return *this;
}

JsonWriter& JsonWriter::value(std::int64_t v) {
  separate();
  out_ << v;
  return *this;
}

JsonWriter& JsonWriter::value(bool v) {
  separate();
  out_ << (v ? "true" : "false");
  return *this;
}

std::string format_duration(double seconds) {
  const long total = std::lround(std::max(0.0, seconds));
  std::ostringstream os;
  if (total >= 3600) {
    os << total / 3600 << ":" << std::setw(2) << std::setfill('0') << (total / 60) % 60 << ":" << std::setw(2) << total % 60;
  } else if (total >= 60) {
    os << total / 60 << ":" << std::setw(2) << std::setfill('0') << total % 60;
  } else {
    os << total << "s";
  }
  return os.str();
}

ProgressLine::ProgressLine(std::string label, std::size_t total_steps, std::size_t pairs_per_step, bool enabled)
    : label_(std::move(label)),
      total_(std::max<std::size_t>(total_steps, 1)),
      per_step_(pairs_per_step),
      enabled_(enabled),
      tty_(enabled && ::isatty(fileno(stdout))),
      start_(std::chrono::steady_clock::now()) {}

double ProgressLine::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressLine::update(std::size_t done, double mean_loss) {
  if (!enabled_) return;
  const std::size_t decile = done * 10 / total_;
  if (!tty_ && (decile == last_decile_ || done == total_)) return;
  last_decile_ = decile;
  const double elapsed = seconds();
  const double rate = static_cast<double>(done * per_step_) / std::max(elapsed, 1e-9);
  const double eta = static_cast<double>((total_ - done) * per_step_) / std::max(rate, 1e-9);
  std::ostringstream line;
  line << label_ << " ";
  if (tty_) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * done / total_);
    line << "[" << std::string(filled, '=') << (filled < kWidth ? ">" : "") << std::string(std::max(0, kWidth - filled - 1), ' ') << "] ";
  }
  line << std::setw(3) << done * 100 / total_ << "%  " << std::fixed << std::setprecision(0) << rate
       << " pairs/s  loss " << std::setprecision(4) << mean_loss << "  ETA " << format_duration(eta);
  if (tty_) std::cout << "\r" << line.str() << "\033[K" << std::flush;
  else std::cout << line.str() << "\n" << std::flush;
}

void ProgressLine::finish(const std::string& summary) {
  if (!enabled_) return;
  if (tty_) std::cout << "\r" << label_ << " " << summary << "\033[K\n" << std::flush;
  else std::cout << label_ << " " << summary << "\n" << std::flush;
}

}  // namespace xgrad::siamese
