#include "autograd/profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace xgrad {

namespace {

struct Entry {
  std::uint64_t calls = 0;
  std::int64_t total_ns = 0;
};

struct Profile {
  std::mutex mutex;
  // Keyed by (name, phase); names are compared as strings (the same literal may have
  // several addresses across translation units).
  std::map<std::pair<std::string, detail::ProfilePhase>, Entry> entries;
};

Profile& profile() {
  static Profile* p = new Profile;  // never destroyed: ops may run during static destruction
  return *p;
}

bool env_enabled() {
  const char* v = std::getenv("XGRAD_PROFILE");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

// Prints the profile at exit when it was enabled by the environment.
struct ExitReport {
  ~ExitReport() {
    if (env_enabled()) print_profile(std::cerr);
  }
};

std::atomic<bool>& enabled_flag() {
  static std::atomic<bool> flag{env_enabled()};
  static ExitReport report;  // constructed after the flag, so destroyed before it
  return flag;
}

thread_local int open_scopes = 0;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* phase_name(detail::ProfilePhase phase) {
  switch (phase) {
    case detail::ProfilePhase::Forward: return "forward";
    case detail::ProfilePhase::Backward: return "backward";
    case detail::ProfilePhase::Update: return "update";
  }
  return "?";
}

}  // namespace

bool profiling_enabled() { return enabled_flag().load(std::memory_order_relaxed); }

void set_profiling(bool enabled) { enabled_flag().store(enabled, std::memory_order_relaxed); }

void reset_profile() {
  Profile& p = profile();
  const std::lock_guard<std::mutex> lock(p.mutex);
  p.entries.clear();
}

void print_profile(std::ostream& os) {
  Profile& p = profile();
  std::vector<std::pair<std::pair<std::string, detail::ProfilePhase>, Entry>> rows;
  {
    const std::lock_guard<std::mutex> lock(p.mutex);
    rows.assign(p.entries.begin(), p.entries.end());
  }
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.total_ns > b.second.total_ns; });
  std::int64_t total = 0;
  for (const auto& row : rows) total += row.second.total_ns;
  char line[256];
  std::snprintf(line, sizeof line, "xgrad profile: %.1f ms in ops and updates\n",
                static_cast<double>(total) * 1e-6);
  os << line;
  std::snprintf(line, sizeof line, "%-28s %-9s %9s %11s %11s %7s\n", "op", "phase", "calls",
                "total ms", "mean us", "share");
  os << line;
  for (const auto& [key, e] : rows) {
    std::snprintf(line, sizeof line, "%-28s %-9s %9llu %11.2f %11.1f %6.1f%%\n", key.first.c_str(),
                  phase_name(key.second), static_cast<unsigned long long>(e.calls),
                  static_cast<double>(e.total_ns) * 1e-6,
                  e.calls ? static_cast<double>(e.total_ns) * 1e-3 / static_cast<double>(e.calls) : 0.0,
                  total ? 100.0 * static_cast<double>(e.total_ns) / static_cast<double>(total) : 0.0);
    os << line;
  }
  os.flush();
}

namespace detail {

void ProfileScope::begin(const char* name, ProfilePhase phase) {
  active_ = true;
  outermost_ = open_scopes++ == 0;
  if (!outermost_) return;
  name_ = name;
  phase_ = phase;
  start_ns_ = now_ns();
}

void ProfileScope::end() {
  --open_scopes;
  if (!outermost_) return;
  const std::int64_t elapsed = now_ns() - start_ns_;
  Profile& p = profile();
  const std::lock_guard<std::mutex> lock(p.mutex);
  Entry& e = p.entries[{name_, phase_}];
  ++e.calls;
  e.total_ns += elapsed;
}

}  // namespace detail
}  // namespace xgrad
