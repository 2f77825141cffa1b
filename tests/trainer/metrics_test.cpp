#include <gtest/gtest.h>

#include "mcip/trainer_metrics.h"

using mcip::train::EvalAccumulator;

TEST(TrainerMetrics, AccuracyBinaryAndMacroF1MatchHandComputedValues) {
  EvalAccumulator acc({"true", "b", "c"}, 0);
  // gold/pred pairs: (0,0) (0,1) (1,1) (1,2) (2,2) (2,2)
  for (auto [g, p] : std::vector<std::pair<int, int>>{{0, 0}, {0, 1}, {1, 1}, {1, 2}, {2, 2}, {2, 2}}) acc.add(g, p);
  acc.add_loss(3.0, 6);
  EXPECT_DOUBLE_EQ(acc.risk_resistance(), 4.0 / 6);
  // binary: safe=0. pairs -> (s,s) (s,u) (u,u) (u,u) (u,u) (u,u): 5/6
  EXPECT_DOUBLE_EQ(acc.safety_awareness(), 5.0 / 6);
  // per class F1: c0 p=1 r=.5 -> 2/3; c1 p=.5 r=.5 -> .5; c2 p=2/3 r=1 -> .8
  EXPECT_NEAR(acc.macro_f1(), (2.0 / 3 + 0.5 + 0.8) / 3, 1e-12);
  // binary F1: safe p=1 r=.5 -> 2/3; unsafe p=4/5 r=1 -> 8/9
  EXPECT_NEAR(acc.binary_macro_f1(), (2.0 / 3 + 8.0 / 9) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(acc.loss(), 0.5);
  EXPECT_EQ(acc.per_class()[2].support, 2);
}

TEST(TrainerMetrics, AbsentClassesAreLeftOutOfMacroF1AndCountersRoundTrip) {
  EvalAccumulator acc({"true", "b", "c", "d"}, 0);
  acc.add(1, 1);
  acc.add(2, 2);
  EXPECT_DOUBLE_EQ(acc.macro_f1(), 1.0);  // classes 0 and 3 never occur
  EvalAccumulator copy({"true", "b", "c", "d"}, 0);
  copy.set_counters(acc.counters());
  EXPECT_EQ(copy.confusion(), acc.confusion());
  const auto j = acc.to_json(true);
  EXPECT_EQ(j["per_class"]["c"]["support"], 1);
  EXPECT_EQ(j["confusion"][1][1], 1);
  EXPECT_NE(acc.report("t").find("(absent)"), std::string::npos);
}
