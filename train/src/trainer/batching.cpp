// Length-bucketed epoch order and class weights. Everything random flows from (seed, epoch)
// through a fixed Fisher-Yates over mt19937_64, so the order is identical on every platform
// and thread count, and a resumed run recomputes exactly the batches it had left.
#include <algorithm>
#include <cmath>
#include <random>

#include "mcip/hash.h"
#include "mcip/trainer_data.h"

namespace mcip::train {
namespace {

template <class T>
void shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

}  // namespace

std::vector<std::vector<std::int64_t>> epoch_batches(const TokenizedSplit& split, std::int64_t global_batch,
                                                     std::int64_t bucket_batches, std::uint64_t seed,
                                                     std::int64_t epoch) {
  const auto n = static_cast<std::int64_t>(split.examples.size());
  std::mt19937_64 rng(seed ^ (0x5851f42d4c957f2dULL * static_cast<std::uint64_t>(epoch + 1)));
  std::vector<std::int64_t> order(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  shuffle(order, rng);
  const std::int64_t window = std::max<std::int64_t>(1, bucket_batches) * global_batch;
  auto length = [&](std::int64_t i) { return split.examples[static_cast<size_t>(i)].ids.size(); };
  for (std::int64_t start = 0; start < n; start += window) {
    auto b = order.begin() + start, e = order.begin() + std::min(n, start + window);
    std::stable_sort(b, e, [&](std::int64_t x, std::int64_t y) { return length(x) < length(y); });
  }
  std::vector<std::vector<std::int64_t>> batches;
  for (std::int64_t start = 0; start < n; start += global_batch) {
    const std::int64_t end = std::min(n, start + global_batch);
    if (end - start < global_batch && n >= global_batch) break;  // drop the ragged tail
    batches.emplace_back(order.begin() + start, order.begin() + end);
  }
  shuffle(batches, rng);
  return batches;
}

std::vector<double> class_weights(const std::vector<std::int64_t>& counts, ClassWeighting weighting) {
  std::vector<double> w(counts.size(), 1.0);
  if (weighting == ClassWeighting::None) return w;
  double sum = 0;
  int present = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    const double inv = 1.0 / static_cast<double>(counts[i]);
    w[i] = weighting == ClassWeighting::InverseFrequency ? inv : std::sqrt(inv);
    sum += w[i];
    ++present;
  }
  for (size_t i = 0; i < counts.size(); ++i) w[i] = counts[i] == 0 ? 0.0 : w[i] * present / sum;
  return w;
}

}  // namespace mcip::train
