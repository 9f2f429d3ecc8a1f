// Recycled memory for the kernels' output rasters (addon.cc allocF32 /
// allocU8). A fresh raster costs the kernel that first writes it a page
// fault and a zeroed page per 4 KiB, and its release an munmap, on every
// tile and every scene; the pool hands back blocks that JS has dropped
// (their ArrayBuffers were collected), whose pages are already mapped.
#pragma once
#include <cstddef>

namespace swk {
namespace pool {

// A block of at least `bytes` (uninitialised) and its capacity, for give().
void* take(size_t bytes, size_t& capacity);
// Returns a block to the pool (or to the system beyond the pool's cap).
void give(void* p, size_t capacity);
// Bytes held free in the pool (for tests and the README's figures).
size_t freeBytes();

}  // namespace pool
}  // namespace swk
