// Tests of the caching allocator behind Array: alignment, reuse of freed blocks of the same
// size class, the counters, and release_cached_memory.

#include "autograd/memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "autograd/array.h"
#include "autograd/tensor.h"

namespace xgrad {
namespace {

bool aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

TEST(Memory, ArraysAre64ByteAlignedAtEverySize) {
  for (std::size_t n : {1u, 3u, 17u, 1000u, 70000u, 300000u, 1u << 20}) {
    Array a = empty_array({n});
    EXPECT_TRUE(aligned64(a.data())) << n << " elements";
    a.data()[n - 1] = real(1);  // the whole extent is usable
  }
}

TEST(Memory, AFreedLargeBlockIsReusedForTheSameSizeClass) {
  if (!memory_cache_enabled()) GTEST_SKIP() << "the cache is off (ASan build or XGRAD_ALLOCATOR=system)";
  const std::size_t n = (std::size_t{3} << 20) / sizeof(real);  // 3 MiB: a huge-page block
  const real* first = nullptr;
  {
    Array a = empty_array({n});
    first = a.data();
    std::memset(a.data(), 0, n * sizeof(real));
  }
  reset_peak_memory_stats();
  const MemoryStats before = memory_stats();
  EXPECT_GE(before.cached_bytes, n * sizeof(real));
  Array b = empty_array({n - 100});  // same 2 MiB-rounded class
  const MemoryStats after = memory_stats();
  EXPECT_EQ(b.data(), first);
  EXPECT_EQ(after.cache_hits, 1u);
  EXPECT_EQ(after.cache_misses, 0u);
  EXPECT_EQ(after.in_use_bytes, before.in_use_bytes + (std::size_t{4} << 20));
  EXPECT_EQ(after.cached_bytes, before.cached_bytes - (std::size_t{4} << 20));
  EXPECT_GE(after.peak_in_use_bytes, after.in_use_bytes);
}

TEST(Memory, TensorsOfOneStepShapeReuseTheirBlocks) {
  if (!memory_cache_enabled()) GTEST_SKIP() << "the cache is off (ASan build or XGRAD_ALLOCATOR=system)";
  const Shape shape{64, 1024, 8};  // 2 MiB in float, 4 MiB in double
  { const Tensor warm = Tensor::zeros(shape); }
  reset_peak_memory_stats();
  for (int step = 0; step < 5; ++step) {
    const Tensor t = Tensor::full(shape, real(step));
    EXPECT_EQ(t.flat(t.size() - 1), real(step));
  }
  const MemoryStats s = memory_stats();
  EXPECT_EQ(s.cache_misses, 0u);
  EXPECT_EQ(s.cache_hits, 5u);
}

TEST(Memory, ReleaseCachedMemoryEmptiesTheCache) {
  if (!memory_cache_enabled()) GTEST_SKIP() << "the cache is off (ASan build or XGRAD_ALLOCATOR=system)";
  { Array a = empty_array({std::size_t{1} << 19}); }
  EXPECT_GT(memory_stats().cached_bytes, 0u);
  release_cached_memory();
  EXPECT_EQ(memory_stats().cached_bytes, 0u);
  reset_peak_memory_stats();
  { Array a = empty_array({std::size_t{1} << 19}); }
  EXPECT_EQ(memory_stats().cache_misses, 1u);  // nothing left to reuse
}

}  // namespace
}  // namespace xgrad
