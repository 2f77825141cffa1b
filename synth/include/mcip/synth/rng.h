// Counter-based randomness: every draw is a pure function of (seed, stream, counter), so an
// example depends only on the run seed and its own index, never on thread scheduling.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace mcip::synth {

inline std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  // One independent stream per (seed, a, b, c): e.g. (run seed, example index, attempt, purpose).
  Rng(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0)
      : key_(mix64(mix64(mix64(seed ^ 0x6d636970ULL) ^ a) + b) ^ mix64(c + 0x5bd1e995ULL)) {}

  std::uint64_t next() { return mix64(key_ + 0x632be59bd9b4e019ULL * ++counter_); }
  // Uniform in [0, n); n > 0. Lemire's multiply-shift (bias < 2^-64 * n, negligible here).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  int below_int(std::size_t n) { return static_cast<int>(below(n)); }
  std::int64_t range(std::int64_t lo, std::int64_t hi) {  // inclusive
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }
  double real() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return real() < p; }
  template <class T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }
  // A child stream, for sub-steps whose number of draws must not shift later draws.
  Rng fork(std::uint64_t tag) { return Rng(key_, tag, next()); }

 private:
  std::uint64_t key_;
  std::uint64_t counter_ = 0;
};

}  // namespace mcip::synth
