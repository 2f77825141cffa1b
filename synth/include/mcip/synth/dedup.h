// Duplicate detection: exact (64-bit hash of the normalized rendering) and near-duplicate
// (one-permutation MinHash over character shingles, banded LSH, verified by estimated Jaccard).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mcip/synth/config.h"

namespace mcip::synth {

// Open-addressing set of non-zero 64-bit keys; 8 bytes per slot, grows by doubling.
class HashSet64 {
 public:
  bool insert(std::uint64_t key);  // false when already present
  bool contains(std::uint64_t key) const;
  std::size_t size() const { return size_; }

 private:
  std::vector<std::uint64_t> slots_;
  std::size_t size_ = 0;
};

std::vector<std::uint32_t> minhash(const std::string& text, int shingle, int hashes);
double estimated_jaccard(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b);

struct NearHit {
  bool found = false;
  int split = -1;
  double jaccard = 0;
};

// Bounded LSH index: at most `cap` signatures are kept; queries look for the best verified match.
class NearIndex {
 public:
  explicit NearIndex(const NearDupOptions& opt) : opt_(opt) {}
  // Best match (>= threshold) in a split other than `split` (cross) or equal to it (within).
  void query(const std::vector<std::uint32_t>& sig, int split, NearHit& cross, NearHit& within) const;
  void add(const std::vector<std::uint32_t>& sig, int split);
  // The LSH band keys of a signature. Safe to call from any thread (reads only the options), so
  // a parallel stage can compute them and leave the in-order stage just the table work below.
  std::vector<std::uint64_t> band_keys(const std::vector<std::uint32_t>& sig) const;
  void query(const std::vector<std::uint32_t>& sig, const std::vector<std::uint64_t>& bands, int split, NearHit& cross,
             NearHit& within) const;
  void add(const std::vector<std::uint32_t>& sig, const std::vector<std::uint64_t>& bands, int split);
  // Sizes the index for `signatures` entries (at most the cap) up front, so the in-order stage
  // does not stop to rehash. Results do not depend on it.
  void reserve(std::size_t signatures);
  std::size_t size() const { return splits_.size(); }
  bool full() const { return splits_.size() >= opt_.index_cap; }

 private:
  std::uint64_t band_key(const std::vector<std::uint32_t>& sig, int band) const;
  NearDupOptions opt_;
  std::vector<std::uint32_t> sigs_;  // flattened
  std::vector<std::uint8_t> splits_;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> table_;  // band key -> first slot (+1), open addressing
  std::size_t used_ = 0;
  void table_insert(std::uint64_t key, std::uint32_t slot);
};

}  // namespace mcip::synth
