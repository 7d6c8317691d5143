#pragma once
/// \file
/// Small output helpers of the training run: atomic text files, a JSON writer, and the
/// terminal progress line.

#include <chrono>
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

namespace xgrad::siamese {

/// Writes `content` to a temporary file beside `path` and renames it into place: readers
/// see the old file or the new one, never a partial one. Throws std::runtime_error naming
/// `path` on failure (and removes the temporary file).
void write_text_atomic(const std::string& path, const std::string& content);

/// A minimal JSON writer: objects, arrays, strings (escaped), numbers, booleans.
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(const std::string& k);
  JsonWriter& value(const std::string& v);
  JsonWriter& value(const char* v) { return value(std::string(v)); }
  JsonWriter& value(double v);  ///< NaN/Inf are written as null (JSON has no such numbers)
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(std::size_t v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(int v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(bool v);
  std::string str() const { return out_.str() + "\n"; }

 private:
  void separate();
  std::ostringstream out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

/// "1:05" / "12s" style durations.
std::string format_duration(double seconds);

/// One line of progress per training epoch: a bar, pairs/s, running loss and ETA, redrawn in
/// place on a terminal; on a pipe or file, a plain line every tenth of the epoch.
class ProgressLine {
 public:
  ProgressLine(std::string label, std::size_t total_steps, std::size_t pairs_per_step, bool enabled);
  /// After step `done` (1-based) with the running mean loss.
  void update(std::size_t done, double mean_loss);
  /// Ends the line with a final summary.
  void finish(const std::string& summary);
  double seconds() const;

 private:
  std::string label_;
  std::size_t total_, per_step_;
  bool enabled_, tty_;
  std::size_t last_decile_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace xgrad::siamese
