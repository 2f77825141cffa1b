// Checks a contextual-integrity guard can compute from the flow log alone, given to the model
// as text so that a small model reads them as tokens instead of having to learn the comparisons.
//
// A tiny classifier does not learn "this argument value appears nowhere the user or a server
// said it" or "this call repeats call 2" from a few thousand examples; those are exactly what
// separates wrong_parameter, replay and dependency injections from a safe trace. Each check
// looks only at flows before the call (what a gateway knows when the call is made):
//
//   new ARG... [+N]     argument values found in no earlier query or function result
//                       (case-insensitive), i.e. taken from neither the user nor a server;
//                       the first three names, then how many more
//   unasked             no word of the function's name (3+ letters, generic verbs such as
//                       get/list/create aside) begins, by its first four letters, anywhere in
//                       the user's queries so far
//   like TOOL here|elsewhere
//                       another listed tool's name is a prefix or suffix of this one's (or the
//                       reverse), ignoring case and punctuation, on this server or another one
//   also on SERVER      another server lists a tool of exactly this name
//   repeat              the same function and arguments to the same server as the latest such
//                       call, with no user query
//                       in between; "repeat after query" when the user spoke in between (a
//                       retry or a "do it again" the user asked for)
//   prerequisite late   the call's transmission principle says it is needed for another call
//                       (authentication, or necessity of a declared prerequisite), yet a call
//                       that is no prerequisite already went to the same server
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace mcip::train {

class FlowChecks {
 public:
  // A `tools` flow: the listing server and its comma-separated tool names.
  void listed(const std::string& server, const std::string& tool_names);
  // A query or function result: text later calls may take values from.
  void grounded(const std::string& text, bool from_user);
  // A call to `server` under `principle` (the flow's transmission principle) with content
  // "name(k=v, ...)"; returns what the checks found (empty when nothing) and remembers the call.
  std::vector<std::string> call(const std::string& server, const std::string& principle, const std::string& content);

 private:
  std::vector<std::pair<std::string, std::string>> tools_;  // (server, tool)
  std::string grounded_;                                    // lowercase queries and results
  std::string asked_;                                       // lowercase queries
  int queries_ = 0;
  struct Call {
    std::string server, content;
    int queries_before;
  };
  std::vector<Call> calls_;
  std::vector<std::string> served_;                 // servers that got a call that is no prerequisite
};

}  // namespace mcip::train
