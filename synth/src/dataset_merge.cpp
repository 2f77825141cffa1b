// `mcip-synth merge`: N shard folders -> the dataset folder of the unsharded run.
//
// Shard i of N generates example indices [count*i/N, count*(i+1)/N) after replaying the earlier
// indices' dedup decisions, so its split files are exactly a slice of the full run's and its
// counters count only its own examples. The merged manifest therefore follows from the shards':
// run-level fields are equal in every shard (checked), counters add up, achieved shares are
// recomputed from the summed counts, the dedup index size is the last shard's (it has seen every
// index), and the file hashes are recomputed over the concatenation. Nothing in the result says
// it was merged: the point is that it cannot be told apart from an unsharded run.
#include "mcip/synth/merge.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/synth/dataset_card.h"
#include "mcip/synth/document.h"
#include "mcip/synth/recorded_seeds.h"
#include "mcip/taxonomy.h"

namespace fs = std::filesystem;

namespace mcip::synth {
namespace {

constexpr const char* kFormat = "mcip-synth-dataset/1";

// Top-level manifest fields with a merge rule below; every other field describes the run as a
// whole and must be identical in all shards.
const std::set<std::string> kMergedFields = {"shard",          "labels",   "balance_notes", "hard_negatives",
                                             "maestro_layers", "variants", "dedup",         "files",
                                             "recorded_traces"};

struct Shard {
  fs::path dir;
  ojson manifest;
  std::uint64_t index = 0, count = 0, begin = 0, end = 0;
  fs::path manifest_path() const { return dir / "manifest.json"; }
};

std::string brief(const ojson& v) {
  std::string s = v.dump();
  return s.size() > 120 ? s.substr(0, 117) + "..." : s;
}

std::uint64_t unsigned_at(const ojson& m, const fs::path& file, const std::string& pointer) {
  const ojson::json_pointer ptr(pointer);
  if (!m.contains(ptr) || !m.at(ptr).is_number_unsigned())
    throw InputError(file.string(), 0, pointer, "missing or not a non-negative integer");
  return m.at(ptr).get<std::uint64_t>();
}

Shard load_shard(const fs::path& dir) {
  Shard s;
  s.dir = dir;
  if (!fs::is_directory(dir)) throw InputError(dir.string(), 0, "", "is not a folder (expected a shard written by mcip-synth --shard i/N)");
  if (!fs::exists(s.manifest_path()))
    throw InputError(s.manifest_path().string(), 0, "", "missing: not a dataset shard (an unfinished shard has no manifest)");
  try {
    s.manifest = ojson::parse(read_file(s.manifest_path()));
  } catch (const ojson::parse_error& e) {
    throw InputError(s.manifest_path().string(), 0, "", std::string("not valid JSON: ") + e.what());
  }
  if (!s.manifest.is_object() || s.manifest.value("format", "") != kFormat)
    throw InputError(s.manifest_path().string(), 0, "/format", fmt::format("not an mcip-synth dataset manifest (want \"{}\")", kFormat));
  s.index = unsigned_at(s.manifest, s.manifest_path(), "/shard/index");
  s.count = unsigned_at(s.manifest, s.manifest_path(), "/shard/count");
  s.begin = unsigned_at(s.manifest, s.manifest_path(), "/shard/begin");
  s.end = unsigned_at(s.manifest, s.manifest_path(), "/shard/end");
  const std::uint64_t total = unsigned_at(s.manifest, s.manifest_path(), "/count");
  if (s.count == 0 || s.index >= s.count)
    throw InputError(s.manifest_path().string(), 0, "/shard", fmt::format("index {} of {} is out of range", s.index, s.count));
  if (s.begin != total * s.index / s.count || s.end != total * (s.index + 1) / s.count)
    throw InputError(s.manifest_path().string(), 0, "/shard",
                     fmt::format("example range [{}, {}) is not shard {}/{} of {} examples", s.begin, s.end, s.index, s.count, total));
  for (const char* key : {"labels", "files", "balance_notes"})
    if (!s.manifest.contains(key) || !s.manifest[key].is_array())
      throw InputError(s.manifest_path().string(), 0, std::string("/") + key, "missing or not an array");
  for (const char* key : {"hard_negatives", "maestro_layers", "variants", "dedup"})
    if (!s.manifest.contains(key) || !s.manifest[key].is_object())
      throw InputError(s.manifest_path().string(), 0, std::string("/") + key, "missing or not an object");
  return s;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// Orders the shards by index and checks that 0..N-1 are each present exactly once.
void check_complete(std::vector<Shard>& shards) {
  std::stable_sort(shards.begin(), shards.end(), [](const Shard& a, const Shard& b) { return a.index < b.index; });
  const std::uint64_t n = shards.front().count;
  for (const auto& s : shards)
    if (s.count != n)
      throw InputError(s.manifest_path().string(), 0, "/shard/count",
                       fmt::format("is {} but {} is a shard of {}; shards of different runs cannot be merged", s.count,
                                   shards.front().dir.string(), n));
  for (size_t i = 1; i < shards.size(); ++i)
    if (shards[i].index == shards[i - 1].index)
      throw InputError(shards[i].manifest_path().string(), 0, "/shard/index",
                       fmt::format("shard {}/{} is given twice: {} and {}", shards[i].index, n, shards[i - 1].dir.string(),
                                   shards[i].dir.string()));
  std::vector<std::string> missing;
  for (std::uint64_t i = 0, j = 0; i < n; ++i) {
    if (j < shards.size() && shards[j].index == i) ++j;
    else missing.push_back(fmt::format("{}/{}", i, n));
  }
  if (!missing.empty()) {
    std::string given;
    for (const auto& s : shards) given += fmt::format("{}{} ({}/{})", given.empty() ? "" : ", ", s.dir.string(), s.index, n);
    throw InputError("", 0, "shards", fmt::format("shard{} {} missing (given: {})", missing.size() > 1 ? "s" : "",
                                                  join(missing), given));
  }
}

// Run-level fields must be identical; the message names the first field that differs.
void check_same_run(const std::vector<Shard>& shards, const taxonomy::Taxonomy& tax) {
  const Shard& ref = shards.front();
  for (const auto& s : shards) {
    std::set<std::string> keys;
    for (const auto& [k, v] : ref.manifest.items()) keys.insert(k);
    for (const auto& [k, v] : s.manifest.items()) keys.insert(k);
    // The seed and config first: they are what a user most likely mixed up.
    std::vector<std::string> order = {"generator", "seed", "count", "config"};
    for (const auto& k : keys)
      if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
    for (const auto& k : order) {
      if (kMergedFields.count(k)) continue;
      const bool in_ref = ref.manifest.contains(k), in_s = s.manifest.contains(k);
      if (in_ref && in_s && ref.manifest[k] == s.manifest[k]) continue;
      throw InputError(s.manifest_path().string(), 0, "/" + k,
                       fmt::format("{} but shard {} ({}) has {}: the shards are not from one run",
                                   in_s ? "is " + brief(s.manifest[k]) : "is missing", ref.index, ref.dir.string(),
                                   in_ref ? brief(ref.manifest[k]) : "none"));
    }
  }
  // The dataset card names this binary's taxonomy, so it must be the one the shards used.
  const std::string hash = ref.manifest.contains("taxonomy") ? ref.manifest["taxonomy"].value("hash", "") : "";
  if (hash != tax.hash())
    throw InputError(ref.manifest_path().string(), 0, "/taxonomy/hash",
                     fmt::format("'{}' differs from this mcip-synth's taxonomy ({}); merge with the mcip-synth that generated "
                                 "the shards", hash, tax.hash()));
}

void add_counts(std::map<std::string, std::uint64_t>& into, const ojson& object, const Shard& s, const std::string& field) {
  for (const auto& [k, v] : object.items()) {
    if (!v.is_number_unsigned()) throw InputError(s.manifest_path().string(), 0, "/" + field + "/" + k, "not a count");
    into[k] += v.get<std::uint64_t>();
  }
}

// The label rows: counts and totals add up, shares are recomputed exactly as a run computes them.
ojson merge_labels(const std::vector<Shard>& shards, std::uint64_t total_records) {
  const ojson& ref_rows = shards.front().manifest["labels"];
  ojson rows = ref_rows;
  for (const auto& s : shards) {
    const ojson& theirs = s.manifest["labels"];
    if (theirs.size() != ref_rows.size())
      throw InputError(s.manifest_path().string(), 0, "/labels", fmt::format("has {} rows, shard 0 has {}", theirs.size(), ref_rows.size()));
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    ojson& row = rows[r];
    std::map<std::string, std::uint64_t> counts;
    std::uint64_t total = 0, requested = 0;
    for (const auto& s : shards) {
      const ojson& theirs = s.manifest["labels"][r];
      const std::string at = fmt::format("labels/{}", r);
      for (const auto& [k, v] : ref_rows[r].items())
        if (k != "counts" && k != "total" && k != "requested" && k != "achieved_share" && (!theirs.contains(k) || theirs[k] != v))
          throw InputError(s.manifest_path().string(), 0, "/" + at + "/" + k, "differs from shard 0's: the shards are not from one run");
      if (!theirs.contains("counts") || !theirs["counts"].is_object())
        throw InputError(s.manifest_path().string(), 0, "/" + at + "/counts", "missing");
      add_counts(counts, theirs["counts"], s, at + "/counts");
      total += unsigned_at(theirs, s.manifest_path(), "/total");
      requested += unsigned_at(theirs, s.manifest_path(), "/requested");
    }
    for (auto& [k, v] : row["counts"].items()) v = counts[k];
    row["total"] = total;
    row["achieved_share"] = total_records ? static_cast<double>(total) / static_cast<double>(total_records) : 0.0;
    row["requested"] = requested;
  }
  return rows;
}

ojson merge_dedup(const std::vector<Shard>& shards) {
  ojson dedup = shards.front().manifest["dedup"];
  for (auto& [k, v] : dedup.items()) {
    if (k == "near_index_cap") continue;  // config, equal everywhere (checked below)
    if (k == "near_index_size") {
      // The last shard replayed every earlier index, so its index is the full run's.
      v = shards.back().manifest["dedup"].value(k, ojson());
      continue;
    }
    std::uint64_t sum = 0;
    for (const auto& s : shards) sum += unsigned_at(s.manifest, s.manifest_path(), "/dedup/" + k);
    v = sum;
  }
  for (const auto& s : shards) {
    const ojson& theirs = s.manifest["dedup"];
    for (const auto& [k, v] : theirs.items())
      if (!dedup.contains(k)) throw InputError(s.manifest_path().string(), 0, "/dedup/" + k, "not in shard 0's manifest");
    if (theirs.value("near_index_cap", ojson()) != shards.front().manifest["dedup"].value("near_index_cap", ojson()))
      throw InputError(s.manifest_path().string(), 0, "/dedup/near_index_cap", "differs from shard 0's");
  }
  return dedup;
}

ojson merge_counted_object(const std::vector<Shard>& shards, const std::string& field) {
  std::map<std::string, std::uint64_t> sum;
  for (const auto& s : shards) add_counts(sum, s.manifest[field], s, field);
  return ojson(sum);  // sorted keys, as a run writes its std::map counters
}

ojson merge_balance_notes(const std::vector<Shard>& shards) {
  std::map<std::string, std::uint64_t> sum;
  for (const auto& s : shards)
    for (size_t i = 0; i < s.manifest["balance_notes"].size(); ++i) {
      const ojson& note = s.manifest["balance_notes"][i];
      if (!note.is_object() || !note.contains("reason") || !note["reason"].is_string())
        throw InputError(s.manifest_path().string(), 0, fmt::format("/balance_notes/{}/reason", i), "missing");
      sum[note["reason"].get<std::string>()] += unsigned_at(note, s.manifest_path(), "/count");
    }
  ojson notes = ojson::array();
  for (const auto& [why, n] : sum) notes.push_back({{"reason", why}, {"count", n}});
  return notes;
}

struct XxhState {
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state{XXH3_createState(), &XXH3_freeState};
  XxhState() { XXH3_128bits_reset(state.get()); }
  void update(const char* data, size_t n) { XXH3_128bits_update(state.get(), data, n); }
  std::string hex() const {
    const XXH128_hash_t h = XXH3_128bits_digest(state.get());
    return fmt::format("{:016x}{:016x}", h.high64, h.low64);
  }
};

struct FileEntry {
  std::string split, file;
  std::uint64_t records = 0, bytes = 0;
};

// The split file entries, which must name the same files in the same order in every shard.
std::vector<FileEntry> file_entries(const std::vector<Shard>& shards) {
  std::vector<FileEntry> out;
  const ojson& ref = shards.front().manifest["files"];
  for (const auto& s : shards) {
    const ojson& files = s.manifest["files"];
    if (files.size() != ref.size())
      throw InputError(s.manifest_path().string(), 0, "/files", fmt::format("lists {} files, shard 0 lists {}", files.size(), ref.size()));
    for (size_t i = 0; i < files.size(); ++i) {
      const auto at = fmt::format("/files/{}", i);
      for (const char* k : {"split", "file", "xxh128"})
        if (!files[i].contains(k) || !files[i][k].is_string())
          throw InputError(s.manifest_path().string(), 0, at + "/" + k, "missing or not a string");
      if (files[i]["split"] != ref[i]["split"] || files[i]["file"] != ref[i]["file"])
        throw InputError(s.manifest_path().string(), 0, at, "names a different split file than shard 0's");
      const std::string name = files[i]["file"];
      if (name.empty() || name.find('/') != std::string::npos || name[0] == '.')
        throw InputError(s.manifest_path().string(), 0, at + "/file", fmt::format("'{}' is not a plain file name", name));
    }
  }
  for (const auto& f : ref) out.push_back({f["split"].get<std::string>(), f["file"].get<std::string>(), 0, 0});
  return out;
}

// Fails fast, before copying anything, on a shard file that is missing or has the wrong size.
void check_sizes(const std::vector<Shard>& shards) {
  for (const auto& s : shards)
    for (size_t i = 0; i < s.manifest["files"].size(); ++i) {
      const ojson& f = s.manifest["files"][i];
      const fs::path path = s.dir / f["file"].get<std::string>();
      const std::uint64_t want = unsigned_at(f, s.manifest_path(), "/bytes");
      unsigned_at(f, s.manifest_path(), "/records");
      std::error_code ec;
      const auto have = fs::file_size(path, ec);
      if (ec) throw InputError(path.string(), 0, fmt::format("files[{}]", i), "listed in the shard manifest but cannot be read: " + ec.message());
      if (have < want)
        throw InputError(path.string(), 0, fmt::format("files[{}].bytes", i),
                         fmt::format("truncated: {} bytes, the shard manifest says {}", have, want));
      if (have > want)
        throw InputError(path.string(), 0, fmt::format("files[{}].bytes", i),
                         fmt::format("{} bytes but the shard manifest says {} (changed after it was written)", have, want));
    }
}

// Appends one shard file to `out` while checking it against its manifest entry.
void append_verified(const Shard& s, size_t file_index, std::ofstream& out, XxhState& merged, FileEntry& entry) {
  const ojson& f = s.manifest["files"][file_index];
  const fs::path path = s.dir / f["file"].get<std::string>();
  const std::string field = fmt::format("files[{}]", file_index);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), 0, field, "cannot be read");
  XxhState own;
  std::vector<char> buf(1 << 20);
  std::uint64_t bytes = 0, lines = 0;
  char last = '\n';
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    own.update(buf.data(), n);
    merged.update(buf.data(), n);
    lines += static_cast<std::uint64_t>(std::count(buf.data(), buf.data() + n, '\n'));
    last = buf[n - 1];
    bytes += n;
    out.write(buf.data(), static_cast<std::streamsize>(n));
  }
  if (in.bad()) throw InputError(path.string(), 0, field, "read failed");
  const std::uint64_t want_bytes = f["bytes"].get<std::uint64_t>(), want_records = f["records"].get<std::uint64_t>();
  if (bytes != want_bytes)
    throw InputError(path.string(), 0, field + ".bytes", fmt::format("{} bytes, the shard manifest says {}", bytes, want_bytes));
  if (last != '\n') throw InputError(path.string(), 0, field, "truncated: the last record has no line end");
  if (lines != want_records)
    throw InputError(path.string(), 0, field + ".records", fmt::format("{} records, the shard manifest says {}", lines, want_records));
  if (own.hex() != f["xxh128"].get<std::string>())
    throw InputError(path.string(), 0, field + ".xxh128",
                     fmt::format("content hash {} does not match the shard manifest's {} (the file changed after it was written)",
                                 own.hex(), f["xxh128"].get<std::string>()));
  entry.records += lines;
  entry.bytes += bytes;
}

void fsync_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  const bool ok = fd >= 0 && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok) throw std::runtime_error(fmt::format("cannot fsync {}", path.string()));
}

void check_out(const fs::path& out, const std::vector<Shard>& shards) {
  if (fs::exists(out) && !fs::is_directory(out)) throw InputError(out.string(), 0, "--out", "exists and is not a folder");
  if (fs::is_directory(out) && !fs::is_empty(out) && !fs::exists(out / "manifest.json"))
    throw InputError(out.string(), 0, "--out", "folder exists, is not empty and holds no dataset; refusing to replace it");
  for (const auto& s : shards) {
    std::error_code ec;
    if (fs::exists(out) && fs::equivalent(out, s.dir, ec))
      throw InputError(out.string(), 0, "--out", "is one of the shard folders being merged");
  }
}

}  // namespace

MergeSummary merge_shards(const std::vector<fs::path>& shard_dirs, const fs::path& out, std::ostream* log) {
  const auto start = std::chrono::steady_clock::now();
  if (shard_dirs.empty()) throw InputError("", 0, "SHARD_DIR", "name at least one shard folder");
  const auto tax = taxonomy::Taxonomy::embedded();
  std::vector<Shard> shards;
  for (const auto& dir : shard_dirs) shards.push_back(load_shard(dir));
  check_complete(shards);
  check_same_run(shards, tax);
  std::vector<FileEntry> entries = file_entries(shards);
  check_sizes(shards);
  check_out(out, shards);

  ojson m = shards.front().manifest;
  const std::uint64_t count = m["count"].get<std::uint64_t>();
  m["shard"] = {{"index", 0}, {"count", 1}, {"begin", 0}, {"end", count}};
  m["balance_notes"] = merge_balance_notes(shards);
  for (const char* field : {"hard_negatives", "maestro_layers", "variants"}) m[field] = merge_counted_object(shards, field);
  m["dedup"] = merge_dedup(shards);
  // Recorded-seed counters add up; share and trace files must agree (recorded_seeds.h).
  if (m.contains("recorded_traces")) {
    std::vector<ojson> blocks;
    for (const auto& s : shards) {
      blocks.push_back(s.manifest.value("recorded_traces", ojson()));
      try {
        merge_seeds_manifests({blocks.front(), blocks.back()});  // names the shard that does not fit
      } catch (const std::exception& e) {
        throw InputError(s.manifest_path().string(), 0, "/recorded_traces",
                         fmt::format("{} (compared with shard 0, {}): the shards are not from one run", e.what(),
                                     shards.front().dir.string()));
      }
    }
    m["recorded_traces"] = merge_seeds_manifests(blocks);
  }

  const fs::path parent = fs::absolute(out).parent_path();
  fs::create_directories(parent);
  const fs::path tmp = parent / fmt::format(".{}.tmp-{}", out.filename().string(), ::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  MergeSummary summary;
  summary.shards = shards.size();
  try {
    for (size_t i = 0; i < entries.size(); ++i) {
      const fs::path dst = tmp / entries[i].file;
      std::ofstream file(dst, std::ios::binary);
      if (!file) throw std::runtime_error("cannot create " + dst.string());
      XxhState merged;
      for (const auto& s : shards) append_verified(s, i, file, merged, entries[i]);
      file.flush();
      if (!file) throw std::runtime_error(fmt::format("writing {} failed (disk full?)", dst.string()));
      file.close();
      fsync_file(dst);
      ojson& f = m["files"][i];
      f["records"] = entries[i].records;
      f["bytes"] = entries[i].bytes;
      f["xxh128"] = merged.hex();
      summary.records += entries[i].records;
      summary.bytes += entries[i].bytes;
    }
    m["labels"] = merge_labels(shards, summary.records);
    write_file_atomic(tmp / "manifest.json", m.dump(2) + "\n");
    write_file_atomic(tmp / "README.md", dataset_card(m, tax));
    fsync_directory(tmp);
    // Swap the finished folder in; a previous dataset at `out` is replaced only now.
    if (fs::exists(out)) {
      const fs::path old = parent / fmt::format(".{}.old-{}", out.filename().string(), ::getpid());
      fs::rename(out, old);
      fs::rename(tmp, out);
      fs::remove_all(old);
    } else {
      fs::rename(tmp, out);
    }
    fsync_directory(parent);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  if (log)
    for (const auto& s : shards)
      *log << fmt::format("mcip-synth merge: shard {}/{} {} examples [{}, {}) from {}\n", s.index, s.count, s.end - s.begin, s.begin,
                          s.end, s.dir.string());
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace mcip::synth
