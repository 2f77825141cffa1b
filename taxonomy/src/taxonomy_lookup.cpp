#include <cctype>

#include "mcip/taxonomy.h"

namespace mcip::taxonomy {

const DimensionValue* Dimension::find(std::string_view value_id) const {
  for (const auto& v : values)
    if (v.id == value_id) return &v;
  return nullptr;
}

const Dimension* Taxonomy::dimension(std::string_view id) const {
  for (const auto& d : dimensions_)
    if (d.id == id) return &d;
  return nullptr;
}

const Attack* Taxonomy::attack(std::string_view id) const {
  for (const auto& a : attacks_)
    if (a.id == id) return &a;
  return nullptr;
}

const Label* Taxonomy::find_label(std::string_view key) const {
  if (key.size() == 1) {
    const char letter = static_cast<char>(std::toupper(static_cast<unsigned char>(key[0])));
    for (const auto& l : labels_)
      if (l.letter == letter) return &l;
    return nullptr;
  }
  for (const auto& l : labels_) {
    if (l.id == key || l.bench_label == key) return &l;
    for (const auto& a : l.aliases)
      if (a == key) return &l;
  }
  return nullptr;
}

const Label& Taxonomy::safe_label() const {
  for (const auto& l : labels_)
    if (l.safe()) return l;
  return labels_.front();  // unreachable: validation guarantees exactly one safe label
}

const Attack* Taxonomy::attack_of(const Label& label) const {
  return label.safe() ? nullptr : attack(label.attack);
}

std::vector<const Label*> Taxonomy::benchmark_labels() const {
  std::vector<const Label*> out;
  for (const auto& l : labels_)
    if (l.benchmark) out.push_back(&l);
  return out;
}

}  // namespace mcip::taxonomy
