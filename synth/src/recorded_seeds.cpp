#include "mcip/synth/recorded_seeds.h"

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/hash.h"
#include "mcip/recorded_traces.h"

namespace fs = std::filesystem;

namespace mcip::synth {

std::vector<std::string> expand_trace_paths(const std::vector<std::string>& entries, const std::string& origin,
                                            const std::string& field) {
  std::vector<std::string> out;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& e = entries[i];
    const std::string where = fmt::format("{}[{}]", field, i);
    std::vector<std::string> matched;
    const bool glob = e.find_first_of("*?[") != std::string::npos;
    if (!glob && fs::is_directory(e)) {
      for (const auto& de : fs::directory_iterator(e))
        if (de.is_regular_file() && fnmatch("recorded-*.json", de.path().filename().c_str(), 0) == 0)
          matched.push_back(de.path().string());
      if (matched.empty()) throw InputError(origin, 0, where, fmt::format("folder '{}' holds no recorded-*.json trace file", e));
    } else if (!glob) {
      if (!fs::is_regular_file(e)) throw InputError(origin, 0, where, fmt::format("trace file '{}' does not exist", e));
      matched.push_back(e);
    } else {
      const fs::path p(e);
      const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
      if (fs::is_directory(dir))
        for (const auto& de : fs::directory_iterator(dir))
          if (de.is_regular_file() && fnmatch(p.filename().c_str(), de.path().filename().c_str(), 0) == 0)
            matched.push_back(de.path().string());
      if (matched.empty()) throw InputError(origin, 0, where, fmt::format("'{}' matches no trace file", e));
    }
    std::sort(matched.begin(), matched.end());
    for (auto& m : matched)
      if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(std::move(m));
  }
  return out;
}

RecordedSeeds RecordedSeeds::load(const std::vector<std::string>& files, const Catalog& catalog) {
  RecordedSeeds out;
  for (const auto& path : files) {
    const mcp::RecordedTraces traces = mcp::load_recorded_traces(path);  // validates; InputError names file and pointer
    SeedFileInfo info;
    info.path = path;
    info.file = fs::path(path).filename().string();
    info.hash = hash_hex(read_file(path));
    info.server = traces.server["name"].get<std::string>();
    info.exchanges = traces.episodes.size();
    for (const auto& f : out.files_)
      if (f.file == info.file)
        throw InputError(path, 0, "/", fmt::format("a trace file named '{}' is already loaded from {}", info.file, f.path));
    const Server* server = catalog.server(info.server);
    if (!server) {
      // Not an error: a config may narrow the catalogs; the manifest says which traces went unused.
      info.skipped = fmt::format("server '{}' is not in the loaded catalogs", info.server);
      out.files_.push_back(std::move(info));
      continue;
    }
    for (size_t e = 0; e < traces.episodes.size(); ++e) {
      const auto& episode = traces.episodes[e];
      Seed seed;
      seed.file = info.file;
      seed.exchange = episode.id;
      seed.query = episode.query;
      seed.server = server;
      for (size_t c = 0; c < episode.calls.size(); ++c) {
        const auto& call = episode.calls[c];
        const Tool* tool = server->find(call.tool);
        if (!tool)
          throw InputError(path, 0, fmt::format("/episodes/{}/calls/{}/tool", e, c),
                           fmt::format("'{}' is not a tool of server '{}' in catalog '{}' (re-harvest the catalog or re-record the trace)",
                                       call.tool, server->name, server->catalog_id));
        seed.calls.push_back({tool, call.arguments, call.result, call.is_error});
      }
      if (seed.calls.empty()) continue;  // nothing to seed a tool-use episode with
      if (seed.query.empty()) throw InputError(path, 0, fmt::format("/episodes/{}/query", e), "must not be empty");
      seed.index = out.seeds_.size();
      out.seeds_.push_back(std::move(seed));
      ++info.seeds;
    }
    if (info.seeds == 0) info.skipped = "no exchange with a tools/call";
    out.files_.push_back(std::move(info));
  }
  return out;
}

std::string result_text(const ojson& result) {
  std::string out;
  if (!result.is_object() || !result.contains("content") || !result["content"].is_array()) return out;
  for (const auto& block : result["content"]) {
    if (!out.empty()) out += '\n';
    const std::string type = block.is_object() && block.contains("type") && block["type"].is_string() ? block["type"].get<std::string>() : "";
    auto str = [&](const ojson& o, const char* k) {
      return o.is_object() && o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : std::string();
    };
    if (type == "text") {
      out += str(block, "text");
    } else if (type == "image" || type == "audio") {
      out += fmt::format("[{} {}]", type, str(block, "mimeType"));
    } else if (type == "resource_link") {
      out += fmt::format("[resource link {} {}]", str(block, "uri"), str(block, "name"));
    } else if (type == "resource" && block.contains("resource")) {
      const ojson& r = block["resource"];
      const std::string text = str(r, "text");
      out += text.empty() ? fmt::format("[resource {}]", str(r, "uri")) : fmt::format("[resource {}] {}", str(r, "uri"), text);
    } else {
      out += fmt::format("[{}]", type.empty() ? "content" : type);
    }
  }
  return out;
}

void SeedTally::add(const std::string& seed, const std::string& miss, const std::string& label) {
  if (seed.empty() && miss.empty()) return;
  ++indices;
  if (!seed.empty()) {
    ++examples[label];
    ++exchanges[seed];
  }
  if (!miss.empty()) ++not_seeded[miss];
}

ojson seeds_manifest(const RecordedSeeds& seeds, double share, const SeedTally& tally) {
  ojson m = ojson::object();
  m["share"] = share;
  ojson files = ojson::array();
  for (const auto& f : seeds.files()) {
    ojson row = {{"file", f.file}, {"server", f.server}, {"hash", f.hash}, {"exchanges", f.exchanges}, {"seeds", f.seeds}};
    row["skipped"] = f.skipped.empty() ? ojson(nullptr) : ojson(f.skipped);
    files.push_back(std::move(row));
  }
  m["files"] = files;
  m["seeded_indices"] = tally.indices;
  std::uint64_t total = 0;
  for (const auto& [label, n] : tally.examples) total += n;
  m["examples"] = total;
  m["examples_per_label"] = tally.examples;
  m["examples_per_exchange"] = tally.exchanges;
  ojson notes = ojson::array();
  for (const auto& [why, n] : tally.not_seeded) notes.push_back({{"reason", why}, {"count", n}});
  m["not_seeded"] = notes;
  return m;
}

ojson merge_seeds_manifests(const std::vector<ojson>& blocks) {
  if (blocks.empty()) return nullptr;
  ojson m = blocks.front();
  std::map<std::string, std::uint64_t> per_label, per_exchange, not_seeded;
  std::uint64_t indices = 0, examples = 0;
  auto add_object = [](std::map<std::string, std::uint64_t>& into, const ojson& o) {
    for (auto it = o.begin(); it != o.end(); ++it) into[it.key()] += it.value().get<std::uint64_t>();
  };
  for (const auto& b : blocks) {
    if (!b.is_object()) throw std::invalid_argument("recorded_traces: expected an object");
    for (const char* same : {"share", "files"})
      if (b.value(same, ojson()) != m.value(same, ojson()))
        throw std::invalid_argument(fmt::format("recorded_traces/{} differs between shards", same));
    indices += b.at("seeded_indices").get<std::uint64_t>();
    examples += b.at("examples").get<std::uint64_t>();
    add_object(per_label, b.at("examples_per_label"));
    add_object(per_exchange, b.at("examples_per_exchange"));
    for (const auto& n : b.at("not_seeded")) not_seeded[n.at("reason").get<std::string>()] += n.at("count").get<std::uint64_t>();
  }
  m["seeded_indices"] = indices;
  m["examples"] = examples;
  m["examples_per_label"] = per_label;
  m["examples_per_exchange"] = per_exchange;
  ojson notes = ojson::array();
  for (const auto& [why, n] : not_seeded) notes.push_back({{"reason", why}, {"count", n}});
  m["not_seeded"] = notes;
  return m;
}

}  // namespace mcip::synth
