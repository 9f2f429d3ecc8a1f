// See pool.h. Blocks are private anonymous mappings (Linux/macOS mmap), large
// ones 2 MiB-aligned with a transparent-huge-page hint; a block is reused for
// a request of up to its size and at least 4/5 of it, so tiles of one grid
// (and whole scenes) find theirs again. At most kMaxFree bytes stay free
// (two whole-disk float rasters); beyond that the oldest free blocks are
// unmapped, and large free blocks are MADV_FREE (reclaimable) meanwhile.
#include "pool.h"

#include <sys/mman.h>

#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

namespace swk {
namespace pool {
namespace {

constexpr size_t kPage = size_t{64} << 10;
constexpr size_t kHuge = size_t{2} << 20;
constexpr size_t kMaxFree = size_t{256} << 20;

struct Block {
  void* p;
  size_t cap;
};

std::mutex mu;
std::vector<Block> freeList;  // oldest first
size_t freeTotal = 0;

size_t roundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

void* mapBlock(size_t cap) {
  if (cap < 4 * kHuge) {
    void* p = mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
  }
  // Over-map by 2 MiB and trim both ends, so the block starts on a huge-page boundary.
  const size_t len = cap + kHuge;
  void* raw = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = (base + kHuge - 1) & ~(uintptr_t{kHuge} - 1);
  if (start > base) munmap(raw, start - base);
  const uintptr_t tail = start + cap, end = base + len;
  if (end > tail) munmap(reinterpret_cast<void*>(tail), end - tail);
#ifdef MADV_HUGEPAGE
  madvise(reinterpret_cast<void*>(start), cap, MADV_HUGEPAGE);
#endif
  return reinterpret_cast<void*>(start);
}

}  // namespace

void* take(size_t bytes, size_t& capacity) {
  {
    std::lock_guard<std::mutex> lock(mu);
    size_t best = freeList.size();
    for (size_t k = 0; k < freeList.size(); k++) {
      const size_t c = freeList[k].cap;
      if (c >= bytes && bytes >= c - c / 5 && (best == freeList.size() || c < freeList[best].cap)) best = k;
    }
    if (best < freeList.size()) {
      const Block b = freeList[best];
      freeList.erase(freeList.begin() + static_cast<std::ptrdiff_t>(best));
      freeTotal -= b.cap;
      capacity = b.cap;
      return b.p;
    }
  }
  capacity = roundUp(bytes == 0 ? 1 : bytes, bytes >= 4 * kHuge ? kHuge : kPage);
  return mapBlock(capacity);
}

void give(void* p, size_t capacity) {
#ifdef MADV_FREE
  // A large free block (a whole-scene raster) stays mapped for the next
  // scene, but its pages are the kernel's to reclaim under memory pressure
  // (then they fault in zeroed again): an idle process does not pin them.
  if (capacity >= 4 * kHuge && capacity <= kMaxFree) madvise(p, capacity, MADV_FREE);
#endif
  std::vector<Block> drop;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (capacity > kMaxFree) {
      drop.push_back({p, capacity});
    } else {
      size_t k = 0;
      while (freeTotal + capacity > kMaxFree && k < freeList.size()) {
        drop.push_back(freeList[k]);
        freeTotal -= freeList[k].cap;
        k++;
      }
      freeList.erase(freeList.begin(), freeList.begin() + static_cast<std::ptrdiff_t>(k));
      freeList.push_back({p, capacity});
      freeTotal += capacity;
    }
  }
  for (const Block& b : drop) munmap(b.p, b.cap);
}

size_t freeBytes() {
  std::lock_guard<std::mutex> lock(mu);
  return freeTotal;
}

}  // namespace pool
}  // namespace swk
