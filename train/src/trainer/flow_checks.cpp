#include "flow_checks.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <string_view>

#include <fmt/format.h>

namespace mcip::train {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Lowercase letters and digits only: "secure_filesystem_server" and "Secure-Filesystem Server"
// compare equal.
std::string alnum(std::string_view s) {
  std::string out;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

bool is_identifier_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

struct ParsedCall {
  std::string name;
  std::vector<std::pair<std::string, std::string>> args;
};

// "name(k=v, k2=v2)". Values may hold ", " themselves, so an argument starts only at ", " that
// is followed by an identifier and "=".
std::optional<ParsedCall> parse_call(const std::string& content) {
  const size_t open = content.find('(');
  if (open == std::string::npos || content.empty() || content.back() != ')') return std::nullopt;
  ParsedCall call{content.substr(0, open), {}};
  const std::string_view body(content.data() + open + 1, content.size() - open - 2);
  if (body.empty()) return call;
  auto argument_starts_at = [&](size_t i) {
    size_t j = i;
    while (j < body.size() && is_identifier_char(body[j])) ++j;
    return j > i && j < body.size() && body[j] == '=';
  };
  if (!argument_starts_at(0)) return std::nullopt;
  size_t start = 0;
  for (size_t i = 0; i <= body.size(); ++i) {
    const bool end = i == body.size() || (body.substr(i, 2) == ", " && argument_starts_at(i + 2));
    if (!end) continue;
    const std::string_view arg = body.substr(start, i - start);
    const size_t eq = arg.find('=');
    call.args.emplace_back(std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1)));
    start = i + 2;
    ++i;
  }
  return call;
}

// Verbs and filler that name no particular request ("get", "admin", "v2").
bool generic_word(const std::string& w) {
  static const std::array<const char*, 18> words = {"get", "list", "set", "create", "update", "delete",
                                                     "admin", "the", "all", "any", "and", "for",
                                                     "with", "from", "mcp", "server", "pro", "tool"};
  return std::any_of(words.begin(), words.end(), [&](const char* g) { return w == g; });
}

std::vector<std::string> name_words(const std::string& name) {
  std::vector<std::string> out;
  std::string w;
  for (char c : name + " ") {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      if (w.size() >= 3 && !generic_word(w)) out.push_back(w);
      w.clear();
    }
  }
  return out;
}

bool lookalike(const std::string& a, const std::string& b) {
  const std::string x = alnum(a), y = alnum(b);
  if (x.empty() || y.empty() || x == y) return false;
  return starts_with(x, y) || starts_with(y, x) || ends_with(x, y) || ends_with(y, x);
}

}  // namespace

void FlowChecks::listed(const std::string& server, const std::string& tool_names) {
  size_t start = 0;
  while (start <= tool_names.size()) {
    size_t end = tool_names.find(", ", start);
    if (end == std::string::npos) end = tool_names.size();
    if (end > start) tools_.emplace_back(server, tool_names.substr(start, end - start));
    start = end + 2;
  }
}

void FlowChecks::grounded(const std::string& text, bool from_user) {
  const std::string l = lower(text);
  grounded_ += '\n';
  grounded_ += l;
  if (from_user) {
    asked_ += '\n';
    asked_ += l;
    ++queries_;
  }
}

std::vector<std::string> FlowChecks::call(const std::string& server, const std::string& principle,
                                          const std::string& content) {
  std::vector<std::string> tags;
  if (const auto call = parse_call(content)) {
    std::vector<std::string> fresh;
    for (const auto& [key, value] : call->args)
      if (!value.empty() && grounded_.find(lower(value)) == std::string::npos) fresh.push_back(key);
    if (!fresh.empty()) {
      // The first few names say which arguments; the count bounds the line.
      constexpr size_t kNamed = 3;
      std::string tag = "new";
      for (size_t i = 0; i < std::min(fresh.size(), kNamed); ++i) tag += " " + fresh[i];
      if (fresh.size() > kNamed) tag += fmt::format(" +{}", fresh.size() - kNamed);
      tags.push_back(tag);
    }

    const auto words = name_words(call->name);
    const bool asked = std::any_of(words.begin(), words.end(), [&](const std::string& w) {
      return asked_.find(w.substr(0, 4)) != std::string::npos;
    });
    if (!words.empty() && !asked) tags.push_back("unasked");

    for (const auto& [srv, tool] : tools_)
      if (lookalike(tool, call->name)) {
        tags.push_back(fmt::format("like {} {}", tool, srv == server ? "here" : "elsewhere"));
        break;
      }
    for (const auto& [srv, tool] : tools_)
      if (srv != server && tool == call->name) {
        tags.push_back("also on " + srv);
        break;
      }
  }
  // The latest identical call: after a "do it again", a further copy is a plain repeat.
  const auto same = std::find_if(calls_.rbegin(), calls_.rend(),
                                 [&](const Call& c) { return c.server == server && c.content == content; });
  if (same != calls_.rend()) tags.push_back(same->queries_before == queries_ ? "repeat" : "repeat after query");
  calls_.push_back({server, content, queries_});

  const bool prerequisite =
      starts_with(principle, "authentication") || principle.find("prerequisite") != std::string::npos;
  const bool served = std::find(served_.begin(), served_.end(), server) != served_.end();
  if (prerequisite && served) tags.push_back("prerequisite late");
  if (!prerequisite && !served) served_.push_back(server);
  return tags;
}

}  // namespace mcip::train
