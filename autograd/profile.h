#pragma once
/// \file
/// A per-op profile without a profiler. Set `XGRAD_PROFILE=1` in the environment and every
/// program prints, at exit (to stderr), each op's call count, total wall time, mean time and
/// share of the profiled time, forward and backward separately, plus the optimizer updates:
///
/// \code
///   XGRAD_PROFILE=1 build/float/bench/siamese_step --model small
/// \endcode
///
/// Only the outermost op of a call is timed: the ops a backward function or a composite op
/// calls are part of its time, not entries of their own, so the shares add up to 100% of
/// the profiled time. Timing is wall-clock on the calling thread (an op's parallel loops are
/// inside its time). Disabled, a scope costs one predictable branch.

#include <cstdint>
#include <iosfwd>

namespace xgrad {

/// True when XGRAD_PROFILE is set to a non-empty value other than "0" (read once), or after
/// set_profiling(true).
bool profiling_enabled();
/// Turns profiling on or off from code (e.g. around the steps a benchmark times).
void set_profiling(bool enabled);
/// Forgets what has been measured so far (e.g. after warm-up steps).
void reset_profile();
/// Writes the table: op, phase, calls, total ms, mean µs, share %, sorted by total time.
void print_profile(std::ostream& os);

namespace detail {

/// What a profiled span is.
enum class ProfilePhase : std::uint8_t { Forward, Backward, Update };

/// Times its lifetime under `name` (a string literal or other storage that outlives the
/// program's profile) when profiling is on and no other scope is open on this thread.
class ProfileScope {
 public:
  explicit ProfileScope(const char* name, ProfilePhase phase = ProfilePhase::Forward) {
    if (profiling_enabled()) begin(name, phase);
  }
  ~ProfileScope() {
    if (active_) end();
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  void begin(const char* name, ProfilePhase phase);
  void end();
  const char* name_ = nullptr;
  ProfilePhase phase_ = ProfilePhase::Forward;
  bool active_ = false;
  bool outermost_ = false;
  std::int64_t start_ns_ = 0;
};

}  // namespace detail
}  // namespace xgrad
