#include <fmt/format.h>

#include "mcip/synth.h"
#include "mcip/taxonomy.h"

namespace mcip::synth {

int print_taxonomy(const std::string& file, const std::string& format, std::ostream& out) {
  const auto fmt_kind = taxonomy::parse_format(format);
  const auto tax = file.empty() ? taxonomy::Taxonomy::embedded() : taxonomy::Taxonomy::from_file(file);
  out << taxonomy::render(tax, fmt_kind);
  return 0;
}

int check_taxonomy(const std::string& file, std::ostream& out) {
  const auto tax = taxonomy::Taxonomy::from_file(file);
  out << fmt::format("{}: valid {} taxonomy {}: {} dimensions, {} attacks, {} labels ({} benchmark)\n", file,
                     tax.name(), tax.version(), tax.dimensions().size(), tax.attacks().size(), tax.labels().size(),
                     tax.benchmark_labels().size());
  return 0;
}

}  // namespace mcip::synth
