// Schema-driven value sampling: realistic names, places, amounts and identifiers drawn from
// the value pools data file, shaped by JSON Schema (enum, type, format, ranges, items).
#pragma once
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mcip/synth/document.h"
#include "mcip/synth/rng.h"

namespace mcip::synth {

enum class Generator {
  Pool, PersonName, FirstName, LastName, Email, Phone, Username, Amount, Quantity, Percent, Date,
  DateTime, Time, Identifier, Uuid, Url, Path, FileName, Ipv4, Hostname, Iban, AccountNumber, Token,
  Sentence, Word, Year, DurationMinutes, Language, Boolean, BirthDate
};

struct GeneratorChoice {
  Generator generator = Generator::Word;
  int pool = -1;  // index into pools when generator == Pool
};

class ValuePools {
 public:
  ValuePools() = default;
  ValuePools(const ValuePools& o) { *this = o; }
  ValuePools& operator=(const ValuePools& o);
  ValuePools(ValuePools&& o) noexcept { *this = std::move(o); }
  ValuePools& operator=(ValuePools&& o) noexcept;
  static ValuePools from_document(const Document& doc);
  static ValuePools embedded();
  static std::string_view embedded_text();

  const std::string& hash() const { return hash_; }
  const std::vector<std::string>& pool(int index) const { return pools_[static_cast<size_t>(index)]; }
  const std::vector<std::string>& pool(const std::string& name) const;
  // The generator for a property name: cached for names seen by prepare(), else rule-matched.
  GeneratorChoice choose(std::string_view property) const;
  // Pre-resolves names so the hot path does a hash lookup instead of running regexes.
  void prepare(const std::vector<std::string>& property_names);

  // A value for `schema` (JSON Schema subset) of a property called `property`.
  ojson sample(const ojson& schema, std::string_view property, Rng& rng) const;
  // Puts the end of each date range after its start in one set of named values (arguments,
  // request slots, a result object): check_out after check_in, end_date after start_date,
  // return_date after departure_date, arrives_at after departs_at. Values sampled one by one
  // know nothing of each other; a reader of the trace would reject a stay that ends before it starts.
  // Values equal to those in `keep` (what the user said) are not changed: the other end moves.
  static void order_date_ranges(ojson& values, const ojson& keep = ojson());
  // A value from a generator, ignoring schema.
  ojson generate(GeneratorChoice g, std::string_view property, Rng& rng) const;

 private:
  struct Rule {
    std::regex match;
    GeneratorChoice choice;
  };
  GeneratorChoice match_rules(std::string_view property) const;
  ojson sample_string(const ojson& schema, std::string_view property, Rng& rng) const;
  ojson sample_number(const ojson& schema, std::string_view property, Rng& rng, bool integer) const;

  // Pools the generators use directly, resolved once at load (lookups by name are linear).
  const std::vector<std::string>* first_ = nullptr;
  const std::vector<std::string>* last_ = nullptr;
  const std::vector<std::string>* domains_ = nullptr;
  const std::vector<std::string>* words_ = nullptr;
  const std::vector<std::string>* stems_ = nullptr;
  const std::vector<std::string>* extensions_ = nullptr;
  const std::vector<std::string>* directories_ = nullptr;
  const std::vector<std::string>* sentences_ = nullptr;
  const std::vector<std::string>* languages_ = nullptr;
  void resolve_common();

  std::vector<std::string> pool_names_;
  std::vector<std::vector<std::string>> pools_;
  std::vector<Rule> rules_;
  std::unordered_map<std::string, GeneratorChoice> cache_;
  std::string hash_;
};

}  // namespace mcip::synth
