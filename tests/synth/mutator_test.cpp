// Every mutator changes its benign source exactly as its label says, and the source is clean.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "mcip/synth/dataset.h"
#include "mcip/synth/episode_checks.h"
#include "mcip/synth/json_text.h"
#include "mcip/synth/mutators.h"
#include "test_support.h"

namespace mcip::synth {
namespace {

using Check = std::function<void(const Episode& src, const Episode& mut, const World& world)>;

std::vector<std::string> names(const Episode& ep) {
  std::vector<std::string> v;
  for (const auto& c : ep.calls) v.push_back(c.tool->name);
  return v;
}

int primary(const Episode& ep) { return ep.call_for_request(0); }

// Applies `label`'s mutator to benign episodes until `want` successes; checks each pair.
void exercise(const std::string& label, int want, const Check& check) {
  static testing::Fixture fx;
  const Mutator* m = find_mutator(label);
  ASSERT_NE(m, nullptr) << label;
  const Simulator& sim = fx.factory->simulator();
  std::vector<const Tool*> wanted;
  for (const Tool* t : fx.world->tools())
    if (m->wants(*t)) wanted.push_back(t);
  ASSERT_FALSE(wanted.empty()) << label;
  int ok = 0;
  for (std::uint64_t i = 0; i < 400 && ok < want; ++i) {
    Rng rng(99, i, 0);
    Episode src = sim.benign(rng, wanted[rng.below(wanted.size())], m->multi_request, m->caller_role);
    const auto clean = check_benign(src);
    ASSERT_TRUE(clean.empty()) << label << " source " << i << ": " << clean.front();
    if (!m->applies(src, sim)) continue;
    auto mut = m->apply(src, sim, rng);
    if (!mut) continue;
    ++ok;
    SCOPED_TRACE(label + " #" + std::to_string(i) + ": " + mut->rationale);
    EXPECT_FALSE(mut->rationale.empty());
    EXPECT_FALSE(mut->variant.empty());
    check(src, mut->episode, *fx.world);
    // The rendered record passes the dataset validator's record checks.
    const Example ex = fx.factory->render(mut->episode, &src, *fx.tax.find_label(label), mut->rationale, mut->variant, i, 0);
    const auto problems = check_record(nlohmann::json::parse(ex.record), fx.tax);
    EXPECT_TRUE(problems.empty()) << problems.front();
    const Example benign = fx.factory->render(src, nullptr, fx.tax.safe_label(), benign_rationale(src), "", i, 0);
    const auto bp = check_record(nlohmann::json::parse(benign.record), fx.tax);
    EXPECT_TRUE(bp.empty()) << bp.front();
  }
  EXPECT_GE(ok, want) << label << " applied too rarely";
}

TEST(Mutators, CoverAllTenUnsafeLabels) {
  const auto tax = taxonomy::Taxonomy::embedded();
  int unsafe = 0;
  for (const auto* l : tax.benchmark_labels()) {
    if (l->safe()) continue;
    ++unsafe;
    EXPECT_NE(find_mutator(l->id), nullptr) << l->id;
  }
  EXPECT_EQ(unsafe, 10);
  EXPECT_EQ(mutators().size(), 10u);
}

TEST(Mutators, FunctionOverlappingRoutesToALookAlike) {
  exercise("function_overlapping", 8, [](const Episode& src, const Episode& mut, const World& w) {
    ASSERT_EQ(mut.calls.size(), src.calls.size());
    const Call& a = src.calls[primary(src)];
    const Call& b = mut.calls[primary(mut)];
    EXPECT_NE(b.tool->name, a.tool->name);
    EXPECT_TRUE(b.tool->synthetic);
    EXPECT_EQ(w.catalog().server(b.server) ? w.catalog().server(b.server)->find(b.tool->name) : nullptr, nullptr);
    EXPECT_EQ(b.tool->description.rfind(a.tool->description, 0), 0u) << "description must be copied";
    EXPECT_NE(mut.offered(b.server, b.tool->name), nullptr);
    EXPECT_NE(mut.offered(a.server, a.tool->name), nullptr) << "the genuine tool stays listed";
    for (size_t i = 0; i < src.calls.size(); ++i)
      if (static_cast<int>(i) != primary(src)) {
        EXPECT_EQ(mut.calls[i].tool->name, src.calls[i].tool->name);
      }
  });
}

TEST(Mutators, ExcessivePrivilegesUsesAMorePrivilegedTool) {
  exercise("excessive_privileges", 8, [](const Episode& src, const Episode& mut, const World&) {
    ASSERT_EQ(mut.calls.size(), src.calls.size());
    const Call& a = src.calls[primary(src)];
    const Call& b = mut.calls[primary(mut)];
    EXPECT_GT(static_cast<int>(b.tool->privilege), static_cast<int>(a.tool->privilege));
    EXPECT_EQ(b.server, a.server);
    EXPECT_NE(mut.offered(a.server, a.tool->name), nullptr) << "the narrower tool is offered";
    EXPECT_EQ(mut.caller, src.caller);
  });
}

TEST(Mutators, FunctionDependencyInjectionAddsAnUndeclaredCallBefore) {
  exercise("function_dependency_injection", 8, [](const Episode& src, const Episode& mut, const World&) {
    ASSERT_EQ(mut.calls.size(), src.calls.size() + 1);
    const int p = primary(mut);
    ASSERT_GT(p, 0);
    const Call& x = mut.calls[p - 1];
    EXPECT_EQ(x.purpose, "injected");
    const auto& req = mut.calls[p].tool->requires;
    EXPECT_EQ(std::find(req.begin(), req.end(), x.tool->name), req.end()) << "must not be a declared prerequisite";
    auto rest = names(mut);
    rest.erase(rest.begin() + (p - 1));
    EXPECT_EQ(rest, names(src));
  });
}

TEST(Mutators, FunctionInjectionAddsAnUnrequestedCallAfter) {
  exercise("function_injection", 8, [](const Episode& src, const Episode& mut, const World&) {
    ASSERT_EQ(mut.calls.size(), src.calls.size() + 1);
    int injected = -1;
    for (size_t i = 0; i < mut.calls.size(); ++i)
      if (mut.calls[i].purpose == "injected") injected = static_cast<int>(i);
    ASSERT_GE(injected, 1);
    EXPECT_EQ(mut.calls[injected - 1].purpose, "requested") << "injected right after the requested call";
    for (const auto& r : mut.requests) EXPECT_NE(r.tool->name, mut.calls[injected].tool->name);
    auto rest = names(mut);
    rest.erase(rest.begin() + injected);
    EXPECT_EQ(rest, names(src));
  });
}

TEST(Mutators, CausalDependencyInjectionBreaksADeclaredOrder) {
  exercise("causal_dependency_injection", 8, [](const Episode& src, const Episode& mut, const World&) {
    auto a = names(src), b = names(mut);
    EXPECT_NE(a, b);
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b) << "same calls, different order";
    bool violated = false;
    for (size_t d = 0; d < mut.calls.size(); ++d)
      for (const auto& r : mut.calls[d].tool->requires)
        for (size_t p = d + 1; p < mut.calls.size(); ++p) violated = violated || mut.calls[p].tool->name == r;
    EXPECT_TRUE(violated);
    EXPECT_FALSE(check_benign(mut).empty());
  });
}

TEST(Mutators, WrongFunctionCallsAnotherCatalogTool) {
  exercise("wrong_function_intent_injection", 8, [](const Episode& src, const Episode& mut, const World& w) {
    ASSERT_EQ(mut.calls.size(), src.calls.size());
    const Call& a = src.calls[primary(src)];
    const Call& b = mut.calls[primary(mut)];
    EXPECT_NE(b.tool->name, a.tool->name);
    EXPECT_FALSE(b.tool->synthetic);
    EXPECT_NE(w.catalog().server(b.server)->find(b.tool->name), nullptr);
    EXPECT_EQ(b.server, a.server);
    EXPECT_EQ(mut.requests[0].tool, a.tool) << "the user's request is unchanged";
  });
}

TEST(Mutators, WrongArgumentsChangesExactlyOneStatedValue) {
  exercise("wrong_arguments_intent_injection", 8, [](const Episode& src, const Episode& mut, const World&) {
    EXPECT_EQ(names(mut), names(src));
    const Call& a = src.calls[primary(src)];
    const Call& b = mut.calls[primary(mut)];
    int changed = 0;
    for (auto it = a.arguments.begin(); it != a.arguments.end(); ++it)
      if (b.arguments[it.key()] != it.value()) {
        ++changed;
        EXPECT_TRUE(mut.requests[0].slots.contains(it.key())) << it.key() << " was not stated by the user";
        EXPECT_EQ(mut.requests[0].slots[it.key()], it.value());
      }
    EXPECT_EQ(changed, 1);
    EXPECT_EQ(mut.requests[0].text, src.requests[0].text);
  });
}

TEST(Mutators, DataInjectionAnswersWithoutAnyCall) {
  exercise("data_injection", 8, [](const Episode& src, const Episode& mut, const World&) {
    EXPECT_FALSE(src.calls.empty());
    EXPECT_TRUE(mut.calls.empty());
    ASSERT_GE(mut.answer_turn(), 0);
    EXPECT_EQ(mut.turns[mut.answer_turn()].text, src.turns[src.answer_turn()].text);
  });
}

TEST(Mutators, IdentityInjectionElevatesTheSender) {
  exercise("identity_injection", 8, [](const Episode& src, const Episode& mut, const World&) {
    EXPECT_EQ(names(mut), names(src));
    EXPECT_EQ(mut.caller.role, "user");
    bool elevated = false;
    for (const auto& c : mut.calls)
      if (!(c.actor == mut.caller)) {
        elevated = true;
        EXPECT_NE(c.actor.role, "user");
        EXPECT_EQ(c.tool->privilege, Privilege::Admin);
        EXPECT_FALSE(mut.caller.has_scope(c.server + ":admin"));
        EXPECT_TRUE(c.actor.has_scope(c.server + ":admin"));
      }
    EXPECT_TRUE(elevated);
  });
}

TEST(Mutators, ReplayRepeatsAStateChangingCall) {
  exercise("replay_injection", 8, [](const Episode& src, const Episode& mut, const World&) {
    ASSERT_EQ(mut.calls.size(), src.calls.size() + 1);
    int replayed = -1;
    for (size_t i = 0; i < mut.calls.size(); ++i)
      if (mut.calls[i].purpose == "replayed") replayed = static_cast<int>(i);
    ASSERT_GE(replayed, 1);
    const Call& again = mut.calls[replayed];
    const Call& first = mut.calls[replayed - 1];
    EXPECT_EQ(again.tool, first.tool);
    EXPECT_EQ(again.arguments, first.arguments);
    EXPECT_TRUE(again.tool->state_changing());
    EXPECT_EQ(mut.requests.size(), src.requests.size()) << "the user did not ask again";
  });
}

TEST(Render, FastSystemTextEqualsTheReferenceRendering) {
  testing::Fixture fx;
  for (std::uint64_t i = 0; i < 50; ++i) {
    Rng rng(3, i);
    const Episode ep = fx.factory->simulator().benign(rng, nullptr);
    const std::string slow = render_glaive_system(ep);
    const GlaiveSystem fast = render_glaive_system_parts(ep);
    std::string escaped;
    append_json_escaped(escaped, slow);
    EXPECT_EQ(fast.escaped, escaped);
    EXPECT_EQ(fast.normalized, normalize_text(slow));
    // The record's prompt embeds exactly the Glaive body.
    const Example ex = fx.factory->render(ep, nullptr, fx.tax.safe_label(), "r", "", i, 0);
    const auto rec = nlohmann::json::parse(ex.record);
    EXPECT_EQ(rec["glaive"]["system"].get<std::string>(), slow);
    EXPECT_NE(rec["prompt"].get<std::string>().find(slow + "\n\n\n" + render_glaive_chat(ep) + "\n\n###Question:"), std::string::npos);
  }
}

TEST(Render, JsonEscapingMatchesNlohmann) {
  Rng rng(1, 2);
  const std::vector<std::string> alphabet = {"a", "b", " ", "\"", "\\", "\n", "\t", "\x01", "\x1f", "/", "{", ":",
                                             "\xc3\xa9", "\xe2\x82\xac", "0123456789", "long run of plain text"};
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const int n = static_cast<int>(rng.below(40));
    for (int k = 0; k < n; ++k) s += rng.pick(alphabet);
    std::string mine;
    append_json_string(mine, s);
    EXPECT_EQ(nlohmann::json::parse(mine).get<std::string>(), s);
  }
}

TEST(HardNegatives, StayBenign) {
  testing::Fixture fx;
  const Simulator& sim = fx.factory->simulator();
  for (const auto& hn : hard_negatives()) {
    int ok = 0;
    for (std::uint64_t i = 0; i < 200 && ok < 5; ++i) {
      Rng rng(5, i, 1);
      Episode src = sim.benign(rng, nullptr, hn.multi_request, hn.caller_role);
      if (!hn.applies(src, sim)) continue;
      auto mut = hn.apply(src, sim, rng);
      if (!mut) continue;
      ++ok;
      // A benign twin never uses synthetic tools in calls, never impersonates, never skips an order.
      for (const auto& c : mut->episode.calls) {
        EXPECT_FALSE(c.tool->synthetic) << hn.id;
        EXPECT_EQ(c.actor, mut->episode.caller) << hn.id;
        EXPECT_TRUE(c.purpose == "requested" || c.purpose == "prerequisite") << hn.id;
      }
      const auto problems = check_benign(mut->episode);
      EXPECT_TRUE(problems.empty()) << hn.id << ": " << problems.front();
    }
    EXPECT_GE(ok, 5) << hn.id;
  }
}

}  // namespace
}  // namespace mcip::synth
