// `mcip-synth --validate DIR`: re-checks every record against the record schema, the taxonomy,
// MCP JSON-RPC well-formedness and the split rules, independently of how it was generated.
#include <array>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/hash.h"
#include "mcip/synth/dataset.h"
#include "mcip/synth/dedup.h"
#include "mcip/synth/document.h"
#include "mcip/synth/example.h"
#include "mcip/synth/json_text.h"
#include "mcip/taxonomy.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace mcip::synth {
namespace {

const std::array<const char*, 4> kSplitNames = {"train", "validation", "test", "test_unseen_tools"};

class Problems {
 public:
  explicit Problems(std::ostream& out) : out_(out) {}
  void add(const std::string& where, const std::string& what) {
    if (++n_ <= 50) out_ << where << ": " << what << "\n";
    else if (n_ == 51) out_ << "... (further problems not shown)\n";
  }
  std::size_t count() const { return n_; }

 private:
  std::ostream& out_;
  std::size_t n_ = 0;
};

bool is_str(const json& o, const char* k) { return o.is_object() && o.contains(k) && o[k].is_string(); }

// Checks one record's message list; returns "" or the first problem.
std::string check_jsonrpc(const json& msgs, std::size_t& calls) {
  if (!msgs.is_array()) return "jsonrpc is not an array";
  struct Conn {
    bool initialized = false, init_answered = false, notified = false;
    std::map<std::string, std::string> pending;  // id -> method
    std::set<std::string> tools;
  };
  std::map<std::string, Conn> conns;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const json& e = msgs[i];
    const std::string at = fmt::format("jsonrpc[{}]", i);
    if (!is_str(e, "server") || !is_str(e, "direction") || !e.contains("message") || !e["message"].is_object())
      return at + ": needs server, direction and message";
    const json& m = e["message"];
    Conn& c = conns[e["server"].get<std::string>()];
    const bool to_server = e["direction"] == "client_to_server";
    if (!to_server && e["direction"] != "server_to_client") return at + ": bad direction";
    if (m.value("jsonrpc", "") != "2.0") return at + ": jsonrpc must be \"2.0\"";
    const bool has_id = m.contains("id"), has_method = m.contains("method");
    if (has_id && !m["id"].is_string() && !m["id"].is_number_integer()) return at + ": id must be a string or integer";
    if (has_method) {
      if (!m["method"].is_string()) return at + ": method must be a string";
      const std::string method = m["method"];
      if (!to_server) return at + ": unexpected server-to-client request " + method;
      if (m.contains("result") || m.contains("error")) return at + ": a request cannot carry result/error";
      if (!c.initialized && method != "initialize") return at + ": " + method + " before initialize";
      if (method == "initialize") {
        if (c.initialized) return at + ": second initialize";
        c.initialized = true;
        if (!m.contains("params") || !is_str(m["params"], "protocolVersion") || !m["params"].contains("clientInfo"))
          return at + ": initialize needs protocolVersion and clientInfo";
      } else if (method == "notifications/initialized") {
        if (has_id) return at + ": notifications carry no id";
        if (!c.init_answered) return at + ": initialized before the initialize result";
        c.notified = true;
        continue;
      } else if (!c.notified) {
        return at + ": " + method + " before notifications/initialized";
      }
      if (!has_id) return at + ": request without id";
      if (method == "tools/call") {
        ++calls;
        if (!m.contains("params") || !is_str(m["params"], "name")) return at + ": tools/call needs params.name";
        if (!c.tools.count(m["params"]["name"].get<std::string>()))
          return at + ": tools/call of '" + m["params"]["name"].get<std::string>() + "' which tools/list did not offer";
        if (m["params"].contains("arguments") && !m["params"]["arguments"].is_object()) return at + ": arguments must be an object";
      }
      const std::string id = m["id"].dump();
      if (c.pending.count(id)) return at + ": duplicate request id " + id;
      c.pending[id] = method;
    } else {
      if (to_server) return at + ": client sent a response";
      if (!has_id) return at + ": response without id";
      if (m.contains("result") == m.contains("error")) return at + ": a response needs exactly one of result and error";
      const std::string id = m["id"].dump();
      auto p = c.pending.find(id);
      if (p == c.pending.end()) return at + ": response to unknown id " + id;
      const std::string method = p->second;
      c.pending.erase(p);
      if (m.contains("error")) continue;
      const json& r = m["result"];
      if (!r.is_object()) return at + ": result must be an object";
      if (method == "initialize") {
        if (!is_str(r, "protocolVersion") || !r.contains("serverInfo") || !is_str(r["serverInfo"], "name") || !r.contains("capabilities"))
          return at + ": initialize result needs protocolVersion, capabilities and serverInfo.name";
        c.init_answered = true;
      } else if (method == "tools/list") {
        if (!r.contains("tools") || !r["tools"].is_array()) return at + ": tools/list result needs tools[]";
        for (const auto& t : r["tools"]) {
          if (!is_str(t, "name") || !t.contains("inputSchema") || !t["inputSchema"].is_object() || t["inputSchema"].value("type", "") != "object")
            return at + ": every Tool needs a name and an object inputSchema";
          if (t.contains("x-mcip")) return at + ": Tool objects must not carry x-mcip";
          c.tools.insert(t["name"].get<std::string>());
        }
      } else if (method == "tools/call") {
        if (!r.contains("content") || !r["content"].is_array()) return at + ": CallToolResult needs content[]";
        for (const auto& b : r["content"])
          if (!is_str(b, "type")) return at + ": every content block needs a type";
        if (r.contains("isError") && !r["isError"].is_boolean()) return at + ": isError must be a boolean";
        if (r.contains("structuredContent") && !r["structuredContent"].is_object()) return at + ": structuredContent must be an object";
      }
    }
  }
  for (const auto& [server, c] : conns)
    if (!c.pending.empty()) return "jsonrpc: unanswered request on " + server;
  return "";
}

}  // namespace

std::vector<std::string> check_record(const json& r, const taxonomy::Taxonomy& tax) {
  std::vector<std::string> out;
  auto P = [&](const std::string& what) { out.push_back(what); };
      for (const char* k : {"id", "split", "label", "letter", "label_name", "binary", "prompt", "answer"})
        if (!is_str(r, k)) {
          P(fmt::format("field '{}' missing or not a string", k));
          return out;
        }
      for (const char* k : {"evidence", "provenance", "glaive"})
        if (!r.contains(k) || !r[k].is_object()) {
          P(fmt::format("field '{}' missing or not an object", k));
          return out;
        }
      for (const char* k : {"jsonrpc", "mci", "maestro"})
        if (!r.contains(k) || !r[k].is_array()) {
          P(fmt::format("field '{}' missing or not an array", k));
          return out;
        }
      {
        const auto* label = tax.find_label(r["label"].get<std::string>());
        if (!label || label->bench_label != r["label"].get<std::string>() || !label->benchmark) {
          P("label is not an MCIP-bench label string: " + r["label"].get<std::string>());
          return out;
        }
        if (r["letter"] != std::string(1, label->letter)) P("letter does not match label");
        if (r["label_name"] != label->name) P("label_name does not match label");
        if (r["binary"] != (label->safe() ? "safe" : "unsafe")) P("binary does not match label");
        const auto* attack = tax.attack_of(*label);
        if (!attack) {
          if (!r["attack"].is_null()) P("safe record with an attack");
          if (!r["maestro"].empty()) P("safe record with MAESTRO layers");
        } else {
          if (!r["attack"].is_object() || r["attack"].value("id", "") != attack->id || r["attack"].value("scope", "") != attack->scope ||
              r["attack"].value("source", "") != attack->source || r["attack"].value("type", "") != attack->type)
            P("attack dimensions do not match the taxonomy for " + label->bench_label);
          json layers = attack->maestro;
          if (r["maestro"] != layers) P("maestro layers do not match the taxonomy");
          if (!r["evidence"].contains("changed_flows") || !r["evidence"]["changed_flows"].is_array() || r["evidence"]["changed_flows"].empty())
            P("unsafe record without changed flows in evidence");
        }
        if (!is_str(r["evidence"], "rationale") || r["evidence"]["rationale"].get<std::string>().empty())
          P("evidence.rationale missing");
        const std::string expect_tail = fmt::format("Choice: {}. {}", label->letter, label->name);
        const std::string answer = r["answer"];
        if (answer.rfind("Rationale: ", 0) != 0 || answer.size() < expect_tail.size() ||
            answer.compare(answer.size() - expect_tail.size(), expect_tail.size(), expect_tail) != 0)
          P("answer must be 'Rationale: ...' then '" + expect_tail + "'");
        if (!is_str(r["glaive"], "system") || !is_str(r["glaive"], "chat") ||
            r["glaive"]["system"].get<std::string>().rfind("SYSTEM: ", 0) != 0 || r["glaive"]["chat"].get<std::string>().rfind("USER: ", 0) != 0) {
          P("glaive must have system 'SYSTEM: ...' and chat starting with 'USER: '");
        } else {
          const std::string body = r["glaive"]["system"].get<std::string>() + "\n\n\n" + r["glaive"]["chat"].get<std::string>();
          if (r["prompt"].get<std::string>().find(body) == std::string::npos) P("prompt does not contain the chat body");
        }
        std::size_t calls = 0;
        const std::string rpc = check_jsonrpc(r["jsonrpc"], calls);
        if (!rpc.empty()) P(rpc);
        if (label->id == "data_injection" && calls != 0) P("data_injection record with tools/call messages");
        if (label->id != "data_injection" && !label->safe() && calls == 0) P("unsafe record without any tools/call");
        for (const auto& f : r["mci"])
          for (const char* k : {"sender", "recipient", "subject", "information_type", "transmission_principle", "content"})
            if (!is_str(f, k)) {
              P(fmt::format("mci flow without string '{}'", k));
              goto flows_done;
            }
      flows_done:;
      }
  return out;
}

std::size_t validate_dataset(const fs::path& dir, std::ostream& out) {
  Problems problems(out);
  const fs::path manifest_path = dir / "manifest.json";
  json manifest;
  try {
    manifest = json::parse(read_file(manifest_path));
  } catch (const json::exception& e) {
    problems.add(manifest_path.string(), std::string("not valid JSON: ") + e.what());
    return problems.count();
  } catch (const InputError& e) {
    problems.add(manifest_path.string(), e.what());
    return problems.count();
  }
  const auto tax = taxonomy::Taxonomy::embedded();
  if (!manifest.contains("taxonomy") || manifest["taxonomy"].value("hash", "") != tax.hash())
    problems.add(manifest_path.string(), "taxonomy hash differs from this binary's taxonomy");
  std::set<std::string> held_out;
  if (manifest.contains("held_out_servers"))
    for (const auto& s : manifest["held_out_servers"]) held_out.insert(s.get<std::string>());

  std::map<std::string, std::array<std::uint64_t, 4>> counts;  // label -> split counts
  std::map<std::string, int> group_split;
  std::set<std::string> ids;
  HashSet64 bodies;
  for (size_t sid = 0; sid < kSplitNames.size(); ++sid) {
    const fs::path file = dir / (std::string(kSplitNames[sid]) + ".jsonl");
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      problems.add(file.string(), "missing");
      continue;
    }
    std::string line;
    std::uint64_t n = 0, bytes = 0;
    while (std::getline(in, line)) {
      ++n;
      bytes += line.size() + 1;
      const std::string where = fmt::format("{}:{}", file.string(), n);
      json r;
      try {
        r = json::parse(line);
      } catch (const json::exception& e) {
        problems.add(where, std::string("not valid JSON: ") + e.what());
        continue;
      }
      for (const auto& p : check_record(r, tax)) problems.add(where, p);
      if (!is_str(r, "id") || !is_str(r, "label") || !r.contains("provenance") || !r["provenance"].is_object() || !r.contains("glaive") ||
          !r["glaive"].is_object() || !is_str(r["glaive"], "system") || !is_str(r["glaive"], "chat"))
        continue;
      {
        const std::string id = r["id"];
        if (!ids.insert(id).second) problems.add(where, "duplicate id " + id);
        if (r["split"] != kSplitNames[sid]) problems.add(where, "split field does not match the file");
        const auto* label = tax.find_label(r["label"].get<std::string>());
        if (label) ++counts[label->bench_label][sid];
        if (!bodies.insert(exact_hash(normalize_text(r["glaive"]["system"].get<std::string>()),
                                      normalize_text(r["glaive"]["chat"].get<std::string>())))) problems.add(where, "exact duplicate of an earlier record");
        const json& prov = r["provenance"];
        if (!is_str(prov, "group") || !prov.contains("servers") || !prov["servers"].is_array()) {
          problems.add(where, "provenance needs group and servers");
          goto next_record;
        }
        const std::string group = prov["group"];
        auto [it, fresh] = group_split.emplace(group, static_cast<int>(sid));
        if (!fresh && it->second != static_cast<int>(sid))
          problems.add(where, fmt::format("leakage: group {} appears in {} and {}", group, kSplitNames[static_cast<size_t>(it->second)], kSplitNames[sid]));
        for (const auto& s : prov["servers"]) {
          const bool held = held_out.count(s.get<std::string>()) > 0;
          if (sid != 3 && held) problems.add(where, "leakage: held-out server " + s.get<std::string>() + " in " + kSplitNames[sid]);
        }
        if (sid == 3) {
          const std::string primary = group.substr(0, group.rfind('/'));  // server names may contain '/'
          if (!held_out.count(primary)) problems.add(where, "test_unseen_tools record whose primary server is not held out");
        }
      }
    next_record:;
    }
    // Manifest file figures.
    if (manifest.contains("files"))
      for (const auto& f : manifest["files"])
        if (f.value("split", "") == kSplitNames[sid] && (f.value("records", 0ULL) != n || f.value("bytes", 0ULL) != bytes))
          problems.add(file.string(), fmt::format("manifest says {} records / {} bytes, file has {} / {}", f.value("records", 0ULL),
                                                  f.value("bytes", 0ULL), n, bytes));
  }
  if (manifest.contains("labels"))
    for (const auto& row : manifest["labels"]) {
      const std::string label = row.value("label", "");
      for (size_t sid = 0; sid < kSplitNames.size(); ++sid) {
        const std::uint64_t want = row["counts"].value(kSplitNames[sid], 0ULL);
        const std::uint64_t have = counts.count(label) ? counts[label][sid] : 0;
        if (want != have) problems.add(manifest_path.string(), fmt::format("{} x {}: manifest {} but files {}", label, kSplitNames[sid], want, have));
      }
    }
  return problems.count();
}

}  // namespace mcip::synth
