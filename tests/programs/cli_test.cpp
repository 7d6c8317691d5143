// The command-line programs (siamese_train, siamese_compare, siamese_embed,
// fashion_mnist_classifier) run as child processes: --help, every error path (an "error: …"
// line on stderr naming the problem, a non-zero exit, no crash, nothing in --out damaged) and
// the success paths on a tiny generated image folder.

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <cstring>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autograd/npz.h"
#include "siamese/model_file.h"

extern char** environ;

namespace xgrad {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using Pixels = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------------------
// Running a program

struct Outcome {
  bool exited = false;  ///< ended by exit (not by a signal)
  int code = -1;        ///< exit code when `exited`
  int signal = 0;       ///< the signal that ended it otherwise
  std::string out, err;
  std::string command;

  /// The first stderr line starting with "error:", or "".
  std::string error_line() const {
    std::istringstream s(err);
    for (std::string line; std::getline(s, line);) {
      if (line.rfind("error:", 0) == 0) return line;
    }
    return "";
  }
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << o.command << "\n  exit " << (o.exited ? std::to_string(o.code) : "by signal " + std::to_string(o.signal))
            << "\n  stdout: " << o.out << "\n  stderr: " << o.err;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

/// Runs XGRAD_BIN_DIR/`program` with `args` (no shell), stdout and stderr captured through
/// files in `scratch`.
Outcome run_program(const std::string& program, const std::vector<std::string>& args, const fs::path& scratch) {
  Outcome o;
  const std::string path = std::string(XGRAD_BIN_DIR) + "/" + program;
  o.command = program;
  for (const std::string& a : args) o.command += " '" + a + "'";
  fs::create_directories(scratch);
  const std::string out_path = (scratch / "stdout.txt").string(), err_path = (scratch / "stderr.txt").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + path + ": " + std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  }
  o.exited = WIFEXITED(status);
  if (o.exited) o.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  o.out = read_file(out_path);
  o.err = read_file(err_path);
  return o;
}

/// A failure as the programs report it: a clean non-zero exit with an "error: …" line
/// containing `what`, and no sign of a crash or a sanitizer report.
::testing::AssertionResult fails_with(const Outcome& o, const std::string& what) {
  if (!o.exited) return ::testing::AssertionFailure() << "killed by a signal: " << o;
  if (o.code == 0) return ::testing::AssertionFailure() << "exit code 0: " << o;
  const std::string line = o.error_line();
  if (line.empty()) return ::testing::AssertionFailure() << "no 'error:' line: " << o;
  if (line.find(what) == std::string::npos) {
    return ::testing::AssertionFailure() << "the error line does not mention '" << what << "': " << o;
  }
  for (const char* bad : {"terminate called", "Sanitizer", "runtime error:", "Aborted", "core dumped"}) {
    if (o.err.find(bad) != std::string::npos) return ::testing::AssertionFailure() << "'" << bad << "': " << o;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult succeeds(const Outcome& o) {
  if (!o.exited || o.code != 0) return ::testing::AssertionFailure() << o;
  if (!o.error_line().empty()) return ::testing::AssertionFailure() << "an error line: " << o;
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------
// Test data

std::string pnm_bytes(std::size_t size, std::size_t channels, const Pixels& pixels) {
  std::string out = (channels == 1 ? "P5\n" : "P6\n") + std::to_string(size) + " " + std::to_string(size) + "\n255\n";
  out.append(pixels.begin(), pixels.end());
  return out;
}

/// A class-dependent pattern (rows, columns, checks, centre square) with noise.
Pixels pattern(int label, int index, std::size_t size, std::size_t channels) {
  std::mt19937 rng(static_cast<unsigned>(1000 * label + index));
  std::uniform_int_distribution<int> noise(-25, 25);
  Pixels out;
  for (std::size_t y = 0; y < size; ++y) {
    for (std::size_t x = 0; x < size; ++x) {
      bool on = false;
      switch (label % 4) {
        case 0: on = (y / 2) % 2 == 0; break;
        case 1: on = (x / 2) % 2 == 0; break;
        case 2: on = (x / 3 + y / 3) % 2 == 0; break;
        default: on = x >= size / 4 && x < 3 * size / 4 && y >= size / 4 && y < 3 * size / 4;
      }
      const int v = std::clamp((on ? 200 : 40) + noise(rng), 0, 255);
      for (std::size_t c = 0; c < channels; ++c) out.push_back(static_cast<std::uint8_t>(v));
    }
  }
  return out;
}

/// 4 classes × 6 images of 12×12 (gray PGM and RGB PPM), plus a broken file, a stray .txt
/// and a hidden file.
void write_tiny_data(const fs::path& root) {
  for (int k = 0; k < 4; ++k) {
    const fs::path dir = root / ("class" + std::to_string(k));
    for (int i = 0; i < 6; ++i) {
      const std::size_t channels = i % 2 ? 3 : 1;
      write(dir / ("img" + std::to_string(i) + (channels == 1 ? ".pgm" : ".ppm")),
            pnm_bytes(12, channels, pattern(k, i, 12, channels)));
    }
  }
  write(root / "class1" / "zz_broken.png", "not an image");
  write(root / "class1" / "notes.txt", "stray");
  write(root / "class2" / ".hidden.pgm", pnm_bytes(12, 1, pattern(0, 0, 12, 1)));
}

/// The flags of a tiny, fast training run on `data` into `out`.
std::vector<std::string> tiny_train_args(const fs::path& data, const fs::path& out) {
  return {"--data", data.string(), "--image-size", "12x12", "--channels", "1", "--val-fraction", "0.34",
          "--test-fraction", "0.34", "--epochs", "2", "--batch-size", "8", "--pairs-per-epoch", "16",
          "--eval-pairs", "16", "--one-shot-ways", "2", "--one-shot-episodes", "10", "--threads", "1",
          "--out", out.string()};
}

fs::path process_dir() {
  return fs::temp_directory_path() / ("xgrad_programs_" + std::to_string(::getpid()));
}

/// A model trained once per test process with siamese_train on the tiny data (its folder is
/// process_dir()/trained; the data is process_dir()/data).
const fs::path& trained_model() {
  struct Trained {
    fs::path model;
    Trained() {
      const fs::path root = process_dir();
      write_tiny_data(root / "data");
      const Outcome o = run_program("siamese_train", tiny_train_args(root / "data", root / "trained"), root / "io_trained");
      EXPECT_TRUE(succeeds(o));
      model = root / "trained" / "model.npz";
    }
  };
  static const Trained trained;
  return trained.model;
}

class ProgramsTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { fs::remove_all(process_dir()); }
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = process_dir() / (std::string(info->test_suite_name()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  Outcome run(const std::string& program, const std::vector<std::string>& args) {
    return run_program(program, args, dir_ / "io");
  }
  fs::path dir_;
};

// ---------------------------------------------------------------------------------------
// siamese_train

TEST_F(ProgramsTest, TrainHelpListsEveryFlag) {
  const Outcome o = run("siamese_train", {"--help"});
  ASSERT_TRUE(succeeds(o));
  EXPECT_EQ(o.err, "");
  for (const char* flag : {"--data", "--idx-images", "--idx-labels", "--idx-test-images", "--idx-test-labels",
                           "--image-size", "--channels", "--strict", "--split-by", "--val-fraction",
                           "--test-fraction", "--test-classes", "--model", "--distance", "--loss", "--margin",
                           "--positive-margin",
                           "--optimizer", "--learning-rate", "--lr-schedule", "--epochs", "--steps", "--batch-size",
                           "--pairs-per-epoch", "--eval-pairs", "--one-shot-ways", "--one-shot-episodes", "--seed",
                           "--threads", "--out", "--resume", "--eval-only", "--weights", "--quiet", "--help"}) {
    EXPECT_THAT(o.out, HasSubstr(std::string(flag) + " ")) << flag;
  }
  EXPECT_THAT(run("siamese_train", {"-h"}).out, HasSubstr("--data"));
}

TEST_F(ProgramsTest, TrainErrorsLeaveTheOutputFolderAlone) {
  const fs::path data = dir_ / "data", out = dir_ / "out", empty = dir_ / "empty";
  write_tiny_data(data);
  fs::create_directories(empty);
  const std::string previous = "the model of an earlier run";
  write(out / "model.npz", previous);
  write(dir_ / "corrupt.npz", "PK\x03\x04 this is no zip archive");
  fs::create_directories(dir_ / "a_folder.npz");
  save_npz((dir_ / "foreign.npz").string(), {{"dense/kernel", Tensor::zeros({2, 2})}});

  // Flags that go with every case unless it replaces them.
  auto with = [&](std::vector<std::string> args) {
    for (const std::string& a : std::vector<std::string>{"--data", data.string(), "--out", out.string(), "--quiet"}) {
      args.push_back(a);
    }
    return args;
  };
  struct Case {
    std::vector<std::string> args;
    std::string what;
  };
  const std::vector<Case> cases = {
      {with({"--bogus"}), "--bogus"},
      {with({"--model", "nope"}), "--model: must be small or seed; got 'nope'"},
      {with({"--image-size", "0x5"}), "--image-size: expected HxW"},
      {with({"--image-size", "abc"}), "--image-size: expected HxW (e.g. 170x170) or N; got 'abc'"},
      {with({"--image-size", "12x"}), "--image-size: expected HxW"},
      {with({"--image-size", "-12"}), "--image-size: expected HxW"},
      {with({"--image-size=+12"}), "--image-size: expected HxW"},
      {with({"--image-size", " 12"}), "--image-size: expected HxW"},
      {with({"--image-size", "2x2"}), "--image-size: 2x2 does not suit --model small"},
      {with({"--channels", "2"}), "--channels: must be 1 or 3; got 2"},
      {with({"--channels", "abc"}), "--channels"},
      {with({"--epochs", "0"}), "--epochs: must be >= 1; got 0"},
      {with({"--epochs", "-3"}), "--epochs"},
      {with({"--batch-size", "1"}), "--batch-size: must be >= 2"},
      {with({"--batch-size", "-1"}), "--batch-size: must be >= 0; got '-1'"},
      {with({"--eval-pairs", "-1"}), "--eval-pairs: must be >= 0; got '-1'"},
      {with({"--steps", "-1"}), "--steps: must be >= 0; got '-1'"},
      {with({"--seed", "-1"}), "--seed"},
      {with({"--threads", "-1"}), "--threads: must be >= 0; got -1"},
      {with({"--margin", "0"}), "--margin"},
      {with({"--positive-margin", "0.5"}), "--positive-margin: must be in [0, --margin) = [0, 0.500000); got 0.500000"},
      {with({"--pairs-per-epoch", "-5"}), "--pairs-per-epoch: must be >= 0; got '-5'"},
      {with({"--val-fraction", "1.5"}), "--val-fraction: must be in (0, 1)"},
      {with({"--learning-rate", "0"}), "--learning-rate"},
      {with({"--loss", "x"}), "--loss: must be contrastive, euclidean or triplet; got 'x'"},
      {with({"--optimizer", "x"}), "--optimizer: must be adam, adamw, sgd or rmsprop; got 'x'"},
      {with({"--split-by", "x"}), "--split-by: must be image or class; got 'x'"},
      {with({"--distance", "x"}), "--distance"},
      {with({"--lr-schedule", "x"}), "--lr-schedule: must be constant or cosine; got 'x'"},
      {with({"--one-shot-episodes", "0"}), "--one-shot-episodes: must be >= 1"},
      {{"--data", (dir_ / "missing").string(), "--out", out.string(), "--quiet"},
       (dir_ / "missing").string() + ": no such folder"},
      {{"--data", empty.string(), "--out", out.string(), "--quiet"}, empty.string() + ": no class subfolders"},
      {with({"--idx-images", "x.idx"}), "--data and --idx-* select different data"},
      {with({"--idx-test-labels", "x.idx"}), "--data and --idx-* select different data"},
      {with({"--eval-only"}), "--eval-only needs --weights"},
      {with({"--weights", (out / "model.npz").string()}), "--weights is only read with --eval-only"},
      {with({"--eval-only", "--weights", (dir_ / "missing.npz").string()}), (dir_ / "missing.npz").string()},
      {with({"--eval-only", "--weights", (dir_ / "corrupt.npz").string()}), (dir_ / "corrupt.npz").string()},
      {with({"--eval-only", "--weights", (dir_ / "a_folder.npz").string()}), (dir_ / "a_folder.npz").string()},
      {with({"--eval-only", "--weights", (dir_ / "foreign.npz").string()}), "not a siamese model file"},
      {with({"--eval-only", "--weights", (out / "model.npz").string()}), (out / "model.npz").string()},
      {with({"--resume"}), (out / "checkpoint.npz").string()},
      {with({"--resume", "--eval-only", "--weights", "x.npz"}), "--resume"},
      {{"--data", data.string(), "--out", "", "--quiet"}, "--out"},
  };
  for (const Case& k : cases) {
    const Outcome o = run("siamese_train", k.args);
    EXPECT_TRUE(fails_with(o, k.what));
    ASSERT_EQ(read_file(out / "model.npz"), previous) << o;
    EXPECT_EQ(files_in(out), std::set<std::string>{"model.npz"}) << o;
  }
}

TEST_F(ProgramsTest, TrainWritesItsFilesAndReports) {
  const fs::path data = dir_ / "data", out = dir_ / "out";
  write_tiny_data(data);
  std::vector<std::string> args = tiny_train_args(data, out);
  const Outcome o = run("siamese_train", args);
  ASSERT_TRUE(succeeds(o));
  for (const char* f : {"model.npz", "checkpoint.npz", "best.npz", "log.csv", "metrics.json"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  EXPECT_THAT(o.out, AllOf(HasSubstr("skipped " + (data / "class1" / "zz_broken.png").string()),
                           HasSubstr("epoch 1/2"), HasSubstr("epoch 2/2"), HasSubstr("test ROC AUC"),
                           HasSubstr("wrote " + (out / "model.npz").string())));
  const std::string metrics = read_file(out / "metrics.json");
  EXPECT_THAT(metrics, AllOf(HasSubstr("\"roc_auc\": "), HasSubstr("zz_broken.png"), HasSubstr("\"image_size\": \"12x12\"")));

  // --resume of the finished run; then with other settings.
  args.push_back("--resume");
  args.push_back("--quiet");
  EXPECT_TRUE(succeeds(run("siamese_train", args)));
  const std::string model = read_file(out / "model.npz");
  args.push_back("--margin");
  args.push_back("2");
  EXPECT_TRUE(fails_with(run("siamese_train", args), "other settings"));
  EXPECT_EQ(read_file(out / "model.npz"), model);

  // --eval-only of the model into another folder.
  const Outcome e = run("siamese_train", {"--data", data.string(), "--val-fraction", "0.34", "--test-fraction", "0.34",
                                          "--eval-pairs", "16", "--one-shot-ways", "2", "--one-shot-episodes", "10",
                                          "--eval-only", "--weights", (out / "model.npz").string(), "--out",
                                          (dir_ / "eval").string()});
  ASSERT_TRUE(succeeds(e));
  EXPECT_THAT(e.out, HasSubstr("test ROC AUC"));
  EXPECT_TRUE(fs::exists(dir_ / "eval" / "metrics.json"));
  EXPECT_FALSE(fs::exists(dir_ / "eval" / "model.npz"));
  EXPECT_EQ(read_file(out / "model.npz"), model);
}

// ---------------------------------------------------------------------------------------
// siamese_compare

TEST_F(ProgramsTest, CompareHelpAndArgumentErrors) {
  const Outcome help = run("siamese_compare", {"--help"});
  ASSERT_TRUE(succeeds(help));
  EXPECT_THAT(help.out, AllOf(HasSubstr("usage: siamese_compare"), HasSubstr("--weights")));
  EXPECT_TRUE(fails_with(run("siamese_compare", {}), "--weights MODEL.npz is required"));
  EXPECT_TRUE(fails_with(run("siamese_compare", {"--weights", "m.npz"}), "expected two images; got 0"));
  EXPECT_TRUE(fails_with(run("siamese_compare", {"--weights", "m.npz", "a.png"}), "expected two images; got 1"));
  EXPECT_TRUE(fails_with(run("siamese_compare", {"--weights", "m.npz", "a", "b", "c"}), "too many positional"));
  EXPECT_TRUE(fails_with(run("siamese_compare", {"--bogus"}), "--bogus"));
  const std::string missing = (dir_ / "missing.npz").string();
  EXPECT_TRUE(fails_with(run("siamese_compare", {"--weights", missing, "a.png", "b.png"}), missing));
  write(dir_ / "garbage.npz", "garbage");
  EXPECT_TRUE(fails_with(run("siamese_compare", {"--weights", (dir_ / "garbage.npz").string(), "a.png", "b.png"}),
                         (dir_ / "garbage.npz").string()));
  fs::create_directories(dir_ / "folder.npz");
  EXPECT_TRUE(fails_with(run("siamese_compare", {"--weights", (dir_ / "folder.npz").string(), "a.png", "b.png"}),
                         (dir_ / "folder.npz").string()));
}

TEST_F(ProgramsTest, CompareTwoImages) {
  const std::string model = trained_model().string();
  const fs::path data = process_dir() / "data";
  const std::string a0 = (data / "class0" / "img0.pgm").string(), a1 = (data / "class0" / "img1.ppm").string(),
                    b0 = (data / "class1" / "img0.pgm").string();
  const std::regex line(R"(^distance (\S+)  threshold (\S+)  (same|different)\n$)");
  for (const auto& [x, y] : std::vector<std::pair<std::string, std::string>>{{a0, a0}, {a0, a1}, {a0, b0}}) {
    const Outcome o = run("siamese_compare", {"--weights", model, x, y});
    ASSERT_TRUE(succeeds(o));
    std::smatch m;
    ASSERT_TRUE(std::regex_match(o.out, m, line)) << o;
    const double distance = std::stod(m[1]), threshold = std::stod(m[2]);
    EXPECT_GE(distance, 0);
    EXPECT_EQ(m[3] == "same", distance <= threshold) << o;
    if (x == y) {
      EXPECT_LT(distance, 1e-3) << o;
    }
  }

  // Image errors name the file.
  const std::string missing = (dir_ / "missing.png").string();
  EXPECT_TRUE(fails_with(run("siamese_compare", {"--weights", model, a0, missing}), missing));
  write(dir_ / "corrupt.png", "not an image at all");
  EXPECT_TRUE(fails_with(run("siamese_compare", {"--weights", model, (dir_ / "corrupt.png").string(), a0}),
                         (dir_ / "corrupt.png").string() + ": not a JPEG, PNG, PGM or PPM image"));
  write(dir_ / "truncated.pgm", "P5\n12 12\n255\nabc");
  EXPECT_TRUE(fails_with(run("siamese_compare", {"--weights", model, a0, (dir_ / "truncated.pgm").string()}),
                         (dir_ / "truncated.pgm").string()));
}

// ---------------------------------------------------------------------------------------
// siamese_embed

TEST_F(ProgramsTest, EmbedWritesNpyAndCsv) {
  const std::string model = trained_model().string();
  const fs::path data = process_dir() / "data";
  const fs::path out = dir_ / "emb.npy";
  const Outcome o = run("siamese_embed", {"--weights", model, "--images", data.string(), "--out", out.string(),
                                          "--batch-size", "5"});
  ASSERT_TRUE(succeeds(o));
  // The broken file is reported and skipped; the .txt and the hidden file are not images.
  EXPECT_THAT(o.err, HasSubstr("skipped " + (data / "class1" / "zz_broken.png").string()));
  EXPECT_THAT(o.out, HasSubstr("wrote 24 embeddings of size 64"));
  const Tensor e = load_npy(out.string());
  ASSERT_EQ(e.shape(), (Shape{24, 64}));
  for (std::size_t i = 0; i < e.size(); ++i) ASSERT_TRUE(std::isfinite(static_cast<double>(e.flat(i))));
  std::vector<std::string> lines;
  std::istringstream csv(read_file(dir_ / "emb.csv"));
  for (std::string l; std::getline(csv, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 25u);
  EXPECT_EQ(lines[0], "index,path");
  EXPECT_EQ(lines[1], "0," + (data / "class0" / "img0.pgm").string());
  EXPECT_EQ(lines[24], "23," + (data / "class3" / "img5.ppm").string());
  for (const std::string& l : lines) EXPECT_THAT(l, Not(HasSubstr("hidden")));

  // The embedding does not depend on the batch size.
  const Outcome one = run("siamese_embed", {"--weights", model, "--images", data.string(), "--out",
                                            (dir_ / "one.npy").string(), "--batch-size", "1"});
  ASSERT_TRUE(succeeds(one));
  const Tensor e1 = load_npy((dir_ / "one.npy").string());
  ASSERT_EQ(e1.shape(), e.shape());
  for (std::size_t i = 0; i < e.size(); ++i) {
    ASSERT_NEAR(static_cast<double>(e1.flat(i)), static_cast<double>(e.flat(i)),
                1e-4 * (1 + std::abs(static_cast<double>(e.flat(i)))));
  }
}

TEST_F(ProgramsTest, EmbedErrors) {
  const Outcome help = run("siamese_embed", {"--help"});
  ASSERT_TRUE(succeeds(help));
  EXPECT_THAT(help.out, AllOf(HasSubstr("--weights"), HasSubstr("--images"), HasSubstr("--out")));
  EXPECT_TRUE(fails_with(run("siamese_embed", {}), "--weights MODEL.npz is required"));
  EXPECT_TRUE(fails_with(run("siamese_embed", {"--weights", "m.npz"}), "--images DIR is required"));
  EXPECT_TRUE(fails_with(run("siamese_embed", {"--weights", "m.npz", "--images", "d", "--batch-size", "0"}),
                         "--batch-size"));
  const std::string missing_model = (dir_ / "missing.npz").string();
  EXPECT_TRUE(fails_with(run("siamese_embed", {"--weights", missing_model, "--images", dir_.string()}), missing_model));

  const std::string model = trained_model().string();
  const fs::path out = dir_ / "out.npy";
  write(out, "previous");
  const std::string missing = (dir_ / "missing").string();
  EXPECT_TRUE(fails_with(run("siamese_embed", {"--weights", model, "--images", missing, "--out", out.string()}),
                         missing + ": no such folder"));
  fs::create_directories(dir_ / "empty" / "sub");
  write(dir_ / "empty" / "notes.txt", "x");
  EXPECT_TRUE(fails_with(run("siamese_embed", {"--weights", model, "--images", (dir_ / "empty").string(), "--out",
                                               out.string()}),
                         (dir_ / "empty").string() + ": no image files"));
  write(dir_ / "broken" / "x.png", "text");
  EXPECT_TRUE(fails_with(run("siamese_embed", {"--weights", model, "--images", (dir_ / "broken").string(), "--out",
                                               out.string()}),
                         "none of the 1 image files could be decoded"));
  const fs::path csv_out = dir_ / "embeddings.csv";
  write(csv_out, "previous");
  EXPECT_TRUE(fails_with(run("siamese_embed", {"--weights", model, "--images", (process_dir() / "data").string(),
                                               "--out", csv_out.string()}),
                         "--out must not end in .csv"));
  EXPECT_EQ(read_file(csv_out), "previous");
  EXPECT_EQ(read_file(out), "previous");
  EXPECT_FALSE(fs::exists(dir_ / "out.csv"));
}

// ---------------------------------------------------------------------------------------
// fashion_mnist_classifier

TEST_F(ProgramsTest, FashionMnistClassifierHelpAndErrors) {
  const Outcome help = run("fashion_mnist_classifier", {"--help"});
  ASSERT_TRUE(succeeds(help));
  for (const char* flag : {"--data", "--epochs", "--batch-size", "--learning-rate", "--seed", "--threads", "--out"}) {
    EXPECT_THAT(help.out, HasSubstr(flag));
  }
  EXPECT_TRUE(fails_with(run("fashion_mnist_classifier", {"--epochs", "0"}), "--epochs"));
  EXPECT_TRUE(fails_with(run("fashion_mnist_classifier", {"--bogus"}), "--bogus"));
  const std::string missing = (dir_ / "missing").string();
  EXPECT_TRUE(fails_with(run("fashion_mnist_classifier", {"--data", missing, "--out", (dir_ / "w.npz").string()}),
                         missing));
}

}  // namespace
}  // namespace xgrad
