// N-API surface of the kernels: every function validates its arguments
// (throwing a JS TypeError/RangeError, never crashing), pins the caller's
// typed arrays with references, and runs the kernel on a libuv worker
// thread (Napi::AsyncWorker) directly on their memory — no copies — then
// resolves a promise. Callers (actors/tile/kernels/native.ts) must not
// detach or transfer those buffers while a promise is pending.
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels.h"
#include "pool.h"

namespace {

class KernelWorker : public Napi::AsyncWorker {
 public:
  using Body = std::function<void()>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  KernelWorker(Napi::Env env, const char* name, Body body, Result result)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), body_(std::move(body)), result_(std::move(result)) {}

  void Pin(const Napi::Value& v) {
    if (v.IsObject()) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      body_();
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(result_ ? result_(Env()) : Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Body body_;
  Result result_;
  std::vector<Napi::ObjectReference> refs_;
};

[[noreturn]] void typeError(Napi::Env env, const std::string& fn, const std::string& msg) {
  throw Napi::TypeError::New(env, fn + ": " + msg);
}
[[noreturn]] void rangeError(Napi::Env env, const std::string& fn, const std::string& msg) {
  throw Napi::RangeError::New(env, fn + ": " + msg);
}

template <typename T>
Napi::TypedArrayOf<T> arrayArg(const Napi::CallbackInfo& info, size_t idx, const char* fn, const char* name, napi_typedarray_type type,
                               const char* typeName, int64_t length = -1) {
  Napi::Value v = info[idx];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    typeError(info.Env(), fn, std::string(name) + " must be a " + typeName);
  auto a = v.As<Napi::TypedArrayOf<T>>();
  if (length >= 0 && static_cast<int64_t>(a.ElementLength()) != length)
    rangeError(info.Env(), fn, std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, expected " + std::to_string(length));
  return a;
}

template <typename T>
T* optionalArray(const Napi::CallbackInfo& info, size_t idx, const char* fn, const char* name, napi_typedarray_type type,
                 const char* typeName, int64_t length) {
  if (info[idx].IsNull() || info[idx].IsUndefined()) return nullptr;
  return arrayArg<T>(info, idx, fn, name, type, typeName, length).Data();
}

double numberArg(const Napi::CallbackInfo& info, size_t idx, const char* fn, const char* name, double lo, double hi) {
  if (!info[idx].IsNumber()) typeError(info.Env(), fn, std::string(name) + " must be a number");
  const double v = info[idx].As<Napi::Number>().DoubleValue();
  if (!(v >= lo && v <= hi)) rangeError(info.Env(), fn, std::string(name) + " out of range");
  return v;
}

int intArg(const Napi::CallbackInfo& info, size_t idx, const char* fn, const char* name, int lo, int hi) {
  const double v = numberArg(info, idx, fn, name, lo, hi);
  if (v != static_cast<int>(v)) rangeError(info.Env(), fn, std::string(name) + " must be an integer");
  return static_cast<int>(v);
}

void needArgs(const Napi::CallbackInfo& info, size_t n, const char* fn) {
  if (info.Length() < n) typeError(info.Env(), fn, "expected " + std::to_string(n) + " arguments, got " + std::to_string(info.Length()));
}

Napi::Value Float64Result(Napi::Env env, const std::vector<double>& v) {
  auto out = Napi::Float64Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) out[i] = v[i];
  return out;
}

template <typename... Vals>
Napi::Value Start(KernelWorker* w, Vals... pinned) {
  (w->Pin(pinned), ...);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// calibrate(counts u16, dqf u8|null, params f64, values f32, qa u8, start, end)
Napi::Value Calibrate(const Napi::CallbackInfo& info) {
  const char* fn = "calibrate";
  needArgs(info, 7, fn);
  auto counts = arrayArg<uint16_t>(info, 0, fn, "counts", napi_uint16_array, "Uint16Array");
  const int64_t n = counts.ElementLength();
  const uint8_t* dqf = optionalArray<uint8_t>(info, 1, fn, "dqf", napi_uint8_array, "Uint8Array", n);
  auto params = arrayArg<double>(info, 2, fn, "params", napi_float64_array, "Float64Array");
  const size_t np = params.ElementLength();
  if (np < 5) rangeError(info.Env(), fn, "params too short");
  const int mode = static_cast<int>(params[0]);
  const size_t need[] = {8, 5, 10, 6};
  if (mode < 0 || mode > 3 || params[0] != mode || np != need[mode]) rangeError(info.Env(), fn, "params do not match a calibration mode");
  auto values = arrayArg<float>(info, 3, fn, "values", napi_float32_array, "Float32Array", n);
  auto qa = arrayArg<uint8_t>(info, 4, fn, "qa", napi_uint8_array, "Uint8Array", n);
  const size_t start = static_cast<size_t>(numberArg(info, 5, fn, "start", 0, static_cast<double>(n)));
  const size_t end = static_cast<size_t>(numberArg(info, 6, fn, "end", static_cast<double>(start), static_cast<double>(n)));
  const uint16_t* c = counts.Data();
  const double* p = params.Data();
  float* v = values.Data();
  uint8_t* q = qa.Data();
  auto* w = new KernelWorker(info.Env(), "swk.calibrate", [=] {
        swk::adviseHugePages(v + start, (end - start) * sizeof(float));
        swk::adviseHugePages(q + start, end - start);
        swk::calibrate(c, dqf, p, np, v, q, start, end);
      }, nullptr);
  return Start(w, info[0], info[1], info[2], info[3], info[4]);
}

// qaFlags(values f32, qa u8, lat f32|null, w, h, row0, row1, lo, hi, thr) → Float64Array [fill, dqf, range, isolated, space, valid]
// of the rows it masked (all but those next to another band: kernels.h)
Napi::Value QaFlags(const Napi::CallbackInfo& info) {
  const char* fn = "qaFlags";
  needArgs(info, 10, fn);
  const int w = intArg(info, 3, fn, "width", 1, 65536), h = intArg(info, 4, fn, "height", 1, 65536);
  const int64_t n = static_cast<int64_t>(w) * h;
  if (n > 2147483647) rangeError(info.Env(), fn, "width x height exceeds 2^31 - 1");
  auto values = arrayArg<float>(info, 0, fn, "values", napi_float32_array, "Float32Array", n);
  auto qa = arrayArg<uint8_t>(info, 1, fn, "qa", napi_uint8_array, "Uint8Array", n);
  const float* lat = optionalArray<float>(info, 2, fn, "lat", napi_float32_array, "Float32Array", n);
  const int row0 = intArg(info, 5, fn, "row0", 0, h), row1 = intArg(info, 6, fn, "row1", row0, h);
  const double lo = numberArg(info, 7, fn, "lo", -1e30, 1e30), hi = numberArg(info, 8, fn, "hi", lo, 1e30);
  const double thr = numberArg(info, 9, fn, "threshold", 0, 1e30);
  float* v = values.Data();
  uint8_t* q = qa.Data();
  auto counts = std::make_shared<std::vector<double>>(6, 0.0);
  auto* wk = new KernelWorker(
      info.Env(), "swk.qaFlags", [=] { swk::qaFlags(v, q, lat, w, h, row0, row1, lo, hi, thr, counts->data()); },
      [counts](Napi::Env env) { return Float64Result(env, *counts); });
  return Start(wk, info[0], info[1], info[2]);
}

// qaFinish(values f32, qa u8, start, end) → Float64Array [fill, dqf, range, isolated, space, valid]
Napi::Value QaFinish(const Napi::CallbackInfo& info) {
  const char* fn = "qaFinish";
  needArgs(info, 4, fn);
  auto values = arrayArg<float>(info, 0, fn, "values", napi_float32_array, "Float32Array");
  const int64_t n = values.ElementLength();
  auto qa = arrayArg<uint8_t>(info, 1, fn, "qa", napi_uint8_array, "Uint8Array", n);
  const size_t start = static_cast<size_t>(numberArg(info, 2, fn, "start", 0, static_cast<double>(n)));
  const size_t end = static_cast<size_t>(numberArg(info, 3, fn, "end", static_cast<double>(start), static_cast<double>(n)));
  float* v = values.Data();
  const uint8_t* q = qa.Data();
  auto counts = std::make_shared<std::vector<double>>(6, 0.0);
  auto* wk = new KernelWorker(
      info.Env(), "swk.qaFinish", [=] { swk::qaFinish(v, q, start, end, counts->data()); },
      [counts](Napi::Env env) { return Float64Result(env, *counts); });
  return Start(wk, info[0], info[1]);
}

// cloudTop(bt f32, mask u8, baseH f64, baseT f64, lapse f64, trop, coldRule, ctt f32, cth f32, start, end)
Napi::Value CloudTop(const Napi::CallbackInfo& info) {
  const char* fn = "cloudTop";
  needArgs(info, 11, fn);
  auto bt = arrayArg<float>(info, 0, fn, "bt", napi_float32_array, "Float32Array");
  const int64_t n = bt.ElementLength();
  auto mask = arrayArg<uint8_t>(info, 1, fn, "cloudMask", napi_uint8_array, "Uint8Array", n);
  auto baseH = arrayArg<double>(info, 2, fn, "baseH", napi_float64_array, "Float64Array");
  const int64_t nl = baseH.ElementLength();
  if (nl < 2) rangeError(info.Env(), fn, "profile needs at least 2 layers");
  auto baseT = arrayArg<double>(info, 3, fn, "baseT", napi_float64_array, "Float64Array", nl);
  auto lapse = arrayArg<double>(info, 4, fn, "lapse", napi_float64_array, "Float64Array", nl);
  const int trop = intArg(info, 5, fn, "tropopauseLayer", 1, static_cast<int>(nl) - 1);
  for (int i = 0; i < trop; i++)
    if (!(lapse[i] < 0)) rangeError(info.Env(), fn, "tropospheric layers must cool with height");
  const int coldRule = intArg(info, 6, fn, "coldRule", 0, 1);
  auto ctt = arrayArg<float>(info, 7, fn, "cttK", napi_float32_array, "Float32Array", n);
  auto cth = arrayArg<float>(info, 8, fn, "cthM", napi_float32_array, "Float32Array", n);
  const size_t start = static_cast<size_t>(numberArg(info, 9, fn, "start", 0, static_cast<double>(n)));
  const size_t end = static_cast<size_t>(numberArg(info, 10, fn, "end", static_cast<double>(start), static_cast<double>(n)));
  const swk::Profile prof{baseH.Data(), baseT.Data(), lapse.Data(), static_cast<int>(nl), trop, coldRule};
  const float* b = bt.Data();
  const uint8_t* m = mask.Data();
  float* t = ctt.Data();
  float* z = cth.Data();
  auto* wk = new KernelWorker(info.Env(), "swk.cloudTop", [=] {
        swk::adviseHugePages(t + start, (end - start) * sizeof(float));
        swk::adviseHugePages(z + start, (end - start) * sizeof(float));
        swk::cloudTop(b, m, prof, t, z, start, end);
      }, nullptr);
  return Start(wk, info[0], info[1], info[2], info[3], info[4], info[7], info[8]);
}

// cloudTopZoned(bt f32, mask u8, lat f32, month, baseH f64, baseT f64, lapse f64, offsets i32[7], trops i32[6], coldRule, ctt f32, cth f32, start, end)
// The six profiles of atmosphere.ts PROFILE_SET concatenated; profile k is layers offsets[k]..offsets[k+1].
Napi::Value CloudTopZoned(const Napi::CallbackInfo& info) {
  const char* fn = "cloudTopZoned";
  needArgs(info, 14, fn);
  auto bt = arrayArg<float>(info, 0, fn, "bt", napi_float32_array, "Float32Array");
  const int64_t n = bt.ElementLength();
  auto mask = arrayArg<uint8_t>(info, 1, fn, "cloudMask", napi_uint8_array, "Uint8Array", n);
  auto lat = arrayArg<float>(info, 2, fn, "latitude", napi_float32_array, "Float32Array", n);
  const int month = intArg(info, 3, fn, "month", 1, 12);
  auto baseH = arrayArg<double>(info, 4, fn, "baseH", napi_float64_array, "Float64Array");
  const int64_t nl = baseH.ElementLength();
  auto baseT = arrayArg<double>(info, 5, fn, "baseT", napi_float64_array, "Float64Array", nl);
  auto lapse = arrayArg<double>(info, 6, fn, "lapse", napi_float64_array, "Float64Array", nl);
  auto offsets = arrayArg<int32_t>(info, 7, fn, "offsets", napi_int32_array, "Int32Array", swk::kProfileSet + 1);
  auto trops = arrayArg<int32_t>(info, 8, fn, "trops", napi_int32_array, "Int32Array", swk::kProfileSet);
  const int coldRule = intArg(info, 9, fn, "coldRule", 0, 1);
  auto ctt = arrayArg<float>(info, 10, fn, "cttK", napi_float32_array, "Float32Array", n);
  auto cth = arrayArg<float>(info, 11, fn, "cthM", napi_float32_array, "Float32Array", n);
  const size_t start = static_cast<size_t>(numberArg(info, 12, fn, "start", 0, static_cast<double>(n)));
  const size_t end = static_cast<size_t>(numberArg(info, 13, fn, "end", static_cast<double>(start), static_cast<double>(n)));
  if (offsets[0] != 0 || offsets[swk::kProfileSet] != nl) rangeError(info.Env(), fn, "offsets must run from 0 to the layer count");
  auto profiles = std::make_shared<std::vector<swk::Profile>>();
  for (int k = 0; k < swk::kProfileSet; k++) {
    const int a = offsets[k], len = offsets[k + 1] - a;
    if (len < 2) rangeError(info.Env(), fn, "each profile needs at least 2 layers");
    const int trop = trops[k];
    if (trop < 1 || trop > len - 1) rangeError(info.Env(), fn, "tropopause layer out of range");
    for (int i = 0; i < trop; i++)
      if (!(lapse[a + i] < 0)) rangeError(info.Env(), fn, "tropospheric layers must cool with height");
    profiles->push_back({baseH.Data() + a, baseT.Data() + a, lapse.Data() + a, len, trop, coldRule});
  }
  const float* b = bt.Data();
  const uint8_t* m = mask.Data();
  const float* la = lat.Data();
  float* t = ctt.Data();
  float* z = cth.Data();
  auto* wk = new KernelWorker(
      info.Env(), "swk.cloudTopZoned", [=] {
        swk::adviseHugePages(t + start, (end - start) * sizeof(float));
        swk::adviseHugePages(z + start, (end - start) * sizeof(float));
        swk::cloudTopZoned(b, m, la, month, profiles->data(), t, z, start, end);
      }, nullptr);
  return Start(wk, info[0], info[1], info[2], info[4], info[5], info[6], info[10], info[11]);
}

// convection(bt f32, mask u8|null, w, h, row0, row1, params f64[5], offsets i32[32], deep u8, ot u8) → Float64Array [deep, ot, tops]
Napi::Value Convection(const Napi::CallbackInfo& info) {
  const char* fn = "convection";
  needArgs(info, 10, fn);
  const int w = intArg(info, 2, fn, "width", 1, 65536), h = intArg(info, 3, fn, "height", 1, 65536);
  const int64_t n = static_cast<int64_t>(w) * h;
  if (n > 2147483647) rangeError(info.Env(), fn, "width x height exceeds 2^31 - 1");
  auto bt = arrayArg<float>(info, 0, fn, "bt", napi_float32_array, "Float32Array", n);
  const uint8_t* mask = optionalArray<uint8_t>(info, 1, fn, "cloudMask", napi_uint8_array, "Uint8Array", n);
  const int row0 = intArg(info, 4, fn, "row0", 0, h), row1 = intArg(info, 5, fn, "row1", row0, h);
  auto params = arrayArg<double>(info, 6, fn, "params", napi_float64_array, "Float64Array", 5);
  auto offsets = arrayArg<int32_t>(info, 7, fn, "offsets", napi_int32_array, "Int32Array", 32);
  for (size_t k = 0; k < 32; k++)
    if (offsets[k] < -4096 || offsets[k] > 4096) rangeError(info.Env(), fn, "sample offsets must be within ±4096 pixels");
  auto deep = arrayArg<uint8_t>(info, 8, fn, "deepConvection", napi_uint8_array, "Uint8Array", n);
  auto ot = arrayArg<uint8_t>(info, 9, fn, "overshoot", napi_uint8_array, "Uint8Array", n);
  const float* b = bt.Data();
  const double* p = params.Data();
  const int32_t* off = offsets.Data();
  uint8_t* d = deep.Data();
  uint8_t* o = ot.Data();
  auto counts = std::make_shared<std::vector<double>>(3, 0.0);
  auto* wk = new KernelWorker(
      info.Env(), "swk.convection", [=] {
        const size_t a = static_cast<size_t>(row0) * w, e = static_cast<size_t>(row1) * w;
        swk::adviseHugePages(d + a, e - a);
        swk::convection(b, mask, w, h, row0, row1, p, off, d, o, counts->data());
      },
      [counts](Napi::Env env) { return Float64Result(env, *counts); });
  return Start(wk, info[0], info[1], info[6], info[7], info[8], info[9]);
}

// cyclones(bt f32, lat f32, lon f32, w, h, params f64[12]) → Float64Array of 13-number records
Napi::Value Cyclones(const Napi::CallbackInfo& info) {
  const char* fn = "cyclones";
  needArgs(info, 6, fn);
  const int w = intArg(info, 3, fn, "width", 1, 65536), h = intArg(info, 4, fn, "height", 1, 65536);
  const int64_t n = static_cast<int64_t>(w) * h;
  if (n > 2147483647) rangeError(info.Env(), fn, "width x height exceeds 2^31 - 1");
  auto bt = arrayArg<float>(info, 0, fn, "bt", napi_float32_array, "Float32Array", n);
  auto lat = arrayArg<float>(info, 1, fn, "lat", napi_float32_array, "Float32Array", n);
  auto lon = arrayArg<float>(info, 2, fn, "lon", napi_float32_array, "Float32Array", n);
  auto params = arrayArg<double>(info, 5, fn, "params", napi_float64_array, "Float64Array", 12);
  const float* b = bt.Data();
  const float* la = lat.Data();
  const float* lo = lon.Data();
  const double* p = params.Data();
  auto out = std::make_shared<std::vector<double>>();
  auto* wk = new KernelWorker(
      info.Env(), "swk.cyclones", [=] { swk::measureCyclones(b, la, lo, w, h, p, *out); },
      [out](Napi::Env env) { return Float64Result(env, *out); });
  return Start(wk, info[0], info[1], info[2], info[5]);
}

// allocF32(n) / allocU8(n): an uninitialised typed array of n elements on
// pooled memory (pool.h), for outputs a kernel overwrites entirely. Its
// ArrayBuffer is external: when it is collected the block goes back to the
// pool. (Node marks external buffers untransferable, so postMessage cannot
// move the memory out from under the pool.)
struct PoolHint {
  size_t capacity;
};

template <typename Array, size_t ElementSize>
Napi::Value AllocPooled(const Napi::CallbackInfo& info) {
  const char* fn = ElementSize == 4 ? "allocF32" : "allocU8";
  needArgs(info, 1, fn);
  const size_t n = static_cast<size_t>(intArg(info, 0, fn, "length", 1, 2147483647 / static_cast<int>(ElementSize)));
  const size_t bytes = n * ElementSize;
  size_t cap = 0;
  void* p = nullptr;
  try {
    p = swk::pool::take(bytes, cap);
  } catch (const std::bad_alloc&) {
    rangeError(info.Env(), fn, "out of memory for " + std::to_string(bytes) + " bytes");
  }
  auto* hint = new PoolHint{cap};
  Napi::ArrayBuffer ab;
  try {
    ab = Napi::ArrayBuffer::New(
        info.Env(), p, bytes,
        [](Napi::Env env, void* data, PoolHint* h) {
          Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(h->capacity));
          swk::pool::give(data, h->capacity);
          delete h;
        },
        hint);
  } catch (...) {
    swk::pool::give(p, cap);
    delete hint;
    throw;
  }
  // V8 does not count external buffers' memory by itself: without this it
  // would see no pressure to collect dropped rasters, and the blocks would
  // neither come back to the pool nor be freed.
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), static_cast<int64_t>(cap));
  return Array::New(info.Env(), n, ab, 0);
}

Napi::Value PoolFreeBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(swk::pool::freeBytes())); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("allocF32", Napi::Function::New(env, AllocPooled<Napi::Float32Array, 4>));
  exports.Set("allocU8", Napi::Function::New(env, AllocPooled<Napi::Uint8Array, 1>));
  exports.Set("poolFreeBytes", Napi::Function::New(env, PoolFreeBytes));
  exports.Set("calibrate", Napi::Function::New(env, Calibrate));
  exports.Set("qaFlags", Napi::Function::New(env, QaFlags));
  exports.Set("qaFinish", Napi::Function::New(env, QaFinish));
  exports.Set("cloudTop", Napi::Function::New(env, CloudTop));
  exports.Set("cloudTopZoned", Napi::Function::New(env, CloudTopZoned));
  exports.Set("convection", Napi::Function::New(env, Convection));
  exports.Set("cyclones", Napi::Function::New(env, Cyclones));
  exports.Set("version", Napi::Number::New(env, 1));
  return exports;
}

}  // namespace

NODE_API_MODULE(starweather_kernels, Init)
