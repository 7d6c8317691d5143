#pragma once
/// \file
/// Verification metrics for a siamese network: ROC, AUC, equal error rate, the best
/// distance threshold, and N-way one-shot accuracy.
///
/// Conventions shared by every function here:
/// - a score is a DISTANCE between two embeddings: smaller means more similar;
/// - a pair label is 1 for a genuine pair (same class) and 0 for an impostor pair;
/// - the decision rule is "same iff distance <= threshold" (inclusive), so raising the
///   threshold accepts more pairs: false accepts (FPR) rise and false rejects (1 - TPR) fall.
///
/// Pair functions take `distances` and `labels` of equal, non-zero length and throw
/// std::invalid_argument, naming the function, when the sizes differ, the input is empty, a
/// label is neither 0 nor 1, or a distance is NaN (the message says how many). ±infinity is a
/// valid distance. Everything is computed in double, deterministically, in O(n log n).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace xgrad::siamese {

/// One point of a ROC curve: the rule "same iff distance <= threshold" has these rates.
struct RocPoint {
  double threshold;            ///< the distance threshold of the rule
  double false_positive_rate;  ///< impostor pairs accepted / impostor pairs (false accept rate)
  double true_positive_rate;   ///< genuine pairs accepted / genuine pairs (1 - false reject rate)
};

/// The ROC curve of the rule "same iff distance <= t", one point per distinct distance.
///
/// The first point is the anchor (threshold = -infinity, FPR 0, TPR 0): the rule accepts
/// nothing. (If some distances are -inf, no threshold rejects them; the anchor is kept anyway
/// so that every curve starts at (0,0).) Then, for each distinct distance d in increasing
/// order, a point with threshold = d and the rates of "distance <= d": tied distances form one
/// step, which may move both rates at once. The last point is (1,1) exactly, at the largest
/// distance. Both rates are non-decreasing along the curve; thresholds strictly increase after
/// the anchor. Size = 1 + number of distinct distances.
///
/// Throws std::invalid_argument on the pair-input errors listed in the file comment, and when
/// there are no genuine or no impostor pairs (a rate would divide by zero: the ROC is
/// undefined).
std::vector<RocPoint> roc_curve(const std::vector<double>& distances,
                                const std::vector<int>& labels);

/// Area under the ROC curve: the probability that a random genuine pair has a SMALLER distance
/// than a random impostor pair, ties counting 1/2. This is the Mann–Whitney statistic
/// U / (n_genuine · n_impostor), with
///   U = #{(g, i) : d_g < d_i} + ½ #{(g, i) : d_g = d_i}
/// over all genuine g and impostor i. It equals the trapezoid area under roc_curve(). Exact
/// (integer counts of 2U, one division at the end), O(n log n). 1 = perfect separation,
/// 0.5 = chance (or all distances tied), 0 = perfectly reversed.
///
/// Throws std::invalid_argument on the pair-input errors, and when there are no genuine or no
/// impostor pairs (the AUC is undefined).
double roc_auc(const std::vector<double>& distances, const std::vector<int>& labels);

/// An equal error rate and the threshold where it is reached.
struct EqualErrorRate {
  double rate;       ///< the false accept rate = false reject rate at the crossing
  double threshold;  ///< the (interpolated) distance threshold at the crossing
};

/// Equal error rate: where the false accept rate FAR = FPR equals the false reject rate
/// FRR = 1 - TPR along roc_curve().
///
/// Along the curve FAR - FRR strictly increases (each step accepts at least one pair), from
/// -1 at the anchor to +1 at the end, so there is exactly one pair of consecutive points
/// P0, P1 with FAR0 - FRR0 < 0 <= FAR1 - FRR1. With a = (FRR0 - FAR0) / ((FRR0 - FAR0) -
/// (FRR1 - FAR1)) in (0, 1], the result is the straight-line interpolation
///   rate = (1 - a)·FAR0 + a·FAR1  (= (1 - a)·FRR0 + a·FRR1),
///   threshold = (1 - a)·t0 + a·t1.
/// When P0 is the anchor (threshold -inf), the threshold reported is t1, the smallest
/// distance. Perfect separation gives rate 0 at the largest genuine distance.
///
/// Throws std::invalid_argument on the pair-input errors, and when there are no genuine or no
/// impostor pairs (the EER is undefined).
EqualErrorRate equal_error_rate(const std::vector<double>& distances,
                                const std::vector<int>& labels);

/// A distance threshold and the pair accuracy it achieves.
struct ThresholdChoice {
  double threshold;  ///< accept a pair as "same" iff distance <= threshold
  double accuracy;   ///< fraction of the pairs classified correctly with it
};

/// The threshold that maximises pair accuracy ("same iff distance <= threshold") on these
/// pairs, and that accuracy.
///
/// Only the partition of the sorted distinct distances d_1 < … < d_G matters, so the
/// candidates are one threshold per partition:
/// - below all: d_1 - max(1, |d_1|) (accepts nothing; skipped if d_1 = -inf, where no
///   threshold can reject; numeric_limits<double>::max() if d_1 = +inf);
/// - between d_k and d_{k+1}: their midpoint d_k/2 + d_{k+1}/2 (or d_k itself when the
///   midpoint is not strictly below d_{k+1}, e.g. d_{k+1} = +inf);
/// - above all: d_G + max(1, |d_G|) (accepts everything; d_G itself if it is infinite).
/// Among candidates with the most correct pairs the smallest threshold wins, so the result is
/// deterministic. Needs no genuine/impostor balance: a one-class input yields accuracy 1.
///
/// Throws std::invalid_argument on the pair-input errors.
ThresholdChoice best_threshold(const std::vector<double>& distances,
                               const std::vector<int>& labels);

/// Fraction of pairs classified correctly by "same iff distance <= threshold" (genuine pairs
/// at or below the threshold plus impostor pairs above it, over all pairs).
///
/// Throws std::invalid_argument on the pair-input errors and for a NaN threshold.
double accuracy_at(const std::vector<double>& distances, const std::vector<int>& labels,
                   double threshold);

/// The result of one_shot_accuracy().
struct OneShotResult {
  double accuracy;       ///< correct episodes / episodes
  std::size_t ways;      ///< N, the number of classes per episode
  std::size_t episodes;  ///< how many episodes were run
};

/// N-way one-shot accuracy of an embedding, estimated over `episodes` random episodes.
///
/// `embeddings` is row-major [count, dim] with count = labels.size(); labels are arbitrary
/// class ids. A class is USABLE when it has at least 2 items; classes with a single item take
/// no part at all (neither as query class nor as support class), so every class of an episode
/// could equally have been the query class. Each episode:
///  1. picks `ways` distinct usable classes uniformly at random (an ordered sample: the support
///     order is random);
///  2. picks the query class uniformly among them;
///  3. picks one support item per class uniformly among that class's items;
///  4. picks the query item uniformly among the query class's items other than its support.
/// The episode is correct when the support nearest to the query (euclidean distance, computed
/// in double) belongs to the query class; a tie goes to the lowest support position. Since
/// support order is random, a collapsed embedding (all points equal) scores chance, 1/ways.
///
/// Random numbers come from std::mt19937_64 seeded with `seed`, mapped to ranges by rejection
/// sampling written here (not std::uniform_int_distribution), so a seed gives the same
/// episodes with any standard library.
///
/// Throws std::invalid_argument naming the function for: dim = 0; embeddings.size() !=
/// labels.size() · dim; NaN or infinite embedding values (says how many); ways < 2;
/// episodes = 0; fewer than `ways` usable classes (says how many classes have >= 2 items).
OneShotResult one_shot_accuracy(const std::vector<float>& embeddings, std::size_t dim,
                                const std::vector<std::int64_t>& labels, std::size_t ways,
                                std::size_t episodes, std::uint64_t seed);

}  // namespace xgrad::siamese
