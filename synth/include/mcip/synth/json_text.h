// Fast JSON text building for the hot path: records are assembled by appending to a string
// instead of building DOM trees, and Glaive needs Python json.dumps-style separators.
#pragma once
#include <string>
#include <string_view>

#include "mcip/synth/document.h"

namespace mcip::synth {

// Appends `s` as a JSON string literal (quotes included); UTF-8 passes through unescaped.
void append_json_string(std::string& out, std::string_view s);
// Python json.dumps(v) layout: ", " and ": " separators, keys in stored order, UTF-8 kept.
void append_python_json(std::string& out, const ojson& v);
std::string python_json(const ojson& v);
// Compact JSON (like ojson::dump() but without constructing a serializer per call: the hot path
// serializes thousands of small values per example).
void append_compact_json(std::string& out, const ojson& v);
std::string compact_json(const ojson& v);
// A scalar (number, boolean, null) as JSON text; floats in shortest round-trip form, always with
// a fraction or exponent ("1500.0"), as Python prints them.
void append_json_scalar(std::string& out, const ojson& v);
// Scalar as plain text for prose: strings unquoted, numbers as written.
std::string plain_text(const ojson& v);

// Appends `s` JSON-escaped but without the surrounding quotes (for assembling one string value from parts).
void append_json_escaped(std::string& out, std::string_view s);
// Lower-cased (ASCII), whitespace-collapsed, trimmed text: the form duplicates are judged on.
std::string normalize_text(std::string_view s);
void append_normalized(std::string& out, std::string_view s);

// Minimal streaming writer for one JSON object or array; the caller keeps structure valid.
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}
  JsonWriter& begin_object() { sep(); out_ += '{'; first_ = true; return *this; }
  JsonWriter& end_object() { out_ += '}'; first_ = false; return *this; }
  JsonWriter& begin_array() { sep(); out_ += '['; first_ = true; return *this; }
  JsonWriter& end_array() { out_ += ']'; first_ = false; return *this; }
  // Keys are identifiers written in code (never user data), so they are copied without escaping.
  JsonWriter& key(std::string_view k) {
    sep();
    out_ += '"';
    out_ += k;
    out_ += "\":";
    first_ = true;
    return *this;
  }
  JsonWriter& str(std::string_view s) { sep(); append_json_string(out_, s); return *this; }
  JsonWriter& num(long long v) { sep(); out_ += std::to_string(v); return *this; }
  JsonWriter& boolean(bool v) { sep(); out_ += v ? "true" : "false"; return *this; }
  JsonWriter& null() { sep(); out_ += "null"; return *this; }
  // Already-serialized JSON (a value, not a fragment).
  JsonWriter& raw(std::string_view json) { sep(); out_ += json; return *this; }
  JsonWriter& value(const ojson& v) { sep(); out_ += v.dump(); return *this; }

 private:
  void sep() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  std::string& out_;
  bool first_ = true;
};

}  // namespace mcip::synth
