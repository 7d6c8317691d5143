// The caching allocator behind Array (see autograd/memory.h).
//
// Size classes: a request of `bytes` is rounded up to a multiple of 64 KiB below 2 MiB, and
// of 2 MiB from there on; free blocks wait in one list per class. Blocks of 2 MiB and more
// are mmap-ed at a 2 MiB boundary and advised as huge pages; smaller cached blocks come from
// aligned_alloc. Everything is under one mutex: allocations are per op, not per element.

#include "autograd/memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define XGRAD_BYPASS_CACHE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XGRAD_BYPASS_CACHE 1
#endif
#endif

namespace xgrad {

namespace {

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kSmallLimit = std::size_t{256} << 10;  // below: plain malloc
constexpr std::size_t kMediumGrain = std::size_t{64} << 10;
constexpr std::size_t kHuge = std::size_t{2} << 20;          // huge-page size and grain

std::size_t round_up(std::size_t n, std::size_t grain) { return (n + grain - 1) / grain * grain; }

std::size_t size_class(std::size_t bytes) {
  return bytes < kHuge ? round_up(bytes, kMediumGrain) : round_up(bytes, kHuge);
}

// A fresh block of `size` bytes (a size class), or nullptr when the system refuses.
void* system_allocate(std::size_t size) {
  if (size < kHuge) return std::aligned_alloc(kAlignment, size);
  // Over-map by one huge page, then unmap the head and tail so the block starts on a 2 MiB
  // boundary: only aligned 2 MiB ranges can become huge pages.
  const std::size_t mapped = size + kHuge;
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = round_up(start, kHuge);
  if (aligned > start) munmap(raw, aligned - start);
  const std::uintptr_t tail = aligned + size, end = start + mapped;
  if (end > tail) munmap(reinterpret_cast<void*>(tail), end - tail);
  madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);  // advice: failure is harmless
  return reinterpret_cast<void*>(aligned);
}

void system_free(void* p, std::size_t size) {
  if (size < kHuge) {
    std::free(p);
  } else {
    munmap(p, size);
  }
}

struct Cache {
  std::mutex mutex;
  std::map<std::size_t, std::vector<void*>> free_blocks;  // size class -> blocks
  MemoryStats stats;

  // Frees every cached block; the caller holds the mutex.
  void release_locked() {
    for (auto& [size, blocks] : free_blocks) {
      for (void* p : blocks) system_free(p, size);
    }
    free_blocks.clear();
    stats.cached_bytes = 0;
  }
};

// XGRAD_ALLOCATOR=system turns the cache off (every block goes to and from the system at
// once): for memory debuggers, and to measure what the cache saves.
bool cache_disabled() {
  static const bool disabled = [] {
    const char* v = std::getenv("XGRAD_ALLOCATOR");
    return v != nullptr && std::strcmp(v, "system") == 0;
  }();
  return disabled;
}

// Blocks that go straight to malloc/free: small ones, and all when the cache is off.
bool bypasses_cache(std::size_t bytes) {
#ifdef XGRAD_BYPASS_CACHE
  (void)bytes;
  return true;
#else
  return bytes < kSmallLimit || cache_disabled();
#endif
}

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: static Arrays are freed after main
  return *c;
}

}  // namespace

bool memory_cache_enabled() {
#ifdef XGRAD_BYPASS_CACHE
  return false;
#else
  return !cache_disabled();
#endif
}

MemoryStats memory_stats() {
  Cache& c = cache();
  const std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

void reset_peak_memory_stats() {
  Cache& c = cache();
  const std::lock_guard<std::mutex> lock(c.mutex);
  c.stats.peak_in_use_bytes = c.stats.in_use_bytes;
  c.stats.cache_hits = c.stats.cache_misses = 0;
}

void release_cached_memory() {
  Cache& c = cache();
  const std::lock_guard<std::mutex> lock(c.mutex);
  c.release_locked();
}

namespace detail {

void* allocate_bytes(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  const bool small = bypasses_cache(bytes);
  if (small) {
    void* p = std::aligned_alloc(kAlignment, round_up(bytes, kAlignment));
    if (!p) throw std::bad_alloc();
    return p;
  }
  const std::size_t size = size_class(bytes);
  Cache& c = cache();
  {
    const std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.cached_bytes -= size;
      c.stats.in_use_bytes += size;
      c.stats.peak_in_use_bytes = std::max(c.stats.peak_in_use_bytes, c.stats.in_use_bytes);
      ++c.stats.cache_hits;
      return p;
    }
    ++c.stats.cache_misses;
  }
  void* p = system_allocate(size);
  if (!p) {
    const std::lock_guard<std::mutex> lock(c.mutex);
    c.release_locked();
    p = system_allocate(size);
  }
  if (!p) throw std::bad_alloc();
  const std::lock_guard<std::mutex> lock(c.mutex);
  c.stats.in_use_bytes += size;
  c.stats.peak_in_use_bytes = std::max(c.stats.peak_in_use_bytes, c.stats.in_use_bytes);
  return p;
}

void deallocate_bytes(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  if (bytes == 0) bytes = 1;
  const bool small = bypasses_cache(bytes);
  if (small) {
    std::free(p);
    return;
  }
  const std::size_t size = size_class(bytes);
  Cache& c = cache();
  const std::lock_guard<std::mutex> lock(c.mutex);
  c.stats.in_use_bytes -= size;
  c.stats.cached_bytes += size;
  try {
    c.free_blocks[size].push_back(p);
  } catch (...) {  // no memory for the list entry: give the block back instead
    c.stats.cached_bytes -= size;
    system_free(p, size);
  }
}

}  // namespace detail
}  // namespace xgrad
