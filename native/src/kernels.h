// Pixel kernels of the tile pipeline, plain C++ with no N-API: addon.cc runs
// them on libuv worker threads over the caller's typed arrays. Each mirrors
// its TS reference in actors/tile/kernels/ step for step (same formulas, same
// order of floating-point operations) so results agree within the stated
// test tolerances; see the TS files for the science and its sources.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace swk {

// QA bits, as actors/tile/types.ts QA.
constexpr uint8_t QA_FILL = 1, QA_DQF = 2, QA_RANGE = 4, QA_ISOLATED = 8, QA_SPACE = 16;
constexpr uint8_t CLOUD_CLOUD = 1;

// Asks for 2 MiB pages for an output range not yet written (large ranges only; Linux, advisory).
void adviseHugePages(void* p, size_t bytes);

// L1: p = calibrationParams() vector (kernels/calibrate.ts); pixels [start, end).
void calibrate(const uint16_t* counts, const uint8_t* dqf, const double* p, size_t np, float* values, uint8_t* qa, size_t start,
               size_t end);

// QA over rows [row0, row1): flags every row (reading neighbours anywhere), then masks and counts
// (as qaFinish) every row except one next to another band (row0 when row0 > 0, row1 - 1 when
// row1 < h), which qaFinish does once all bands are flagged.
void qaFlags(float* values, uint8_t* qa, const float* lat, int w, int h, int row0, int row1, double lo, double hi, double thr,
             double counts[6]);
// QA pass 2 (mask + counts) over pixels [start, end): counts = fill, dqf, range, isolated, space, valid.
void qaFinish(float* values, const uint8_t* qa, size_t start, size_t end, double counts[6]);

struct Profile {
  const double* baseH;
  const double* baseT;
  const double* lapse;
  int n;
  int trop;
  int coldRule;  // 0 tropopause, 1 extrapolate
};
double heightForTemperature(double t, const Profile& p);
void cloudTop(const float* bt, const uint8_t* mask, const Profile& p, float* ctt, float* cth, size_t start, size_t end);
// Per-pixel profile: profiles[zoneProfileIndex(lat[i], month)], the order of atmosphere.ts PROFILE_SET.
constexpr int kProfileSet = 6;
int zoneProfileIndex(float lat, int month);
void cloudTopZoned(const float* bt, const uint8_t* mask, const float* lat, int month, const Profile* profiles, float* ctt, float* cth,
                   size_t start, size_t end);

// Convection over rows [row0, row1): p = deepK, otMaxK, anvilMaxK, otMinDiffK, minAnvil; off = 16 (dr, dc) pairs.
// counts = deep convection, overshoot pixels, overshoot tops.
void convection(const float* bt, const uint8_t* mask, int w, int h, int row0, int row1, const double* p, const int32_t* off,
                uint8_t* deep, uint8_t* ot, double counts[3]);

// Cyclone measurements (kernels/cyclones.ts measureCyclonesFlat): 13 numbers per cyclone appended to out.
void measureCyclones(const float* bt, const float* lat, const float* lon, int w, int h, const double* p, std::vector<double>& out);

}  // namespace swk
