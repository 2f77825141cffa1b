#include "mcip/synth/json_text.h"

#include <cstdio>

namespace mcip::synth {

void append_json_string(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  append_json_escaped(out, s);
  out += '"';
}

void append_json_escaped(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  size_t run = 0;  // copy unescaped runs in one append: this is the hot loop of the writer
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
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
  out.append(s.data() + run, s.size() - run);
}

void append_normalized(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size());
  bool space = false, any = false;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == ' ' || (c >= '\t' && c <= '\r')) {
      space = any;
      continue;
    }
    if (space) out += ' ';
    space = false;
    any = true;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : static_cast<char>(c);
  }
}

std::string normalize_text(std::string_view s) {
  std::string out;
  append_normalized(out, s);
  return out;
}

void append_python_json(std::string& out, const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        append_json_string(out, it.key());
        out += ": ";
        append_python_json(out, it.value());
      }
      out += '}';
      break;
    }
    case ojson::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& x : v) {
        if (!first) out += ", ";
        first = false;
        append_python_json(out, x);
      }
      out += ']';
      break;
    }
    case ojson::value_t::string:
      append_json_string(out, v.get_ref<const std::string&>());
      break;
    default:
      out += v.dump();
  }
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
  return v.dump();
}

}  // namespace mcip::synth
