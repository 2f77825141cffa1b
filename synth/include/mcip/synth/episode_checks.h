// Invariants of a benign episode, used by tests to prove that a mutator's source is clean
// before judging what the mutation changed.
#pragma once
#include <string>
#include <vector>

#include "mcip/synth/simulator.h"

namespace mcip::synth {

// Empty when: every call's tool is offered by its server's session, declared prerequisites
// ran earlier, every call is requested or a prerequisite, each call runs under the caller's
// identity and its scopes cover the tool's privilege, arguments the user stated are passed
// unchanged, and structured results carry the outputSchema's required fields.
std::vector<std::string> check_benign(const Episode& ep);

}  // namespace mcip::synth
