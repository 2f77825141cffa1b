#include "mcip/synth/json_text.h"

#include <cstdint>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <iterator>

#include <fmt/format.h>

namespace mcip::synth {

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  append_json_escaped(out, s);
  out += '"';
}

namespace {
// Bit 7 of each byte that is a control character, '"' or '\\' (SWAR). The lowest set bit is always
// exact (borrows only create false positives above a true hit), so ctz finds the first such byte.
inline std::uint64_t escape_mask(std::uint64_t x) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  const std::uint64_t control = (x - ones * 0x20) & ~x & highs;
  const std::uint64_t q = x ^ (ones * static_cast<unsigned char>('"'));
  const std::uint64_t b = x ^ (ones * static_cast<unsigned char>('\\'));
  return control | ((q - ones) & ~q & highs) | ((b - ones) & ~b & highs);
}
}  // namespace

void append_json_escaped(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  const char* p = s.data();
  const size_t n = s.size();
  size_t run = 0;  // start of the pending unescaped run, copied in one append
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      std::uint64_t x;
      std::memcpy(&x, p + i, 8);  // little-endian: byte k is bits 8k..8k+7
      const std::uint64_t mask = escape_mask(x);
      if (!mask) {
        i += 8;
        continue;
      }
      i += static_cast<size_t>(__builtin_ctzll(mask)) >> 3;
    }
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    out.append(p + run, i - run);
    run = ++i;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(p + run, n - run);
}

void append_normalized(std::string& out, std::string_view s) {
  // Written through a raw pointer into pre-sized space: push_back per byte is several times slower.
  const size_t start = out.size();
  out.resize(start + s.size());
  char* w = &out[start];
  char* const begin = w;
  bool space = false, any = false;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == ' ' || (c >= '\t' && c <= '\r')) {
      space = any;
      continue;
    }
    if (space) *w++ = ' ';
    space = false;
    any = true;
    *w++ = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : static_cast<char>(c);
  }
  out.resize(start + static_cast<size_t>(w - begin));
}

std::string normalize_text(std::string_view s) {
  std::string out;
  append_normalized(out, s);
  return out;
}

namespace {
// One writer for both layouts: Python's json.dumps separators (", ", ": ") or compact (",", ":").
void append_json_separated(std::string& out, const ojson& v, const char* item_sep, const char* key_sep) {
  switch (v.type()) {
    case ojson::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += item_sep;
        first = false;
        append_json_string(out, it.key());
        out += key_sep;
        append_json_separated(out, it.value(), item_sep, key_sep);
      }
      out += '}';
      break;
    }
    case ojson::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& x : v) {
        if (!first) out += item_sep;
        first = false;
        append_json_separated(out, x, item_sep, key_sep);
      }
      out += ']';
      break;
    }
    case ojson::value_t::string:
      append_json_string(out, v.get_ref<const std::string&>());
      break;
    default:
      append_json_scalar(out, v);
  }
}
}  // namespace

void append_python_json(std::string& out, const ojson& v) { append_json_separated(out, v, ", ", ": "); }

void append_json_scalar(std::string& out, const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::number_integer: {
      fmt::format_int f(v.get<std::int64_t>());
      out.append(f.data(), f.size());
      break;
    }
    case ojson::value_t::number_unsigned: {
      fmt::format_int f(v.get<std::uint64_t>());
      out.append(f.data(), f.size());
      break;
    }
    case ojson::value_t::number_float: {
      const double d = v.get<double>();
      if (!std::isfinite(d)) {
        out += "null";  // what nlohmann writes for NaN/Inf
        break;
      }
      const size_t at = out.size();
      fmt::format_to(std::back_inserter(out), "{}", d);
      if (out.find_first_of(".eE", at) == std::string::npos) out += ".0";
      break;
    }
    case ojson::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      break;
    case ojson::value_t::null:
      out += "null";
      break;
    default:
      append_compact_json(out, v);
  }
}

void append_compact_json(std::string& out, const ojson& v) { append_json_separated(out, v, ",", ":"); }

std::string compact_json(const ojson& v) {
  std::string out;
  append_compact_json(out, v);
  return out;
}

std::string python_json(const ojson& v) {
  std::string out;
  append_python_json(out, v);
  return out;
}

std::string plain_text(const ojson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ", ") + plain_text(x);
    return out;
  }
  std::string out;
  append_json_scalar(out, v);
  return out;
}

}  // namespace mcip::synth
