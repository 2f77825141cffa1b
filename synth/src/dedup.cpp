#include "mcip/synth/dedup.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "mcip/synth/rng.h"

namespace mcip::synth {

bool HashSet64::insert(std::uint64_t key) {
  if (key == 0) key = 1;  // 0 marks an empty slot
  if ((size_ + 1) * 2 > slots_.size()) {
    std::vector<std::uint64_t> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, 0);
    size_ = 0;
    for (auto k : old)
      if (k) insert(k);
  }
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
    if (slots_[i] == key) return false;
    if (slots_[i] == 0) {
      slots_[i] = key;
      ++size_;
      return true;
    }
  }
}

bool HashSet64::contains(std::uint64_t key) const {
  if (key == 0) key = 1;
  if (slots_.empty()) return false;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
    if (slots_[i] == key) return true;
    if (slots_[i] == 0) return false;
  }
}

std::vector<std::uint32_t> minhash(const std::string& text, int shingle, int hashes) {
  const std::uint32_t empty = 0xffffffffu;
  std::vector<std::uint32_t> sig(static_cast<size_t>(hashes), empty);
  const size_t k = static_cast<size_t>(shingle);
  if (text.size() < k) {
    const std::uint64_t h = XXH3_64bits(text.data(), text.size());
    std::fill(sig.begin(), sig.end(), static_cast<std::uint32_t>(h));
    return sig;
  }
  for (size_t i = 0; i + k <= text.size(); ++i) {
    // Shingles of up to 8 bytes are packed into a word and mixed (much cheaper than a hash call).
    std::uint64_t h;
    if (k <= 8) {
      std::uint64_t word = 0;
      if (i + 8 <= text.size()) {
        std::memcpy(&word, text.data() + i, 8);  // fixed-size load, then keep the low k bytes
        if (k < 8) word &= (std::uint64_t{1} << (8 * k)) - 1;
      } else {
        std::memcpy(&word, text.data() + i, k);
      }
      h = mix64(word ^ (static_cast<std::uint64_t>(k) << 59));
    } else {
      h = XXH3_64bits(text.data() + i, k);
    }
    const size_t bucket = static_cast<size_t>((static_cast<unsigned __int128>(h) * static_cast<std::uint64_t>(hashes)) >> 64);
    const std::uint32_t v = static_cast<std::uint32_t>(h);
    if (v < sig[bucket]) sig[bucket] = v;
  }
  // Densification: empty buckets borrow from the next non-empty one (rotation).
  for (size_t b = 0; b < sig.size(); ++b)
    if (sig[b] == empty)
      for (size_t d = 1; d < sig.size(); ++d) {
        const std::uint32_t v = sig[(b + d) % sig.size()];
        if (v != empty) {
          sig[b] = v + static_cast<std::uint32_t>(d);
          break;
        }
      }
  return sig;
}

double estimated_jaccard(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b) {
  if (a.size() != b.size() || a.empty()) return 0;
  size_t eq = 0;
  for (size_t i = 0; i < a.size(); ++i) eq += a[i] == b[i];
  return static_cast<double>(eq) / static_cast<double>(a.size());
}

std::uint64_t NearIndex::band_key(const std::vector<std::uint32_t>& sig, int band) const {
  const int rows = opt_.hashes / opt_.bands;
  const std::uint64_t h = XXH3_64bits_withSeed(sig.data() + band * rows, sizeof(std::uint32_t) * static_cast<size_t>(rows),
                                               static_cast<std::uint64_t>(band) + 1);
  return h ? h : 1;
}

void NearIndex::table_insert(std::uint64_t key, std::uint32_t slot) {
  if ((used_ + 1) * 2 > table_.size()) {
    auto old = std::move(table_);
    table_.assign(old.empty() ? 4096 : old.size() * 2, {0, 0});
    used_ = 0;
    for (const auto& [k, s] : old)
      if (k) table_insert(k, s);
  }
  const size_t mask = table_.size() - 1;
  for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
    if (table_[i].first == key) return;  // keep the first holder of a band
    if (table_[i].first == 0) {
      table_[i] = {key, slot};
      ++used_;
      return;
    }
  }
}

std::vector<std::uint64_t> NearIndex::band_keys(const std::vector<std::uint32_t>& sig) const {
  std::vector<std::uint64_t> keys(static_cast<size_t>(opt_.bands));
  for (int b = 0; b < opt_.bands; ++b) keys[static_cast<size_t>(b)] = band_key(sig, b);
  return keys;
}

void NearIndex::query(const std::vector<std::uint32_t>& sig, int split, NearHit& cross, NearHit& within) const {
  query(sig, band_keys(sig), split, cross, within);
}

void NearIndex::query(const std::vector<std::uint32_t>& sig, const std::vector<std::uint64_t>& bands, int split, NearHit& cross,
                      NearHit& within) const {
  if (table_.empty()) return;
  const size_t mask = table_.size() - 1;
  const size_t n = sig.size();
  for (const std::uint64_t key : bands) {
    for (size_t i = mix64(key) & mask; table_[i].first != 0; i = (i + 1) & mask) {
      if (table_[i].first != key) continue;
      const std::uint32_t slot = table_[i].second;
      const std::uint32_t* other = sigs_.data() + static_cast<size_t>(slot) * n;
      size_t eq = 0;
      for (size_t h = 0; h < n; ++h) eq += sig[h] == other[h];
      const double j = n ? static_cast<double>(eq) / static_cast<double>(n) : 0.0;  // as estimated_jaccard
      if (j >= opt_.threshold) {
        NearHit& hit = splits_[slot] == split ? within : cross;
        if (!hit.found || j > hit.jaccard) hit = {true, splits_[slot], j};
      }
      break;
    }
  }
}

void NearIndex::reserve(std::size_t signatures) {
  signatures = std::min<std::size_t>(signatures, opt_.index_cap);
  const std::size_t keys = signatures * static_cast<std::size_t>(std::max(opt_.bands, 1));
  std::size_t slots = 4096;
  while (keys * 2 > slots) slots *= 2;  // same load limit as table_insert
  if (slots > table_.size()) {
    auto old = std::move(table_);
    table_.assign(slots, {0, 0});
    used_ = 0;
    for (const auto& [k, s] : old)
      if (k) table_insert(k, s);
  }
  sigs_.reserve(signatures * static_cast<std::size_t>(opt_.hashes));
  splits_.reserve(signatures);
}

void NearIndex::add(const std::vector<std::uint32_t>& sig, int split) { add(sig, band_keys(sig), split); }

void NearIndex::add(const std::vector<std::uint32_t>& sig, const std::vector<std::uint64_t>& bands, int split) {
  if (full()) return;
  const auto slot = static_cast<std::uint32_t>(splits_.size());
  sigs_.insert(sigs_.end(), sig.begin(), sig.end());
  splits_.push_back(static_cast<std::uint8_t>(split));
  for (const std::uint64_t key : bands) table_insert(key, slot);
}

}  // namespace mcip::synth
