// Fields the synthesizer needs but MCP does not carry, inferred from a harvested Tool object:
// a privilege level and user-request templates. Both are heuristics and are marked as
// `derived` in the catalog; curated values (curated_queries.h) replace them where present.
#pragma once
#include <string>
#include <vector>

#include "mcip/mcp_client.h"

namespace mcip::mcp {

// "read", "write" or "admin", from (in order): code-execution words in the name or
// description → admin; annotations.readOnlyHint → read; "read-only" in the description →
// read; then the first verb of the name, then the description's first word (delete/merge/
// push/... → admin, create/update/send/... → write, get/list/search/... → read). Anything
// else is "write": over-estimating a privilege is the safe mistake.
std::string infer_privilege(const Json& tool);

// Two request templates built from the description's first sentence and the tool name,
// with {slot}s for the required properties (or the first properties if none are required).
// Every slot is a property of inputSchema; braces in descriptions are removed.
// `shared_prefix` (see shared_name_prefix) is dropped from the name in the second template.
std::vector<std::string> generate_queries(const Json& tool, const std::string& shared_prefix = "");

// The first name word every tool of a server shares ("slack" in slack_post_message, ...), or
// "" if there is none or it is a verb.
std::string shared_name_prefix(const std::vector<Json>& tools);

// The {slot} names used in a template (for validation).
std::vector<std::string> template_slots(const std::string& query);

// Splits a tool or property name into lowercase words: "get_pullRequest-files" →
// {"get", "pull", "request", "files"}.
std::vector<std::string> name_words(const std::string& name);

}  // namespace mcip::mcp
