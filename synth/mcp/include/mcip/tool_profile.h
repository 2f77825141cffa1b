// Fields the synthesizer needs but MCP does not carry, inferred from a harvested Tool object:
// a privilege level and user-request templates. Both are heuristics and are marked as
// `derived` in the catalog; curated values (curated_queries.h) replace them where present.
#pragma once
#include <string>
#include <vector>

#include "mcip/mcp_client.h"

namespace mcip::mcp {

// "read", "write" or "admin", from (in order) code-execution words, annotations.readOnlyHint,
// deletion/merge/push verbs, "read-only" in the description, then the first verb in the
// name. Unknown verbs default to "write": over-estimating a privilege is the safe mistake.
std::string infer_privilege(const Json& tool);

// Two request templates built from the description's first sentence and the tool name,
// with {slot}s for the required properties (or the first properties if none are required).
// Every slot is a property of inputSchema; braces in descriptions are removed.
std::vector<std::string> generate_queries(const Json& tool);

// The {slot} names used in a template (for validation).
std::vector<std::string> template_slots(const std::string& query);

// Splits a tool or property name into lowercase words: "get_pullRequest-files" →
// {"get", "pull", "request", "files"}.
std::vector<std::string> name_words(const std::string& name);

}  // namespace mcip::mcp
