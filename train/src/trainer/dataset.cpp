// Reading the synthesizer's JSONL splits, tokenizing them in parallel, and the on-disk cache.
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <cstring>
#include <exception>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/hash.h"
#include "mcip/taxonomy.h"
#include "mcip/tokenizer.h"
#include "mcip/trainer_data.h"

namespace mcip::train {
namespace {

constexpr char kCacheMagic[8] = {'M', 'C', 'I', 'P', 'T', 'O', 'K', '2'};

std::vector<std::string> read_lines(const std::filesystem::path& path, std::int64_t max_records) {
  if (!std::filesystem::exists(path))
    throw InputError(path.string(), 0, "",
                     "dataset split not found (expected the synthesizer's <split>.jsonl files in data.dir)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), 0, "", "cannot open the dataset file");
  std::vector<std::string> lines;
  std::string line;
  std::int64_t records = 0;
  while (std::getline(in, line)) {
    records += line.find_first_not_of(" \t\r") != std::string::npos;
    lines.push_back(std::move(line));
    if (max_records > 0 && records >= max_records) break;
  }
  return lines;
}

const nlohmann::json& field(const nlohmann::json& record, const char* key, const std::string& origin, int line,
                            const std::string& path) {
  if (!record.is_object() || !record.contains(key)) throw InputError(origin, line, path, "missing field");
  return record[key];
}

std::int32_t label_index(const nlohmann::json& record, const taxonomy::Taxonomy& tax, const std::string& origin,
                         int line) {
  const auto& v = field(record, "label", origin, line, "label");
  if (!v.is_string()) throw InputError(origin, line, "label", "expected a string");
  const std::string s = v.get<std::string>();
  const taxonomy::Label* l = tax.find_label(s);
  const auto bench = tax.benchmark_labels();
  for (size_t i = 0; l && i < bench.size(); ++i)
    if (bench[i] == l) return static_cast<std::int32_t>(i);
  std::string known;
  for (const auto* b : bench) known += (known.empty() ? "" : ", ") + b->bench_label;
  throw InputError(origin, line, "label",
                   fmt::format("'{}' is not one of the taxonomy's {} benchmark labels ({})", s, bench.size(), known));
}

// mcip-synth writes the renderings at the top level (glaive, jsonrpc, mci, prompt, answer);
// a `renderings` object holding the same keys (with the pair under `guardian`) is also read.
const nlohmann::json& renderings_of(const nlohmann::json& record, const std::string& origin, int line) {
  if (!record.is_object()) throw InputError(origin, line, "", "expected a JSON object");
  if (record.contains("renderings")) {
    if (!record["renderings"].is_object()) throw InputError(origin, line, "renderings", "expected an object");
    return record["renderings"];
  }
  return record;
}

std::pair<const nlohmann::json*, const nlohmann::json*> guardian_pair(const nlohmann::json& r) {
  const nlohmann::json* holder = r.contains("guardian") && r["guardian"].is_object() ? &r["guardian"] : &r;
  const nlohmann::json* p = holder->contains("prompt") ? &(*holder)["prompt"] : nullptr;
  const nlohmann::json* a = holder->contains("answer") ? &(*holder)["answer"] : nullptr;
  return {p, a};
}

std::vector<Segment> record_segments(const nlohmann::json& record, Rendering rendering, const TextView& view,
                                     Objective objective, const std::string& origin, int line) {
  const auto& r = renderings_of(record, origin, line);
  if (objective == Objective::Generate) {
    auto [p, a] = guardian_pair(r);
    if (!p || !p->is_string()) throw InputError(origin, line, "prompt", "missing the guardian prompt (a string)");
    if (!a || !a->is_string()) throw InputError(origin, line, "answer", "missing the guardian answer (a string)");
    return guardian_segments(p->get<std::string>(), a->get<std::string>());
  }
  const std::string name = to_string(rendering);
  return segments_for(rendering, field(r, name.c_str(), origin, line, name), origin, line, view);
}

void put(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }

std::string serialize(const std::vector<EncodedExample>& examples) {
  std::string out(kCacheMagic, sizeof kCacheMagic);
  const std::uint64_t n = examples.size();
  put(out, &n, 8);
  for (const auto& e : examples) {
    const std::uint32_t len = static_cast<std::uint32_t>(e.ids.size());
    const std::uint8_t trunc = e.truncated;
    put(out, &e.label, 4);
    put(out, &e.answer_start, 4);
    put(out, &trunc, 1);
    put(out, &len, 4);
    put(out, e.ids.data(), 4 * e.ids.size());
  }
  return out;
}

// nullopt when the file is not a complete cache entry (then it is rebuilt).
std::optional<std::vector<EncodedExample>> deserialize(const std::string& bytes) {
  size_t at = 0;
  auto get = [&](void* p, size_t n) {
    if (at + n > bytes.size()) return false;
    std::memcpy(p, bytes.data() + at, n);
    at += n;
    return true;
  };
  char magic[8];
  std::uint64_t n = 0;
  if (!get(magic, 8) || std::memcmp(magic, kCacheMagic, 8) != 0 || !get(&n, 8) || n > bytes.size()) return std::nullopt;
  std::vector<EncodedExample> out(n);
  for (auto& e : out) {
    std::uint8_t trunc = 0;
    std::uint32_t len = 0;
    if (!get(&e.label, 4) || !get(&e.answer_start, 4) || !get(&trunc, 1) || !get(&len, 4)) return std::nullopt;
    if (static_cast<std::uint64_t>(len) * 4 > bytes.size() - at) return std::nullopt;
    e.truncated = trunc != 0;
    e.ids.resize(len);
    get(e.ids.data(), 4 * static_cast<size_t>(len));
  }
  if (at != bytes.size()) return std::nullopt;
  return out;
}

}  // namespace

std::filesystem::path split_path(const DataConfig& data, const std::string& split) { return data.dir / (split + ".jsonl"); }

TokenizedSplit load_split(const DataConfig& data, const std::string& split, Objective objective,
                          std::int64_t max_length, std::int64_t max_examples, const tokenizer::SentencePiece& sp,
                          const taxonomy::Taxonomy& tax, std::int64_t threads) {
  TokenizedSplit out;
  out.name = split;
  out.file = split_path(data, split);
  const std::string origin = out.file.string();
  if (!std::filesystem::exists(out.file))
    throw InputError(origin, 0, "data.dir", "dataset split not found (expected the synthesizer's <split>.jsonl files)");
  const std::string key = hash_hex(fmt::format(
      "v4|{}|{}|{}|{}|{}|{}{}|{}|{}|{}|{}", hash_file_hex(origin), sp.hash(), tax.hash(), to_string(data.rendering),
      to_string(data.tool_view), data.max_result_chars, data.flow_checks ? "|checks" : "",
      to_string(objective), max_length, data.keep_head_tokens, max_examples));
  const auto cache_file = data.cache_dir / fmt::format("{}-{}.tok", split, key.substr(0, 24));
  std::vector<EncodedExample> examples;
  if (std::filesystem::exists(cache_file)) {
    if (auto cached = deserialize(read_file(cache_file))) {
      examples = std::move(*cached);
      out.from_cache = true;
    }
  }
  if (!out.from_cache) {
    const auto lines = read_lines(out.file, max_examples);
    std::vector<std::optional<EncodedExample>> encoded(lines.size());
    std::vector<std::exception_ptr> errors(lines.size());
    const EncodeOptions eo{max_length, data.keep_head_tokens, true};
    tbb::task_arena arena(static_cast<int>(std::max<std::int64_t>(1, threads)));
    arena.execute([&] {
      tbb::parallel_for(size_t(0), lines.size(), [&](size_t i) {
        const std::string& text = lines[i];
        if (text.find_first_not_of(" \t\r") == std::string::npos) return;
        const int line = static_cast<int>(i + 1);
        try {
          nlohmann::json record;
          try {
            record = nlohmann::json::parse(text);
          } catch (const nlohmann::json::parse_error& e) {
            throw InputError(origin, line, "", fmt::format("malformed JSON: {}", e.what()));
          }
          EncodedExample ex = encode_segments(record_segments(record, data.rendering, data.text_view(), objective, origin, line), sp, eo);
          ex.label = label_index(record, tax, origin, line);
          encoded[i] = std::move(ex);
        } catch (const InputError& e) {
          errors[i] = e.file().empty() ? std::make_exception_ptr(InputError(origin, line, e.field(), e.what()))
                                       : std::current_exception();
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
    });
    // Report the first bad line, whatever thread met it.
    for (const auto& e : errors)
      if (e) std::rethrow_exception(e);
    for (auto& e : encoded)
      if (e) examples.push_back(std::move(*e));
    if (examples.empty()) throw InputError(origin, 0, "", "the split has no examples");
    std::filesystem::create_directories(data.cache_dir);
    write_file_atomic(cache_file, serialize(examples));
  }
  out.class_counts.assign(tax.benchmark_labels().size(), 0);
  for (const auto& e : examples) {
    out.class_counts[static_cast<size_t>(e.label)]++;
    out.truncated += e.truncated;
    out.total_tokens += static_cast<std::int64_t>(e.ids.size());
  }
  out.examples = std::move(examples);
  return out;
}

TokenizedSplit first_examples(const TokenizedSplit& split, std::int64_t n) {
  TokenizedSplit out = split;
  if (n <= 0 || n >= static_cast<std::int64_t>(split.examples.size())) return out;
  out.examples.resize(static_cast<size_t>(n));
  std::fill(out.class_counts.begin(), out.class_counts.end(), 0);
  out.truncated = out.total_tokens = 0;
  for (const auto& e : out.examples) {
    out.class_counts[static_cast<size_t>(e.label)]++;
    out.truncated += e.truncated;
    out.total_tokens += static_cast<std::int64_t>(e.ids.size());
  }
  return out;
}

std::vector<std::string> corpus_lines(const DataConfig& data, const std::string& split, const CorpusSpec& spec,
                                      std::int64_t max_lines, std::uint64_t seed) {
  const auto path = split_path(data, split);
  std::vector<std::string> all;
  // Sampling from a pool of 4x the wanted lines is as good as from the whole split (records are in
  // random order) and spares reading a 1 GB train split to train a tokenizer.
  const size_t pool = max_lines > 0 ? static_cast<size_t>(max_lines) * 4 : 0;
  if (!std::filesystem::exists(path))
    throw InputError(path.string(), 0, "", "dataset split not found (expected the synthesizer's <split>.jsonl files in data.dir)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), 0, "", "cannot open the dataset file");
  int line_no = 0;
  std::string text;
  while ((pool == 0 || all.size() < pool) && std::getline(in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json record = nlohmann::json::parse(text, nullptr, false);
    if (record.is_discarded()) throw InputError(path.string(), line_no, "", "malformed JSON");
    const auto& rs = renderings_of(record, path.string(), line_no);
    std::vector<std::string> texts;
    for (Rendering r : spec.renderings) {
      const std::string name = to_string(r);
      if (!rs.contains(name)) continue;
      for (const auto& s : segments_for(r, rs[name], path.string(), line_no, data.text_view())) texts.push_back(s.text);
    }
    if (spec.guardian_pair) {
      auto [p, a] = guardian_pair(rs);
      for (const auto* t : {p, a})
        if (t && t->is_string()) texts.push_back(t->get<std::string>());
    }
    for (const auto& t : texts) {
      size_t start = 0;
      while (start < t.size()) {
        size_t end = t.find('\n', start);
        if (end == std::string::npos) end = t.size();
        if (end > start) all.push_back(t.substr(start, end - start));
        start = end + 1;
      }
    }
  }
  if (max_lines > 0 && static_cast<std::int64_t>(all.size()) > max_lines) {
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < static_cast<size_t>(max_lines); ++i) std::swap(all[i], all[i + rng() % (all.size() - i)]);
    all.resize(static_cast<size_t>(max_lines));
  }
  return all;
}

}  // namespace mcip::train
