// Builds benign episodes from the catalogs: a caller with scopes, a request from a template
// with slots filled by schema-driven sampling, a plan that honours declared prerequisites
// (passing tokens and ids along), results that match outputSchema, and a final answer.
#pragma once
#include <string>
#include <vector>

#include "mcip/synth/catalog.h"
#include "mcip/synth/config.h"
#include "mcip/synth/episode.h"
#include "mcip/synth/recorded_seeds.h"
#include "mcip/synth/rng.h"
#include "mcip/synth/values.h"

namespace mcip::synth {

struct Phrasing {
  std::vector<std::string> greetings, greeting_replies, request_prefixes, request_suffixes, multi_joiners, thanks,
      welcome, chitchat_questions, chitchat_answers, answer_intros, answer_field, answer_error, answer_empty, answer_text,
      text_results_read, text_results_write,
      repeat_requests, history_questions, history_answers, corrections, correction_acks, fallback_queries;
  std::string hash;
  static Phrasing from_document(const Document& doc);
  static Phrasing embedded();
};

// Replaces every "{key}" in `pattern` with the matching value; unknown keys are left as is.
std::string fill(const std::string& pattern, const std::vector<std::pair<std::string, std::string>>& values);

// Everything immutable the generator reads: catalogs, data files and the split policy.
class World {
 public:
  World(Catalog catalog, ValuePools pools, Phrasing phrasing, SynthConfig config);
  const Catalog& catalog() const { return catalog_; }
  const ValuePools& pools() const { return pools_; }
  const Phrasing& phrasing() const { return phrasing_; }
  const SynthConfig& config() const { return config_; }
  const std::vector<const Tool*>& tools() const { return tools_; }
  const Server& server_of(const Tool& t) const;
  bool held_out(const std::string& server) const;
  // Split of an episode group; held-out servers always map to test_unseen_tools.
  std::string split_of(const std::string& server, const std::string& group) const;
  // Tools an episode in `split` may use besides its primary tool.
  bool usable_in(const Tool& t, const std::string& split) const;
  // Recorded real exchanges used as seeds (empty unless set; load them against catalog()).
  const RecordedSeeds& seeds() const { return seeds_; }
  void set_seeds(RecordedSeeds seeds) { seeds_ = std::move(seeds); }

 private:
  Catalog catalog_;
  ValuePools pools_;
  Phrasing phrasing_;
  SynthConfig config_;
  std::vector<const Tool*> tools_;
  RecordedSeeds seeds_;
};

class Simulator {
 public:
  explicit Simulator(const World& world) : world_(world) {}

  // A benign episode whose first request uses `primary` (nullptr = uniform over tools).
  // `role` forces the caller's role ("" = drawn from the plan).
  Episode benign(Rng& rng, const Tool* primary, bool force_multi_request = false, const std::string& role = "") const;
  // A benign episode built from a recorded real exchange: its request, its calls with their
  // real arguments and CallToolResults (verbatim), the real Tool objects; caller, distractor
  // tools and small talk are drawn as for simulated episodes. `role` as for benign().
  Episode benign_from_seed(const Seed& seed, Rng& rng, const std::string& role = "") const;

  // Arguments for `tool`: request slots first, then values earlier results handed over
  // (tokens, ids), then schema sampling.
  ojson arguments_for(const Tool& tool, const ojson& stated, const std::vector<Call>& before, const Identity& caller,
                      Rng& rng) const;
  // Fills call.structured/text/is_error consistently with the tool's outputSchema and arguments.
  // `transient`: a failure that a retry can fix (unavailable, rate limited), not a bad argument.
  // The text content of a structured result (a lone field is sent as that field).
  static void set_result_text(Call& call);
  // Makes the latest earlier same-server result that lists a field (search offers, rates) list the
  // value the user stated for it, so the id booked is one the search returned.
  static void list_stated_values(std::vector<Call>& before, const Call& call, const ojson& stated);
  void simulate_result(Call& call, Rng& rng, bool fail = false, bool transient = false) const;
  // Rewrites the final answer from the results of the requested calls.
  // `only_call` >= 0 restricts the answer to that call (follow-up answers).
  std::string compose_answer(const Episode& ep, Rng& rng, int only_call = -1) const;
  // Identity with scopes for the servers and privileges in use.
  Identity make_caller(Rng& rng, const std::string& role, const std::vector<const Tool*>& used) const;
  // A tool of `server` (or of any usable server) to serve as an extra/unrequested call.
  const Tool* pick_other_tool(Rng& rng, const Episode& ep, const std::vector<const Tool*>& exclude, bool same_server,
                              const std::string& server) const;
  // Connects `tool`'s server if needed and lists `tool` in its session.
  void offer(Episode& ep, const Tool& tool) const;
  std::string request_text(const Tool& tool, int query, const ojson& slots, Rng& rng) const;

  const World& world() const { return world_; }

 private:
  void plan_request(Episode& ep, int r, Rng& rng) const;
  // A one-line plain-text result for `tool` naming up to two of its arguments.
  std::string prose_result(const Tool& tool, const ojson& arguments, Rng& rng) const;
  // Shared by benign() and benign_from_seed(), in this order of draws.
  std::string draw_role(Rng& rng, bool any_admin) const;
  void connect_servers(Episode& ep, const std::vector<const Tool*>& used, const std::string& primary_server, Rng& rng) const;
  void set_subject(Episode& ep) const;
  void add_chitchat(Episode& ep, Rng& rng) const;
  void close_turns(Episode& ep, Rng& rng) const;  // call turns, the answer, maybe thanks
  const World& world_;
};

// True when an argument name carries a credential handed from one call to the next.
bool is_token_name(const std::string& name);

}  // namespace mcip::synth
