#include "mci_text.h"

#include <regex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "flow_checks.h"
#include "mcip/error.h"

namespace mcip::train {
namespace {

struct Identity {
  std::string id, role;
};

// "client (for ID, role ROLE)" -> {ID, ROLE}
std::optional<Identity> client_identity(const std::string& entity) {
  static const std::regex re(R"(^client \(for (.+), role (.+)\)$)");
  std::smatch m;
  if (!std::regex_match(entity, m, re)) return std::nullopt;
  return Identity{m[1].str(), m[2].str()};
}

const char* short_type(const std::string& type) {
  if (type == "function list") return "tools";
  if (type == "query") return "query";
  if (type == "function request") return "call";
  if (type == "function return") return "result";
  if (type == "response") return "answer";
  return nullptr;
}

// Cuts at a UTF-8 character boundary.
std::string cut_utf8(const std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end) + "...";
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

std::vector<McipFlow> mci_flows_from_json(const nlohmann::json& value, const std::string& origin, int line,
                                          const std::string& field) {
  if (!value.is_array()) throw InputError(origin, line, field, "expected a list of flows or a string");
  std::vector<McipFlow> flows;
  flows.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const auto& f = value[i];
    auto get = [&](const char* k) {
      if (!f.is_object() || !f.contains(k) || !f[k].is_string())
        throw InputError(origin, line, fmt::format("{}[{}].{}", field, i, k), "expected a string");
      return f[k].get<std::string>();
    };
    flows.push_back({get("sender"), get("recipient"), get("subject"), get("information_type"),
                     get("transmission_principle"), get("content")});
  }
  return flows;
}

std::optional<std::vector<McipFlow>> mci_flows_from_text(const std::string& text) {
  std::vector<McipFlow> flows;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string l = text.substr(start, end - start);
    start = end + 1;
    if (l.find_first_not_of(" \t\r") == std::string::npos) continue;
    // Field separators in order; the information type is one of a few words, so " about " after
    // it is unambiguous, and the content (which may hold anything) is everything after ": ".
    const size_t sends = l.find(" sends ");
    const size_t about = sends == std::string::npos ? sends : l.find(" about ", sends + 7);
    const size_t to = about == std::string::npos ? about : l.find(" to ", about + 7);
    const size_t under = to == std::string::npos ? to : l.find(" under ", to + 4);
    const size_t colon = under == std::string::npos ? under : l.find(": ", under + 7);
    if (colon == std::string::npos || sends == 0) return std::nullopt;
    McipFlow f;
    f.sender = l.substr(0, sends);
    f.information_type = l.substr(sends + 7, about - sends - 7);
    f.subject = l.substr(about + 7, to - about - 7);
    f.recipient = l.substr(to + 4, under - to - 4);
    f.transmission_principle = l.substr(under + 7, colon - under - 7);
    f.content = l.substr(colon + 2);
    if (!f.content.empty() && f.content.back() == '\r') f.content.pop_back();
    flows.push_back(std::move(f));
  }
  if (flows.empty()) return std::nullopt;
  return flows;
}

CompactMci compact_mci(const std::vector<McipFlow>& flows, std::int64_t max_result_chars, bool flow_checks) {
  std::optional<Identity> caller;
  for (const auto& f : flows)
    if (f.information_type == "query" && (caller = client_identity(f.recipient))) break;
  auto entity = [&](const std::string& e) -> std::string {
    if (auto id = client_identity(e)) {
      if (caller && id->id == caller->id && id->role == caller->role) return "client";
      return fmt::format("client[{} {}]", id->id, id->role);
    }
    if (caller && e == "user " + caller->id) return "user";
    if (e.rfind("server ", 0) == 0) return e.substr(7);
    return e;
  };
  CompactMci out;
  FlowChecks checks;
  std::vector<std::string> found;  // "NAME TAG, TAG" or "NAME ok" per call
  if (caller) out.caller = fmt::format("caller {} role {}\n", caller->id, caller->role);
  for (const auto& f : flows) {
    const char* type = short_type(f.information_type);
    const bool listing = f.information_type == "function list";
    const std::string usual_subject = listing ? f.sender : (caller ? "caller " + caller->id : std::string());
    std::string content = one_line(f.content);
    if (flow_checks) {
      // Checked on the whole content: the gateway sees all of it even when the model does not.
      if (listing) checks.listed(entity(f.sender), content);
      else if (f.information_type == "query") checks.grounded(content, true);
      else if (f.information_type == "function return") checks.grounded(content, false);
      else if (f.information_type == "function request") {
        // Every call is listed, "ok" when nothing was found, so the order of clean and flagged calls
        // shows (an unasked call before the requested one poses as its dependency).
        const auto tags = checks.call(entity(f.recipient), f.transmission_principle, content);
        found.push_back(fmt::format("{} {}", cut_utf8(content.substr(0, content.find('(')), 40),
                                    tags.empty() ? std::string("ok") : fmt::format("{}", fmt::join(tags, ", "))));
      }
    }
    if (f.information_type == "function return" && max_result_chars > 0)
      content = cut_utf8(content, static_cast<size_t>(max_result_chars));
    std::string line = fmt::format("{} {} > {} ({})", type ? type : f.information_type, entity(f.sender),
                                   entity(f.recipient), f.transmission_principle);
    if (f.subject != usual_subject) line += " re " + entity(f.subject);
    line += ": " + content + "\n";
    (listing ? out.tool_lists : out.conversation) += line;
  }
  if (flow_checks) {
    // Bounded, because it is never cut: the first eight calls, then a count.
    constexpr size_t kListed = 8;
    out.checks = "checks:";
    for (size_t i = 0; i < std::min(found.size(), kListed); ++i) out.checks += (i ? " | " : " ") + found[i];
    if (found.size() > kListed) out.checks += fmt::format(" | +{} more", found.size() - kListed);
    if (found.empty()) out.checks += " no calls";
    out.checks += "\n";
  }
  return out;
}

}  // namespace mcip::train
