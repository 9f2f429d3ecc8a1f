// Kernel bodies; see kernels.h and the TS references named there.
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <memory>
#include <type_traits>

#if defined(__linux__)
#include <sys/mman.h>
#endif

// The hot loops are compiled twice, for AVX2 and for the x86-64 baseline,
// and the loader picks one per machine (GCC function multiversioning, an
// ifunc): the addon stays portable (no -march) and uses 256-bit vectors where
// the CPU has them. AVX2 alone, not FMA: no fused multiply-adds, so both
// clones round exactly like the plain C++ (and the TS references).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SWK_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define SWK_MULTIVERSION
#endif

namespace swk {

void adviseHugePages(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // A fresh whole-disk output raster (100+ MB, a private mapping from malloc
  // that nobody has touched yet) otherwise costs one page fault per 4 KiB
  // on first write: about 45 ms per 117 MB here, against 12 ms with 2 MiB
  // pages. The hint is advisory (ignored where transparent huge pages are
  // off) and harmless on memory already in use.
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  if (bytes < 4 * kHuge) return;
  const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (b > a) madvise(reinterpret_cast<void*>(a), b - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

namespace {
const double NaN = std::numeric_limits<double>::quiet_NaN();
const float NaNf = std::numeric_limits<float>::quiet_NaN();

// One count → (value, qa) with the calibrate.ts formula, ignoring DQF.
inline void calOne(uint16_t c, const double* p, float& v, uint8_t& q) {
  const int mode = static_cast<int>(p[0]);
  const double fillA = p[3], fillB = mode >= 2 ? p[4] : -1;
  if (c == fillA || c == fillB) {
    v = NaNf;
    q = QA_FILL;
    return;
  }
  const double L = c * p[1] + p[2];
  double x;
  if (mode == 0) {
    x = L > 0 ? (p[5] / std::log(p[4] / L + 1) - p[6]) / p[7] : NaN;
  } else if (mode == 1) {
    x = p[4] * L;
  } else if (mode == 2) {
    if (L > 0) {
      const double te = p[5] / std::log(p[6] / L + 1);
      x = p[7] + p[8] * te + p[9] * te * te;
    } else {
      x = NaN;
    }
  } else {
    x = p[5] * L;
  }
  v = static_cast<float>(x);
  q = std::isnan(v) ? QA_RANGE : 0;
}
}  // namespace

namespace {
// Count tables for the last few sets of coefficients, shared by the bands and
// tiles of a scene (they all carry the same coefficients): counts are at most
// 16 bits, so one table over every possible count replaces a log per pixel by
// a load, with no scan for the largest count first. Each entry is calOne's
// value, the exact formula in double rounded once to float32, so the table
// gives bit-for-bit the direct computation. 65536 entries cost about 1 ms to
// build, once per set of coefficients (a few are kept, for scenes whose
// bands interleave).
struct CountTable {
  std::vector<double> params;
  std::vector<float> value;
  std::vector<uint8_t> qa;
};
constexpr size_t kTables = 4;
std::mutex tableMutex;
std::vector<std::shared_ptr<const CountTable>> tables;  // most recently used last

std::shared_ptr<const CountTable> countTable(const double* p, size_t np) {
  {
    std::lock_guard<std::mutex> lock(tableMutex);
    for (size_t k = tables.size(); k-- > 0;) {
      const auto& t = tables[k];
      if (t->params.size() == np && std::equal(p, p + np, t->params.begin())) {
        auto hit = t;
        tables.erase(tables.begin() + static_cast<ptrdiff_t>(k));
        tables.push_back(hit);
        return hit;
      }
    }
  }
  auto t = std::make_shared<CountTable>();
  t->params.assign(p, p + np);
  t->value.resize(65536);
  t->qa.resize(65536);
  for (size_t c = 0; c < 65536; c++) calOne(static_cast<uint16_t>(c), p, t->value[c], t->qa[c]);
  std::lock_guard<std::mutex> lock(tableMutex);
  if (tables.size() >= kTables) tables.erase(tables.begin());
  tables.push_back(t);
  return t;
}

SWK_MULTIVERSION
void calibrateTable(const uint16_t* __restrict counts, const uint8_t* __restrict dqf, const float* __restrict LV, const uint8_t* __restrict LQ,
                    float* __restrict values, uint8_t* __restrict qa, size_t start, size_t end) {
  if (dqf == nullptr) {
    for (size_t i = start; i < end; i++) {
      const uint16_t c = counts[i];
      values[i] = LV[c];
      qa[i] = LQ[c];
    }
    return;
  }
  for (size_t i = start; i < end; i++) {
    const uint16_t c = counts[i];
    const uint8_t q = LQ[c];
    const bool masked = (q != QA_FILL) & (dqf[i] >= 2);
    values[i] = masked ? NaNf : LV[c];
    qa[i] = masked ? QA_DQF : q;
  }
}
}  // namespace

void calibrate(const uint16_t* counts, const uint8_t* dqf, const double* p, size_t np, float* values, uint8_t* qa, size_t start,
               size_t end) {
  if (end - start < 4096) {
    // Tiny inputs compute directly rather than build a table.
    for (size_t i = start; i < end; i++) {
      if (dqf != nullptr && dqf[i] >= 2 && !(counts[i] == p[3] || (p[0] >= 2 && counts[i] == p[4]))) {
        values[i] = NaNf;
        qa[i] = QA_DQF;
        continue;
      }
      calOne(counts[i], p, values[i], qa[i]);
    }
    return;
  }
  const std::shared_ptr<const CountTable> table = countTable(p, np);
  calibrateTable(counts, dqf, table->value.data(), table->qa.data(), values, qa, start, end);
}

namespace {
// Whether a - b is exact in float for any two floats a, b in [lo, hi] (lo >
// 0): floats >= 2^(e-1) are multiples of u = 2^(e-24), and a multiple of u
// of magnitude <= 2^24 u is a float. True for the IR range (150-350 K:
// multiples of 2^-16 below 256), so the spike test can run in float there
// (8 pixels per AVX2 step) with the verdicts of the double test.
bool floatDiffExact(float lo, float hi) {
  if (!(lo > 0) || !(hi >= lo) || !std::isfinite(hi)) return false;
  int e = 0;
  std::frexp(lo, &e);
  return static_cast<double>(hi) - static_cast<double>(lo) <= std::ldexp(1.0, e);
}

// Masks a span of w pixels (a row, or a chunk of rows) flagged SPACE/RANGE/ISOLATED -> NaN and adds their QaCounts.
inline void finishRow(float* __restrict v, const uint8_t* __restrict q, int w, uint64_t tot[6]) {
  uint32_t fill = 0, dqf = 0, range = 0, iso = 0, space = 0, valid = 0;
  const float nanf = NaNf;
  for (int i = 0; i < w; i++) {
    const uint32_t f = q[i];
    const float x = (f & (QA_SPACE | QA_RANGE | QA_ISOLATED)) ? nanf : v[i];
    v[i] = x;
    fill += f & 1u;
    dqf += (f >> 1) & 1u;
    range += (f >> 2) & 1u;
    iso += (f >> 3) & 1u;
    space += (f >> 4) & 1u;
    valid += static_cast<uint32_t>((f == 0) & (x == x));
  }
  tot[0] += fill;
  tot[1] += dqf;
  tot[2] += range;
  tot[3] += iso;
  tot[4] += space;
  tot[5] += valid;
}
}  // namespace

SWK_MULTIVERSION
void qaFlags(float* values, uint8_t* qa, const float* lat, int w, int h, int row0, int row1, double lo, double hi, double thr,
             double counts[6]) {
  // A rolling window of three padded rows of the usable neighbours (usable:
  // in range and on disk), copied from the values before any is masked: the
  // value or -inf (for the max), the value or +inf (for the min), 1/0 (for
  // the count), and each row's sums over three columns, so a pixel's eight
  // neighbours are the 3-column results of the rows above and below plus
  // its left and right. "Warmer than every usable neighbour by more than
  // thr" is then v - max > thr, "colder than every one" is min - v > thr:
  // the same verdicts as qa.ts's per-neighbour tests (subtraction is
  // monotone). Loops are branch-free so they vectorise.
  //
  // A row is masked (and counted) as soon as its flags are set, since its
  // neighbours read the copies; except the rows next to another band, which
  // that band's worker reads concurrently: qaFinish does those after every
  // band is done (native.ts).
  const float NEG = -std::numeric_limits<float>::infinity(), POS = std::numeric_limits<float>::infinity();
  // Float bounds equivalent to the double ones for float values: v >= lo <=> v >= loF, v <= hi <=> v <= hiF.
  float loF = static_cast<float>(lo), hiF = static_cast<float>(hi);
  if (static_cast<double>(loF) < lo) loF = std::nextafter(loF, POS);
  if (static_cast<double>(hiF) > hi) hiF = std::nextafter(hiF, NEG);
  // For float d: d > thr <=> d > thrF, thrF the largest float <= thr.
  float thrF = static_cast<float>(thr);
  if (static_cast<double>(thrF) > thr) thrF = std::nextafter(thrF, NEG);
  const bool inFloat = floatDiffExact(loF, hiF);
  const size_t pw = static_cast<size_t>(w) + 2;
  std::vector<float> hiB(3 * pw), loB(3 * pw), mx3(3 * static_cast<size_t>(w)), mn3(3 * static_cast<size_t>(w));
  std::vector<uint8_t> okB(3 * pw), n3(3 * static_cast<size_t>(w));
  auto slot = [](int r) { return static_cast<size_t>(((r % 3) + 3) % 3); };
  auto build = [&](int r) {
    const size_t k = slot(r);
    float* __restrict hr = &hiB[k * pw];
    float* __restrict lr = &loB[k * pw];
    uint8_t* __restrict orow = &okB[k * pw];
    hr[0] = hr[pw - 1] = NEG;
    lr[0] = lr[pw - 1] = POS;
    orow[0] = orow[pw - 1] = 0;
    if (r < 0 || r >= h) {
      std::fill(hr + 1, hr + pw - 1, NEG);
      std::fill(lr + 1, lr + pw - 1, POS);
      std::fill(orow + 1, orow + pw - 1, 0);
    } else {
      const float* __restrict vr = values + static_cast<size_t>(r) * w;
      if (lat == nullptr) {
        for (int c = 0; c < w; c++) {
          const float v = vr[c];
          const bool u = (v >= loF) & (v <= hiF);
          hr[c + 1] = u ? v : NEG;
          lr[c + 1] = u ? v : POS;
          orow[c + 1] = u;
        }
      } else {
        const float* __restrict la = lat + static_cast<size_t>(r) * w;
        for (int c = 0; c < w; c++) {
          const float v = vr[c];
          const bool u = (v >= loF) & (v <= hiF) & (la[c] == la[c]);
          hr[c + 1] = u ? v : NEG;
          lr[c + 1] = u ? v : POS;
          orow[c + 1] = u;
        }
      }
    }
    float* __restrict mx = &mx3[k * w];
    float* __restrict mn = &mn3[k * w];
    uint8_t* __restrict nn = &n3[k * w];
    for (int c = 0; c < w; c++) {
      const float a = hr[c] > hr[c + 1] ? hr[c] : hr[c + 1];
      mx[c] = a > hr[c + 2] ? a : hr[c + 2];
      const float b = lr[c] < lr[c + 1] ? lr[c] : lr[c + 1];
      mn[c] = b < lr[c + 2] ? b : lr[c + 2];
      nn[c] = static_cast<uint8_t>(orow[c] + orow[c + 1] + orow[c + 2]);
    }
  };
  uint64_t tot[6] = {0, 0, 0, 0, 0, 0};
  if (row0 < row1) {
    build(row0 - 1);
    build(row0);
  }
  for (int r = row0; r < row1; r++) {
    build(r + 1);
    const size_t ku = slot(r - 1), km = slot(r), kd = slot(r + 1);
    const float *__restrict mxu = &mx3[ku * w], *__restrict mxd = &mx3[kd * w];
    const float *__restrict mnu = &mn3[ku * w], *__restrict mnd = &mn3[kd * w];
    const uint8_t *__restrict nu = &n3[ku * w], *__restrict nd = &n3[kd * w];
    const float* __restrict hm = &hiB[km * pw];
    const float* __restrict lm = &loB[km * pw];
    const uint8_t* __restrict om = &okB[km * pw];
    float* __restrict vr = values + static_cast<size_t>(r) * w;
    uint8_t* __restrict qr = qa + static_cast<size_t>(r) * w;
    const float* __restrict la = lat == nullptr ? nullptr : lat + static_cast<size_t>(r) * w;
    // Flags without branches (bitwise &/|); the spike differences in float
    // where that is exact (inFloat), else in double (exact too: the
    // difference of two floats is a double).
    auto flags = [&](auto spike, auto withLat) {
      for (int c = 0; c < w; c++) {
        const float v = vr[c];
        float a = mxu[c] > mxd[c] ? mxu[c] : mxd[c];
        a = a > hm[c] ? a : hm[c];
        const float mx = a > hm[c + 2] ? a : hm[c + 2];
        float b = mnu[c] < mnd[c] ? mnu[c] : mnd[c];
        b = b < lm[c] ? b : lm[c];
        const float mn = b < lm[c + 2] ? b : lm[c + 2];
        const int cnt = nu[c] + nd[c] + om[c] + om[c + 2];
        bool space = false;
        if constexpr (decltype(withLat)::value) space = la[c] != la[c];
        const bool range = !space & (v == v) & !((v >= loF) & (v <= hiF));
        const bool iso = (om[c + 1] != 0) & (cnt >= 3) & spike(v, mx, mn);
        qr[c] |= static_cast<uint8_t>((space ? QA_SPACE : 0) | (range ? QA_RANGE : 0) | (iso ? QA_ISOLATED : 0));
      }
    };
    auto spikeF = [thrF](float v, float mx, float mn) { return (v - mx > thrF) | (mn - v > thrF); };
    auto spikeD = [thr](float v, float mx, float mn) {
      const double dv = v;
      return (dv - static_cast<double>(mx) > thr) | (static_cast<double>(mn) - dv > thr);
    };
    if (inFloat) {
      if (la != nullptr) flags(spikeF, std::true_type{});
      else flags(spikeF, std::false_type{});
    } else {
      if (la != nullptr) flags(spikeD, std::true_type{});
      else flags(spikeD, std::false_type{});
    }
    const bool sharedWithBandAbove = r == row0 && row0 > 0;
    const bool sharedWithBandBelow = r == row1 - 1 && row1 < h;
    if (!sharedWithBandAbove && !sharedWithBandBelow) finishRow(vr, qr, w, tot);
  }
  for (int k = 0; k < 6; k++) counts[k] = static_cast<double>(tot[k]);
}

SWK_MULTIVERSION
void qaFinish(float* values, const uint8_t* qa, size_t start, size_t end, double counts[6]) {
  // In chunks, so finishRow's 32-bit counters cannot overflow; it is branch-free and vectorises.
  uint64_t tot[6] = {0, 0, 0, 0, 0, 0};
  constexpr size_t CHUNK = size_t{1} << 24;
  for (size_t a = start; a < end; a += CHUNK) {
    const size_t b = std::min(end, a + CHUNK);
    finishRow(values + a, qa + a, static_cast<int>(b - a), tot);
  }
  for (int k = 0; k < 6; k++) counts[k] = static_cast<double>(tot[k]);
}

// US1976 effective earth radius, as physics/atmosphere.ts R0_M.
constexpr double R0_M = 6356766.0;

double heightForTemperature(double t, const Profile& p) {
  if (std::isnan(t)) return NaN;
  if (t >= p.baseT[0]) return 0;
  for (int i = 0; i < p.trop; i++) {
    if (t >= p.baseT[i + 1]) {
      const double H = p.baseH[i] + (t - p.baseT[i]) / p.lapse[i];
      return (R0_M * H) / (R0_M - H);
    }
  }
  const double hTrop = p.baseH[p.trop];
  if (p.coldRule == 0) return (R0_M * hTrop) / (R0_M - hTrop);
  const double H = hTrop + (t - p.baseT[p.trop]) / p.lapse[p.trop - 1];
  return (R0_M * H) / (R0_M - H);
}

namespace {
// One tropospheric layer (US1976): heightForTemperature's branches as
// selects over restrict pointers, so the loop vectorises (8 pixels per AVX2
// step, the height in double); same expressions as the reference, except
// that dividing by the lapse rate is a multiplication by its reciprocal (a
// relative difference of ~1e-16, nanometres of height), which leaves one
// division per pixel, (R0·H)/(R0 − H).
template <bool Extrapolate>
inline void cloudTopOneLayer(const float* __restrict bt, const uint8_t* __restrict mask, const Profile& p, float* __restrict ctt,
                             float* __restrict cth, size_t start, size_t end) {
  const double T0 = p.baseT[0], H0 = p.baseH[0], invL0 = 1.0 / p.lapse[0], T1 = p.baseT[1], H1 = p.baseH[1];
  for (size_t i = start; i < end; i++) {
    const float t = bt[i];
    const double td = t;
    const double hTro = H0 + (td - T0) * invL0;
    const double hCold = Extrapolate ? H1 + (td - T1) * invL0 : H1;
    const double H = td >= T1 ? hTro : hCold;
    double z = (R0_M * H) / (R0_M - H);
    z = td >= T0 ? 0.0 : z;
    const bool valid = (mask[i] == CLOUD_CLOUD) & (t == t);
    ctt[i] = valid ? t : NaNf;
    cth[i] = valid ? static_cast<float>(z) : NaNf;
  }
}
}  // namespace

SWK_MULTIVERSION
void cloudTop(const float* bt, const uint8_t* mask, const Profile& p, float* ctt, float* cth, size_t start, size_t end) {
  if (p.trop == 1) {
    if (p.coldRule == 1) cloudTopOneLayer<true>(bt, mask, p, ctt, cth, start, end);
    else cloudTopOneLayer<false>(bt, mask, p, ctt, cth, start, end);
    return;
  }
  for (size_t i = start; i < end; i++) {
    const float t = bt[i];
    if (mask[i] != CLOUD_CLOUD || std::isnan(t)) {
      ctt[i] = NaNf;
      cth[i] = NaNf;
      continue;
    }
    ctt[i] = t;
    cth[i] = static_cast<float>(heightForTemperature(t, p));
  }
}

int zoneProfileIndex(float latf, int month) {
  const double lat = latf;
  if (std::isnan(lat) || std::fabs(lat) > 90) return 0;
  const double a = std::fabs(lat);
  if (a <= 25) return 1;
  const bool northSummer = month >= 4 && month <= 9;
  const bool summer = lat >= 0 ? northSummer : !northSummer;
  if (a <= 52.5) return summer ? 2 : 3;
  return summer ? 4 : 5;
}

void cloudTopZoned(const float* bt, const uint8_t* mask, const float* lat, int month, const Profile* profiles, float* ctt, float* cth,
                   size_t start, size_t end) {
  for (size_t i = start; i < end; i++) {
    const float t = bt[i];
    if (mask[i] != CLOUD_CLOUD || std::isnan(t)) {
      ctt[i] = NaNf;
      cth[i] = NaNf;
      continue;
    }
    ctt[i] = t;
    cth[i] = static_cast<float>(heightForTemperature(t, profiles[zoneProfileIndex(lat[i], month)]));
  }
}

SWK_MULTIVERSION
void convection(const float* bt, const uint8_t* mask, int w, int h, int row0, int row1, const double* p, const int32_t* off,
                uint8_t* deep, uint8_t* ot, double counts[3]) {
  const double deepK = p[0], otMaxK = p[1], anvilMaxK = p[2], diffK = p[3];
  const int minAnvil = static_cast<int>(p[4]);
  size_t nDeep = 0, nOt = 0, nTops = 0;
  ptrdiff_t lin[16];
  int reach = 1;
  for (int d = 0; d < 16; d++) {
    lin[d] = static_cast<ptrdiff_t>(off[2 * d]) * w + off[2 * d + 1];
    reach = std::max(reach, std::max(std::abs(off[2 * d]), std::abs(off[2 * d + 1])));
  }
  // The overshooting-top test of one cloudy candidate pixel (t <= otMaxK).
  auto overshootAt = [&](int r, int c, size_t i, double t) {
    double sum = 0;
    int nAnvil = 0;
    if (r >= reach && r < h - reach && c >= reach && c < w - reach) {
      // All 16 samples inside the raster: no bounds tests, no branches.
      const float* p0 = bt + i;
      for (int d = 0; d < 16; d++) {
        const double u = p0[lin[d]];
        const bool ok = (u <= anvilMaxK) & (u > otMaxK);
        sum += ok ? u : 0.0;
        nAnvil += ok;
      }
    } else {
      for (int d = 0; d < 16; d++) {
        const int rr = r + off[2 * d], cc = c + off[2 * d + 1];
        if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
        const double u = bt[static_cast<size_t>(rr) * w + cc];
        if (u <= anvilMaxK && u > otMaxK) {
          sum += u;
          nAnvil++;
        }
      }
    }
    if (nAnvil < minAnvil || nAnvil == 0 || sum / nAnvil - t < diffK) return;
    ot[i] = 1;
    nOt++;
    for (int dr = -1; dr <= 1; dr++) {
      const int rr = r + dr;
      if (rr < 0 || rr >= h) continue;
      for (int dc = -1; dc <= 1; dc++) {
        const int cc = c + dc;
        if ((dr == 0 && dc == 0) || cc < 0 || cc >= w) continue;
        const double u = bt[static_cast<size_t>(rr) * w + cc];
        // Ties go to the first pixel in raster order, so a flat-bottomed top counts once.
        if (u < t || (u == t && (dr < 0 || (dr == 0 && dc < 0)))) return;
      }
    }
    nTops++;
  };
  const float deepKf = static_cast<float>(deepK);
  const bool deepExact = static_cast<double>(deepKf) == deepK;
  // With the defaults (both 215 K) the top candidates are exactly the deep-convection pixels.
  const bool candidatesAreDeep = deepExact && otMaxK == deepK;
  // The deep mask is an uninitialised array (native.ts): the vectorised pass
  // below writes every pixel; the generic path only sets 1s.
  if (!deepExact) std::fill(deep + static_cast<size_t>(row0) * w, deep + static_cast<size_t>(row1) * w, uint8_t{0});
  for (int r = row0; r < row1; r++) {
    const size_t row = static_cast<size_t>(r) * w;
    if (deepExact) {
      // Deep convection: one branch-free (vectorisable) pass over the row.
      const float* __restrict br = bt + row;
      uint8_t* __restrict dr = deep + row;
      uint32_t n = 0;  // a row (w < 2^16), so 32 bits; a narrower sum vectorises cheaper
      if (mask != nullptr) {
        const uint8_t* __restrict mr = mask + row;
        for (int c = 0; c < w; c++) {
          const uint8_t f = static_cast<uint8_t>((br[c] <= deepKf) & (mr[c] == CLOUD_CLOUD));
          dr[c] = f;
          n += f;
        }
      } else {
        for (int c = 0; c < w; c++) {
          const uint8_t f = static_cast<uint8_t>(br[c] <= deepKf);
          dr[c] = f;
          n += f;
        }
      }
      nDeep += n;
    }
    if (candidatesAreDeep) {
      // Skip runs of non-deep pixels eight at a time.
      const uint8_t* dr = deep + row;
      int c = 0;
      for (; c + 8 <= w; c += 8) {
        uint64_t word;
        std::memcpy(&word, dr + c, 8);
        if (word == 0) continue;
        for (int k = c; k < c + 8; k++)
          if (dr[k]) overshootAt(r, k, row + k, bt[row + k]);
      }
      for (; c < w; c++)
        if (dr[c]) overshootAt(r, c, row + c, bt[row + c]);
      continue;
    }
    for (int c = 0; c < w; c++) {
      const size_t i = row + c;
      const double t = bt[i];
      if (std::isnan(t) || (mask != nullptr && mask[i] != CLOUD_CLOUD)) continue;
      if (!deepExact && t <= deepK) {
        deep[i] = 1;
        nDeep++;
      }
      if (t <= otMaxK) overshootAt(r, c, i, t);
    }
  }
  counts[0] = nDeep;
  counts[1] = nOt;
  counts[2] = nTops;
}

// ---- cyclones (kernels/cyclones.ts) ----
namespace {
constexpr double KM_PER_DEG = 111.19492664;
constexpr double EYE_R = 24, INNER_R = 24, OUTER_R = 136, RING_W = 4, WINDOW_R = OUTER_R + 80;
constexpr int N_RINGS = 28, N_SECTORS = 24;
constexpr double CDO_K = 273.15 - 30;
constexpr size_t kMaxEyeCandidates = 16;
constexpr double PI = 3.141592653589793;

struct Ctx {
  const float* bt;
  const float* lat;
  const float* lon;
  int w, h;
};

bool spacing(const Ctx& x, int r, int c, double& dx, double& dy) {
  const size_t i = static_cast<size_t>(r) * x.w + c;
  const int c2 = c + 1 < x.w ? c + 1 : c - 1;
  const int r2 = r + 1 < x.h ? r + 1 : r - 1;
  if (c2 < 0 || r2 < 0) return false;
  const double la = x.lat[i], lo = x.lon[i];
  const double cosLat = std::cos((la * PI) / 180);
  auto d = [&](size_t j) {
    double dl = x.lon[j] - lo;
    if (dl > 180) dl -= 360;
    else if (dl < -180) dl += 360;
    const double ex = dl * cosLat * KM_PER_DEG, ey = (x.lat[j] - la) * KM_PER_DEG;
    return std::sqrt(ex * ex + ey * ey);
  };
  dx = d(static_cast<size_t>(r) * x.w + c2);
  dy = d(static_cast<size_t>(r2) * x.w + c);
  return dx > 0 && dy > 0;
}

struct RingStats {
  double eyeTempK, cwCloudTempK, cwRingKm, cloudTempK, symmetryK, cdoSizeKm;
};

bool ringStats(const Ctx& x, int r0, int c0, RingStats& out) {
  const size_t i0 = static_cast<size_t>(r0) * x.w + c0;
  const double lat0 = x.lat[i0], lon0 = x.lon[i0];
  if (std::isnan(lat0) || std::isnan(lon0)) return false;
  double sx, sy;
  if (!spacing(x, r0, c0, sx, sy)) return false;
  const double cosLat = std::cos((lat0 * PI) / 180);
  const int hc = static_cast<int>(std::ceil(WINDOW_R / sx)) + 1, hr = static_cast<int>(std::ceil(WINDOW_R / sy)) + 1;
  const int ra = std::max(0, r0 - hr), rb = std::min(x.h - 1, r0 + hr);
  const int ca = std::max(0, c0 - hc), cb = std::min(x.w - 1, c0 + hc);
  const double NEG_INF = -std::numeric_limits<double>::infinity(), INF = std::numeric_limits<double>::infinity();
  double eyeMax = NEG_INF;
  double ringMax[N_RINGS];
  std::fill(ringMax, ringMax + N_RINGS, NEG_INF);
  double secSum[N_SECTORS] = {0}, secN[N_SECTORS] = {0};
  size_t cdoN = 0;
  for (int pass = 0; pass < 2; pass++) {
    double annSum = 0, annA = 0, annB = 0, cw = INF, cwRing = 0;
    size_t annN = 0;
    if (pass == 1) {
      for (int j = 0; j < N_RINGS; j++) {
        const double m = ringMax[j];
        if (m > 160 && m < cw) {
          cw = m;
          cwRing = INNER_R + j * RING_W;
        }
      }
      if (cw == INF) return false;
      annA = std::max(28.0, cwRing - 40);
      annB = std::max(108.0, cwRing + 40);
    }
    for (int r = ra; r <= rb; r++) {
      for (int c = ca; c <= cb; c++) {
        const size_t i = static_cast<size_t>(r) * x.w + c;
        const double t = x.bt[i], la = x.lat[i], lo = x.lon[i];
        if (std::isnan(t) || std::isnan(la) || std::isnan(lo)) continue;
        double dl = lo - lon0;
        if (dl > 180) dl -= 360;
        else if (dl < -180) dl += 360;
        const double ex = dl * cosLat * KM_PER_DEG, ey = (la - lat0) * KM_PER_DEG;
        const double d = std::sqrt(ex * ex + ey * ey);
        if (pass == 1) {
          if (d >= annA && d <= annB) {
            annSum += t;
            annN++;
          }
          continue;
        }
        if (d <= EYE_R && t > eyeMax) eyeMax = t;
        if (d >= INNER_R && d < OUTER_R) {
          const int j = static_cast<int>(std::floor((d - INNER_R) / RING_W));
          if (t > ringMax[j]) ringMax[j] = t;
        }
        if (d >= INNER_R && d <= OUTER_R) {
          double a = (std::atan2(ey, ex) * 180) / PI;
          if (a < 0) a += 360;
          int s = static_cast<int>(std::floor(a / 15));
          if (s >= N_SECTORS) s = N_SECTORS - 1;
          secSum[s] += t;
          secN[s] += 1;
        }
        if (d <= WINDOW_R && t <= CDO_K) cdoN++;
      }
    }
    if (pass == 1) {
      if (annN == 0) return false;
      double acc = 0;
      int m = 0;
      for (int s = 0; s < N_SECTORS / 2; s++) {
        const double na = secN[s], nb = secN[s + N_SECTORS / 2];
        if (na > 0 && nb > 0) {
          acc += std::fabs(secSum[s] / na - secSum[s + N_SECTORS / 2] / nb);
          m++;
        }
      }
      if (m == 0) return false;
      out.eyeTempK = eyeMax == NEG_INF ? NaN : eyeMax;
      out.cwCloudTempK = cw;
      out.cwRingKm = cwRing;
      out.cloudTempK = annSum / annN;
      out.symmetryK = acc / m;
      out.cdoSizeKm = 2 * std::sqrt((cdoN * sx * sy) / PI);
      return true;
    }
  }
  return false;
}
double roundness(double n, double sr, double sc, double srr, double scc, double src, double sx, double sy) {
  const double mr = sr / n, mc = sc / n;
  const double vy = (srr / n - mr * mr) * sy * sy;
  const double vx = (scc / n - mc * mc) * sx * sx;
  const double cxy = (src / n - mr * mc) * sx * sy;
  const double half = (vx + vy) / 2;
  const double disc = std::sqrt(std::max(0.0, half * half - (vx * vy - cxy * cxy)));
  const double lmax = half + disc, lmin = std::max(0.0, half - disc);
  return lmax > 0 ? std::sqrt(lmin / lmax) : 1;
}
}  // namespace

void measureCyclones(const float* bt, const float* lat, const float* lon, int w, int h, const double* p, std::vector<double>& out) {
  const double shieldK = p[0], minArea = p[1], maxEyeR = p[2], eyeContrast = p[3], maxSym = p[4], minAbsLat = p[5],
               maxAbsLat = p[6], minRound = p[7], maxCdoCloud = p[8], maxEyeSym = p[9], maxCdoArea = p[10], minCdoArea = p[11];
  const Ctx x{bt, lat, lon, w, h};
  const size_t n = static_cast<size_t>(w) * h;
  std::vector<int32_t> labels(n, 0), queue(n);
  int32_t nextId = 0;
  for (size_t seed = 0; seed < n; seed++) {
    if (labels[seed] != 0 || !(bt[seed] <= shieldK)) continue;
    const int32_t id = ++nextId;
    size_t head = 0, tail = 0;
    queue[tail++] = static_cast<int32_t>(seed);
    labels[seed] = id;
    double count = 0, wsum = 0, wr = 0, wc = 0, sr = 0, sc = 0, srr = 0, scc = 0, src = 0;
    int r0 = h, r1 = -1, c0 = w, c1 = -1;
    while (head < tail) {
      const int32_t i = queue[head++];
      const int r = i / w, c = i - r * w;
      const double wt = shieldK - bt[i];
      count++;
      wsum += wt;
      wr += wt * r;
      wc += wt * c;
      sr += r;
      sc += c;
      srr += static_cast<double>(r) * r;
      scc += static_cast<double>(c) * c;
      src += static_cast<double>(r) * c;
      r0 = std::min(r0, r);
      r1 = std::max(r1, r);
      c0 = std::min(c0, c);
      c1 = std::max(c1, c);
      for (int dr = -1; dr <= 1; dr++) {
        const int rr = r + dr;
        if (rr < 0 || rr >= h) continue;
        for (int dc = -1; dc <= 1; dc++) {
          const int cc = c + dc;
          if ((dr == 0 && dc == 0) || cc < 0 || cc >= w) continue;
          const size_t j = static_cast<size_t>(rr) * w + cc;
          if (labels[j] == 0 && bt[j] <= shieldK) {
            labels[j] = id;
            queue[tail++] = static_cast<int32_t>(j);
          }
        }
      }
    }
    const int cr = static_cast<int>(wsum > 0 ? std::floor(wr / wsum + 0.5) : std::floor(sr / count + 0.5));
    const int cc = static_cast<int>(wsum > 0 ? std::floor(wc / wsum + 0.5) : std::floor(sc / count + 0.5));
    double sx, sy;
    if (!spacing(x, cr, cc, sx, sy) || std::isnan(lat[static_cast<size_t>(cr) * w + cc])) continue;
    const double pxArea = sx * sy;
    const double area = count * pxArea;
    if (area < minArea) continue;
    const double shape = roundness(count, sr, sc, srr, scc, src, sx, sy);
    const int bw = c1 - c0 + 1, bh = r1 - r0 + 1;
    const size_t bn = static_cast<size_t>(bw) * bh;
    std::vector<uint8_t> mark(bn, 0);
    std::vector<int32_t> lq(bn);
    size_t lt = 0;
    for (int r = 0; r < bh; r++) {
      for (int c = 0; c < bw; c++) {
        const size_t k = static_cast<size_t>(r) * bw + c;
        if (labels[static_cast<size_t>(r + r0) * w + (c + c0)] == id) {
          mark[k] = 1;
        } else if (r == 0 || c == 0 || r == bh - 1 || c == bw - 1) {
          mark[k] = 2;
          lq[lt++] = static_cast<int32_t>(k);
        }
      }
    }
    auto neighbours = [&](int32_t k, int32_t nb[4]) {
      const int r = k / bw, c = k - r * bw;
      nb[0] = r > 0 ? k - bw : -1;
      nb[1] = r < bh - 1 ? k + bw : -1;
      nb[2] = c > 0 ? k - 1 : -1;
      nb[3] = c < bw - 1 ? k + 1 : -1;
    };
    for (size_t lh = 0; lh < lt;) {
      int32_t nb[4];
      neighbours(lq[lh++], nb);
      for (int q = 0; q < 4; q++) {
        if (nb[q] >= 0 && mark[nb[q]] == 0) {
          mark[nb[q]] = 2;
          lq[lt++] = nb[q];
        }
      }
    }
    struct Cand {
      int r, c;
      bool hole;
      double size;
    };
    std::vector<Cand> cands;
    for (size_t k0 = 0; k0 < bn; k0++) {
      if (mark[k0] != 0) continue;
      size_t hh = 0, ht = 0;
      double hs = 0, hr = 0, hcs = 0;
      lq[ht++] = static_cast<int32_t>(k0);
      mark[k0] = 3;
      while (hh < ht) {
        const int32_t k = lq[hh++];
        const int r = k / bw, c = k - r * bw;
        hs++;
        hr += r;
        hcs += c;
        int32_t nb[4];
        neighbours(k, nb);
        for (int q = 0; q < 4; q++) {
          if (nb[q] >= 0 && mark[nb[q]] == 0) {
            mark[nb[q]] = 3;
            lq[ht++] = nb[q];
          }
        }
      }
      if (std::sqrt((hs * pxArea) / PI) <= maxEyeR)
        cands.push_back({r0 + static_cast<int>(std::floor(hr / hs + 0.5)), c0 + static_cast<int>(std::floor(hcs / hs + 0.5)), true, hs});
    }
    // Only the largest holes are eye candidates: a ragged shield can hold
    // thousands of one-pixel gaps, and each candidate costs a ring analysis.
    std::stable_sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) { return a.size > b.size; });
    if (cands.size() > kMaxEyeCandidates) cands.resize(kMaxEyeCandidates);
    cands.push_back({cr, cc, false, 0});
    bool found = false, bestEye = false;
    int br = 0, bc = 0;
    RingStats bs{};
    double bestContrast = -std::numeric_limits<double>::infinity();
    for (const Cand& cd : cands) {
      RingStats s;
      if (!ringStats(x, cd.r, cd.c, s) || !(s.cwCloudTempK <= shieldK)) continue;
      if (cd.hole) {
        const double contrast = s.eyeTempK - s.cloudTempK;
        if (contrast >= eyeContrast && s.symmetryK <= maxEyeSym && contrast > bestContrast) {
          bestContrast = contrast;
          found = true;
          bestEye = true;
          br = cd.r;
          bc = cd.c;
          bs = s;
        }
      } else if (!found && s.symmetryK <= maxSym && shape >= minRound && s.cloudTempK <= maxCdoCloud && area <= maxCdoArea && area >= minCdoArea) {
        found = true;
        bestEye = false;
        br = cd.r;
        bc = cd.c;
        bs = s;
      }
    }
    if (!found) continue;
    const size_t bi = static_cast<size_t>(br) * w + bc;
    const double la = lat[bi];
    if (std::fabs(la) < minAbsLat || std::fabs(la) > maxAbsLat) continue;
    const double rec[13] = {static_cast<double>(br), static_cast<double>(bc), la, static_cast<double>(lon[bi]), bestEye ? 1.0 : 0.0,
                            bestEye ? bs.eyeTempK : NaN, bs.cwCloudTempK, bs.cwRingKm, bs.cloudTempK, bs.symmetryK, bs.cdoSizeKm, area, shape};
    out.insert(out.end(), rec, rec + 13);
  }
}

}  // namespace swk
