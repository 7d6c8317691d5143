// The training run (xgrad::siamese::run) end to end on a tiny generated image folder: every
// output file, exact resume, divergence, evaluation only, and the errors of settings and data.
// Everything is tiny (12×12 images, a few steps of 16 pairs) so the suite stays fast even in
// the sanitizer build.

#include "siamese/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

// png.h after the standard headers (it needs FILE and size_t).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <png.h>

#include "autograd/npz.h"
#include "siamese/model_file.h"
#include "tests/support/expect.h"
#include "tests/support/temp_dir.h"

namespace xgrad::siamese {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::AnyOf;
using testing::error_message;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Pixels = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------------------
// A minimal JSON reader, enough to check metrics.json structurally (and that it parses).

struct Json {
  enum class Kind { Null, Bool, Number, String, Array, Object } kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  bool has(const std::string& key) const { return kind == Kind::Object && object.count(key) > 0; }
  const Json& operator[](const std::string& key) const {
    static const Json missing;
    const auto it = object.find(key);
    if (kind != Kind::Object || it == object.end()) {
      ADD_FAILURE() << "JSON: no key '" << key << "'";
      return missing;
    }
    return it->second;
  }
  double num() const {
    if (kind != Kind::Number) ADD_FAILURE() << "JSON: not a number";
    return number;
  }
  const std::string& str() const {
    if (kind != Kind::String) ADD_FAILURE() << "JSON: not a string";
    return string;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : s_(text) {}
  Json parse() {
    Json v = value();
    space();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("JSON: " + what + " at offset " + std::to_string(i_));
  }
  void space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  bool word(const std::string& w) {
    if (s_.compare(i_, w.size(), w) == 0) {
      i_ += w.size();
      return true;
    }
    return false;
  }
  std::string string_literal() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        if (i_ >= s_.size()) fail("bad escape");
        const char e = s_[i_++];
        switch (e) {
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case 'r': c = '\r'; break;
          case 'u': c = static_cast<char>(std::stoi(s_.substr(i_, 4), nullptr, 16)); i_ += 4; break;
          default: c = e;
        }
      }
      out += c;
    }
    if (i_ >= s_.size()) fail("unterminated string");
    ++i_;
    return out;
  }
  Json value() {
    space();
    Json v;
    if (i_ >= s_.size()) fail("unexpected end");
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = Json::Kind::Object;
      if (eat('}')) return v;
      do {
        space();
        const std::string k = string_literal();
        expect(':');
        if (!v.object.emplace(k, value()).second) fail("duplicate key '" + k + "'");
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.kind = Json::Kind::Array;
      if (eat(']')) return v;
      do v.array.push_back(value());
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Json::Kind::String;
      v.string = string_literal();
    } else if (word("true")) {
      v.kind = Json::Kind::Bool;
      v.boolean = true;
    } else if (word("false")) {
      v.kind = Json::Kind::Bool;
    } else if (word("null")) {
      v.kind = Json::Kind::Null;
    } else {
      std::size_t used = 0;
      v.kind = Json::Kind::Number;
      try {
        v.number = std::stod(s_.substr(i_), &used);
      } catch (const std::exception&) {
        fail("bad value");
      }
      i_ += used;
    }
    return v;
  }
  const std::string& s_;
  std::size_t i_ = 0;
};

// ---------------------------------------------------------------------------------------
// Files

std::string read_file(const fs::path& p) { return xgrad::testing::read_bytes(p); }

Json read_json(const fs::path& p) {
  const std::string text = read_file(p);
  try {
    return JsonParser(text).parse();
  } catch (const std::exception& e) {
    ADD_FAILURE() << p << ": " << e.what() << "\n" << text;
    return Json();
  }
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

std::string pnm_bytes(std::size_t width, std::size_t height, std::size_t channels, const Pixels& pixels) {
  std::string out = (channels == 1 ? "P5\n" : "P6\n") + std::to_string(width) + " " + std::to_string(height) + "\n255\n";
  out.append(pixels.begin(), pixels.end());
  return out;
}

std::string png_bytes(std::size_t width, std::size_t height, std::size_t channels, const Pixels& pixels) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(data), n);
      },
      [](png_structp) {});
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (std::size_t y = 0; y < height; ++y) png_write_row(png, const_cast<png_bytep>(pixels.data() + y * width * channels));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

/// Image `index` of class `label`: a class-dependent pattern (horizontal stripes, vertical
/// stripes, a checkerboard, a bright centre) with a per-image shift and noise.
Pixels pattern(int label, int index, std::size_t size, std::size_t channels) {
  std::mt19937 rng(static_cast<unsigned>(1000 * label + index));
  std::uniform_int_distribution<int> noise(-25, 25);
  const std::size_t shift = static_cast<std::size_t>(index % 2);
  Pixels out;
  for (std::size_t y = 0; y < size; ++y) {
    for (std::size_t x = 0; x < size; ++x) {
      bool on = false;
      switch (label % 4) {
        case 0: on = ((y + shift) / 2) % 2 == 0; break;
        case 1: on = ((x + shift) / 2) % 2 == 0; break;
        case 2: on = ((x / 3) + (y / 3) + shift) % 2 == 0; break;
        default: on = x >= size / 4 + shift && x < 3 * size / 4 && y >= size / 4 && y < 3 * size / 4;
      }
      const int base = (on ? 200 : 40) + noise(rng);
      for (std::size_t c = 0; c < channels; ++c) {
        out.push_back(static_cast<std::uint8_t>(std::clamp(base + static_cast<int>(c) * 10 * label, 0, 255)));
      }
    }
  }
  return out;
}

void write(const fs::path& path, const std::string& bytes) { xgrad::testing::write_bytes(path, bytes); }

/// `classes` class folders of `per_class` images each, in several formats and sizes:
/// gray PGM, RGB PPM, RGB PNG, and a 16×16 gray PNG (resized on loading).
void write_image_folder(const fs::path& root, int classes, int per_class) {
  const char* names[] = {"a_rows", "b_columns", "c_checks", "d_square", "e_more", "f_more"};
  for (int k = 0; k < classes; ++k) {
    const fs::path dir = root / names[k];
    for (int i = 0; i < per_class; ++i) {
      const std::string stem = "img" + std::to_string(i);
      switch (i % 4) {
        case 0: write(dir / (stem + ".pgm"), pnm_bytes(12, 12, 1, pattern(k, i, 12, 1))); break;
        case 1: write(dir / (stem + ".ppm"), pnm_bytes(12, 12, 3, pattern(k, i, 12, 3))); break;
        case 2: write(dir / (stem + ".png"), png_bytes(12, 12, 3, pattern(k, i, 12, 3))); break;
        default: write(dir / (stem + ".PNG"), png_bytes(16, 16, 1, pattern(k, i, 16, 1)));
      }
    }
  }
}

/// A per-test scratch folder, removed afterwards.
class TrainerTest : public xgrad::testing::TempDirTest {};

/// The tiny data of the end-to-end runs: 4 classes × 6 images, one broken file, a stray
/// .txt and a hidden file (both ignored). Returns the broken file's path.
std::string write_tiny_data(const fs::path& root) {
  write_image_folder(root, 4, 6);
  const fs::path broken = root / "b_columns" / "zz_broken.png";
  write(broken, "this is not a PNG");
  write(root / "b_columns" / "notes.txt", "stray text");
  write(root / "c_checks" / ".hidden.pgm", pnm_bytes(12, 12, 1, pattern(0, 0, 12, 1)));
  return broken.string();
}

/// The settings of the tiny runs: 12×12 RGB, small model, 4 steps of 16 pairs per epoch.
TrainConfig tiny_config(const fs::path& data, const fs::path& out) {
  TrainConfig c;
  c.data_dir = data.string();
  c.idx_images = c.idx_labels = c.idx_test_images = c.idx_test_labels = "";  // as siamese_train does with --data
  c.height = c.width = 12;
  c.channels = 3;
  c.val_fraction = 0.34;   // 2 validation images per class of 6
  c.test_fraction = 0.34;  // 2 test images per class
  c.model = "small";
  c.learning_rate = 1e-3;
  c.epochs = 2;
  c.batch_size = 16;
  c.pairs_per_epoch = 64;
  c.eval_pairs = 32;
  c.one_shot_ways = 3;
  c.one_shot_episodes = 40;
  c.seed = 7;
  c.out = out.string();
  c.quiet = true;
  return c;
}

/// Arrays of two .npz files are equal bit for bit (names, order, shapes, values), except the
/// entries named in `except`.
::testing::AssertionResult same_arrays(const fs::path& a, const fs::path& b, const std::set<std::string>& except = {}) {
  const NamedTensors x = load_npz(a.string()), y = load_npz(b.string());
  if (x.size() != y.size()) return ::testing::AssertionFailure() << x.size() << " vs " << y.size() << " arrays";
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (x[i].first != y[i].first) return ::testing::AssertionFailure() << "name " << x[i].first << " vs " << y[i].first;
    if (except.count(x[i].first)) continue;
    if (x[i].second.shape() != y[i].second.shape()) return ::testing::AssertionFailure() << "shape of " << x[i].first;
    for (std::size_t j = 0; j < x[i].second.size(); ++j) {
      if (x[i].second.flat(j) != y[i].second.flat(j)) {
        return ::testing::AssertionFailure() << x[i].first << "[" << j << "]: " << x[i].second.flat(j) << " vs "
                                             << y[i].second.flat(j);
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------
// 1. End to end

TEST_F(TrainerTest, EndToEndWritesEveryOutputFile) {
  const std::string broken = write_tiny_data(dir_ / "data");
  const fs::path out = dir_ / "run";
  const TrainConfig c = tiny_config(dir_ / "data", out);
  const RunResult r = run(c);

  EXPECT_EQ(files_in(out), (std::set<std::string>{"best.npz", "checkpoint.config", "checkpoint.npz", "log.csv",
                                                  "metrics.json", "model.npz"}));  // no temporary file left
  // model.npz: a model file with the run's configuration and the chosen threshold.
  const LoadedModel model = load_model((out / "model.npz").string());
  EXPECT_EQ(model.info.preset, "small");
  EXPECT_EQ(model.info.height, 12u);
  EXPECT_EQ(model.info.width, 12u);
  EXPECT_EQ(model.info.channels, 3u);
  EXPECT_EQ(model.info.distance, Distance::Cosine);  // TrainConfig's default distance
  EXPECT_EQ(model.info.threshold, static_cast<double>(static_cast<float>(r.threshold)));
  EXPECT_FALSE(find_entry(model.entries, "optimizer/iterations").defined());
  EXPECT_FALSE(find_entry(model.entries, "trainer/epoch").defined());
  // checkpoint.npz: weights + optimizer and run state after the last epoch.
  const LoadedModel checkpoint = load_model((out / "checkpoint.npz").string());
  EXPECT_EQ(find_entry(checkpoint.entries, "trainer/epoch").flat(0), real(2));
  EXPECT_TRUE(find_entry(checkpoint.entries, "optimizer/iterations").defined());
  EXPECT_TRUE(find_entry(checkpoint.entries, "trainer/best_val_auc").defined());
  // best.npz: the best epoch's model, whose weights model.npz holds.
  const LoadedModel best = load_model((out / "best.npz").string());
  EXPECT_TRUE(same_arrays(out / "best.npz", out / "model.npz", {"config/threshold"}));
  (void)best;

  // log.csv: a header and one row per epoch.
  const std::vector<std::string> log = lines_of(out / "log.csv");
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], "epoch,train_loss,val_roc_auc,val_accuracy,seconds,pairs_per_second");
  EXPECT_THAT(log[1], StartsWith("1,"));
  EXPECT_THAT(log[2], StartsWith("2,"));
  for (int row = 1; row <= 2; ++row) {
    std::istringstream ls(log[row]);
    std::vector<double> v;
    for (std::string cell; std::getline(ls, cell, ',');) v.push_back(std::stod(cell));
    ASSERT_EQ(v.size(), 6u) << log[row];
    EXPECT_TRUE(std::isfinite(v[1]) && v[1] >= 0) << log[row];
    EXPECT_TRUE(v[2] >= 0 && v[2] <= 1) << log[row];
    EXPECT_TRUE(v[3] >= 0 && v[3] <= 1) << log[row];
    EXPECT_GT(v[5], 0) << log[row];
  }

  // metrics.json
  const Json m = read_json(out / "metrics.json");
  const Json& test = m["test"];
  for (const char* k : {"roc_auc", "eer", "accuracy", "one_shot_accuracy"}) {
    EXPECT_GE(test[k].num(), 0) << k;
    EXPECT_LE(test[k].num(), 1) << k;
  }
  EXPECT_TRUE(std::isfinite(test["threshold"].num()));
  EXPECT_GE(test["threshold"].num(), 0);
  EXPECT_EQ(test["one_shot_ways"].num(), 3);
  EXPECT_EQ(test["one_shot_episodes"].num(), 40);
  EXPECT_NEAR(test["roc_auc"].num(), r.roc_auc, 1e-9);
  EXPECT_NEAR(test["eer"].num(), r.eer, 1e-9);
  EXPECT_NEAR(test["accuracy"].num(), r.accuracy, 1e-9);
  EXPECT_NEAR(test["threshold"].num(), r.threshold, 1e-9 * std::max(1.0, r.threshold));
  EXPECT_NEAR(test["one_shot_accuracy"].num(), r.one_shot_accuracy, 1e-9);
  EXPECT_EQ(r.one_shot_ways, 3u);
  EXPECT_GT(m["train"]["seconds"].num(), 0);
  EXPECT_GT(m["train"]["pairs_per_second"].num(), 0);
  EXPECT_EQ(m["train"]["steps"].num(), 8);
  EXPECT_EQ(r.steps, 8u);
  const Json& data = m["data"];
  EXPECT_EQ(data["classes"].num(), 4);
  EXPECT_EQ(data["images"].num(), 24);  // the hidden file and the .txt are ignored
  for (const char* split : {"train", "validation", "test"}) {
    EXPECT_EQ(data[split]["classes"].num(), 4) << split;
    EXPECT_EQ(data[split]["images"].num(), 8) << split;
  }
  EXPECT_EQ(data["train"]["pairs"].num(), 2 * 4 * 16);
  EXPECT_EQ(data["validation"]["pairs"].num(), 32);
  EXPECT_EQ(data["test"]["pairs"].num(), 32);
  ASSERT_EQ(m["skipped"].kind, Json::Kind::Array);
  ASSERT_EQ(m["skipped"].array.size(), 1u);
  EXPECT_EQ(m["skipped"].array[0]["path"].str(), broken);
  EXPECT_THAT(m["skipped"].array[0]["reason"].str(), HasSubstr("not a JPEG, PNG, PGM or PPM image"));
  // Every flag of siamese_train (but --help) is recorded.
  const Json& config = m["config"];
  for (const char* flag : {"data", "idx_images", "idx_labels", "idx_test_images", "idx_test_labels", "image_size",
                           "channels", "strict", "split_by", "val_fraction", "test_fraction", "test_classes", "model",
                           "distance", "loss", "margin", "optimizer", "learning_rate", "lr_schedule", "epochs", "steps",
                           "batch_size", "pairs_per_epoch", "eval_pairs", "one_shot_ways", "one_shot_episodes",
                           "seed", "threads", "out", "resume", "eval_only", "weights", "quiet"}) {
    EXPECT_TRUE(config.has(flag)) << flag;
  }
  EXPECT_EQ(config["data"].str(), c.data_dir);
  EXPECT_EQ(config["image_size"].str(), "12x12");
  EXPECT_EQ(config["channels"].num(), 3);
  EXPECT_EQ(config["batch_size"].num(), 16);
  EXPECT_EQ(config["pairs_per_epoch"].num(), 64);
  EXPECT_EQ(config["learning_rate"].num(), 1e-3);
  EXPECT_EQ(config["seed"].num(), 7);
  EXPECT_EQ(config["out"].str(), c.out);
  EXPECT_EQ(config["model"].str(), "small");
  EXPECT_EQ(config["eval_only"].kind, Json::Kind::Bool);
  EXPECT_FALSE(config["eval_only"].boolean);
}

TEST_F(TrainerTest, ClassSplitTripletCosineAndSteps) {
  // Other code paths: split by class (test classes never trained on), triplet loss, cosine
  // distance, one channel, rmsprop, and --steps ending in a partial epoch.
  write_image_folder(dir_ / "data", 5, 5);
  TrainConfig c = tiny_config(dir_ / "data", dir_ / "run");
  c.split_by = "class";
  c.test_classes = 2;
  c.val_fraction = 0.4;
  c.loss = "triplet";
  c.distance = "cosine";
  c.optimizer = "rmsprop";
  c.channels = 1;
  c.steps = 6;  // 4 per epoch: epochs of 4 and 2 steps
  c.one_shot_ways = 5;  // capped at the 2 test classes
  const RunResult r = run(c);
  EXPECT_EQ(r.steps, 6u);
  EXPECT_EQ(r.one_shot_ways, 2u);
  EXPECT_EQ(lines_of(dir_ / "run" / "log.csv").size(), 3u);
  const Json m = read_json(dir_ / "run" / "metrics.json");
  EXPECT_EQ(m["data"]["test"]["classes"].num(), 2);
  EXPECT_EQ(m["data"]["train"]["classes"].num(), 3);
  EXPECT_EQ(m["data"]["train"]["pairs"].num(), 6 * 16);
  EXPECT_GE(m["test"]["roc_auc"].num(), 0);
  EXPECT_LE(m["test"]["roc_auc"].num(), 1);
  const LoadedModel model = load_model((dir_ / "run" / "model.npz").string());
  EXPECT_EQ(model.info.distance, Distance::Cosine);
  EXPECT_EQ(model.info.channels, 1u);
}

// ---------------------------------------------------------------------------------------
// 2. Resume

TEST_F(TrainerTest, ResumeEqualsUninterruptedRun) {
  write_tiny_data(dir_ / "data");
  TrainConfig a = tiny_config(dir_ / "data", dir_ / "A");
  a.epochs = 3;
  const RunResult ra = run(a);

  TrainConfig b = tiny_config(dir_ / "data", dir_ / "B");
  b.epochs = 1;
  run(b);
  b.epochs = 3;
  b.resume = true;
  const RunResult rb = run(b);

  EXPECT_TRUE(same_arrays(dir_ / "A" / "model.npz", dir_ / "B" / "model.npz"));
  EXPECT_TRUE(same_arrays(dir_ / "A" / "best.npz", dir_ / "B" / "best.npz"));
  EXPECT_TRUE(same_arrays(dir_ / "A" / "checkpoint.npz", dir_ / "B" / "checkpoint.npz", {"trainer/seconds"}));
  EXPECT_EQ(ra.roc_auc, rb.roc_auc);
  EXPECT_EQ(ra.eer, rb.eer);
  EXPECT_EQ(ra.accuracy, rb.accuracy);
  EXPECT_EQ(ra.threshold, rb.threshold);
  EXPECT_EQ(ra.one_shot_accuracy, rb.one_shot_accuracy);
  EXPECT_EQ(ra.one_shot_ways, rb.one_shot_ways);
  EXPECT_EQ(ra.steps, rb.steps);
  EXPECT_EQ(rb.steps, 12u);
  // The logs agree in everything but the timings.
  const std::vector<std::string> la = lines_of(dir_ / "A" / "log.csv"), lb = lines_of(dir_ / "B" / "log.csv");
  ASSERT_EQ(la.size(), 4u);
  ASSERT_EQ(lb.size(), 4u);
  auto without_timings = [](const std::string& line) {
    std::istringstream ls(line);
    std::string out, cell;
    for (int i = 0; i < 4 && std::getline(ls, cell, ','); ++i) out += cell + ",";
    return out;
  };
  for (std::size_t i = 0; i < la.size(); ++i) EXPECT_EQ(without_timings(la[i]), without_timings(lb[i])) << i;
  // metrics.json: the same test figures and training pairs.
  const Json ma = read_json(dir_ / "A" / "metrics.json"), mb = read_json(dir_ / "B" / "metrics.json");
  for (const char* k : {"roc_auc", "eer", "accuracy", "threshold", "one_shot_accuracy"}) {
    EXPECT_EQ(ma["test"][k].num(), mb["test"][k].num()) << k;
  }
  EXPECT_EQ(ma["data"]["train"]["pairs"].num(), mb["data"]["train"]["pairs"].num());
  EXPECT_TRUE(mb["config"]["resume"].boolean);

  // Resuming a finished run trains nothing more and gives the same model.
  const RunResult again = run(b);
  EXPECT_EQ(again.roc_auc, rb.roc_auc);
  EXPECT_TRUE(same_arrays(dir_ / "A" / "model.npz", dir_ / "B" / "model.npz"));
}

TEST_F(TrainerTest, ResumeRefusesOtherSettingsAndMissingOrForeignCheckpoint) {
  write_tiny_data(dir_ / "data");
  TrainConfig c = tiny_config(dir_ / "data", dir_ / "run");
  c.epochs = 1;
  run(c);
  const std::string checkpoint_bytes = read_file(dir_ / "run" / "checkpoint.npz");
  const std::string model_bytes = read_file(dir_ / "run" / "model.npz");

  TrainConfig other = c;
  other.resume = true;
  other.epochs = 2;
  other.batch_size = 32;
  const std::string msg = error_message<std::runtime_error>([&] { run(other); });
  EXPECT_THAT(msg, AllOf(HasSubstr((dir_ / "run" / "checkpoint.npz").string()), HasSubstr("other settings"),
                         HasSubstr("batch-size")));
  EXPECT_THAT(msg, AllOf(HasSubstr("16"), HasSubstr("32")));
  EXPECT_THAT(msg, HasSubstr("--batch-size: 16 in the checkpoint, now 32"));
  other = c;
  other.resume = true;
  other.learning_rate = 0.5;
  other.test_fraction = 0.4;
  other.steps = 3;
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(other); }),
              AllOf(HasSubstr("--learning-rate: 0.001 in the checkpoint, now 0.5"),
                    HasSubstr("--test-fraction: 0.34 in the checkpoint, now 0.4"),
                    HasSubstr("--steps: 0 in the checkpoint, now 3"), Not(HasSubstr("--batch-size"))));
  // A refused resume changes nothing.
  EXPECT_EQ(read_file(dir_ / "run" / "checkpoint.npz"), checkpoint_bytes);
  EXPECT_EQ(read_file(dir_ / "run" / "model.npz"), model_bytes);

  // No checkpoint at all.
  TrainConfig fresh = c;
  fresh.out = (dir_ / "empty_out").string();
  fresh.resume = true;
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(fresh); }),
              AllOf(HasSubstr((dir_ / "empty_out" / "checkpoint.npz").string()), HasSubstr("no checkpoint")));

  // A checkpoint without its settings file.
  fs::copy_file(dir_ / "run" / "checkpoint.npz", dir_ / "empty_out" / "checkpoint.npz");
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(fresh); }), HasSubstr("checkpoint.config"));

  // A model file in place of the checkpoint: no optimizer or run state.
  fs::copy_file(dir_ / "run" / "model.npz", dir_ / "run" / "checkpoint.npz", fs::copy_options::overwrite_existing);
  TrainConfig same = c;
  same.resume = true;
  same.epochs = 2;
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(same); }),
              AllOf(HasSubstr((dir_ / "run" / "checkpoint.npz").string()), HasSubstr("not a checkpoint")));
  EXPECT_EQ(read_file(dir_ / "run" / "model.npz"), model_bytes);
}

// ---------------------------------------------------------------------------------------
// 3. Divergence

// A learning rate that makes the weights overflow the scalar type after the first step.
const double kHugeLearningRate = sizeof(real) == 4 ? 1e30 : 1e300;

TEST_F(TrainerTest, DivergenceNamesTheStepAndWritesNoCheckpoint) {
  write_tiny_data(dir_ / "data");
  TrainConfig c = tiny_config(dir_ / "data", dir_ / "run");
  c.optimizer = "sgd";
  c.learning_rate = kHugeLearningRate;
  const std::string msg = error_message<std::runtime_error>([&] { run(c); });
  EXPECT_THAT(msg, HasSubstr("training diverged at epoch 1, step "));
  EXPECT_THAT(msg, AnyOf(HasSubstr("the loss is"), HasSubstr("the gradient of 'siamese/")));
  EXPECT_THAT(msg, HasSubstr("--learning-rate"));
  // Diverged in the first epoch: nothing was written.
  EXPECT_TRUE(files_in(dir_ / "run").empty());
}

TEST_F(TrainerTest, DivergenceSeenByValidationAfterAOneStepEpoch) {
  // One step per epoch: the step's loss and gradients are finite, but the weights it leaves
  // are not usable — validation sees it, before any file is written.
  write_tiny_data(dir_ / "data");
  TrainConfig c = tiny_config(dir_ / "data", dir_ / "run");
  c.optimizer = "sgd";
  c.learning_rate = kHugeLearningRate;
  c.pairs_per_epoch = c.batch_size;
  const std::string msg = error_message<std::runtime_error>([&] { run(c); });
  EXPECT_THAT(msg, HasSubstr("training diverged"));
  EXPECT_THAT(msg, HasSubstr("epoch 1"));
  EXPECT_TRUE(files_in(dir_ / "run").empty());
}

TEST_F(TrainerTest, DivergenceInALaterEpochKeepsTheLastCheckpoint) {
  // Epoch 1 trains normally; the weights it leaves are then made non-finite (as a diverging
  // epoch would), and the resumed epoch 2 must stop at its first step with the epoch-1 files
  // untouched.
  write_tiny_data(dir_ / "data");
  TrainConfig c = tiny_config(dir_ / "data", dir_ / "run");
  c.epochs = 1;
  run(c);
  NamedTensors entries = load_npz((dir_ / "run" / "checkpoint.npz").string());
  bool poisoned = false;
  for (auto& [name, t] : entries) {
    if (name == "siamese/tower/dense/bias") {
      std::vector<real> v = t.to_vector();
      v[0] = std::numeric_limits<real>::infinity();
      t = Tensor::from_vector(t.shape(), v);
      poisoned = true;
    }
  }
  ASSERT_TRUE(poisoned);
  save_npz((dir_ / "run" / "checkpoint.npz").string(), entries);
  std::map<std::string, std::string> before;
  for (const std::string& f : files_in(dir_ / "run")) before[f] = read_file(dir_ / "run" / f);

  c.epochs = 2;
  c.resume = true;
  const std::string msg = error_message<std::runtime_error>([&] { run(c); });
  EXPECT_THAT(msg, HasSubstr("training diverged at epoch 2, step 1"));
  EXPECT_THAT(msg, HasSubstr("the last good checkpoint is kept"));
  std::map<std::string, std::string> after;
  for (const std::string& f : files_in(dir_ / "run")) after[f] = read_file(dir_ / "run" / f);
  EXPECT_TRUE(before == after);
}

// ---------------------------------------------------------------------------------------
// 4. Evaluation only

TEST_F(TrainerTest, EvalOnlyWritesMetricsAndLeavesModelsAlone) {
  write_tiny_data(dir_ / "data");
  TrainConfig c = tiny_config(dir_ / "data", dir_ / "run");
  c.epochs = 1;
  const RunResult trained = run(c);
  const std::string model_bytes = read_file(dir_ / "run" / "model.npz");

  // Into another folder that already holds a (different) model.npz, with the model's own input
  // size (no --image-size / --channels).
  const fs::path eval_out = dir_ / "eval";
  write(eval_out / "model.npz", "a model from another run");
  TrainConfig e;
  e.data_dir = c.data_dir;
  e.idx_images = e.idx_labels = e.idx_test_images = e.idx_test_labels = "";
  e.val_fraction = c.val_fraction;
  e.test_fraction = c.test_fraction;
  e.eval_pairs = c.eval_pairs;
  e.one_shot_ways = c.one_shot_ways;
  e.one_shot_episodes = c.one_shot_episodes;
  e.seed = c.seed;
  e.eval_only = true;
  e.model = "seed";  // the model file decides
  e.weights = (dir_ / "run" / "model.npz").string();
  e.out = eval_out.string();
  e.quiet = true;
  const RunResult r = run(e);
  EXPECT_EQ(read_file(eval_out / "model.npz"), "a model from another run");
  EXPECT_EQ(read_file(dir_ / "run" / "model.npz"), model_bytes);
  EXPECT_FALSE(fs::exists(eval_out / "checkpoint.npz"));
  EXPECT_FALSE(fs::exists(eval_out / "log.csv"));
  // The same model on the same test pairs: the same figures.
  EXPECT_EQ(r.roc_auc, trained.roc_auc);
  EXPECT_EQ(r.eer, trained.eer);
  EXPECT_EQ(r.accuracy, trained.accuracy);
  EXPECT_EQ(r.threshold, trained.threshold);
  EXPECT_EQ(r.steps, 0u);
  const Json m = read_json(eval_out / "metrics.json");
  EXPECT_EQ(m["test"]["roc_auc"].num(), read_json(dir_ / "run" / "metrics.json")["test"]["roc_auc"].num());
  EXPECT_TRUE(m["config"]["eval_only"].boolean);
  EXPECT_EQ(m["config"]["weights"].str(), e.weights);
  EXPECT_EQ(m["config"]["image_size"].str(), "12x12");
  EXPECT_EQ(m["config"]["channels"].num(), 3);
  EXPECT_EQ(m["config"]["model"].str(), "small");
  EXPECT_EQ(m["train"]["steps"].num(), 0);

  // In place (--out = the training folder): model.npz stays as it is.
  e.out = (dir_ / "run").string();
  run(e);
  EXPECT_EQ(read_file(dir_ / "run" / "model.npz"), model_bytes);
}

TEST_F(TrainerTest, EvalOnlyRejectsWeightsOfAnotherModel) {
  write_tiny_data(dir_ / "data");
  TrainConfig c = tiny_config(dir_ / "data", dir_ / "run");
  c.epochs = 1;
  run(c);
  TrainConfig e = tiny_config(dir_ / "data", dir_ / "eval");
  e.eval_only = true;

  // The model takes 12x12x3 images; the flags ask for 16x16.
  e.weights = (dir_ / "run" / "model.npz").string();
  e.height = e.width = 16;
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(e); }),
              AllOf(StartsWith(e.weights), HasSubstr("12x12x3"), HasSubstr("16x16x3"), HasSubstr("--image-size")));
  e.height = e.width = 12;

  // Weights of a 12x12 model under a configuration that says 20x20: the layer shapes differ.
  NamedTensors entries = load_npz(e.weights);
  for (auto& [name, t] : entries) {
    if (name == "config/height" || name == "config/width") t = Tensor::from_vector({1}, {real(20)});
  }
  e.weights = (dir_ / "other_size.npz").string();
  save_npz(e.weights, entries);
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(e); }),
              AllOf(StartsWith(e.weights), HasSubstr("does not match"), HasSubstr("siamese/tower/dense/kernel")));

  // An .npz that is not a model file at all.
  e.weights = (dir_ / "foreign.npz").string();
  save_npz(e.weights, {{"dense/kernel", Tensor::zeros({2, 2})}});
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(e); }),
              AllOf(StartsWith(e.weights), HasSubstr("not a siamese model file")));
  // Not even an .npz; and a missing file.
  e.weights = (dir_ / "garbage.npz").string();
  write(e.weights, "garbage");
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(e); }), HasSubstr(e.weights));
  e.weights = (dir_ / "missing.npz").string();
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(e); }), HasSubstr(e.weights));
  EXPECT_FALSE(fs::exists(dir_ / "eval" / "metrics.json"));
}

// ---------------------------------------------------------------------------------------
// 5. Errors

TEST(TrainerValidate, EachBadSettingNamesItsFlag) {
  struct Case {
    std::function<void(TrainConfig&)> change;
    std::string flag;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<Case> cases = {
      {[](TrainConfig& c) { c.model = "nope"; }, "--model: must be small or seed; got 'nope'"},
      {[](TrainConfig& c) { c.loss = "x"; }, "--loss: "},
      {[](TrainConfig& c) { c.distance = "manhattan"; }, "--distance: "},
      {[](TrainConfig& c) { c.optimizer = "x"; }, "--optimizer: "},
      {[](TrainConfig& c) { c.split_by = "x"; }, "--split-by: "},
      {[](TrainConfig& c) { c.lr_schedule = "x"; }, "--lr-schedule: "},
      {[](TrainConfig& c) { c.margin = 0; }, "--margin: "},
      {[=](TrainConfig& c) { c.margin = nan; }, "--margin: "},
      {[](TrainConfig& c) { c.positive_margin = -0.1; }, "--positive-margin: "},
      {[](TrainConfig& c) { c.positive_margin = c.margin; }, "--positive-margin: "},
      {[=](TrainConfig& c) { c.positive_margin = nan; }, "--positive-margin: "},
      {[](TrainConfig& c) { c.learning_rate = 0; }, "--learning-rate: "},
      {[](TrainConfig& c) { c.learning_rate = -1; }, "--learning-rate: "},
      {[=](TrainConfig& c) { c.learning_rate = inf; }, "--learning-rate: "},
      {[](TrainConfig& c) { c.epochs = 0; }, "--epochs: must be >= 1; got 0"},
      {[](TrainConfig& c) { c.batch_size = 1; }, "--batch-size: "},
      {[](TrainConfig& c) { c.pairs_per_epoch = 10; c.batch_size = 16; }, "--pairs-per-epoch: "},
      {[](TrainConfig& c) { c.val_fraction = 0; }, "--val-fraction: "},
      {[](TrainConfig& c) { c.val_fraction = 1.5; }, "--val-fraction: "},
      {[=](TrainConfig& c) { c.val_fraction = nan; }, "--val-fraction: "},
      {[](TrainConfig& c) { c.test_fraction = 1; }, "--test-fraction: "},
      {[](TrainConfig& c) { c.test_fraction = -0.1; }, "--test-fraction: "},
      {[](TrainConfig& c) { c.channels = 2; }, "--channels: must be 1 or 3; got 2"},
      {[](TrainConfig& c) { c.height = 12; }, "--image-size: "},
      {[](TrainConfig& c) { c.height = c.width = 5000; }, "--image-size: "},
      {[](TrainConfig& c) { c.height = c.width = 3; }, "--image-size: "},  // too small for the small model
      {[](TrainConfig& c) { c.threads = -1; }, "--threads: "},
      {[](TrainConfig& c) { c.eval_pairs = 1; }, "--eval-pairs: "},
      {[](TrainConfig& c) { c.one_shot_ways = 1; }, "--one-shot-ways: "},
      {[](TrainConfig& c) { c.one_shot_episodes = 0; }, "--one-shot-episodes: "},
      {[](TrainConfig& c) { c.eval_only = true; }, "--eval-only: needs --weights"},
      {[](TrainConfig& c) { c.eval_only = true; c.weights = "m.npz"; c.resume = true; }, "--resume: "},
      {[](TrainConfig& c) { c.out = ""; }, "--out: "},
  };
  const fs::path out = fs::temp_directory_path() / ("xgrad_trainer_validate_" + std::to_string(::getpid()));
  for (const Case& k : cases) {
    TrainConfig c;
    c.out = out.string();
    c.quiet = true;
    k.change(c);
    EXPECT_THAT(error_message<std::invalid_argument>([&] { validate(c); }), StartsWith(k.flag));
    // run() checks first, before it touches the file system.
    EXPECT_THAT(error_message<std::invalid_argument>([&] { run(c); }), StartsWith(k.flag));
    EXPECT_FALSE(fs::exists(out)) << k.flag;
  }
  TrainConfig ok;
  EXPECT_NO_THROW(validate(ok));
  ok.model = "seed";
  ok.height = ok.width = 3;
  EXPECT_NO_THROW(validate(ok));
  // The positive margin belongs to the contrastive loss: a small triplet margin is fine.
  TrainConfig triplet;
  triplet.loss = "triplet";
  triplet.margin = 0.05;
  EXPECT_NO_THROW(validate(triplet));
  triplet.loss = "contrastive";
  EXPECT_THAT(error_message<std::invalid_argument>([&] { validate(triplet); }), StartsWith("--positive-margin: "));
}

TEST_F(TrainerTest, DataErrors) {
  TrainConfig c = tiny_config(dir_ / "missing", dir_ / "run");
  write(dir_ / "run" / "model.npz", "previous model");
  EXPECT_EQ(error_message<std::runtime_error>([&] { run(c); }), (dir_ / "missing").string() + ": no such folder");

  fs::create_directories(dir_ / "empty");
  c.data_dir = (dir_ / "empty").string();
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(c); }),
              StartsWith((dir_ / "empty").string() + ": no class subfolders"));

  // Every class has one image: no same-class pair can be drawn.
  write_image_folder(dir_ / "singles", 4, 1);
  c.data_dir = (dir_ / "singles").string();
  EXPECT_THAT(error_message<std::invalid_argument>([&] { run(c); }),
              AllOf(HasSubstr("PairSampler: no class has 2 images"), HasSubstr("'a_rows': 1")));

  // Enough images to train, too few held out for validation pairs with the default fraction
  // (one validation image per class): the message says which split and what to change.
  write_image_folder(dir_ / "few", 4, 6);
  c.data_dir = (dir_ / "few").string();
  c.val_fraction = 0.1;
  EXPECT_THAT(error_message<std::invalid_argument>([&] { run(c); }),
              AllOf(HasSubstr("validation"), HasSubstr("no class has 2 images"), HasSubstr("--val-fraction")));
  c.val_fraction = 0.34;
  c.test_fraction = 0.2;
  EXPECT_THAT(error_message<std::invalid_argument>([&] { run(c); }),
              AllOf(HasSubstr("test"), HasSubstr("no class has 2 images"), HasSubstr("--test-fraction")));
  c.test_fraction = 0;
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(c); }), HasSubstr("the test split is empty"));

  EXPECT_EQ(read_file(dir_ / "run" / "model.npz"), "previous model");
  EXPECT_EQ(files_in(dir_ / "run"), std::set<std::string>{"model.npz"});
}

std::string idx_bytes(const std::vector<std::uint32_t>& shape, const Pixels& data) {
  std::string s{'\0', '\0', '\x08', static_cast<char>(shape.size())};
  for (std::uint32_t d : shape) {
    for (int k = 3; k >= 0; --k) s += static_cast<char>((d >> (8 * k)) & 0xFF);
  }
  s.append(data.begin(), data.end());
  return s;
}

TEST_F(TrainerTest, IdxErrors) {
  // 3 images, 4 labels.
  write(dir_ / "images", idx_bytes({3, 8, 8}, Pixels(3 * 64, 7)));
  write(dir_ / "labels", idx_bytes({4}, {0, 1, 0, 1}));
  TrainConfig c = tiny_config("", dir_ / "run");
  c.data_dir.clear();
  c.idx_images = (dir_ / "images").string();
  c.idx_labels = (dir_ / "labels").string();
  c.height = c.width = 8;
  c.channels = 1;
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(c); }),
              AllOf(HasSubstr(c.idx_images + " holds 3 images"), HasSubstr(c.idx_labels)));
  // Labels and images swapped.
  std::swap(c.idx_images, c.idx_labels);
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(c); }), HasSubstr(c.idx_images));
  std::swap(c.idx_images, c.idx_labels);

  // A test file whose classes differ from the training file's.
  Pixels train_pixels, test_pixels;
  for (int i = 0; i < 24; ++i) {
    const Pixels p = pattern(i % 4, i, 8, 1);
    train_pixels.insert(train_pixels.end(), p.begin(), p.end());
  }
  Pixels train_labels, test_labels;
  for (int i = 0; i < 24; ++i) train_labels.push_back(static_cast<std::uint8_t>(i % 4));
  for (int i = 0; i < 6; ++i) {
    const Pixels p = pattern(i % 3, 100 + i, 8, 1);
    test_pixels.insert(test_pixels.end(), p.begin(), p.end());
    test_labels.push_back(static_cast<std::uint8_t>(i % 3));
  }
  write(dir_ / "train-images", idx_bytes({24, 8, 8}, train_pixels));
  write(dir_ / "train-labels", idx_bytes({24}, train_labels));
  write(dir_ / "test-images", idx_bytes({6, 8, 8}, test_pixels));
  write(dir_ / "test-labels", idx_bytes({6}, test_labels));
  c.idx_images = (dir_ / "train-images").string();
  c.idx_labels = (dir_ / "train-labels").string();
  c.idx_test_images = (dir_ / "test-images").string();
  c.idx_test_labels = (dir_ / "test-labels").string();
  EXPECT_THAT(error_message<std::runtime_error>([&] { run(c); }),
              AllOf(HasSubstr(c.idx_test_images), HasSubstr("classes differ")));
  EXPECT_FALSE(fs::exists(dir_ / "run" / "model.npz"));
}

TEST_F(TrainerTest, IdxWithSeparateTestFileTrains) {
  Pixels train_pixels, train_labels, test_pixels, test_labels;
  for (int i = 0; i < 24; ++i) {
    const Pixels p = pattern(i % 4, i, 8, 1);
    train_pixels.insert(train_pixels.end(), p.begin(), p.end());
    train_labels.push_back(static_cast<std::uint8_t>(i % 4));
  }
  for (int i = 0; i < 8; ++i) {
    const Pixels p = pattern(i % 4, 100 + i, 8, 1);
    test_pixels.insert(test_pixels.end(), p.begin(), p.end());
    test_labels.push_back(static_cast<std::uint8_t>(i % 4));
  }
  write(dir_ / "train-images", idx_bytes({24, 8, 8}, train_pixels));
  write(dir_ / "train-labels", idx_bytes({24}, train_labels));
  write(dir_ / "test-images", idx_bytes({8, 8, 8}, test_pixels));
  write(dir_ / "test-labels", idx_bytes({8}, test_labels));
  TrainConfig c = tiny_config("", dir_ / "run");
  c.data_dir.clear();
  c.idx_images = (dir_ / "train-images").string();
  c.idx_labels = (dir_ / "train-labels").string();
  c.idx_test_images = (dir_ / "test-images").string();
  c.idx_test_labels = (dir_ / "test-labels").string();
  c.channels = 0;  // IDX default: gray
  c.epochs = 1;
  const RunResult r = run(c);
  EXPECT_GE(r.roc_auc, 0);
  const LoadedModel m = load_model((dir_ / "run" / "model.npz").string());
  EXPECT_EQ(m.info.height, 12u);
  EXPECT_EQ(m.info.channels, 1u);
  const Json j = read_json(dir_ / "run" / "metrics.json");
  EXPECT_EQ(j["data"]["images"].num(), 32);
  EXPECT_EQ(j["data"]["test"]["images"].num(), 8);
}

}  // namespace
}  // namespace xgrad::siamese
