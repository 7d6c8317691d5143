#include "siamese/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/expect.h"

namespace xgrad::siamese {
namespace {

using ::testing::HasSubstr;
using testing::invalid_argument_message;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Hand case used by several tests (sorted: .1G .2I .3G .4G .5I .6I .7G).
const std::vector<double> kMixedD = {0.4, 0.2, 0.7, 0.1, 0.6, 0.3, 0.5};
const std::vector<int> kMixedL = {1, 0, 1, 1, 0, 1, 0};

// Trapezoid area under a ROC curve.
double trapezoid(const std::vector<RocPoint>& c) {
  double area = 0.0;
  for (std::size_t k = 1; k < c.size(); ++k) {
    area += (c[k].false_positive_rate - c[k - 1].false_positive_rate) *
            (c[k].true_positive_rate + c[k - 1].true_positive_rate) / 2.0;
  }
  return area;
}

// 1000 seeded pairs, distances on a 0.01 grid so that ties occur, genuine pairs shifted closer.
void random_pairs(std::uint64_t seed, std::vector<double>& d, std::vector<int>& l) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::bernoulli_distribution coin(0.4);
  d.clear();
  l.clear();
  for (int i = 0; i < 1000; ++i) {
    const int label = coin(rng) ? 1 : 0;
    const double x = std::abs(normal(rng) + (label == 1 ? 1.0 : 2.0));
    d.push_back(std::round(x * 100.0) / 100.0);
    l.push_back(label);
  }
}

// ---------------------------------------------------------------- validation

TEST(MetricsValidation, SizeMismatchNamesFunctionAndSizes) {
  const std::string msg = invalid_argument_message([] { roc_auc({0.1, 0.2, 0.3}, {1, 0}); });
  EXPECT_THAT(msg, HasSubstr("roc_auc"));
  EXPECT_THAT(msg, HasSubstr("distances.size()=3"));
  EXPECT_THAT(msg, HasSubstr("labels.size()=2"));
  EXPECT_THAT(invalid_argument_message([] { accuracy_at({0.1}, {}, 0.5); }),
              HasSubstr("accuracy_at"));
}

TEST(MetricsValidation, EmptyInput) {
  for (const auto& fn : std::vector<std::function<void()>>{
           [] { roc_curve({}, {}); }, [] { roc_auc({}, {}); }, [] { equal_error_rate({}, {}); },
           [] { best_threshold({}, {}); }, [] { accuracy_at({}, {}, 1.0); }}) {
    EXPECT_THAT(invalid_argument_message(fn), HasSubstr("empty input"));
  }
  EXPECT_THAT(invalid_argument_message([] { best_threshold({}, {}); }),
              HasSubstr("best_threshold"));
}

TEST(MetricsValidation, LabelsMustBeZeroOrOne) {
  const std::string msg = invalid_argument_message([] {
    equal_error_rate({0.1, 0.2, 0.3}, {1, 0, 2});
  });
  EXPECT_THAT(msg, HasSubstr("equal_error_rate"));
  EXPECT_THAT(msg, HasSubstr("0 (impostor) or 1 (genuine)"));
  EXPECT_THAT(msg, HasSubstr("labels[2]=2"));
  EXPECT_THAT(invalid_argument_message([] { best_threshold({0.1}, {-1}); }),
              HasSubstr("labels[0]=-1"));
}

TEST(MetricsValidation, NaNDistancesAreCounted) {
  const std::string msg = invalid_argument_message([] {
    roc_curve({0.1, kNaN, 0.3, kNaN}, {1, 0, 1, 0});
  });
  EXPECT_THAT(msg, HasSubstr("roc_curve"));
  EXPECT_THAT(msg, HasSubstr("2 NaN distance(s) of 4"));
  EXPECT_THAT(msg, HasSubstr("first at index 1"));
}

TEST(MetricsValidation, NeedsBothClassesForRocAucEer) {
  const std::vector<double> d = {0.1, 0.2};
  EXPECT_THAT(invalid_argument_message([&] {
                roc_auc(d, {1, 1});
              }),
              HasSubstr("roc_auc: no impostor pairs (all 2 labels are 1); the AUC is undefined"));
  EXPECT_THAT(invalid_argument_message([&] {
                roc_auc(d, {0, 0});
              }),
              HasSubstr("roc_auc: no genuine pairs (all 2 labels are 0); the AUC is undefined"));
  EXPECT_THAT(invalid_argument_message([&] {
                equal_error_rate(d, {0, 0});
              }),
              HasSubstr("the EER is undefined"));
  EXPECT_THAT(invalid_argument_message([&] {
                roc_curve(d, {1, 1});
              }),
              HasSubstr("the ROC is undefined"));
}

TEST(MetricsValidation, AccuracyAtRejectsNaNThreshold) {
  EXPECT_THAT(invalid_argument_message([] { accuracy_at({0.1}, {1}, kNaN); }),
              HasSubstr("accuracy_at: threshold is NaN"));
}

// ---------------------------------------------------------------- ROC curve

TEST(MetricsRocCurve, HandCaseOnePointPerDistinctDistance) {
  // Sorted: .1G .2I .2G .5I (ties at .2 form one diagonal step). 2 genuine, 2 impostor.
  const auto c = roc_curve({0.2, 0.1, 0.5, 0.2}, {0, 1, 0, 1});
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].threshold, -kInf);
  EXPECT_EQ(c[0].false_positive_rate, 0.0);
  EXPECT_EQ(c[0].true_positive_rate, 0.0);
  EXPECT_DOUBLE_EQ(c[1].threshold, 0.1);
  EXPECT_DOUBLE_EQ(c[1].false_positive_rate, 0.0);
  EXPECT_DOUBLE_EQ(c[1].true_positive_rate, 0.5);
  EXPECT_DOUBLE_EQ(c[2].threshold, 0.2);
  EXPECT_DOUBLE_EQ(c[2].false_positive_rate, 0.5);
  EXPECT_DOUBLE_EQ(c[2].true_positive_rate, 1.0);
  EXPECT_DOUBLE_EQ(c[3].threshold, 0.5);
  EXPECT_EQ(c[3].false_positive_rate, 1.0);
  EXPECT_EQ(c[3].true_positive_rate, 1.0);
}

TEST(MetricsRocCurve, EndpointsAndMonotoneOnRandomData) {
  std::vector<double> d;
  std::vector<int> l;
  random_pairs(7, d, l);
  const auto c = roc_curve(d, l);
  ASSERT_GE(c.size(), 2u);
  EXPECT_EQ(c.front().false_positive_rate, 0.0);
  EXPECT_EQ(c.front().true_positive_rate, 0.0);
  EXPECT_EQ(c.back().false_positive_rate, 1.0);
  EXPECT_EQ(c.back().true_positive_rate, 1.0);
  EXPECT_LT(c.size(), d.size() + 1);  // the 0.01 grid produced ties
  for (std::size_t k = 1; k < c.size(); ++k) {
    EXPECT_GE(c[k].false_positive_rate, c[k - 1].false_positive_rate);
    EXPECT_GE(c[k].true_positive_rate, c[k - 1].true_positive_rate);
    EXPECT_GT(c[k].threshold, c[k - 1].threshold);
    // Each point is exactly "distance <= threshold".
    if (k % 50 == 0) {
      std::size_t tp = 0, fp = 0, np = 0, nn = 0;
      for (std::size_t i = 0; i < d.size(); ++i) {
        (l[i] == 1 ? np : nn) += 1;
        if (d[i] <= c[k].threshold) (l[i] == 1 ? tp : fp) += 1;
      }
      EXPECT_DOUBLE_EQ(c[k].true_positive_rate, static_cast<double>(tp) / static_cast<double>(np));
      EXPECT_DOUBLE_EQ(c[k].false_positive_rate, static_cast<double>(fp) / static_cast<double>(nn));
    }
  }
}

// ---------------------------------------------------------------- AUC

TEST(RocAuc, PerfectSeparationIsOne) {
  EXPECT_EQ(roc_auc({0.1, 0.9, 0.2, 0.8}, {1, 0, 1, 0}), 1.0);
}

TEST(RocAuc, ReversedIsZero) { EXPECT_EQ(roc_auc({0.1, 0.9, 0.2, 0.8}, {0, 1, 0, 1}), 0.0); }

TEST(RocAuc, AllTiesIsOneHalf) {
  EXPECT_EQ(roc_auc({0.3, 0.3, 0.3, 0.3, 0.3}, {1, 0, 0, 1, 0}), 0.5);
}

TEST(RocAuc, HandMixedCase) {
  // genuine {0.2, 0.5, 0.5}, impostor {0.3, 0.5, 0.9}: 9 (g, i) pairs.
  //   g=0.2: < 0.3, < 0.5, < 0.9                  -> 3
  //   g=0.5: > 0.3 (0), = 0.5 (1/2), < 0.9 (1)    -> 1.5
  //   g=0.5: same                                  -> 1.5
  // U = 6, AUC = 6 / 9 = 2/3.
  EXPECT_DOUBLE_EQ(roc_auc({0.5, 0.3, 0.2, 0.9, 0.5, 0.5}, {1, 0, 1, 0, 0, 1}), 2.0 / 3.0);
}

TEST(RocAuc, InfiniteDistancesAreOrdered) {
  // genuine {-inf, 1}, impostor {1, +inf}: U = (1 + 1) + (1/2 + 1) = 3.5 of 4.
  EXPECT_DOUBLE_EQ(roc_auc({-kInf, 1.0, 1.0, kInf}, {1, 1, 0, 0}), 3.5 / 4.0);
}

TEST(RocAuc, MatchesTrapezoidAndBruteForceOnRandomData) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    std::vector<double> d;
    std::vector<int> l;
    random_pairs(seed, d, l);
    const double auc = roc_auc(d, l);
    EXPECT_NEAR(auc, trapezoid(roc_curve(d, l)), 1e-12) << "seed " << seed;
    double u = 0.0, np = 0.0, nn = 0.0;
    for (std::size_t g = 0; g < d.size(); ++g) {
      if (l[g] != 1) continue;
      np += 1;
      for (std::size_t i = 0; i < d.size(); ++i) {
        if (l[i] != 0) continue;
        u += d[g] < d[i] ? 1.0 : (d[g] == d[i] ? 0.5 : 0.0);
      }
    }
    for (int x : l) nn += (x == 0);
    EXPECT_NEAR(auc, u / (np * nn), 1e-12) << "seed " << seed;
    EXPECT_GT(auc, 0.6);  // genuine pairs are closer on average
  }
}

// ---------------------------------------------------------------- EER

TEST(Eer, PerfectSeparationIsZero) {
  const auto eer = equal_error_rate({0.1, 0.9, 0.2, 0.8}, {1, 0, 1, 0});
  EXPECT_EQ(eer.rate, 0.0);
  EXPECT_DOUBLE_EQ(eer.threshold, 0.2);  // the crossing sits on the point "<= 0.2": (0, 1)
}

TEST(Eer, InterpolatesOnAFlatStep) {
  // kMixed: sorted .1G .2I .3G .4G .5I .6I .7G, 4 genuine, 3 impostor. (FAR, FRR):
  //   anchor (0, 1); .1 (0, 3/4); .2 (1/3, 3/4); .3 (1/3, 1/2); .4 (1/3, 1/4) ...
  // FAR - FRR: .3 -> -1/6, .4 -> +1/12, so a = (1/6) / (1/6 + 1/12) = 2/3:
  //   rate = 1/3 (FAR flat; FRR 1/2 + 2/3 (1/4 - 1/2) = 1/3), threshold = .3 + 2/3 * .1.
  const auto eer = equal_error_rate(kMixedD, kMixedL);
  EXPECT_NEAR(eer.rate, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(eer.threshold, 0.3 + 0.1 * 2.0 / 3.0, 1e-12);
}

TEST(Eer, InterpolatesOnADiagonalTieStep) {
  // genuine {.1, .5}, impostor {.5, .9}. (FAR, FRR): .1 (0, 1/2); .5 (1/2, 0) (tie: both move).
  // FAR - FRR: -1/2 -> +1/2, a = 1/2: rate = 1/4, threshold = .1 + .4 / 2 = .3.
  const auto eer = equal_error_rate({0.1, 0.5, 0.5, 0.9}, {1, 1, 0, 0});
  EXPECT_NEAR(eer.rate, 0.25, 1e-12);
  EXPECT_NEAR(eer.threshold, 0.3, 1e-12);
}

TEST(Eer, AllTiesIsOneHalfAtTheTiedDistance) {
  // The crossing is on the segment from the anchor: the threshold is the first distance.
  const auto eer = equal_error_rate({0.4, 0.4, 0.4}, {1, 0, 1});
  EXPECT_DOUBLE_EQ(eer.rate, 0.5);
  EXPECT_DOUBLE_EQ(eer.threshold, 0.4);
}

TEST(Eer, RateIsWhereFarEqualsFrrOnRandomData) {
  std::vector<double> d;
  std::vector<int> l;
  random_pairs(11, d, l);
  const auto eer = equal_error_rate(d, l);
  EXPECT_GT(eer.rate, 0.0);
  EXPECT_LT(eer.rate, 0.5);
  // The rule at the EER threshold is within one ROC step of FAR = FRR.
  const auto c = roc_curve(d, l);
  double far = 0.0, frr = 1.0;
  for (const auto& p : c) {
    if (p.threshold <= eer.threshold) {
      far = p.false_positive_rate;
      frr = 1.0 - p.true_positive_rate;
    }
  }
  EXPECT_LE(far, eer.rate + 1e-12);
  EXPECT_GE(frr, eer.rate - 1e-12);
  EXPECT_NEAR(far, eer.rate, 0.05);
  EXPECT_NEAR(frr, eer.rate, 0.05);
}

// ---------------------------------------------------------------- thresholds

TEST(Threshold, BestThresholdHandCase) {
  // kMixed sorted .1G .2I .3G .4G .5I .6I .7G. Correct (genuine accepted + impostors rejected)
  // when accepting the first k distinct distances: k=0:3 1:4 2:3 3:4 4:5 5:4 6:3 7:4.
  // Best k=4, accuracy 5/7, threshold midpoint(.4, .5) = .45.
  const auto best = best_threshold(kMixedD, kMixedL);
  EXPECT_DOUBLE_EQ(best.accuracy, 5.0 / 7.0);
  EXPECT_DOUBLE_EQ(best.threshold, 0.45);
  EXPECT_DOUBLE_EQ(accuracy_at(kMixedD, kMixedL, best.threshold), best.accuracy);
}

TEST(Threshold, BestThresholdTiesGoToTheSmallerThreshold) {
  // genuine {.1, .3}, impostor {.2, .4}: k=1 and k=3 both get 3/4; k=1's midpoint .15 wins.
  const auto best = best_threshold({0.4, 0.3, 0.2, 0.1}, {0, 1, 0, 1});
  EXPECT_DOUBLE_EQ(best.accuracy, 0.75);
  EXPECT_DOUBLE_EQ(best.threshold, 0.15);
}

TEST(Threshold, BestThresholdExtremes) {
  // Only impostors: accept nothing, below the smallest distance: 1 - max(1, 1) = 0.
  auto best = best_threshold({1.0, 2.0}, {0, 0});
  EXPECT_EQ(best.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(best.threshold, 0.0);
  // Only genuine: accept everything, above the largest: 2 + max(1, 2) = 4.
  best = best_threshold({0.5, 2.0}, {1, 1});
  EXPECT_EQ(best.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(best.threshold, 4.0);
  // An infinite impostor distance: the genuine-accepting threshold stays finite.
  best = best_threshold({0.5, kInf}, {1, 0});
  EXPECT_EQ(best.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(best.threshold, 0.5);
  EXPECT_EQ(accuracy_at({0.5, kInf}, {1, 0}, best.threshold), 1.0);
  // Nothing rejects a -inf impostor: the best is to accept all (1 + max(1, 1) = 2), 1/2.
  best = best_threshold({-kInf, 1.0}, {0, 1});
  EXPECT_EQ(best.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(best.threshold, 2.0);
  // All +inf impostors: rejecting all needs a finite threshold, the largest double.
  best = best_threshold({kInf, kInf}, {0, 0});
  EXPECT_EQ(best.accuracy, 1.0);
  EXPECT_EQ(best.threshold, std::numeric_limits<double>::max());
}

TEST(Threshold, BestThresholdIsOptimalOnRandomData) {
  std::vector<double> d;
  std::vector<int> l;
  random_pairs(5, d, l);
  const auto best = best_threshold(d, l);
  EXPECT_DOUBLE_EQ(accuracy_at(d, l, best.threshold), best.accuracy);
  for (const auto& p : roc_curve(d, l)) {
    EXPECT_LE(accuracy_at(d, l, p.threshold), best.accuracy + 1e-12);
  }
}

TEST(Threshold, AccuracyAtIsInclusive) {
  // kMixed: at .4 the genuine .4 is accepted (<=): 5/7; just below it is rejected: 4/7.
  EXPECT_DOUBLE_EQ(accuracy_at(kMixedD, kMixedL, 0.4), 5.0 / 7.0);
  EXPECT_DOUBLE_EQ(accuracy_at(kMixedD, kMixedL, 0.39), 4.0 / 7.0);
  EXPECT_DOUBLE_EQ(accuracy_at(kMixedD, kMixedL, -kInf), 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(accuracy_at(kMixedD, kMixedL, kInf), 4.0 / 7.0);
}

// ---------------------------------------------------------------- one-shot

// `classes` classes of `per_class` items each, row-major [count, dim].
struct Embedded {
  std::vector<float> x;
  std::vector<std::int64_t> y;
};

Embedded clustered(std::size_t classes, std::size_t per_class, std::size_t dim,
                   std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> noise(-0.01f, 0.01f);
  Embedded e;
  for (std::size_t c = 0; c < classes; ++c) {
    for (std::size_t i = 0; i < per_class; ++i) {
      for (std::size_t j = 0; j < dim; ++j) e.x.push_back((j == c ? 10.0f : 0.0f) + noise(rng));
      e.y.push_back(static_cast<std::int64_t>(100 + 7 * c));
    }
  }
  return e;
}

Embedded random_embedding(std::size_t classes, std::size_t per_class, std::size_t dim,
                          std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Embedded e;
  for (std::size_t c = 0; c < classes; ++c) {
    for (std::size_t i = 0; i < per_class; ++i) {
      for (std::size_t j = 0; j < dim; ++j) e.x.push_back(normal(rng));
      e.y.push_back(static_cast<std::int64_t>(c));
    }
  }
  return e;
}

TEST(OneShot, PerfectlyClusteredIsOne) {
  const auto e = clustered(8, 4, 8, 3);
  const auto r = one_shot_accuracy(e.x, 8, e.y, 5, 300, 42);
  EXPECT_EQ(r.accuracy, 1.0);
  EXPECT_EQ(r.ways, 5u);
  EXPECT_EQ(r.episodes, 300u);
}

TEST(OneShot, RandomEmbeddingIsChance) {
  // 2000 episodes, N = 5: the estimate of p = 0.2 has sd sqrt(.16 / 2000) ≈ 0.009; ±0.04 ≈ 4.5 sd.
  const auto e = random_embedding(10, 20, 8, 9);
  EXPECT_NEAR(one_shot_accuracy(e.x, 8, e.y, 5, 2000, 123).accuracy, 0.2, 0.04);
}

TEST(OneShot, CollapsedEmbeddingIsChanceNotPerfect) {
  // All points equal: every distance ties; the lowest (random) support slot wins.
  const std::vector<float> x(6 * 3 * 4, 0.5f);
  std::vector<std::int64_t> y;
  for (int c = 0; c < 6; ++c) y.insert(y.end(), 3, c);
  EXPECT_NEAR(one_shot_accuracy(x, 4, y, 5, 2000, 1).accuracy, 0.2, 0.04);
}

TEST(OneShot, SingleItemClassesTakeNoPart) {
  // Classes 0, 1, 2 have two items each, clustered; class 3 has ONE item placed exactly on
  // class 0's points. Were it ever a support, class-0 queries could fail; it is never used.
  std::vector<float> x = {0, 0, 0, 0, 5, 5, 5, 5, -5, 5, -5, 5, 0, 0};
  const std::vector<std::int64_t> y = {0, 0, 1, 1, 2, 2, 3};
  EXPECT_EQ(one_shot_accuracy(x, 2, y, 3, 500, 4).accuracy, 1.0);
}

TEST(OneShot, SeedDeterminesTheResult) {
  const auto e = random_embedding(10, 5, 4, 17);
  const double a = one_shot_accuracy(e.x, 4, e.y, 5, 200, 77).accuracy;
  EXPECT_EQ(one_shot_accuracy(e.x, 4, e.y, 5, 200, 77).accuracy, a);
  bool some_differ = false;
  for (std::uint64_t s = 1; s <= 5; ++s) {
    some_differ |= one_shot_accuracy(e.x, 4, e.y, 5, 200, s).accuracy != a;
  }
  EXPECT_TRUE(some_differ);
}

TEST(OneShot, Errors) {
  const auto e = clustered(3, 2, 3, 1);
  EXPECT_THAT(invalid_argument_message([&] { one_shot_accuracy(e.x, 3, e.y, 1, 10, 0); }),
              HasSubstr("one_shot_accuracy: ways must be >= 2; got ways=1"));
  EXPECT_THAT(invalid_argument_message([&] { one_shot_accuracy(e.x, 3, e.y, 2, 0, 0); }),
              HasSubstr("episodes must be >= 1"));
  EXPECT_THAT(invalid_argument_message([&] { one_shot_accuracy(e.x, 0, e.y, 2, 10, 0); }),
              HasSubstr("dim must be >= 1"));
  EXPECT_THAT(invalid_argument_message([&] { one_shot_accuracy(e.x, 4, e.y, 2, 10, 0); }),
              HasSubstr("embeddings.size()=18 is not labels.size() * dim = 6 * 4"));
  auto bad = e.x;
  bad[1] = std::numeric_limits<float>::quiet_NaN();
  bad[4] = std::numeric_limits<float>::infinity();
  EXPECT_THAT(invalid_argument_message([&] { one_shot_accuracy(bad, 3, e.y, 2, 10, 0); }),
              HasSubstr("2 embedding value(s) are NaN or infinite"));
  // Classes 0, 1 usable; 2 and 3 have a single item each.
  const std::vector<float> x(6, 0.0f);
  const std::vector<std::int64_t> y = {0, 0, 1, 1, 2, 3};
  const std::string msg = invalid_argument_message([&] { one_shot_accuracy(x, 1, y, 3, 10, 0); });
  EXPECT_THAT(
      msg, HasSubstr("one_shot_accuracy: 3-way episodes need at least 3 classes with >= 2 items"));
  EXPECT_THAT(msg, HasSubstr("got 2 such classes (of 4 classes, 6 items)"));
  // Exactly `ways` usable classes is enough.
  EXPECT_NO_THROW(one_shot_accuracy(x, 1, y, 2, 10, 0));
}

}  // namespace
}  // namespace xgrad::siamese
