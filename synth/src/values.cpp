#include "mcip/synth/values.h"

#include "mcip/synth/json_text.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "mcip/error.h"
#include "mcip/hash.h"

extern "C" {
extern const unsigned char mcip_synth_value_pools_yaml[];
extern const unsigned long mcip_synth_value_pools_yaml_size;
}

namespace mcip::synth {
namespace {

const std::map<std::string, Generator>& generator_names() {
  static const std::map<std::string, Generator> names = {
      {"pool", Generator::Pool}, {"person_name", Generator::PersonName}, {"first_name", Generator::FirstName},
      {"last_name", Generator::LastName}, {"email", Generator::Email}, {"phone", Generator::Phone},
      {"username", Generator::Username}, {"amount", Generator::Amount}, {"quantity", Generator::Quantity},
      {"percent", Generator::Percent}, {"date", Generator::Date}, {"datetime", Generator::DateTime},
      {"time", Generator::Time}, {"identifier", Generator::Identifier}, {"uuid", Generator::Uuid},
      {"url", Generator::Url}, {"path", Generator::Path}, {"file_name", Generator::FileName},
      {"ipv4", Generator::Ipv4}, {"hostname", Generator::Hostname}, {"iban", Generator::Iban},
      {"account_number", Generator::AccountNumber}, {"token", Generator::Token}, {"sentence", Generator::Sentence},
      {"word", Generator::Word}, {"year", Generator::Year}, {"duration_minutes", Generator::DurationMinutes},
      {"language", Generator::Language}, {"boolean", Generator::Boolean}, {"birth_date", Generator::BirthDate}};
  return names;
}

const std::vector<std::string> kRequiredPools = {"first_names", "last_names", "cities", "companies", "email_domains",
                                                 "words", "sentences", "file_stems", "file_extensions", "directories",
                                                 "languages"};

// N for "^[0-9]{N}$" or "^\\d{N}$" (1 <= N <= 64), else 0.
int digit_pattern_length(const std::string& p) {
  size_t i;
  if (p.rfind("^[0-9]{", 0) == 0) i = 7;
  else if (p.rfind("^\\d{", 0) == 0) i = 4;
  else return 0;
  int n = 0;
  while (i < p.size() && std::isdigit(static_cast<unsigned char>(p[i])) && n <= 64) n = n * 10 + (p[i++] - '0');
  if (p.compare(i, std::string::npos, "}$") != 0 || n < 1 || n > 64) return 0;
  return n;
}

std::string two(int v) { return fmt::format("{:02d}", v); }

// Days since 1970-01-01 of a civil date and back (H. Hinnant's algorithms), for date arithmetic
// without time zones.
long days_from_civil(long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long>(doe) - 719468;
}

void civil_from_days(long z, long& y, unsigned& m, unsigned& d) {
  z += 719468;
  const long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<long>(yoe) + era * 400 + (m <= 2);
}

// "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM..." -> minutes since the epoch; false for anything else.
bool parse_when(const std::string& s, long& minutes, bool& has_time) {
  auto digits = [&](size_t at, size_t n, long& v) {
    if (s.size() < at + n) return false;
    v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      v = v * 10 + (s[i] - '0');
    }
    return true;
  };
  long y, mo, d, h = 0, mi = 0;
  if (!digits(0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-' || !digits(8, 2, d)) return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return false;
  has_time = s.size() > 10;
  if (has_time && (s[10] != 'T' || !digits(11, 2, h) || s[13] != ':' || !digits(14, 2, mi))) return false;
  minutes = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 1440 + h * 60 + mi;
  return true;
}

// `like` with its date (and time) replaced by `minutes`; the rest of the text (seconds, zone) kept.
std::string format_when(long minutes, const std::string& like, bool has_time) {
  long y;
  unsigned m, d;
  const long days = minutes >= 0 ? minutes / 1440 : -((-minutes + 1439) / 1440);
  civil_from_days(days, y, m, d);
  std::string out = fmt::format("{:04d}-{:02d}-{:02d}", y, m, d);
  if (!has_time) return out;
  const long in_day = minutes - days * 1440;
  return out + fmt::format("T{:02d}:{:02d}", in_day / 60, in_day % 60) + like.substr(16);
}

std::string lower_ascii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

ValuePools& ValuePools::operator=(const ValuePools& o) {
  pool_names_ = o.pool_names_;
  pools_ = o.pools_;
  rules_ = o.rules_;
  cache_ = o.cache_;
  hash_ = o.hash_;
  resolve_common();
  return *this;
}

ValuePools& ValuePools::operator=(ValuePools&& o) noexcept {
  pool_names_ = std::move(o.pool_names_);
  pools_ = std::move(o.pools_);
  rules_ = std::move(o.rules_);
  cache_ = std::move(o.cache_);
  hash_ = std::move(o.hash_);
  resolve_common();
  return *this;
}

void ValuePools::resolve_common() {
  if (pools_.empty()) return;
  first_ = &pool("first_names");
  last_ = &pool("last_names");
  domains_ = &pool("email_domains");
  words_ = &pool("words");
  stems_ = &pool("file_stems");
  extensions_ = &pool("file_extensions");
  directories_ = &pool("directories");
  sentences_ = &pool("sentences");
  languages_ = &pool("languages");
}

std::string_view ValuePools::embedded_text() {
  return {reinterpret_cast<const char*>(mcip_synth_value_pools_yaml), mcip_synth_value_pools_yaml_size};
}

ValuePools ValuePools::embedded() { return from_document(Document::parse(embedded_text(), "<embedded synth/data/value_pools.yaml>")); }

ValuePools ValuePools::from_document(const Document& doc) {
  ValuePools vp;
  const ojson& root = doc.root();
  if (!root.is_object()) doc.fail("", "expected a mapping");
  for (auto it = root.begin(); it != root.end(); ++it)
    if (it.key() != "schema_version" && it.key() != "pools" && it.key() != "rules")
      doc.fail("/" + pointer_token(it.key()), "unknown key (allowed: schema_version, pools, rules)");
  if (!root.contains("pools") || !root["pools"].is_object()) doc.fail("/pools", "missing or not a mapping");
  for (auto it = root["pools"].begin(); it != root["pools"].end(); ++it) {
    const std::string ptr = "/pools/" + pointer_token(it.key());
    if (!it.value().is_array() || it.value().empty()) doc.fail(ptr, "expected a non-empty list");
    std::vector<std::string> values;
    for (size_t i = 0; i < it.value().size(); ++i) {
      const auto& v = it.value()[i];
      if (!v.is_string() && !v.is_number()) doc.fail(fmt::format("{}/{}", ptr, i), "expected a string");
      values.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    }
    vp.pool_names_.push_back(it.key());
    vp.pools_.push_back(std::move(values));
  }
  for (const auto& name : kRequiredPools)
    if (std::find(vp.pool_names_.begin(), vp.pool_names_.end(), name) == vp.pool_names_.end())
      doc.fail("/pools", fmt::format("missing required pool '{}'", name));
  if (!root.contains("rules") || !root["rules"].is_array()) doc.fail("/rules", "missing or not a list");
  for (size_t i = 0; i < root["rules"].size(); ++i) {
    const auto& r = root["rules"][i];
    const std::string ptr = fmt::format("/rules/{}", i);
    if (!r.is_object() || !r.contains("match") || !r["match"].is_string()) doc.fail(ptr + "/match", "expected a regex string");
    if (!r.contains("generator") || !r["generator"].is_string()) doc.fail(ptr + "/generator", "expected a generator name");
    Rule rule;
    try {
      rule.match = std::regex(r["match"].get<std::string>(), std::regex::icase | std::regex::optimize);
    } catch (const std::regex_error& e) {
      doc.fail(ptr + "/match", std::string("invalid regular expression: ") + e.what());
    }
    auto g = generator_names().find(r["generator"].get<std::string>());
    if (g == generator_names().end()) doc.fail(ptr + "/generator", "unknown generator");
    rule.choice.generator = g->second;
    if (g->second == Generator::Pool) {
      if (!r.contains("pool") || !r["pool"].is_string()) doc.fail(ptr + "/pool", "generator 'pool' needs a pool name");
      auto p = std::find(vp.pool_names_.begin(), vp.pool_names_.end(), r["pool"].get<std::string>());
      if (p == vp.pool_names_.end()) doc.fail(ptr + "/pool", "no such pool");
      rule.choice.pool = static_cast<int>(p - vp.pool_names_.begin());
    }
    vp.rules_.push_back(std::move(rule));
  }
  vp.hash_ = hash_hex(root.dump());
  vp.resolve_common();
  return vp;
}

const std::vector<std::string>& ValuePools::pool(const std::string& name) const {
  auto p = std::find(pool_names_.begin(), pool_names_.end(), name);
  if (p == pool_names_.end()) throw std::logic_error("value pool '" + name + "' missing");
  return pools_[static_cast<size_t>(p - pool_names_.begin())];
}

GeneratorChoice ValuePools::match_rules(std::string_view property) const {
  const std::string name(property);
  for (const auto& r : rules_)
    if (std::regex_search(name, r.match)) return r.choice;
  return GeneratorChoice{Generator::Word, -1};
}

void ValuePools::prepare(const std::vector<std::string>& property_names) {
  // Singular forms name array items; "" names result roots.
  std::vector<std::string> names = property_names;
  names.push_back("");
  for (const auto& n : property_names)
    if (n.size() > 1 && n.back() == 's') names.push_back(n.substr(0, n.size() - 1));
  for (const auto& n : names)
    if (!cache_.count(n)) cache_.emplace(n, match_rules(n));
}

GeneratorChoice ValuePools::choose(std::string_view property) const {
  auto it = cache_.find(std::string(property));
  return it != cache_.end() ? it->second : match_rules(property);
}

ojson ValuePools::generate(GeneratorChoice g, std::string_view property, Rng& rng) const {
  const auto& first = *first_;
  const auto& last = *last_;
  switch (g.generator) {
    case Generator::Pool: return rng.pick(pools_[static_cast<size_t>(g.pool)]);
    case Generator::PersonName: return rng.pick(first) + " " + rng.pick(last);
    case Generator::FirstName: return rng.pick(first);
    case Generator::LastName: return rng.pick(last);
    case Generator::Email:
      return lower_ascii(rng.pick(first) + "." + rng.pick(last)) + "@" + rng.pick(*domains_);
    case Generator::Phone: return fmt::format("+1-555-{:03d}-{:04d}", rng.range(100, 999), rng.range(0, 9999));
    case Generator::Username: return lower_ascii(rng.pick(first).substr(0, 1) + rng.pick(last)) + std::to_string(rng.range(1, 99));
    case Generator::Amount: {
      static const std::vector<long long> round = {20, 25, 40, 50, 75, 100, 120, 150, 200, 250, 300, 450, 500, 750, 800, 1000, 1200, 1500, 2000, 2500, 3000, 5000};
      if (rng.chance(0.6)) return rng.pick(round);
      return std::round(rng.range(500, 250000)) / 100.0;
    }
    case Generator::Quantity: return rng.range(1, 12);
    case Generator::Percent: return rng.range(1, 95);
    case Generator::Date: return fmt::format("2026-{}-{}", two(static_cast<int>(rng.range(1, 12))), two(static_cast<int>(rng.range(1, 28))));
    case Generator::DateTime:
      return fmt::format("2026-{}-{}T{}:{}:00Z", two(static_cast<int>(rng.range(1, 12))), two(static_cast<int>(rng.range(1, 28))),
                         two(static_cast<int>(rng.range(7, 19))), rng.chance(0.5) ? "00" : "30");
    case Generator::Time: return fmt::format("{}:{}", two(static_cast<int>(rng.range(7, 19))), rng.chance(0.5) ? "00" : "30");
    case Generator::Identifier: {
      std::string prefix;
      for (char c : property) {
        if (prefix.size() >= 3) break;
        if (std::isalpha(static_cast<unsigned char>(c))) prefix += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      if (prefix.empty()) prefix = "ID";
      return fmt::format("{}-{}", prefix, rng.range(10000, 99999));
    }
    case Generator::Uuid: {
      const auto a = rng.next(), b = rng.next();
      return fmt::format("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff, b >> 52,
                         b & 0xffffffffffffULL);
    }
    case Generator::Url: return fmt::format("https://{}.example.com/{}", rng.pick(*words_), rng.pick(*stems_));
    case Generator::Path:
      return fmt::format("/home/{}/{}/{}.{}", lower_ascii(rng.pick(first)), rng.pick(*directories_),
                         rng.pick(*stems_), rng.pick(*extensions_));
    case Generator::FileName: return rng.pick(*stems_) + "." + rng.pick(*extensions_);
    case Generator::Ipv4: return fmt::format("10.{}.{}.{}", rng.range(0, 255), rng.range(0, 255), rng.range(1, 254));
    case Generator::Hostname: return fmt::format("{}-{}.internal.example", rng.pick(*words_), rng.range(1, 40));
    case Generator::Iban: return fmt::format("DE{:02d}{:010d}{:08d}", rng.range(10, 99), rng.range(0, 9999999999LL), rng.range(0, 99999999));
    case Generator::AccountNumber: return fmt::format("ACC-{:08d}", rng.range(10000000, 99999999));
    case Generator::Token: return fmt::format("tok_{:016x}", rng.next());
    case Generator::Sentence: return rng.pick(*sentences_);
    case Generator::Word: return rng.pick(*words_);
    case Generator::Year: return rng.range(2019, 2026);
    case Generator::BirthDate:  // adults: 18 to 85 years old in 2026
      return fmt::format("{}-{}-{}", rng.range(1941, 2008), two(static_cast<int>(rng.range(1, 12))), two(static_cast<int>(rng.range(1, 28))));
    case Generator::DurationMinutes: {
      static const std::vector<long long> d = {15, 30, 45, 60, 90, 120};
      return rng.pick(d);
    }
    case Generator::Language: return rng.pick(*languages_);
    case Generator::Boolean: return rng.chance(0.5);
  }
  return rng.pick(*words_);
}

ojson ValuePools::sample_string(const ojson& schema, std::string_view property, Rng& rng) const {
  if (schema.contains("format") && schema["format"].is_string()) {
    const std::string& f = schema["format"].get_ref<const std::string&>();
    if (f == "date") {
      const GeneratorChoice named = choose(property);  // a date of birth is still a date
      return generate(named.generator == Generator::BirthDate ? named : GeneratorChoice{Generator::Date}, property, rng);
    }
    if (f == "date-time") return generate({Generator::DateTime}, property, rng);
    if (f == "time") return generate({Generator::Time}, property, rng);
    if (f == "email") return generate({Generator::Email}, property, rng);
    if (f == "uri" || f == "url") return generate({Generator::Url}, property, rng);
    if (f == "uuid") return generate({Generator::Uuid}, property, rng);
    if (f == "ipv4") return generate({Generator::Ipv4}, property, rng);
    if (f == "hostname") return generate({Generator::Hostname}, property, rng);
  }
  const bool has_examples = schema.contains("examples") && schema["examples"].is_array() && !schema["examples"].empty();
  if (schema.contains("pattern") && schema["pattern"].is_string()) {
    // Digit-only patterns (PINs, codes) are common and easy to honour exactly. Parsed by hand:
    // a std::regex match per sampled value would dominate generation time.
    const int digits = digit_pattern_length(schema["pattern"].get_ref<const std::string&>());
    if (digits > 0) {
      std::string s;
      for (int i = 0; i < digits; ++i) s += static_cast<char>('0' + rng.below(10));
      return s;
    }
    if (has_examples) return schema["examples"][rng.below(schema["examples"].size())];
  }
  if (has_examples && rng.chance(0.35)) return schema["examples"][rng.below(schema["examples"].size())];
  GeneratorChoice g = choose(property);
  ojson v = generate(g, property, rng);
  if (!v.is_string()) v = plain_text(v);
  std::string s = v.get<std::string>();
  if (schema.contains("maxLength") && schema["maxLength"].is_number_unsigned())
    s.resize(std::min(s.size(), schema["maxLength"].get<size_t>()));
  if (schema.contains("minLength") && schema["minLength"].is_number_unsigned())
    while (s.size() < schema["minLength"].get<size_t>()) s += "x";
  return s;
}

ojson ValuePools::sample_number(const ojson& schema, std::string_view property, Rng& rng, bool integer) const {
  double lo = -1e18, hi = 1e18;
  if (schema.contains("minimum") && schema["minimum"].is_number()) lo = schema["minimum"].get<double>();
  if (schema.contains("exclusiveMinimum") && schema["exclusiveMinimum"].is_number()) lo = schema["exclusiveMinimum"].get<double>() + (integer ? 1 : 0.01);
  if (schema.contains("maximum") && schema["maximum"].is_number()) hi = schema["maximum"].get<double>();
  if (schema.contains("exclusiveMaximum") && schema["exclusiveMaximum"].is_number()) hi = schema["exclusiveMaximum"].get<double>() - (integer ? 1 : 0.01);
  GeneratorChoice g = choose(property);
  double v;
  ojson gv = generate(g, property, rng);
  if (gv.is_number()) v = gv.get<double>();
  else v = static_cast<double>(rng.range(1, 100));
  if (v < lo || v > hi) {
    const double a = std::max(lo, -1e6), b = std::min(hi, 1e6);
    v = a + (b - a) * rng.real();
  }
  if (integer) return static_cast<long long>(std::llround(std::clamp(std::round(v), std::ceil(lo), std::floor(hi))));
  v = std::round(v * 100) / 100;
  if (v == std::floor(v) && std::fabs(v) < 1e15) return static_cast<long long>(v);
  return v;
}

ojson ValuePools::sample(const ojson& schema, std::string_view property, Rng& rng) const {
  if (!schema.is_object()) return generate(choose(property), property, rng);
  if (schema.contains("const")) return schema["const"];
  if (schema.contains("enum") && schema["enum"].is_array() && !schema["enum"].empty())
    return schema["enum"][rng.below(schema["enum"].size())];
  if (schema.contains("default") && rng.chance(0.15)) return schema["default"];
  std::string type;
  if (schema.contains("type")) {
    const auto& t = schema["type"];
    if (t.is_string()) type = t.get<std::string>();
    else if (t.is_array() && !t.empty() && t[0].is_string()) type = t[0].get<std::string>();
  }
  if (type.empty()) {
    if (schema.contains("properties")) type = "object";
    else if (schema.contains("items")) type = "array";
    else for (const char* k : {"anyOf", "oneOf"})
      if (schema.contains(k) && schema[k].is_array() && !schema[k].empty()) return sample(schema[k][0], property, rng);
  }
  if (type == "integer") return sample_number(schema, property, rng, true);
  if (type == "number") return sample_number(schema, property, rng, false);
  if (type == "boolean") return rng.chance(0.75);  // flags and outcomes ("deleted", "success") are mostly true
  if (type == "null") return nullptr;
  if (type == "array") {
    size_t lo = schema.value("minItems", size_t{1}), hi = schema.value("maxItems", size_t{3});
    if (hi < lo) hi = lo;
    hi = std::min(hi, lo + 3);
    const size_t n = lo + rng.below(hi - lo + 1);
    ojson arr = ojson::array();
    std::string singular(property);
    if (singular.size() > 1 && singular.back() == 's') singular.pop_back();
    const ojson items = schema.contains("items") ? schema["items"] : ojson::object();
    for (size_t i = 0; i < n; ++i) arr.push_back(sample(items, singular, rng));
    return arr;
  }
  if (type == "object") {
    ojson obj = ojson::object();
    if (schema.contains("properties") && schema["properties"].is_object()) {
      std::vector<std::string> required;
      if (schema.contains("required") && schema["required"].is_array())
        for (const auto& r : schema["required"]) if (r.is_string()) required.push_back(r.get<std::string>());
      for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it) {
        const bool req = std::find(required.begin(), required.end(), it.key()) != required.end();
        if (req || rng.chance(0.5)) obj[it.key()] = sample(it.value(), it.key(), rng);
      }
    }
    order_date_ranges(obj);
    return obj;
  }
  return sample_string(schema, property, rng);
}

void ValuePools::order_date_ranges(ojson& values, const ojson& keep) {
  auto kept = [&](const std::string& key) { return keep.is_object() && keep.contains(key) && keep[key] == values[key]; };
  if (!values.is_object()) return;
  // Start and end words of a range; the other words of the two names must agree
  // ("check_in"/"check_out", "start_date"/"end_date", "departs_at"/"arrives_at").
  static const std::vector<std::pair<std::string, std::string>> words = {
      {"check_in", "check_out"}, {"checkin", "checkout"}, {"start", "end"},   {"starts", "ends"},
      {"departure", "return"},   {"departs", "arrives"},  {"from", "to"},     {"since", "until"},
      {"begin", "end"},          {"departure", "arrival"}};
  for (auto it = values.begin(); it != values.end(); ++it) {
    if (!it.value().is_string()) continue;
    const std::string& first = it.key();
    for (const auto& [a, b] : words) {
      const size_t at = first.find(a);
      if (at == std::string::npos) continue;
      // Whole words only: "from" in "from_date", not in "from_account".
      const bool left = at == 0 || first[at - 1] == '_';
      const bool right = at + a.size() == first.size() || first[at + a.size()] == '_';
      if (!left || !right) continue;
      const std::string second = first.substr(0, at) + b + first.substr(at + a.size());
      if (!values.contains(second) || !values[second].is_string()) continue;
      long start = 0, end = 0;
      bool start_time = false, end_time = false;
      const std::string& s = it.value().get_ref<const std::string&>();
      const std::string e = values[second].get<std::string>();
      if (!parse_when(s, start, start_time) || !parse_when(e, end, end_time) || start_time != end_time) continue;
      if (end > start) continue;
      // Stays of 1-14 nights, trips of 1-12 hours; deterministic (derived from the two values).
      const long span = start_time ? 60 * (1 + static_cast<long>(hash64(s + e) % 12)) : 1440 * (1 + static_cast<long>(hash64(s + e) % 14));
      if (kept(second) && !kept(first)) it.value() = format_when(end - span, s, start_time);
      else if (!kept(second)) values[second] = format_when(start + span, e, end_time);
    }
  }
}

}  // namespace mcip::synth
