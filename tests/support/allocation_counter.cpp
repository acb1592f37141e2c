// Replaces the global allocation functions to count calls; link it into one test executable only.
#include "support/allocation_counter.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::int64_t> counted{0};
}  // namespace

std::int64_t specdec_test::allocations() noexcept { return counted.load(std::memory_order_relaxed); }

// Kept out of line: inlined into the standard containers, g++ 12 pairs malloc/free across them and warns.
[[gnu::noinline]] void* operator new(std::size_t size) {
  counted.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
