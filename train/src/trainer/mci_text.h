// The MCI flow log as the classifier reads it: one short line per flow.
//
// The synthesizer's log line ("client (for u-4, role user) sends function request about caller
// u-4 to server crm under consent: get(id=1)") spends two thirds of its tokens on the same
// header words and ids in every flow. The model input says each fact once:
//
//   caller u-4 role user
//   tools crm > client (transparency): get, admin_get
//   query user > client (consent): show contact 1
//   call client > crm (consent): get(id=1)
//   call client[root-1 service] > crm (authorization): admin_get(id=1)
//
// "client" and "user" stand for the session's caller (from the first query flow), a subject
// is written ("re ...") only when it is not the flow's usual one (the listing server, or the
// caller), and "server " is dropped from server names. Nothing else is lost except, when
// max_result_chars > 0, the tail of long function results. With flow checks on, a second line
// that is never cut says what FlowChecks (flow_checks.h) found, per call in order:
//
//   checks: get ok | admin_get unasked, like get here     (or "checks: no calls")
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mcip::train {

struct McipFlow {
  std::string sender, recipient, subject, information_type, transmission_principle, content;
};

// Flows from the record's `mci` list (objects with the six string fields). Throws InputError
// naming `field[i].key` on a bad shape.
std::vector<McipFlow> mci_flows_from_json(const nlohmann::json& value, const std::string& origin, int line,
                                          const std::string& field);
// Flows from the text log (one "SENDER sends TYPE about SUBJECT to RECIPIENT under TP: content"
// per line); nullopt when a non-empty line is not in that form.
std::optional<std::vector<McipFlow>> mci_flows_from_text(const std::string& text);

struct CompactMci {
  std::string caller;        // "caller ID role ROLE\n" (empty when no query flow names one)
  std::string checks;        // "checks: ...\n" (empty when flow checks are off)
  std::string tool_lists;    // the `tools` lines
  std::string conversation;  // every other flow, in order
};
// flow_checks: fill `checks` (flow_checks.h).
CompactMci compact_mci(const std::vector<McipFlow>& flows, std::int64_t max_result_chars, bool flow_checks = false);

}  // namespace mcip::train
