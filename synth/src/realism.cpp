#include "mcip/synth/realism.h"

#include <algorithm>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "mcip/error.h"

namespace fs = std::filesystem;

namespace mcip::synth {
namespace {

using Json = mcp::Json;
using ToolKey = std::pair<std::string, std::string>;  // server, tool

struct Shapes {
  std::uint64_t calls = 0;
  std::set<std::string> shape;
};

// Pairs each tools/call request with its response (same server connection, same id) and adds the
// shape of every successful result. Responses with isError or a JSON-RPC error are skipped, as in
// mcp::result_shapes, so both sides describe what a working tool returns.
void add_simulated(const Json& rpc, std::map<ToolKey, Shapes>& out, const std::string& where) {
  if (!rpc.is_array()) throw InputError(where, 0, "jsonrpc", "expected an array of messages");
  std::map<std::pair<std::string, std::string>, std::string> pending;  // (server, id) -> tool
  for (const auto& entry : rpc) {
    if (!entry.is_object() || !entry.contains("message") || !entry["message"].is_object())
      throw InputError(where, 0, "jsonrpc", "entry without a message object");
    const std::string server = entry.value("server", "");
    const Json& m = entry["message"];
    if (!m.contains("id")) continue;  // notification
    const std::string id = m["id"].dump();
    if (m.value("method", "") == "tools/call") {
      if (m.contains("params") && m["params"].is_object() && m["params"].contains("name") && m["params"]["name"].is_string())
        pending[{server, id}] = m["params"]["name"].get<std::string>();
      continue;
    }
    const auto it = pending.find({server, id});
    if (it == pending.end()) continue;
    const std::string tool = it->second;
    pending.erase(it);
    if (!m.contains("result") || !m["result"].is_object()) continue;
    const Json& result = m["result"];
    if (result.contains("isError") && result["isError"] == true) continue;
    Shapes& s = out[{server, tool}];
    ++s.calls;
    const auto shape = mcp::json_shape(result);
    s.shape.insert(shape.begin(), shape.end());
  }
}

std::string joined(const std::set<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : " ") + i;
  return s;
}

}  // namespace

std::vector<fs::path> find_trace_files(const fs::path& traces) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_regular_file(traces, ec)) return {traces};
  if (!fs::is_directory(traces, ec)) throw InputError(traces.string(), 0, "--traces", "no such file or folder");
  for (const auto& e : fs::directory_iterator(traces)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.rfind("recorded-", 0) == 0 && e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(traces.string(), 0, "--traces", "folder holds no recorded-*.json traces");
  return files;
}

RealismReport compare_realism(const fs::path& dataset_dir, const std::vector<fs::path>& trace_files) {
  RealismReport report;
  if (!fs::is_regular_file(dataset_dir / "manifest.json"))
    throw InputError(dataset_dir.string(), 0, "--realism", "not a dataset folder (no manifest.json)");

  std::map<ToolKey, Shapes> recorded;
  for (const auto& file : trace_files) {
    const mcp::RecordedTraces traces = mcp::load_recorded_traces(file);
    report.trace_files.push_back(file.string());
    const std::string server = traces.server["name"].get<std::string>();
    for (const auto& ep : traces.episodes)
      for (const auto& call : ep.calls)
        if (!call.is_error) ++recorded[{server, call.tool}].calls;
    for (auto& [tool, shape] : mcp::result_shapes(traces)) recorded[{server, tool}].shape = std::move(shape);
  }

  std::map<ToolKey, Shapes> simulated;
  for (const char* split : {"train", "validation", "test", "test_unseen_tools"}) {
    const fs::path file = dataset_dir / (std::string(split) + ".jsonl");
    std::ifstream in(file, std::ios::binary);
    if (!in) throw InputError(file.string(), 0, "--realism", "missing split file");
    std::string line;
    std::size_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty()) continue;
      const Json record = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (record.is_discarded() || !record.is_object())
        throw InputError(file.string(), line_no, "", "not a JSON object");
      if (!record.contains("jsonrpc")) throw InputError(file.string(), line_no, "jsonrpc", "missing");
      // Examples built from a recorded exchange carry real results: comparing them with the
      // recordings would measure nothing about the simulator.
      if (record.contains("provenance") && record["provenance"].is_object() && record["provenance"].contains("recorded_trace") &&
          !record["provenance"]["recorded_trace"].is_null()) {
        ++report.seeded_records;
        continue;
      }
      add_simulated(record["jsonrpc"], simulated, fmt::format("{}:{}", file.string(), line_no));
      ++report.records;
    }
  }

  double sum = 0;
  for (const auto& [key, rec] : recorded) {
    if (rec.calls == 0) continue;  // only failed calls were recorded: no reference shape
    ToolRealism t;
    t.server = key.first;
    t.tool = key.second;
    t.recorded_calls = rec.calls;
    t.recorded = rec.shape;
    const auto sim = simulated.find(key);
    if (sim == simulated.end()) {
      report.not_simulated.push_back(std::move(t));
      continue;
    }
    t.simulated_calls = sim->second.calls;
    t.simulated = sim->second.shape;
    t.comparison = mcp::compare_shapes(t.recorded, t.simulated);
    sum += t.comparison.jaccard;
    report.compared.push_back(std::move(t));
  }
  if (!report.compared.empty()) report.mean_jaccard = sum / static_cast<double>(report.compared.size());
  return report;
}

void print_realism(const RealismReport& r, std::ostream& out) {
  out << fmt::format("Realism: simulated result shapes of {} records vs {} recorded trace file(s){}\n\n", r.records, r.trace_files.size(),
                     r.seeded_records ? fmt::format(" ({} records built from recorded traces left out)", r.seeded_records) : "");
  out << fmt::format("{:<28} {:<30} {:>9} {:>9} {:>10} {:>10} {:>7} {:>7}\n", "server", "tool", "sim.calls", "rec.calls",
                     "sim.fields", "rec.fields", "common", "jaccard");
  for (const auto& t : r.compared) {
    const std::size_t common = t.recorded.size() - t.comparison.missing.size();
    out << fmt::format("{:<28} {:<30} {:>9} {:>9} {:>10} {:>10} {:>7} {:>7.3f}\n", t.server, t.tool, t.simulated_calls,
                       t.recorded_calls, t.simulated.size(), t.recorded.size(), common, t.comparison.jaccard);
  }
  out << fmt::format("\nmean jaccard over {} tool(s): {:.3f}\n", r.compared.size(), r.mean_jaccard);
  if (!r.not_simulated.empty()) {
    out << fmt::format("\nrecorded but not in the dataset ({}):", r.not_simulated.size());
    for (const auto& t : r.not_simulated) out << " " << t.server << "/" << t.tool;
    out << "\n";
  }
  out << "\nField differences (missing = recorded only, extra = simulated only):\n";
  for (const auto& t : r.compared) {
    if (t.comparison.missing.empty() && t.comparison.extra.empty()) continue;
    out << fmt::format("  {}/{}\n", t.server, t.tool);
    if (!t.comparison.missing.empty()) out << "    missing: " << joined(t.comparison.missing) << "\n";
    if (!t.comparison.extra.empty()) out << "    extra:   " << joined(t.comparison.extra) << "\n";
  }
}

}  // namespace mcip::synth
