#include <tbb/global_control.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <time.h>

#include <array>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/hash.h"
#include "mcip/synth/dataset.h"
#include "mcip/synth/dataset_card.h"
#include "mcip/synth/dedup.h"
#include "mcip/synth/example.h"
#include "mcip/synth/recorded_seeds.h"
#include "mcip/taxonomy.h"

#ifndef MCIP_VERSION
#define MCIP_VERSION "0.0.0"
#endif

namespace fs = std::filesystem;

namespace mcip::synth {

const std::array<const char*, 4> kSplits = {"train", "validation", "test", "test_unseen_tools"};
int split_id(const std::string& s) {
  for (size_t i = 0; i < kSplits.size(); ++i)
    if (s == kSplits[i]) return static_cast<int>(i);
  return -1;
}

struct SynthRun::State {
  taxonomy::Taxonomy tax = taxonomy::Taxonomy::embedded();
  std::unique_ptr<World> world;
  std::unique_ptr<PromptTemplate> prompt;
  std::unique_ptr<ExampleFactory> factory;
  std::vector<std::string> catalog_files;
};

std::pair<std::uint64_t, std::uint64_t> parse_shard(const std::string& spec) {
  const size_t slash = spec.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    size_t used = 0;
    const auto i = std::stoull(spec.substr(0, slash), &used);
    if (used != slash) throw std::invalid_argument("junk");
    const auto n = std::stoull(spec.substr(slash + 1), &used);
    if (used != spec.size() - slash - 1 || n == 0 || i >= n) throw std::invalid_argument("range");
    return {i, n};
  } catch (const std::exception&) {
    throw InputError("", 0, "--shard", fmt::format("'{}' is not i/N with 0 <= i < N", spec));
  }
}

static std::string expand_data_var(const std::string& s, const std::string& data) {
  std::string out = s;
  for (size_t p; (p = out.find("${MCIP_DATA}")) != std::string::npos;) out.replace(p, 12, data);
  return out;
}

SynthRun::SynthRun(const RunOverrides& o) : s_(std::make_unique<State>()), o_(o) {
  SynthConfig cfg = load_config(o.config_file);
  const std::string origin = o.config_file.empty() ? "<embedded configs/synth.yaml>" : o.config_file;
  if (o.count) cfg.count = *o.count;
  if (o.seed) cfg.seed = *o.seed;
  if (o.threads) cfg.threads = *o.threads;
  if (cfg.count == 0) throw InputError("", 0, "--count", "must be at least 1");
  cfg.effective["seed"] = cfg.seed;
  cfg.effective["count"] = cfg.count;
  cfg.effective.erase("threads");  // does not affect the output; kept out so manifests match across thread counts
  cfg.resolve_labels(s_->tax, origin);

  const std::string data = default_data_dir();
  std::vector<std::string> entries;
  const fs::path base = o.config_file.empty() ? fs::current_path() : fs::absolute(o.config_file).parent_path();
  for (const auto& e : cfg.catalogs) {
    fs::path p = expand_data_var(e, data);
    if (p.is_relative()) p = base / p;
    entries.push_back(p.string());
  }
  s_->catalog_files = expand_catalog_paths(entries, origin);
  if (s_->catalog_files.empty())
    throw InputError(origin, 0, "catalogs", fmt::format("no catalog files matched (data folder: '{}'; set MCIP_DATA_DIR or list catalogs in the config)", data));
  Catalog catalog = Catalog::load(s_->catalog_files);
  auto load_or = [&](const std::string& file, auto embedded, auto from_doc) {
    return file.empty() ? embedded() : from_doc(Document::load(fs::path(file).is_relative() ? (base / file).string() : file));
  };
  ValuePools pools = load_or(cfg.value_pools_file, [] { return ValuePools::embedded(); },
                             [](const Document& d) { return ValuePools::from_document(d); });
  Phrasing phrasing = load_or(cfg.phrasing_file, [] { return Phrasing::embedded(); },
                              [](const Document& d) { return Phrasing::from_document(d); });
  const auto& tax = s_->tax;
  s_->prompt = std::make_unique<PromptTemplate>(load_or(cfg.prompt_template_file, [&] { return PromptTemplate::embedded(tax); },
                                                        [&](const Document& d) { return PromptTemplate::from_document(d, tax); }));
  s_->world = std::make_unique<World>(std::move(catalog), std::move(pools), std::move(phrasing), std::move(cfg));
  if (s_->world->config().recorded_share > 0) {
    std::vector<std::string> traces;
    for (const auto& e : s_->world->config().recorded_trace_files) {
      fs::path p = expand_data_var(e, data);
      traces.push_back((p.is_relative() ? base / p : p).string());
    }
    s_->world->set_seeds(RecordedSeeds::load(expand_trace_paths(traces, origin, "recorded_traces.files"), s_->world->catalog()));
  }
  s_->factory = std::make_unique<ExampleFactory>(*s_->world, s_->tax, *s_->prompt);
}

SynthRun::~SynthRun() = default;
const SynthConfig& SynthRun::config() const { return s_->world->config(); }

namespace {

struct Counters {
  std::vector<std::array<std::uint64_t, 4>> label_split;  // [label][split]
  std::vector<std::uint64_t> target;                      // per label
  std::map<std::string, std::uint64_t> unreachable, hard_negatives, layers, variants;
  std::array<std::uint64_t, 4> split_bytes{}, split_records{};
  SeedTally seeds;  // examples built from recorded real exchanges
  std::uint64_t exact_resampled = 0, near_cross_resampled = 0, near_cross_kept = 0, near_within = 0, dropped = 0,
                held_out_in_train = 0;
};

// CPU time of the calling thread: stage costs that other processes on the machine do not inflate.
std::uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// What the in-order commit decided for one example of a chunk.
enum class Fate : std::uint8_t { skipped, original, resampled };  // skipped: replayed (other shard) or dropped

// A run of consecutive indices. The parallel stage generates, signs and lays out the records; the
// serial stages only decide (dedup, counters) and append, so they stay a small share of the work.
struct Chunk {
  std::uint64_t begin = 0, end = 0;
  std::vector<Example> examples;  // records moved into `text`; a resampled example keeps its own
  std::vector<std::vector<std::uint32_t>> sigs;
  std::vector<std::vector<std::uint64_t>> bands;  // LSH band keys of each signature
  std::vector<int> split;                          // split of each example as generated
  std::vector<std::size_t> record_bytes;           // record size with its newline (0: keys only)
  std::vector<Fate> fate;
  std::array<std::string, 4> text;  // records per split in index order, newline-terminated (when writing)
};

}  // namespace

RunSummary SynthRun::generate(const fs::path& out, std::ostream* log) const {
  const auto start = std::chrono::steady_clock::now();
  const World& world = *s_->world;
  const SynthConfig& cfg = world.config();
  const ExampleFactory& factory = *s_->factory;
  const auto& tax = s_->tax;
  const std::uint64_t begin = cfg.count * o_.shard_index / o_.shard_count;
  const std::uint64_t end = cfg.count * (o_.shard_index + 1) / o_.shard_count;
  const bool write = !out.empty();

  fs::path tmp;
  std::array<std::ofstream, 4> files;
  std::array<XXH3_state_t*, 4> file_hash{};
  if (write) {
    if (fs::exists(out) && !fs::is_directory(out)) throw InputError(out.string(), 0, "--out", "exists and is not a folder");
    if (fs::is_directory(out) && !fs::is_empty(out) && !fs::exists(out / "manifest.json"))
      throw InputError(out.string(), 0, "--out", "folder exists, is not empty and holds no dataset; refusing to replace it");
    const fs::path parent = fs::absolute(out).parent_path();
    fs::create_directories(parent);
    tmp = parent / fmt::format(".{}.tmp-{}", out.filename().string(), ::getpid());
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    for (size_t i = 0; i < kSplits.size(); ++i) {
      files[i].open(tmp / (std::string(kSplits[i]) + ".jsonl"), std::ios::binary);
      if (!files[i]) throw std::runtime_error("cannot create " + (tmp / kSplits[i]).string());
      file_hash[i] = XXH3_createState();
      XXH3_128bits_reset(file_hash[i]);
    }
  }
  auto cleanup = [&] {
    for (auto* h : file_hash)
      if (h) XXH3_freeState(h);
    if (write) {
      std::error_code ec;
      fs::remove_all(tmp, ec);
    }
  };

  Counters k;
  k.label_split.assign(tax.labels().size(), {0, 0, 0, 0});
  k.target.assign(tax.labels().size(), 0);
  HashSet64 seen;
  NearIndex near(cfg.near);
  if (cfg.near.enabled) near.reserve(end);
  const int threads = cfg.threads > 0 ? cfg.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::uint64_t chunk = 64;
  std::uint64_t next = 0, progress_at = 0;
  RunSummary summary;
  std::atomic<std::uint64_t> generate_ns{0};
  std::uint64_t commit_ns = 0, write_ns = 0;

  auto sign = [&](const Example& ex, std::vector<std::uint32_t>& sig, std::vector<std::uint64_t>& bands) {
    if (!cfg.near.enabled) return;
    sig = minhash(ex.chat, cfg.near.shingle, cfg.near.hashes);
    bands = near.band_keys(sig);
  };
  // Parallel stage: everything that depends on one index alone.
  auto generate_chunk = [&](Chunk& c) {
    const size_t n = c.end - c.begin;
    c.examples.reserve(n);
    c.sigs.resize(n);
    c.bands.resize(n);
    c.split.resize(n);
    c.record_bytes.resize(n);
    c.fate.assign(n, Fate::skipped);
    for (size_t j = 0; j < n; ++j) {
      const std::uint64_t i = c.begin + j;
      c.examples.push_back(factory.make(i, 0, i < begin));
      Example& ex = c.examples.back();
      sign(ex, c.sigs[j], c.bands[j]);
      ex.chat = std::string();  // only the signature needed it
      c.split[j] = split_id(ex.split);
      c.record_bytes[j] = ex.record.empty() ? 0 : ex.record.size() + 1;
    }
    if (!write) {
      for (auto& ex : c.examples) ex.record = std::string();
      return;
    }
    std::array<size_t, 4> bytes{};
    for (size_t j = 0; j < n; ++j) bytes[static_cast<size_t>(c.split[j])] += c.record_bytes[j];
    for (size_t s = 0; s < bytes.size(); ++s) c.text[s].reserve(bytes[s]);
    for (size_t j = 0; j < n; ++j) {
      std::string& text = c.text[static_cast<size_t>(c.split[j])];
      Example& ex = c.examples[j];
      if (ex.record.empty()) continue;
      text += ex.record;
      text += '\n';
      ex.record = std::string();
    }
  };
  // Serial stage, in index order: the dedup decision and the counters. Returns the example's fate.
  auto commit = [&](Example& ex, std::vector<std::uint32_t>& sig, std::vector<std::uint64_t>& bands) {
    const bool mine = ex.index >= begin;
    NearHit cross, within;
    bool resampled = false;
    for (int r = 0;; ++r) {
      cross = within = NearHit{};
      const bool exact_dup = cfg.exact_dedup && seen.contains(ex.exact_hash);
      if (!exact_dup && cfg.near.enabled) near.query(sig, bands, split_id(ex.split), cross, within);
      const bool cross_dup = !exact_dup && cross.found && cfg.near.drop_cross_split;
      if (!exact_dup && !cross_dup) break;
      if (mine) ++(exact_dup ? k.exact_resampled : k.near_cross_resampled);
      if (r >= cfg.max_resamples) {
        if (mine) ++k.dropped;
        return Fate::skipped;
      }
      ex = factory.make(ex.index, r + 1, !mine);
      sign(ex, sig, bands);
      resampled = true;
    }
    seen.insert(ex.exact_hash);
    if (cfg.near.enabled) near.add(sig, bands, split_id(ex.split));
    if (!mine) return Fate::skipped;
    if (within.found) ++k.near_within;
    if (cross.found) ++k.near_cross_kept;
    const int sid = split_id(ex.split);
    if (sid == 0)
      for (const auto& s : ex.servers) k.held_out_in_train += world.held_out(s);
    ++k.label_split[static_cast<size_t>(ex.label)][static_cast<size_t>(sid)];
    ++k.target[static_cast<size_t>(ex.target_label)];
    if (!ex.unreachable.empty()) ++k.unreachable[ex.unreachable];
    if (!ex.hard_negative.empty()) ++k.hard_negatives[ex.hard_negative];
    k.seeds.add(ex.seed, ex.seed_miss, tax.label_at(ex.label).bench_label);
    if (!ex.variant.empty()) ++k.variants[tax.label_at(ex.label).bench_label + "/" + ex.variant];
    if (const auto* a = tax.attack_of(tax.label_at(ex.label)))
      for (const auto& l : a->maestro) ++k.layers[l];
    return resampled ? Fate::resampled : Fate::original;
  };
  auto commit_chunk = [&](Chunk& c) {
    for (size_t j = 0; j < c.examples.size(); ++j) {
      Example& ex = c.examples[j];
      c.fate[j] = commit(ex, c.sigs[j], c.bands[j]);
      if (c.fate[j] == Fate::skipped) continue;
      const size_t sid = static_cast<size_t>(split_id(ex.split));
      const size_t bytes = c.fate[j] == Fate::resampled ? ex.record.size() + 1 : c.record_bytes[j];
      ++k.split_records[sid];
      k.split_bytes[sid] += bytes;
      summary.bytes += bytes;
      ++summary.written;
      if (log && summary.written >= progress_at) {
        *log << fmt::format("mcip-synth: {} / {} examples\n", summary.written, end - begin) << std::flush;
        progress_at += std::max<std::uint64_t>(10000, (end - begin) / 10);
      }
    }
  };
  // Serial stage, in index order: appends each split's kept records, in as few writes as possible.
  auto append = [&](size_t sid, const char* data, size_t size) {
    files[sid].write(data, static_cast<std::streamsize>(size));
    XXH3_128bits_update(file_hash[sid], data, size);
  };
  auto write_chunk = [&](Chunk& c) {
    std::array<size_t, 4> pos{}, run{};  // per split: bytes of `text` passed, start of the unwritten kept run
    auto flush = [&](size_t s) {
      if (pos[s] > run[s]) append(s, c.text[s].data() + run[s], pos[s] - run[s]);
      run[s] = pos[s];
    };
    for (size_t j = 0; j < c.examples.size(); ++j) {
      const size_t s = static_cast<size_t>(c.split[j]);
      if (c.fate[j] == Fate::original) {
        pos[s] += c.record_bytes[j];
        continue;
      }
      flush(s);
      run[s] = pos[s] += c.record_bytes[j];
      if (c.fate[j] == Fate::resampled) {
        Example& ex = c.examples[j];
        const size_t to = static_cast<size_t>(split_id(ex.split));
        flush(to);
        ex.record += '\n';
        append(to, ex.record.data(), ex.record.size());
      }
    }
    for (size_t s = 0; s < pos.size(); ++s) flush(s);
  };

  try {
    tbb::task_arena arena(threads);
    arena.execute([&] {
      tbb::parallel_pipeline(
          static_cast<size_t>(threads) * 4,
          tbb::make_filter<void, Chunk*>(tbb::filter_mode::serial_in_order,
                                         [&](tbb::flow_control& fc) -> Chunk* {
                                           if (next >= end) {
                                             fc.stop();
                                             return nullptr;
                                           }
                                           auto* c = new Chunk;
                                           c->begin = next;
                                           c->end = std::min(end, next + chunk);
                                           next = c->end;
                                           return c;
                                         }) &
              tbb::make_filter<Chunk*, Chunk*>(tbb::filter_mode::parallel,
                                               [&](Chunk* c) {
                                                 const std::uint64_t t0 = thread_cpu_ns();
                                                 generate_chunk(*c);
                                                 generate_ns += thread_cpu_ns() - t0;
                                                 return c;
                                               }) &
              tbb::make_filter<Chunk*, Chunk*>(tbb::filter_mode::serial_in_order,
                                               [&](Chunk* c) {
                                                 const std::uint64_t t0 = thread_cpu_ns();
                                                 commit_chunk(*c);
                                                 commit_ns += thread_cpu_ns() - t0;
                                                 return c;
                                               }) &
              tbb::make_filter<Chunk*, void>(tbb::filter_mode::serial_in_order, [&](Chunk* c) {
                // Freeing the chunk is part of this stage's cost.
                const std::uint64_t t0 = thread_cpu_ns();
                {
                  std::unique_ptr<Chunk> owned(c);
                  if (write) write_chunk(*c);
                }
                write_ns += thread_cpu_ns() - t0;
              }));
    });
    summary.dropped = k.dropped;
    summary.generate_cpu_seconds = 1e-9 * static_cast<double>(generate_ns.load());
    summary.commit_cpu_seconds = 1e-9 * static_cast<double>(commit_ns);
    summary.write_cpu_seconds = 1e-9 * static_cast<double>(write_ns);

    // Manifest: everything needed to rebuild and to judge the data, and nothing time- or machine-dependent.
    ojson m = ojson::object();
    m["format"] = "mcip-synth-dataset/1";
    m["generator"] = "mcip-synth " MCIP_VERSION;
    m["seed"] = cfg.seed;
    m["count"] = cfg.count;
    m["shard"] = {{"index", o_.shard_index}, {"count", o_.shard_count}, {"begin", begin}, {"end", end}};
    m["protocol_version"] = cfg.protocol_version;
    m["config"] = cfg.effective;
    m["taxonomy"] = {{"name", tax.name()}, {"version", tax.version()}, {"hash", tax.hash()}};
    ojson cats = ojson::array();
    for (const auto& f : world.catalog().files())
      cats.push_back({{"id", f.id}, {"file", fs::path(f.path).filename().string()}, {"source", f.source}, {"hash", f.hash},
                      {"servers", f.servers}, {"tools", f.tools}});
    m["catalogs"] = cats;
    m["data_files"] = {{"value_pools", world.pools().hash()}, {"phrasing", world.phrasing().hash}, {"prompt_template", s_->prompt->hash()}};
    ojson held = ojson::array();
    for (const auto& s : world.catalog().servers())
      if (s.held_out) held.push_back(s.name);
    m["held_out_servers"] = held;
    ojson labels = ojson::array();
    const std::uint64_t total = summary.written;
    for (const auto& l : tax.labels()) {
      ojson row = ojson::object();
      row["letter"] = std::string(1, l.letter);
      row["label"] = l.bench_label;
      row["id"] = l.id;
      ojson counts = ojson::object();
      std::uint64_t n = 0;
      for (size_t s = 0; s < kSplits.size(); ++s) {
        counts[kSplits[s]] = k.label_split[static_cast<size_t>(l.index)][s];
        n += k.label_split[static_cast<size_t>(l.index)][s];
      }
      row["counts"] = counts;
      row["total"] = n;
      row["target_share"] = cfg.label_weights[static_cast<size_t>(l.index)];
      row["achieved_share"] = total ? static_cast<double>(n) / static_cast<double>(total) : 0.0;
      row["requested"] = k.target[static_cast<size_t>(l.index)];
      labels.push_back(row);
    }
    m["labels"] = labels;
    ojson unreachable = ojson::array();
    for (const auto& [why, n] : k.unreachable) unreachable.push_back({{"reason", why}, {"count", n}});
    m["balance_notes"] = unreachable;
    m["recorded_traces"] = seeds_manifest(world.seeds(), cfg.recorded_share, k.seeds);
    m["hard_negatives"] = k.hard_negatives;
    m["maestro_layers"] = k.layers;
    m["variants"] = k.variants;
    m["dedup"] = {{"exact_duplicates_resampled", k.exact_resampled},
                  {"near_duplicates_cross_split_resampled", k.near_cross_resampled},
                  {"near_duplicates_cross_split_kept", k.near_cross_kept},
                  {"near_duplicates_within_split", k.near_within},
                  {"dropped_after_resampling", k.dropped},
                  {"near_index_size", near.size()},
                  {"near_index_cap", cfg.near.index_cap},
                  {"held_out_server_uses_in_train", k.held_out_in_train}};
    ojson files_json = ojson::array();
    for (size_t i = 0; i < kSplits.size(); ++i) {
      std::string hash;
      if (write) {
        const XXH128_hash_t h = XXH3_128bits_digest(file_hash[i]);
        hash = fmt::format("{:016x}{:016x}", h.high64, h.low64);
      }
      files_json.push_back({{"split", kSplits[i]}, {"file", std::string(kSplits[i]) + ".jsonl"}, {"records", k.split_records[i]},
                            {"bytes", k.split_bytes[i]}, {"xxh128", hash}});
    }
    m["files"] = files_json;

    if (write) {
      for (auto& f : files) {
        f.flush();
        if (!f) throw std::runtime_error("writing the dataset failed (disk full?)");
        f.close();
      }
      write_file_atomic(tmp / "manifest.json", m.dump(2) + "\n");
      write_file_atomic(tmp / "README.md", dataset_card(m, tax));
      for (const auto* name : kSplits) {
        const int fd = ::open((tmp / (std::string(name) + ".jsonl")).c_str(), O_RDONLY);
        if (fd < 0 || ::fsync(fd) != 0) throw std::runtime_error(fmt::format("cannot fsync {}.jsonl", name));
        ::close(fd);
      }
      fsync_directory(tmp);
      // Swap the finished folder in; a previous dataset at `out` is replaced only now.
      if (fs::exists(out)) {
        const fs::path old = fs::absolute(out).parent_path() / fmt::format(".{}.old-{}", out.filename().string(), ::getpid());
        fs::rename(out, old);
        fs::rename(tmp, out);
        fs::remove_all(old);
      } else {
        fs::rename(tmp, out);
      }
      fsync_directory(fs::absolute(out).parent_path());
      tmp.clear();
    }
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace mcip::synth
