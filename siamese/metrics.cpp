#include "siamese/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

namespace xgrad::siamese {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Genuine / impostor counts of a validated pair input.
struct PairCounts {
  std::uint64_t genuine = 0, impostor = 0;
};

// The pair-input checks shared by every pair function, in the order a caller is most helped
// by: sizes, emptiness, labels, NaNs.
PairCounts check_pairs(const char* fn, const std::vector<double>& distances,
                       const std::vector<int>& labels) {
  const std::string f(fn);
  if (distances.size() != labels.size()) {
    throw std::invalid_argument(f + ": distances and labels differ in size: distances.size()=" +
                                std::to_string(distances.size()) +
                                ", labels.size()=" + std::to_string(labels.size()));
  }
  if (distances.empty()) throw std::invalid_argument(f + ": empty input (no pairs)");
  PairCounts counts;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == 1) {
      ++counts.genuine;
    } else if (labels[i] == 0) {
      ++counts.impostor;
    } else {
      throw std::invalid_argument(f + ": labels must be 0 (impostor) or 1 (genuine); got labels[" +
                                  std::to_string(i) + "]=" + std::to_string(labels[i]));
    }
  }
  std::size_t nans = 0, first_nan = 0;
  for (std::size_t i = 0; i < distances.size(); ++i) {
    if (std::isnan(distances[i])) {
      if (nans == 0) first_nan = i;
      ++nans;
    }
  }
  if (nans > 0) {
    throw std::invalid_argument(f + ": " + std::to_string(nans) + " NaN distance(s) of " +
                                std::to_string(distances.size()) + " (first at index " +
                                std::to_string(first_nan) + ")");
  }
  return counts;
}

// Rates relative to each class need both classes present.
void check_both_classes(const char* fn, const PairCounts& counts, const char* what) {
  const std::uint64_t n = counts.genuine + counts.impostor;
  if (counts.genuine == 0) {
    throw std::invalid_argument(std::string(fn) + ": no genuine pairs (all " + std::to_string(n) +
                                " labels are 0); " + what + " is undefined");
  }
  if (counts.impostor == 0) {
    throw std::invalid_argument(std::string(fn) + ": no impostor pairs (all " + std::to_string(n) +
                                " labels are 1); " + what + " is undefined");
  }
}

// The pairs with one distance, as counts: every metric here depends on the data only through
// these groups, in increasing distance order.
struct Group {
  double distance;
  std::uint64_t genuine = 0, impostor = 0;
};

std::vector<Group> sorted_groups(const std::vector<double>& distances,
                                 const std::vector<int>& labels) {
  std::vector<std::pair<double, int>> pairs(distances.size());
  for (std::size_t i = 0; i < distances.size(); ++i) pairs[i] = {distances[i], labels[i]};
  // Order within a tie does not matter (a group only counts labels), so a plain sort on the
  // distance is deterministic in its result.
  std::sort(pairs.begin(), pairs.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Group> groups;
  for (const auto& [d, label] : pairs) {
    if (groups.empty() || groups.back().distance != d) groups.push_back(Group{d});
    (label == 1 ? groups.back().genuine : groups.back().impostor) += 1;
  }
  return groups;
}

}  // namespace

std::vector<RocPoint> roc_curve(const std::vector<double>& distances,
                                const std::vector<int>& labels) {
  const PairCounts counts = check_pairs("roc_curve", distances, labels);
  check_both_classes("roc_curve", counts, "the ROC");
  const std::vector<Group> groups = sorted_groups(distances, labels);
  std::vector<RocPoint> curve;
  curve.reserve(groups.size() + 1);
  curve.push_back({-kInf, 0.0, 0.0});
  // Cumulative integer counts, divided per point: the last point is exactly n/n = (1, 1).
  std::uint64_t tp = 0, fp = 0;
  const auto n_pos = static_cast<double>(counts.genuine);
  const auto n_neg = static_cast<double>(counts.impostor);
  for (const Group& g : groups) {
    tp += g.genuine;
    fp += g.impostor;
    curve.push_back({g.distance, static_cast<double>(fp) / n_neg, static_cast<double>(tp) / n_pos});
  }
  return curve;
}

double roc_auc(const std::vector<double>& distances, const std::vector<int>& labels) {
  const PairCounts counts = check_pairs("roc_auc", distances, labels);
  check_both_classes("roc_auc", counts, "the AUC");
  const std::vector<Group> groups = sorted_groups(distances, labels);
  // Walk the groups in increasing distance. For a group with g genuine and i impostor pairs,
  // its genuine pairs are closer than every impostor in a LATER group (strict wins) and tie with
  // the group's own i impostors (half wins):
  //   2U += 2·g·(impostors after this group) + g·i.
  // Integer 2U stays exact until it passes 2^64, i.e. n_genuine·n_impostor > 2^63: billions of
  // pairs on each side, more than fits in memory as doubles.
  std::uint64_t twice_u = 0;
  std::uint64_t impostors_after = counts.impostor;
  for (const Group& g : groups) {
    impostors_after -= g.impostor;
    twice_u += 2 * g.genuine * impostors_after + g.genuine * g.impostor;
  }
  return static_cast<double>(twice_u) /
         (2.0 * static_cast<double>(counts.genuine) * static_cast<double>(counts.impostor));
}

EqualErrorRate equal_error_rate(const std::vector<double>& distances,
                                const std::vector<int>& labels) {
  const PairCounts counts = check_pairs("equal_error_rate", distances, labels);
  check_both_classes("equal_error_rate", counts, "the EER");
  const std::vector<RocPoint> curve = roc_curve(distances, labels);
  // diff = FAR - FRR = FPR - (1 - TPR) strictly increases from -1 (anchor) to +1 (last point),
  // so the first point with diff >= 0 has index k >= 1 and the crossing lies on [k-1, k].
  auto diff = [](const RocPoint& p) {
    return p.false_positive_rate - (1.0 - p.true_positive_rate);
  };
  std::size_t k = 1;
  while (k + 1 < curve.size() && diff(curve[k]) < 0.0) ++k;
  const RocPoint& p0 = curve[k - 1];
  const RocPoint& p1 = curve[k];
  const double d0 = diff(p0), d1 = diff(p1);  // d0 < 0 <= d1
  const double a = -d0 / (d1 - d0);           // in (0, 1]
  // (1-a)·x0 + a·x1 returns x1 exactly when a = 1 (the crossing sits on a ROC point).
  const double rate = (1.0 - a) * p0.false_positive_rate + a * p1.false_positive_rate;
  // The anchor's -inf threshold cannot be interpolated: report the first real threshold.
  const double threshold = (k == 1) ? p1.threshold : (1.0 - a) * p0.threshold + a * p1.threshold;
  return {rate, threshold};
}

ThresholdChoice best_threshold(const std::vector<double>& distances,
                               const std::vector<int>& labels) {
  const PairCounts counts = check_pairs("best_threshold", distances, labels);
  const std::vector<Group> groups = sorted_groups(distances, labels);
  // Candidate k accepts groups [0, k): correct = genuine accepted + impostors rejected. Counts
  // are compared as integers, so "ties → smaller threshold" is exact: scan k upward and keep a
  // candidate only if it is strictly better.
  const std::size_t n_groups = groups.size();
  std::uint64_t tp = 0, fp = 0;
  std::uint64_t best_correct = 0;
  double best_t = 0.0;
  bool have_best = false;
  for (std::size_t k = 0; k <= n_groups; ++k) {
    if (k > 0) {
      tp += groups[k - 1].genuine;
      fp += groups[k - 1].impostor;
    }
    double t;
    if (k == 0) {
      const double lo = groups.front().distance;
      if (lo == -kInf) continue;  // nothing rejects a -inf distance
      t = std::isinf(lo) ? std::numeric_limits<double>::max() : lo - std::max(1.0, std::abs(lo));
    } else if (k == n_groups) {
      const double hi = groups.back().distance;
      t = std::isinf(hi) ? hi : hi + std::max(1.0, std::abs(hi));
    } else {
      const double a = groups[k - 1].distance, b = groups[k].distance;
      // a/2 + b/2 cannot overflow; fall back to a (same partition) when the midpoint is not in
      // [a, b): infinities (inf/2 = inf, -inf/2 + inf/2 = NaN) or rounding.
      t = a / 2 + b / 2;
      if (!(t >= a && t < b)) t = a;
    }
    const std::uint64_t correct = tp + (counts.impostor - fp);
    if (!have_best || correct > best_correct) {
      best_correct = correct;
      best_t = t;
      have_best = true;
    }
  }
  const auto n = static_cast<double>(counts.genuine + counts.impostor);
  return {best_t, static_cast<double>(best_correct) / n};
}

double accuracy_at(const std::vector<double>& distances, const std::vector<int>& labels,
                   double threshold) {
  check_pairs("accuracy_at", distances, labels);
  if (std::isnan(threshold)) throw std::invalid_argument("accuracy_at: threshold is NaN");
  std::size_t correct = 0;
  for (std::size_t i = 0; i < distances.size(); ++i) {
    const bool same = distances[i] <= threshold;
    if (same == (labels[i] == 1)) ++correct;
  }
  return static_cast<double>(correct) / static_cast<double>(distances.size());
}

namespace {

// Uniform integer in [0, n), n >= 1, from the raw 64-bit engine output by rejection: drop the
// top partial block of 2^64 mod n values so each residue is equally likely. Written here
// because std::uniform_int_distribution's algorithm differs between standard libraries.
std::size_t uniform_below(std::mt19937_64& rng, std::size_t n) {
  const std::uint64_t range = static_cast<std::uint64_t>(n);
  // (2^64 - range) % range == 2^64 % range, computed without 128-bit arithmetic.
  const std::uint64_t reject_below = (std::uint64_t{0} - range) % range;
  std::uint64_t x;
  do {
    x = rng();
  } while (x < reject_below);
  return static_cast<std::size_t>(x % range);
}

double squared_distance(const float* a, const float* b, std::size_t dim) {
  double s = 0.0;
  for (std::size_t j = 0; j < dim; ++j) {
    const double d = static_cast<double>(a[j]) - static_cast<double>(b[j]);
    s += d * d;
  }
  return s;
}

}  // namespace

OneShotResult one_shot_accuracy(const std::vector<float>& embeddings, std::size_t dim,
                                const std::vector<std::int64_t>& labels, std::size_t ways,
                                std::size_t episodes, std::uint64_t seed) {
  const std::string f = "one_shot_accuracy";
  const std::size_t count = labels.size();
  if (dim == 0) throw std::invalid_argument(f + ": dim must be >= 1; got dim=0");
  if (embeddings.size() / dim != count || embeddings.size() % dim != 0) {
    throw std::invalid_argument(f + ": embeddings.size()=" + std::to_string(embeddings.size()) +
                                " is not labels.size() * dim = " + std::to_string(count) + " * " +
                                std::to_string(dim));
  }
  const auto bad = std::count_if(embeddings.begin(), embeddings.end(),
                                 [](float v) { return !std::isfinite(v); });
  if (bad > 0) {
    throw std::invalid_argument(f + ": " + std::to_string(bad) +
                                " embedding value(s) are NaN or infinite");
  }
  if (ways < 2) {
    throw std::invalid_argument(f + ": ways must be >= 2; got ways=" + std::to_string(ways));
  }
  if (episodes == 0) throw std::invalid_argument(f + ": episodes must be >= 1; got episodes=0");

  // Items per class, classes in increasing label order (std::map) for determinism.
  std::map<std::int64_t, std::vector<std::size_t>> by_class;
  for (std::size_t i = 0; i < count; ++i) by_class[labels[i]].push_back(i);
  std::vector<const std::vector<std::size_t>*> usable;
  for (const auto& [label, items] : by_class) {
    if (items.size() >= 2) usable.push_back(&items);
  }
  if (usable.size() < ways) {
    throw std::invalid_argument(
        f + ": " + std::to_string(ways) + "-way episodes need at least " + std::to_string(ways) +
        " classes with >= 2 items; got " + std::to_string(usable.size()) + " such classes (of " +
        std::to_string(by_class.size()) + " classes, " + std::to_string(count) + " items)");
  }

  std::mt19937_64 rng(seed);
  // A partial Fisher–Yates shuffle of the first `ways` slots of ANY arrangement gives a uniform
  // ordered sample, so the permutation is carried over between episodes: O(ways) per episode.
  std::vector<std::size_t> perm(usable.size());
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  std::vector<std::size_t> support(ways);
  std::size_t correct = 0;
  for (std::size_t e = 0; e < episodes; ++e) {
    for (std::size_t j = 0; j < ways; ++j) {
      std::swap(perm[j], perm[j + uniform_below(rng, perm.size() - j)]);
    }
    const std::size_t query_slot = uniform_below(rng, ways);
    std::size_t query_support_pos = 0;
    for (std::size_t j = 0; j < ways; ++j) {
      const std::vector<std::size_t>& items = *usable[perm[j]];
      const std::size_t pos = uniform_below(rng, items.size());
      support[j] = items[pos];
      if (j == query_slot) query_support_pos = pos;
    }
    const std::vector<std::size_t>& query_items = *usable[perm[query_slot]];
    // Uniform over the items other than the support: draw from size-1 and skip the support.
    std::size_t pos = uniform_below(rng, query_items.size() - 1);
    if (pos >= query_support_pos) ++pos;
    const float* query = embeddings.data() + query_items[pos] * dim;

    // Compare squared distances: same order as euclidean, one rounding fewer. Strict < keeps
    // the lowest slot on ties.
    std::size_t nearest = 0;
    double nearest_d = squared_distance(query, embeddings.data() + support[0] * dim, dim);
    for (std::size_t j = 1; j < ways; ++j) {
      const double d = squared_distance(query, embeddings.data() + support[j] * dim, dim);
      if (d < nearest_d) {
        nearest_d = d;
        nearest = j;
      }
    }
    if (nearest == query_slot) ++correct;
  }
  return {static_cast<double>(correct) / static_cast<double>(episodes), ways, episodes};
}

}  // namespace xgrad::siamese
