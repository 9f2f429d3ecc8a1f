// Kernel bodies; see kernels.h and the TS references named there.
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace swk {

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

void calibrate(const uint16_t* counts, const uint8_t* dqf, const double* p, size_t, float* values, uint8_t* qa, size_t start,
               size_t end) {
  // Counts are at most 16 bits (12 for ABI), so above a few thousand pixels a
  // table over the counts actually present replaces a log per pixel by a load.
  uint16_t maxC = 0;
  for (size_t i = start; i < end; i++) maxC = std::max(maxC, counts[i]);
  const size_t lutN = static_cast<size_t>(maxC) + 1;
  if (end - start < 2 * lutN) {
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
  std::vector<float> lv(lutN);
  std::vector<uint8_t> lq(lutN);
  for (size_t c = 0; c < lutN; c++) calOne(static_cast<uint16_t>(c), p, lv[c], lq[c]);
  const float* LV = lv.data();
  const uint8_t* LQ = lq.data();
  for (size_t i = start; i < end; i++) {
    const uint16_t c = counts[i];
    const uint8_t q = LQ[c];
    if (dqf != nullptr && q != QA_FILL && dqf[i] >= 2) {
      values[i] = NaNf;
      qa[i] = QA_DQF;
    } else {
      values[i] = LV[c];
      qa[i] = q;
    }
  }
}

void qaFlags(const float* values, uint8_t* qa, const float* lat, int w, int h, int row0, int row1, double lo, double hi, double thr) {
  auto usable = [&](size_t j) {
    const double v = values[j];
    return v >= lo && v <= hi && (lat == nullptr || !std::isnan(lat[j]));
  };
  for (int r = row0; r < row1; r++) {
    for (int c = 0; c < w; c++) {
      const size_t i = static_cast<size_t>(r) * w + c;
      const double v = values[i];
      if (lat != nullptr && std::isnan(lat[i])) {
        qa[i] |= QA_SPACE;
        continue;
      }
      if (std::isnan(v)) continue;
      if (!(v >= lo && v <= hi)) {
        qa[i] |= QA_RANGE;
        continue;
      }
      int nUsable = 0;
      bool allBelow = true, allAbove = true;
      for (int dr = -1; dr <= 1; dr++) {
        const int rr = r + dr;
        if (rr < 0 || rr >= h) continue;
        for (int dc = -1; dc <= 1; dc++) {
          const int cc = c + dc;
          if ((dr == 0 && dc == 0) || cc < 0 || cc >= w) continue;
          const size_t j = static_cast<size_t>(rr) * w + cc;
          if (!usable(j)) continue;
          nUsable++;
          const double u = values[j];
          if (!(v - u > thr)) allBelow = false;
          if (!(u - v > thr)) allAbove = false;
        }
      }
      if (nUsable >= 3 && (allBelow || allAbove)) qa[i] |= QA_ISOLATED;
    }
  }
}

void qaFinish(float* values, const uint8_t* qa, size_t start, size_t end, double counts[6]) {
  size_t fill = 0, dqf = 0, range = 0, iso = 0, space = 0, valid = 0;
  for (size_t i = start; i < end; i++) {
    const uint8_t q = qa[i];
    if (q & (QA_SPACE | QA_RANGE | QA_ISOLATED)) values[i] = NaNf;
    fill += (q & QA_FILL) != 0;
    dqf += (q & QA_DQF) != 0;
    range += (q & QA_RANGE) != 0;
    iso += (q & QA_ISOLATED) != 0;
    space += (q & QA_SPACE) != 0;
    valid += q == 0 && !std::isnan(values[i]);
  }
  counts[0] = fill;
  counts[1] = dqf;
  counts[2] = range;
  counts[3] = iso;
  counts[4] = space;
  counts[5] = valid;
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

void cloudTop(const float* bt, const uint8_t* mask, const Profile& p, float* ctt, float* cth, size_t start, size_t end) {
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

void convection(const float* bt, const uint8_t* mask, int w, int h, int row0, int row1, const double* p, const int32_t* off,
                uint8_t* deep, uint8_t* ot, double counts[3]) {
  const double deepK = p[0], otMaxK = p[1], anvilMaxK = p[2], diffK = p[3];
  const int minAnvil = static_cast<int>(p[4]);
  size_t nDeep = 0, nOt = 0, nTops = 0;
  for (int r = row0; r < row1; r++) {
    for (int c = 0; c < w; c++) {
      const size_t i = static_cast<size_t>(r) * w + c;
      const double t = bt[i];
      if (std::isnan(t) || (mask != nullptr && mask[i] != CLOUD_CLOUD)) continue;
      if (t <= deepK) {
        deep[i] = 1;
        nDeep++;
      }
      if (!(t <= otMaxK)) continue;
      double sum = 0;
      int nAnvil = 0;
      for (int d = 0; d < 16; d++) {
        const int rr = r + off[2 * d], cc = c + off[2 * d + 1];
        if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
        const double u = bt[static_cast<size_t>(rr) * w + cc];
        if (u <= anvilMaxK && u > otMaxK) {
          sum += u;
          nAnvil++;
        }
      }
      if (nAnvil < minAnvil || nAnvil == 0 || sum / nAnvil - t < diffK) continue;
      ot[i] = 1;
      nOt++;
      bool isMin = true;
      for (int dr = -1; dr <= 1 && isMin; dr++) {
        const int rr = r + dr;
        if (rr < 0 || rr >= h) continue;
        for (int dc = -1; dc <= 1; dc++) {
          const int cc = c + dc;
          if ((dr == 0 && dc == 0) || cc < 0 || cc >= w) continue;
          const double u = bt[static_cast<size_t>(rr) * w + cc];
          if (u < t || (u == t && (dr < 0 || (dr == 0 && dc < 0)))) {
            isMin = false;
            break;
          }
        }
      }
      if (isMin) nTops++;
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
        cands.push_back({r0 + static_cast<int>(std::floor(hr / hs + 0.5)), c0 + static_cast<int>(std::floor(hcs / hs + 0.5)), true});
    }
    cands.push_back({cr, cc, false});
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
