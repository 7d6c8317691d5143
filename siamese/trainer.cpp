// The training run. Order of work: validate settings → load data and split it → build the
// model (or restore it from a checkpoint) → per epoch: balanced pairs from a stateless
// sampler, one GradientTape step per batch, validation AUC, best-model and checkpoint files
// → restore the best weights → evaluate on the test split → metrics.json.
//
// Exact resume: the pair stream is a pure function of (seed, epoch, batch), the checkpoint
// holds weights, optimizer state and the run state after a whole epoch, and nothing else is
// random during training (the presets have no dropout), so a resumed run finishes with the
// same weights as an uninterrupted one.

#include "siamese/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include "autograd/autograd.h"
#include "layers/initializers.h"
#include "layers/weights.h"
#include "siamese/losses.h"
#include "siamese/metrics.h"
#include "siamese/model_file.h"
#include "siamese/report.h"

namespace xgrad::siamese {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void bad_flag(const std::string& flag, const std::string& message) {
  throw std::invalid_argument("--" + flag + ": " + message);
}

bool one_of(const std::string& v, std::initializer_list<const char*> options) {
  for (const char* o : options) {
    if (v == o) return true;
  }
  return false;
}

// ---- data ------------------------------------------------------------------------------

struct Data {
  ImageDataset images;
  Split split;
};

// Appends `extra` to `base` (same format and class names), returning the offset of the
// appended images.
std::size_t append(ImageDataset& base, const ImageDataset& extra, const std::string& what) {
  if (extra.class_names != base.class_names) {
    throw std::runtime_error(what + ": its classes differ from the training file's");
  }
  const std::size_t offset = base.size();
  base.pixels.insert(base.pixels.end(), extra.pixels.begin(), extra.pixels.end());
  base.labels.insert(base.labels.end(), extra.labels.begin(), extra.labels.end());
  base.paths.insert(base.paths.end(), extra.paths.begin(), extra.paths.end());
  return offset;
}

Data load_data(const TrainConfig& c) {
  Data d;
  const ImageFormat format{c.height, c.width, c.channels};
  if (!c.data_dir.empty()) {
    FolderOptions options;
    options.format = format;
    options.strict = c.strict;
    options.threads = c.threads;
    d.images = load_image_folder(c.data_dir, options);
    const std::size_t classes = d.images.class_names.size();
    if (c.split_by == "class") {
      const std::size_t k = c.test_classes ? c.test_classes : std::max<std::size_t>(1, classes / 4);
      d.split = split_by_class(d.images, k, c.val_fraction, c.seed);
    } else {
      d.split = split_by_image(d.images, c.val_fraction, c.test_fraction, c.seed);
    }
    return d;
  }
  d.images = load_idx_dataset(c.idx_images, c.idx_labels, format);
  const std::size_t classes = d.images.class_names.size();
  const std::size_t k = c.test_classes ? c.test_classes : std::max<std::size_t>(1, classes / 4);
  if (c.idx_test_images.empty()) {
    d.split = c.split_by == "class" ? split_by_class(d.images, k, c.val_fraction, c.seed)
                                    : split_by_image(d.images, c.val_fraction, c.test_fraction, c.seed);
    return d;
  }
  // A separate test file (Fashion-MNIST's t10k): training and validation come from the
  // training file, the test split from the test file.
  const ImageDataset test = load_idx_dataset(c.idx_test_images, c.idx_test_labels, format);
  if (c.split_by == "class") {
    Split s = split_by_class(d.images, k, c.val_fraction, c.seed);
    d.split.train = std::move(s.train);
    d.split.validation = std::move(s.validation);
  } else {
    Split s = split_by_image(d.images, c.val_fraction, 0.0, c.seed);
    d.split.train = std::move(s.train);
    d.split.validation = std::move(s.validation);
  }
  const std::size_t first_test_class = c.split_by == "class" ? classes - k : 0;
  const std::size_t offset = append(d.images, test, c.idx_test_images);
  for (std::size_t i = 0; i < test.size(); ++i) {
    if (static_cast<std::size_t>(test.labels[i]) >= first_test_class) d.split.test.push_back(offset + i);
  }
  return d;
}

std::size_t count_classes(const ImageDataset& data, const std::vector<std::size_t>& subset) {
  std::vector<bool> seen(data.class_names.size(), false);
  std::size_t n = 0;
  for (std::size_t i : subset) {
    if (!seen[static_cast<std::size_t>(data.labels[i])]) {
      seen[static_cast<std::size_t>(data.labels[i])] = true;
      ++n;
    }
  }
  return n;
}

// ---- model and optimisation ------------------------------------------------------------

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, std::size_t total_steps) {
  const real lr = static_cast<real>(c.learning_rate);
  std::shared_ptr<const optim::LearningRateSchedule> schedule;
  if (c.lr_schedule == "cosine") {
    schedule = std::make_shared<optim::CosineDecay>(lr, static_cast<std::int64_t>(std::max<std::size_t>(total_steps, 1)));
  }
  if (c.optimizer == "adam") return std::make_unique<optim::Adam>(optim::AdamOptions{.learning_rate = lr, .schedule = schedule});
  if (c.optimizer == "adamw") {
    return std::make_unique<optim::AdamW>(optim::AdamWOptions{.learning_rate = lr, .schedule = schedule});
  }
  if (c.optimizer == "sgd") {
    return std::make_unique<optim::SGD>(optim::SGDOptions{.learning_rate = lr, .schedule = schedule, .momentum = 0.9});
  }
  return std::make_unique<optim::RMSprop>(optim::RMSpropOptions{.learning_rate = lr, .schedule = schedule});
}

Distance parse_distance(const std::string& s) { return s == "cosine" ? Distance::Cosine : Distance::Euclidean; }

// Embeddings [n, D] of the images `indices`, in chunks.
std::vector<float> embed(SiameseNetwork& net, const ImageDataset& data, const std::vector<std::size_t>& indices,
                         std::size_t& dim) {
  std::vector<float> out;
  constexpr std::size_t kChunk = 256;
  for (std::size_t b = 0; b < indices.size(); b += kChunk) {
    const std::vector<std::size_t> part(indices.begin() + static_cast<std::ptrdiff_t>(b),
                                        indices.begin() + static_cast<std::ptrdiff_t>(std::min(indices.size(), b + kChunk)));
    const Tensor e = net(data.batch(part), false);
    dim = e.shape()[1];
    out.insert(out.end(), e.data(), e.data() + e.size());
  }
  return out;
}

double row_distance(const float* a, const float* b, std::size_t dim, Distance distance) {
  if (distance == Distance::Euclidean) {
    double s = 0;
    for (std::size_t i = 0; i < dim; ++i) s += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
    return std::sqrt(std::max(s, 1e-12));
  }
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < dim; ++i) {
    ab += double(a[i]) * double(b[i]);
    aa += double(a[i]) * double(a[i]);
    bb += double(b[i]) * double(b[i]);
  }
  return std::clamp(1 - ab / (std::sqrt(std::max(aa, 1e-12)) * std::sqrt(std::max(bb, 1e-12))), 0.0, 2.0);
}

struct PairEval {
  std::vector<double> distances;
  std::vector<int> labels;
  std::vector<float> embeddings;  // of `subset`, in order
  std::size_t dim = 0;
};

// Distances of fixed evaluation pairs drawn from `subset` (each image embedded once).
PairEval evaluate_pairs(SiameseNetwork& net, const ImageDataset& data, const std::vector<std::size_t>& subset,
                        const PairBatch& pairs) {
  PairEval e;
  e.embeddings = embed(net, data, subset, e.dim);
  std::map<std::size_t, std::size_t> row;
  for (std::size_t i = 0; i < subset.size(); ++i) row[subset[i]] = i;
  for (std::size_t p = 0; p < pairs.same.size(); ++p) {
    e.distances.push_back(row_distance(e.embeddings.data() + row.at(pairs.first[p]) * e.dim,
                                       e.embeddings.data() + row.at(pairs.second[p]) * e.dim, e.dim, net.distance()));
    e.labels.push_back(pairs.same[p]);
  }
  return e;
}

// Throws when the loss or a gradient is not finite, naming the step and the variable.
void check_finite(const Tensor& loss, const std::vector<Tensor>& grads, const std::vector<Variable>& vars,
                  std::size_t epoch, std::size_t step) {
  const std::string where = "epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(step + 1);
  if (!std::isfinite(static_cast<double>(loss.item()))) {
    throw std::runtime_error("training diverged at " + where + ": the loss is " + std::to_string(loss.item()) +
                             " (try a lower --learning-rate); the last good checkpoint is kept");
  }
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    const real* g = grads[i].data();
    for (std::size_t j = 0; j < grads[i].size(); ++j) {
      if (!std::isfinite(static_cast<double>(g[j]))) {
        throw std::runtime_error("training diverged at " + where + ": the gradient of '" + vars[i].name() +
                                 "' is not finite (element " + std::to_string(j) +
                                 "; try a lower --learning-rate); the last good checkpoint is kept");
      }
    }
  }
}

// ---- run state and files ---------------------------------------------------------------

struct EpochRow {
  int epoch;
  double train_loss, val_auc, val_accuracy, seconds, pairs_per_second;
};

std::string csv(const std::vector<EpochRow>& rows) {
  std::ostringstream os;
  os << "epoch,train_loss,val_roc_auc,val_accuracy,seconds,pairs_per_second\n" << std::setprecision(8);
  for (const EpochRow& r : rows) {
    os << r.epoch << "," << r.train_loss << "," << r.val_auc << "," << r.val_accuracy << "," << r.seconds << ","
       << r.pairs_per_second << "\n";
  }
  return os.str();
}

std::vector<EpochRow> read_csv(const std::string& path) {
  std::vector<EpochRow> rows;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    EpochRow r{};
    char comma;
    std::istringstream ls(line);
    if (ls >> r.epoch >> comma >> r.train_loss >> comma >> r.val_auc >> comma >> r.val_accuracy >> comma >> r.seconds >>
        comma >> r.pairs_per_second) {
      rows.push_back(r);
    }
  }
  return rows;
}

// The settings a checkpoint must agree on to be resumed.
std::string resume_key(const TrainConfig& c) {
  std::ostringstream os;
  // --steps is part of it: it sets the steps per epoch and may end on a partial epoch.
  if (c.data_dir.empty()) {
    os << "idx-images=" << c.idx_images << "\nidx-labels=" << c.idx_labels << "\nidx-test-images=" << c.idx_test_images
       << "\nidx-test-labels=" << c.idx_test_labels;
  } else {
    os << "data=" << c.data_dir;
  }
  os << "\nmodel=" << c.model << "\nimage-size=" << c.height << "x" << c.width << "\nchannels=" << c.channels
     << "\nloss=" << c.loss << "\nmargin=" << c.margin << "\npositive-margin=" << c.positive_margin << "\ndistance=" << c.distance << "\noptimizer=" << c.optimizer
     << "\nlearning-rate=" << c.learning_rate << "\nlr-schedule=" << c.lr_schedule << "\nbatch-size=" << c.batch_size
     << "\npairs-per-epoch=" << c.pairs_per_epoch << "\nsteps=" << c.steps << "\nsplit-by=" << c.split_by
     << "\nval-fraction=" << c.val_fraction << "\ntest-fraction=" << c.test_fraction
     << "\ntest-classes=" << c.test_classes << "\neval-pairs=" << c.eval_pairs << "\nseed=" << c.seed << "\n";
  // A cosine schedule's shape depends on the run's length: resuming must keep it.
  if (c.lr_schedule == "cosine") os << "epochs=" << c.epochs << "\n";
  return os.str();
}

// The settings in which two resume keys differ, as "  name: V in the checkpoint, now W" lines.
std::string key_differences(const std::string& saved, const std::string& now) {
  auto parse = [](const std::string& key) {
    std::map<std::string, std::string> m;
    std::istringstream in(key);
    for (std::string line; std::getline(in, line);) {
      const auto eq = line.find('=');
      if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return m;
  };
  const auto a = parse(saved), b = parse(now);
  std::string out;
  for (const auto& [name, value] : b) {
    const auto it = a.find(name);
    if (it == a.end()) {
      out += "  --" + name + ": not recorded in the checkpoint, now " + value + "\n";
    } else if (it->second != value) {
      out += "  --" + name + ": " + it->second + " in the checkpoint, now " + value + "\n";
    }
  }
  for (const auto& [name, value] : a) {
    if (!b.count(name)) out += "  --" + name + ": " + value + " in the checkpoint, not set now\n";
  }
  if (!out.empty()) out.pop_back();
  return out;
}

// A one-value run-state entry of a checkpoint.
double trainer_entry(const NamedTensors& entries, const std::string& name, const std::string& path) {
  const Tensor t = find_entry(entries, name);
  if (!t.defined() || t.size() != 1 || !std::isfinite(static_cast<double>(t.flat(0)))) {
    throw std::runtime_error(path + ": not a checkpoint of siamese_train (no valid '" + name +
                             "' entry; a model file cannot be resumed)");
  }
  return static_cast<double>(t.flat(0));
}

// Throws when evaluation embeddings are not finite: the weights of the epoch that just ended
// are unusable (e.g. a step made them overflow), so nothing of it may be saved.
void check_finite_embeddings(const std::vector<float>& embeddings, const std::vector<Variable>& vars, std::size_t epoch) {
  const std::size_t bad = static_cast<std::size_t>(
      std::count_if(embeddings.begin(), embeddings.end(), [](float v) { return !std::isfinite(v); }));
  if (bad == 0) return;
  std::string which;
  for (const Variable& v : vars) {
    const Tensor t = v.value();
    const real* p = t.data();
    if (std::any_of(p, p + t.size(), [](real x) { return !std::isfinite(static_cast<double>(x)); })) {
      which = "; the weights of '" + v.name() + "' are not finite";
      break;
    }
  }
  throw std::runtime_error("training diverged in epoch " + std::to_string(epoch + 1) + ": " + std::to_string(bad) +
                           " of " + std::to_string(embeddings.size()) +
                           " validation embedding values are not finite after its last step" + which +
                           " (try a lower --learning-rate); the last good checkpoint is kept");
}

// A sampler of evaluation pairs; its errors say which split and what to change.
PairBatch evaluation_pairs(const ImageDataset& data, const std::vector<std::size_t>& subset, std::uint64_t seed,
                           std::size_t count, const std::string& split, const std::string& remedy) {
  try {
    return PairSampler(data, subset, seed).pairs(0, 0, count);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("the " + split + " split (" + std::to_string(subset.size()) +
                                " images) cannot give evaluation pairs: " + e.what() + "; " + remedy);
  }
}


// `t` rounded to float32, as save_npz stores it.
Tensor as_float32(const Tensor& t) {
  std::vector<real> v(t.data(), t.data() + t.size());
  for (real& x : v) x = static_cast<real>(static_cast<float>(x));
  return Tensor::from_vector(t.shape(), std::move(v));
}

void write_metrics(const std::string& path, const TrainConfig& c, const Data& d, const RunResult& r,
                   std::size_t val_pairs, std::size_t test_pairs, std::size_t train_pairs) {
  JsonWriter j;
  j.begin_object();
  j.key("test").begin_object();
  j.key("roc_auc").value(r.roc_auc).key("eer").value(r.eer).key("accuracy").value(r.accuracy);
  j.key("threshold").value(r.threshold).key("one_shot_accuracy").value(r.one_shot_accuracy);
  j.key("one_shot_ways").value(r.one_shot_ways).key("one_shot_episodes").value(c.one_shot_episodes);
  j.end_object();
  j.key("train").begin_object();
  j.key("seconds").value(r.train_seconds).key("pairs_per_second").value(r.pairs_per_second).key("steps").value(r.steps);
  j.end_object();
  j.key("data").begin_object();
  j.key("classes").value(d.images.class_names.size()).key("images").value(d.images.size());
  auto split = [&](const char* name, const std::vector<std::size_t>& s, std::size_t pairs) {
    j.key(name).begin_object();
    j.key("classes").value(count_classes(d.images, s)).key("images").value(s.size()).key("pairs").value(pairs);
    j.end_object();
  };
  split("train", d.split.train, train_pairs);
  split("validation", d.split.validation, val_pairs);
  split("test", d.split.test, test_pairs);
  j.end_object();
  j.key("skipped").begin_array();
  for (const SkippedFile& s : d.images.skipped) {
    j.begin_object().key("path").value(s.path).key("reason").value(s.reason).end_object();
  }
  j.end_array();
  j.key("config").begin_object();
  j.key("data").value(c.data_dir).key("idx_images").value(c.idx_images).key("idx_labels").value(c.idx_labels);
  j.key("idx_test_images").value(c.idx_test_images).key("idx_test_labels").value(c.idx_test_labels);
  j.key("image_size").value(std::to_string(c.height) + "x" + std::to_string(c.width)).key("channels").value(c.channels);
  j.key("strict").value(c.strict).key("split_by").value(c.split_by).key("val_fraction").value(c.val_fraction);
  j.key("test_fraction").value(c.test_fraction).key("test_classes").value(c.test_classes);
  j.key("model").value(c.model).key("distance").value(c.distance).key("loss").value(c.loss).key("margin").value(c.margin);
  j.key("positive_margin").value(c.positive_margin);
  j.key("optimizer").value(c.optimizer).key("learning_rate").value(c.learning_rate);
  j.key("lr_schedule").value(c.lr_schedule).key("epochs").value(c.epochs);
  j.key("steps").value(c.steps).key("batch_size").value(c.batch_size).key("pairs_per_epoch").value(c.pairs_per_epoch);
  j.key("eval_pairs").value(c.eval_pairs).key("one_shot_ways").value(c.one_shot_ways);
  j.key("one_shot_episodes").value(c.one_shot_episodes).key("seed").value(static_cast<std::int64_t>(c.seed));
  j.key("threads").value(num_threads()).key("out").value(c.out).key("resume").value(c.resume);
  j.key("eval_only").value(c.eval_only).key("weights").value(c.weights).key("quiet").value(c.quiet);
  j.end_object();
  j.end_object();
  write_text_atomic(path, j.str());
}

}  // namespace

void validate(const TrainConfig& c) {
  if (!one_of(c.model, {"small", "seed"})) bad_flag("model", "must be small or seed; got '" + c.model + "'");
  if (!one_of(c.loss, {"contrastive", "euclidean", "triplet"})) {
    bad_flag("loss", "must be contrastive, euclidean or triplet; got '" + c.loss + "'");
  }
  if (!one_of(c.distance, {"euclidean", "cosine"})) bad_flag("distance", "must be euclidean or cosine; got '" + c.distance + "'");
  if (!one_of(c.optimizer, {"adam", "adamw", "sgd", "rmsprop"})) {
    bad_flag("optimizer", "must be adam, adamw, sgd or rmsprop; got '" + c.optimizer + "'");
  }
  if (!one_of(c.lr_schedule, {"constant", "cosine"})) {
    bad_flag("lr-schedule", "must be constant or cosine; got '" + c.lr_schedule + "'");
  }
  if (!one_of(c.split_by, {"image", "class"})) bad_flag("split-by", "must be image or class; got '" + c.split_by + "'");
  if (!(c.margin > 0) || !std::isfinite(c.margin)) bad_flag("margin", "must be > 0; got " + std::to_string(c.margin));
  // Only the contrastive loss has a positive margin; the others ignore it.
  if (c.loss == "contrastive" && !(c.positive_margin >= 0 && c.positive_margin < c.margin)) {
    bad_flag("positive-margin", "must be in [0, --margin) = [0, " + std::to_string(c.margin) + "); got " +
                                    std::to_string(c.positive_margin));
  }
  if (!(c.learning_rate > 0) || !std::isfinite(c.learning_rate)) {
    bad_flag("learning-rate", "must be > 0; got " + std::to_string(c.learning_rate));
  }
  if (c.epochs < 1) bad_flag("epochs", "must be >= 1; got " + std::to_string(c.epochs));
  if (c.batch_size < 2) bad_flag("batch-size", "must be >= 2 (a same and a different pair); got " + std::to_string(c.batch_size));
  if (c.pairs_per_epoch < c.batch_size) bad_flag("pairs-per-epoch", "must be >= --batch-size");
  if (!(c.val_fraction > 0 && c.val_fraction < 1)) {
    bad_flag("val-fraction", "must be in (0, 1): the decision threshold is chosen on validation pairs; got " +
                                 std::to_string(c.val_fraction));
  }
  if (!(c.test_fraction >= 0 && c.test_fraction < 1)) bad_flag("test-fraction", "must be in [0, 1)");
  if (c.channels != 0 && c.channels != 1 && c.channels != 3) bad_flag("channels", "must be 1 or 3; got " + std::to_string(c.channels));
  if ((c.height == 0) != (c.width == 0)) bad_flag("image-size", "needs both a height and a width");
  if (c.height > 4096 || c.width > 4096) bad_flag("image-size", "is larger than 4096x4096");
  if (c.threads < 0) bad_flag("threads", "must be >= 0; got " + std::to_string(c.threads));
  if (c.eval_pairs < 2) bad_flag("eval-pairs", "must be >= 2");
  if (c.one_shot_ways < 2) bad_flag("one-shot-ways", "must be >= 2");
  if (c.one_shot_episodes < 1) bad_flag("one-shot-episodes", "must be >= 1");
  if (c.eval_only && c.weights.empty()) bad_flag("eval-only", "needs --weights FILE");
  if (c.eval_only && c.resume) bad_flag("resume", "cannot be combined with --eval-only");
  if (c.out.empty()) bad_flag("out", "must not be empty");
  // An explicit size must suit the model (the automatic sizes do).
  if (c.height != 0 && !c.eval_only) {
    try {
      make_tower(c.model, c.height, c.width);
    } catch (const std::invalid_argument& e) {
      bad_flag("image-size", std::to_string(c.height) + "x" + std::to_string(c.width) + " does not suit --model " +
                                 c.model + ": " + e.what());
    }
  }
}

RunResult run(const TrainConfig& config_in) {
  TrainConfig c = config_in;
  validate(c);
  if (c.threads > 0) set_num_threads(c.threads);
  const bool folder = !c.data_dir.empty();
  // --eval-only: the model file says what input it takes, unless the flags say otherwise.
  LoadedModel evaluated;
  if (c.eval_only) {
    evaluated = load_model(c.weights);
    if (c.height == 0) {
      c.height = evaluated.info.height;
      c.width = evaluated.info.width;
    }
    if (c.channels == 0) c.channels = evaluated.info.channels;
    // The model file decides these (metrics.json records what was evaluated).
    c.model = evaluated.info.preset;
    c.distance = evaluated.info.distance == Distance::Cosine ? "cosine" : "euclidean";
  }
  if (c.height == 0) c.height = c.width = folder ? (c.model == "seed" ? 170 : 64) : 28;
  if (c.channels == 0) c.channels = folder ? 3 : 1;
  auto say = [&](const std::string& s) {
    if (!c.quiet) std::cout << s << std::flush;
  };

  // Output folder first: a bad --out fails before minutes of loading.
  std::error_code ec;
  fs::create_directories(c.out, ec);
  if (!fs::is_directory(c.out)) throw std::runtime_error(c.out + ": cannot create the output folder");
  const std::string model_path = (fs::path(c.out) / "model.npz").string();
  const std::string checkpoint_path = (fs::path(c.out) / "checkpoint.npz").string();
  const std::string checkpoint_key_path = (fs::path(c.out) / "checkpoint.config").string();
  const std::string best_path = (fs::path(c.out) / "best.npz").string();
  const std::string log_path = (fs::path(c.out) / "log.csv").string();
  const std::string metrics_path = (fs::path(c.out) / "metrics.json").string();

  // --resume: the checkpoint and its settings are checked before minutes of loading too.
  if (c.resume) {
    if (!fs::exists(checkpoint_path)) throw std::runtime_error(checkpoint_path + ": no checkpoint to resume from");
    std::ifstream key_in(checkpoint_key_path);
    std::stringstream key;
    key << key_in.rdbuf();
    if (key.str() != resume_key(c)) {
      throw std::runtime_error(checkpoint_path + " was written by a run with other settings; resume with the same flags. " +
                               (key_in ? "Differences:\n" + key_differences(key.str(), resume_key(c))
                                       : checkpoint_key_path + " (the checkpoint's settings) is missing"));
    }
  }

  say("loading " + (folder ? c.data_dir : c.idx_images) + " ...\n");
  const Data d = load_data(c);
  for (const SkippedFile& s : d.images.skipped) say("skipped " + s.path + ": " + s.reason + "\n");
  // The training pairs first: when no pair can be drawn at all (e.g. one image per class),
  // that is the problem to report, not the empty held-out splits that follow from it.
  const PairSampler train_sampler(d.images, d.split.train, c.seed);
  if (d.split.validation.empty()) throw std::runtime_error("the validation split is empty; raise --val-fraction or add images");
  if (d.split.test.empty()) throw std::runtime_error("the test split is empty; add images or change --split-by/--test-classes");
  const PairBatch val_pairs = evaluation_pairs(d.images, d.split.validation, c.seed + 1, c.eval_pairs, "validation",
                                               "raise --val-fraction or add images");
  const PairBatch test_pairs =
      evaluation_pairs(d.images, d.split.test, c.seed + 2, c.eval_pairs, "test",
                       c.split_by == "class" ? std::string("raise --test-classes or add images")
                                             : std::string("raise --test-fraction or add images"));

  ModelInfo info;
  info.preset = c.model;
  info.height = c.height;
  info.width = c.width;
  info.channels = c.channels;
  info.distance = parse_distance(c.distance);

  layers::set_random_seed(c.seed);
  std::shared_ptr<SiameseNetwork> net;
  const std::size_t steps_per_epoch = c.steps ? std::min(c.steps, c.pairs_per_epoch / c.batch_size)
                                              : c.pairs_per_epoch / c.batch_size;
  const int epochs = c.steps ? static_cast<int>((c.steps + steps_per_epoch - 1) / steps_per_epoch) : c.epochs;
  std::unique_ptr<optim::Optimizer> optimizer =
      make_optimizer(c, c.steps ? c.steps : steps_per_epoch * static_cast<std::size_t>(epochs));
  RunResult result;
  std::vector<EpochRow> rows;
  int start_epoch = 0, best_epoch = -1;
  double best_auc = -1;
  double trained_seconds = 0;
  std::size_t trained_pairs = 0;

  if (c.eval_only) {
    const LoadedModel& m = evaluated;
    if (m.info.height != c.height || m.info.width != c.width || m.info.channels != c.channels) {
      throw std::runtime_error(c.weights + ": the model takes " + std::to_string(m.info.height) + "x" +
                               std::to_string(m.info.width) + "x" + std::to_string(m.info.channels) +
                               " images but this run prepares " + std::to_string(c.height) + "x" + std::to_string(c.width) +
                               "x" + std::to_string(c.channels) + " (set --image-size/--channels)");
    }
    net = m.network;
    info = m.info;
  } else if (c.resume) {
    LoadedModel m = load_model(checkpoint_path);
    if (m.info.preset != info.preset || m.info.height != info.height || m.info.width != info.width ||
        m.info.channels != info.channels || m.info.distance != info.distance) {
      throw std::runtime_error(checkpoint_path + ": its model configuration differs from " + checkpoint_key_path);
    }
    net = m.network;
    start_epoch = static_cast<int>(trainer_entry(m.entries, "trainer/epoch", checkpoint_path));
    best_epoch = static_cast<int>(trainer_entry(m.entries, "trainer/best_epoch", checkpoint_path));
    best_auc = trainer_entry(m.entries, "trainer/best_val_auc", checkpoint_path);
    trained_seconds = trainer_entry(m.entries, "trainer/seconds", checkpoint_path);
    // The threshold of the best epoch so far, which later checkpoints carry on.
    info.threshold = m.info.threshold;
    NamedTensors opt_state;
    for (const auto& [name, t] : m.entries) {
      const std::string prefix = layers::kOptimizerPrefix;
      if (name.rfind(prefix, 0) == 0) opt_state.emplace_back(name.substr(prefix.size()), t);
    }
    try {
      optimizer->load_state(opt_state, net->trainable_variables());
    } catch (const std::exception& e) {
      throw std::runtime_error(checkpoint_path + ": " + e.what());
    }
    rows = read_csv(log_path);
    rows.resize(std::min<std::size_t>(rows.size(), static_cast<std::size_t>(start_epoch)));
    say("resuming after epoch " + std::to_string(start_epoch) + " from " + checkpoint_path + "\n");
  } else {
    net = build_network(info);
  }

  const real margin = static_cast<real>(c.margin), positive_margin = static_cast<real>(c.positive_margin);

  if (!c.eval_only) {
    say("training " + std::to_string(net->count_params()) + " parameters on " + std::to_string(d.split.train.size()) +
        " images; " + std::to_string(epochs) + " epochs of " + std::to_string(steps_per_epoch) + " steps x " +
        std::to_string(c.batch_size) + " pairs; " + std::to_string(num_threads()) + " threads\n");
    std::vector<Variable> vars = net->trainable_variables();
    std::size_t total_steps_done = static_cast<std::size_t>(start_epoch) * steps_per_epoch;
    for (int epoch = start_epoch; epoch < epochs; ++epoch) {
      const std::size_t steps_this_epoch =
          c.steps ? std::min(steps_per_epoch, c.steps - total_steps_done) : steps_per_epoch;
      ProgressLine progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), steps_this_epoch,
                            c.batch_size, !c.quiet);
      double loss_sum = 0;
      for (std::size_t step = 0; step < steps_this_epoch; ++step) {
        Tensor loss;
        std::vector<Tensor> grads;
        {
          GradientTape tape;
          if (c.loss == "triplet") {
            const TripletBatch t = train_sampler.triplets(epoch, step, c.batch_size);
            const std::size_t n = t.anchor.size();
            std::vector<std::size_t> all = t.anchor;
            all.insert(all.end(), t.positive.begin(), t.positive.end());
            all.insert(all.end(), t.negative.begin(), t.negative.end());
            const Tensor e = (*net)(d.images.batch(all), true);
            const std::int64_t dim = static_cast<std::int64_t>(e.shape()[1]), rows_n = static_cast<std::int64_t>(n);
            const Tensor a = slice(e, {0, 0}, {rows_n, dim});
            const Tensor p = slice(e, {rows_n, 0}, {rows_n, dim});
            const Tensor ng = slice(e, {2 * rows_n, 0}, {rows_n, dim});
            loss = triplet_loss(embedding_distance(a, p, net->distance()), embedding_distance(a, ng, net->distance()), margin);
          } else {
            const PairBatch b = train_sampler.pairs(epoch, step, c.batch_size);
            std::vector<real> same(b.same.begin(), b.same.end());
            const Tensor y = Tensor::from_vector({same.size()}, same);
            const Tensor dist = net->pair_distance(d.images.batch(b.first), d.images.batch(b.second), true);
            loss = c.loss == "contrastive" ? contrastive_loss(dist, y, margin, positive_margin) : euclidean_loss(dist, y);
          }
          grads = tape.gradient(loss, vars);
        }
        check_finite(loss, grads, vars, static_cast<std::size_t>(epoch), step);
        optimizer->apply_gradients(grads, vars);
        loss_sum += static_cast<double>(loss.item());
        progress.update(step + 1, loss_sum / static_cast<double>(step + 1));
      }
      total_steps_done += steps_this_epoch;
      const double seconds = progress.seconds();
      trained_seconds += seconds;

      const PairEval val = evaluate_pairs(*net, d.images, d.split.validation, val_pairs);
      check_finite_embeddings(val.embeddings, vars, static_cast<std::size_t>(epoch));
      const double val_auc = roc_auc(val.distances, val.labels);
      const ThresholdChoice val_choice = best_threshold(val.distances, val.labels);
      const EpochRow row{epoch + 1, loss_sum / static_cast<double>(std::max<std::size_t>(steps_this_epoch, 1)), val_auc,
                         val_choice.accuracy, seconds,
                         static_cast<double>(steps_this_epoch * c.batch_size) / std::max(seconds, 1e-9)};
      rows.push_back(row);
      std::ostringstream summary;
      summary << std::fixed << std::setprecision(4) << "loss " << row.train_loss << "  val AUC " << val_auc
              << "  val accuracy " << val_choice.accuracy << std::setprecision(0) << "  " << row.pairs_per_second
              << " pairs/s  " << format_duration(seconds);
      // Stored as float in the checkpoint: keep the in-memory value identical for resume.
      const double val_auc_f = static_cast<double>(static_cast<float>(val_auc));
      if (val_auc_f > best_auc) {
        best_auc = val_auc_f;
        best_epoch = epoch + 1;
        info.threshold = val_choice.threshold;
        save_model(best_path, *net, info);
        summary << "  (best)";
      }
      progress.finish(summary.str());
      NamedTensors extra;
      for (auto& [name, t] : optimizer->state(vars)) extra.emplace_back(layers::kOptimizerPrefix + name, t);
      extra.emplace_back("trainer/epoch", scalar_entry(epoch + 1));
      extra.emplace_back("trainer/best_epoch", scalar_entry(best_epoch));
      extra.emplace_back("trainer/best_val_auc", scalar_entry(best_auc));
      extra.emplace_back("trainer/seconds", scalar_entry(trained_seconds));
      write_text_atomic(checkpoint_key_path, resume_key(c));
      save_model(checkpoint_path, *net, info, extra);
      // The checkpoint holds float32 values (npz): go on from exactly what it holds, so that a
      // run resumed from it is identical to this one. A no-op in the float build.
      if constexpr (!std::is_same_v<real, float>) {
        for (Variable& v : net->variables()) v.assign(as_float32(v.peek()));
        NamedTensors state = optimizer->state(vars);
        for (auto& entry : state) entry.second = as_float32(entry.second);
        optimizer->load_state(state, vars);
      }
      write_text_atomic(log_path, csv(rows));
    }
    result.steps = total_steps_done;
    trained_pairs = total_steps_done * c.batch_size;
    // Best-model keeping: evaluate the weights of the best validation epoch.
    if (best_epoch > 0 && fs::exists(best_path)) {
      LoadedModel best = load_model(best_path);
      net = best.network;
    }
    result.train_seconds = trained_seconds;
    result.pairs_per_second = static_cast<double>(trained_pairs) / std::max(trained_seconds, 1e-9);
  }

  // Final evaluation: threshold chosen on validation pairs, applied to test pairs.
  const PairEval val = evaluate_pairs(*net, d.images, d.split.validation, val_pairs);
  const ThresholdChoice choice = best_threshold(val.distances, val.labels);
  const PairEval test = evaluate_pairs(*net, d.images, d.split.test, test_pairs);
  result.threshold = choice.threshold;
  result.roc_auc = roc_auc(test.distances, test.labels);
  result.eer = equal_error_rate(test.distances, test.labels).rate;
  result.accuracy = accuracy_at(test.distances, test.labels, choice.threshold);
  const std::size_t test_classes = count_classes(d.images, d.split.test);
  result.one_shot_ways = std::min(c.one_shot_ways, test_classes);
  std::vector<std::int64_t> test_labels;
  for (std::size_t i : d.split.test) test_labels.push_back(d.images.labels[i]);
  if (result.one_shot_ways >= 2) {
    try {
      result.one_shot_accuracy =
          one_shot_accuracy(test.embeddings, test.dim, test_labels, result.one_shot_ways, c.one_shot_episodes, c.seed + 3).accuracy;
    } catch (const std::invalid_argument& e) {
      say(std::string("one-shot accuracy not computed: ") + e.what() + "\n");
      result.one_shot_accuracy = std::nan("");
    }
  } else {
    result.one_shot_accuracy = std::nan("");
  }

  info.threshold = choice.threshold;
  // --eval-only evaluates --weights: it writes only metrics.json, never a model.npz (which
  // would replace the model of the run in --out, or --weights itself, with a new threshold).
  if (!c.eval_only) save_model(model_path, *net, info);
  write_metrics(metrics_path, c, d, result, val_pairs.same.size(), test_pairs.same.size(), trained_pairs);

  if (!c.quiet) {
    std::ostringstream t;
    t << std::fixed;
    t << "\n+-----------------------------+------------------------------+\n";
    auto line = [&](const std::string& k, const std::string& v) {
      t << "| " << std::left << std::setw(28) << k << "| " << std::setw(29) << v << "|\n";
    };
    auto fmt = [](double v, int p) {
      std::ostringstream s;
      s << std::fixed << std::setprecision(p) << v;
      return s.str();
    };
    line("classes / images", std::to_string(d.images.class_names.size()) + " / " + std::to_string(d.images.size()));
    line("train images (classes)", std::to_string(d.split.train.size()) + " (" + std::to_string(count_classes(d.images, d.split.train)) + ")");
    line("validation images (pairs)", std::to_string(d.split.validation.size()) + " (" + std::to_string(val_pairs.same.size()) + ")");
    line("test images (pairs)", std::to_string(d.split.test.size()) + " (" + std::to_string(test_pairs.same.size()) + ")");
    line("skipped files", std::to_string(d.images.skipped.size()));
    if (!c.eval_only) {
      line("training time", format_duration(result.train_seconds));
      line("training pairs/s", fmt(result.pairs_per_second, 0));
    }
    line("test ROC AUC", fmt(result.roc_auc, 4));
    line("test EER", fmt(result.eer, 4));
    line("test accuracy @ threshold", fmt(result.accuracy, 4) + " @ " + fmt(result.threshold, 4));
    line(std::to_string(result.one_shot_ways) + "-way one-shot accuracy", fmt(result.one_shot_accuracy, 4));
    t << "+-----------------------------+------------------------------+\n";
    t << "wrote " << (c.eval_only ? metrics_path : model_path + ", " + metrics_path + ", " + log_path + ", " + checkpoint_path)
      << "\n";
    std::cout << t.str() << std::flush;
  }
  return result;
}

}  // namespace xgrad::siamese
