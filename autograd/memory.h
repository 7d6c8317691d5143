#pragma once
/// \file
/// The memory behind every Array: a caching allocator, as in PyTorch. Large blocks freed by
/// a tensor are kept and handed to the next tensor of the same size class instead of going
/// back to the system, because a fresh page costs a page fault on first touch (~12 µs per
/// 4 KiB here: a 900 MB temporary allocated afresh each training step costs seconds).
/// A training step allocates the same sizes every step, so from the second step on its
/// temporaries come from the cache. Blocks of 2 MiB and more are mapped as transparent huge
/// pages (MADV_HUGEPAGE), which cuts the first-touch cost of the first step too.
///
/// Small blocks (< 256 KiB) go to malloc, which already reuses them. Builds with
/// AddressSanitizer bypass the cache, so that use-after-free is still caught, and so does
/// every build run with the environment variable `XGRAD_ALLOCATOR=system` (for memory
/// debuggers, and to measure what the cache saves).

#include <cstddef>

namespace xgrad {

/// Bytes in blocks currently used by tensors, and in free blocks the cache holds; the peak
/// of `in_use` since the start or the last reset.
struct MemoryStats {
  std::size_t in_use_bytes = 0;
  std::size_t cached_bytes = 0;
  std::size_t peak_in_use_bytes = 0;
  std::size_t cache_hits = 0;
  std::size_t cache_misses = 0;
};

/// False in AddressSanitizer builds and under XGRAD_ALLOCATOR=system: every block then goes
/// straight to and from the system.
bool memory_cache_enabled();
/// The cache's counters (blocks of 256 KiB and more only; all zero when the cache is off).
MemoryStats memory_stats();
/// Restarts peak_in_use_bytes from in_use_bytes, and zeroes the hit/miss counters.
void reset_peak_memory_stats();
/// Returns every free cached block to the system (PyTorch's `torch.cuda.empty_cache`).
/// Called automatically when the system refuses an allocation, before trying once more.
void release_cached_memory();

namespace detail {

/// 64-byte-aligned (AVX-512) storage of `bytes` bytes, from the cache when it holds a free
/// block of the right size class. Throws std::bad_alloc when the system has no memory left.
void* allocate_bytes(std::size_t bytes);
/// Gives back a block from allocate_bytes (with the same `bytes`).
void deallocate_bytes(void* p, std::size_t bytes) noexcept;

/// An uninitialised buffer of `n` T from the cache, given back when destroyed: for kernel
/// workspaces (im2col chunks, max-pool argmax indices), which would page-fault their way
/// through megabytes if allocated afresh at every call.
template <class T>
class CachedBuffer {
 public:
  explicit CachedBuffer(std::size_t n)
      : bytes_(n * sizeof(T)), data_(static_cast<T*>(allocate_bytes(bytes_))) {}
  ~CachedBuffer() { deallocate_bytes(data_, bytes_); }
  CachedBuffer(const CachedBuffer&) = delete;
  CachedBuffer& operator=(const CachedBuffer&) = delete;
  T* get() const { return data_; }

 private:
  std::size_t bytes_;
  T* data_;
};

/// The allocator type of Array (standard Allocator requirements).
template <class T>
struct CachingAllocator {
  using value_type = T;
  CachingAllocator() noexcept = default;
  template <class U>
  CachingAllocator(const CachingAllocator<U>&) noexcept {}  // NOLINT: rebinding is implicit
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_bytes(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { deallocate_bytes(p, n * sizeof(T)); }
  template <class U>
  struct rebind {
    using other = CachingAllocator<U>;
  };
  template <class U>
  bool operator==(const CachingAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const CachingAllocator<U>&) const noexcept { return false; }
};

}  // namespace detail
}  // namespace xgrad
