// mcip-synth: taxonomy inspection now; dataset synthesis, validation and stats follow.
#pragma once
#include <ostream>
#include <string>

namespace mcip::synth {

// `mcip-synth --taxonomy [FILE] --format F`: renders the taxonomy (embedded when FILE is empty).
int print_taxonomy(const std::string& file, const std::string& format, std::ostream& out);
// `mcip-synth --check FILE`: validates a taxonomy file; 0 when valid, throws InputError otherwise.
int check_taxonomy(const std::string& file, std::ostream& out);

}  // namespace mcip::synth
