// Tests of layers/weights.h: save_weights / load_weights round trips (trainable and
// non-trainable variables), the file's names as numpy sees them, files written by numpy.savez,
// mismatch reports and the all-or-nothing load, optimizer state that resumes training
// bit-exactly, and I/O errors (unbuilt model, bad files, missing directory, overwriting).
//
// On disk every array is float32, so in the double build (-DXGRAD_DOUBLE=ON) a loaded value is
// the float32 rounding of the saved one: the expectations go through stored(), which is the
// identity in the float build.

#include "layers/weights.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/numpy_script.h"
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "autograd/gradient_tape.h"
#include "autograd/npz.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/softmax.h"
#include "autograd/optim/adam.h"
#include "layers/layers.h"
#include "tests/layers/layer_gradcheck.h"
#include "tests/support/expect.h"
#include "tests/support/random.h"
#include "tests/support/temp_dir.h"

namespace xgrad::layers {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::names;
using ::testing::Not;
using xgrad::testing::error_message;
using Layers = std::vector<std::shared_ptr<Layer>>;

// ---------------------------------------------------------------------------------------------
// Helpers

using xgrad::testing::read_bytes;
using xgrad::testing::TempDir;
using xgrad::testing::write_bytes;

// The value a saved tensor loads back as: float32 on disk (the identity in the float build).
Tensor stored(const Tensor& t) {
  std::vector<real> v = t.to_vector();
  for (real& x : v) x = static_cast<real>(static_cast<float>(x));
  return Tensor::from_vector(t.shape(), std::move(v));
}

NamedTensors stored(const NamedTensors& arrays) {
  NamedTensors out;
  for (const auto& [name, t] : arrays) out.emplace_back(name, stored(t));
  return out;
}

// A deep copy of every variable of `model`, by name.
NamedTensors snapshot(const Layer& model) {
  NamedTensors out;
  for (const Variable& v : model.variables()) {
    out.emplace_back(v.name(), Tensor::from_vector(v.shape(), v.peek().to_vector()));
  }
  return out;
}

::testing::AssertionResult same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    return ::testing::AssertionFailure()
           << "shape " << shape_to_string(a.shape()) << " vs " << shape_to_string(b.shape());
  }
  if (a.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(real)) != 0) {
    return ::testing::AssertionFailure() << "values differ: " << a << " vs " << b;
  }
  return ::testing::AssertionSuccess();
}

// Same names in the same order, same shapes, values identical bit for bit.
::testing::AssertionResult same_arrays(const NamedTensors& a, const NamedTensors& b) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure() << a.size() << " arrays vs " << b.size();
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first) {
      return ::testing::AssertionFailure() << "'" << a[i].first << "' vs '" << b[i].first << "'";
    }
    if (auto r = same_bits(a[i].second, b[i].second); !r) return r << " in '" << a[i].first << "'";
  }
  return ::testing::AssertionSuccess();
}

// Whether some variable of `a` differs from the one of the same position in `b`.
bool any_differs(const NamedTensors& a, const NamedTensors& b) {
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (!same_bits(a[i].second, b[i].second)) return true;
  }
  return a.size() != b.size();
}

// The test model: every kind of weight a file must hold — a Conv2D kernel, Dense kernels and
// biases, and BatchNormalization's trainable gamma/beta and non-trainable moving statistics —
// and weightless layers in between. Input [N, 8, 8, 1] → [N, 3].
std::shared_ptr<Sequential> make_model(std::uint64_t seed) {
  set_random_seed(seed);
  return std::make_shared<Sequential>(
      Layers{
          std::make_shared<Conv2D>(4, std::array{3, 3}, Conv2DLayerOptions{.activation = "relu"}),
          std::make_shared<MaxPooling2D>(), std::make_shared<Flatten>(), std::make_shared<Dense>(8),
          std::make_shared<BatchNormalization>(), std::make_shared<Dense>(3)},
      "tower");
}

const Shape kInput{4, 8, 8, 1};
const std::vector<std::int64_t> kLabels{0, 2, 1, 2};

// The batch of training step `step`.
Tensor batch(int step) { return xgrad::testing::uniform(kInput, -1, 1, 100 + step); }

// One training step: forward in training mode (BatchNormalization updates its moving
// statistics), mean sparse softmax cross-entropy, gradients of the trainable variables, update.
// The variables are listed after the forward pass, which builds the model on the first step.
void train_step(Layer& model, optim::Optimizer& optimizer, int step) {
  std::vector<Variable> vars;
  std::vector<Tensor> grads;
  {
    GradientTape tape;
    const Tensor loss = mean(sparse_softmax_cross_entropy(kLabels, model(batch(step), true)));
    vars = model.trainable_variables();
    grads = tape.gradient(loss, vars);
  }
  const std::int64_t before = optimizer.iterations();
  optimizer.apply_gradients(grads, vars);
  ASSERT_EQ(optimizer.iterations(), before + 1);
}

// IEEE CRC-32 (zlib.crc32), to compare array contents with what numpy reads.
std::uint32_t crc32_of(const std::string& s) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (char ch : s) {
    c ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

// "name|<f4|d0,d1|crc32 of the float32 little-endian bytes", as the python below prints it.
std::string describe(const std::string& name, const Tensor& t) {
  std::string shape, bytes;
  for (std::size_t i = 0; i < t.rank(); ++i) {
    if (i) shape += ',';
    shape += std::to_string(t.shape()[i]);
  }
  for (real v : t.to_vector()) {
    const auto bits = std::bit_cast<std::uint32_t>(static_cast<float>(v));
    for (int i = 0; i < 4; ++i) bytes += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }
  return name + "|<f4|" + shape + "|" + std::to_string(crc32_of(bytes)) + "\n";
}

// A python tuple literal: (3, 3, 1, 4) or (8,).
std::string py_shape(const Shape& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + (s.size() == 1 ? ",)" : ")");
}

// Runs `body` with numpy imported as np and `d` the test directory. The python3 first on PATH
// may lack numpy; Debian's /usr/bin/python3 has it when python3-numpy is installed (as in
// tests/autograd/npz_test.cpp).
using xgrad::testing::PythonRun;
PythonRun run_numpy_script(const TempDir& dir, const std::string& body) {
  return xgrad::testing::run_numpy_script(dir.path().string(), body);
}

constexpr const char* kNoNumpy = "no python3 with numpy (apt-get install python3-numpy)";

// ---------------------------------------------------------------------------------------------
// Round trip

TEST(Weights, RoundTripRestoresEveryVariableAndTheOutputs) {
  TempDir dir;
  const std::string path = dir.file("w.npz");
  auto a = make_model(1);
  optim::Adam adam;
  train_step(*a, adam, 0);  // builds the model and moves every variable off its initial value
  save_weights(path, *a);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"w.npz"});

  auto b = make_model(2);
  (*b)(batch(0));  // build (inference: no variable changes)
  ASSERT_EQ(names(b->variables()), names(a->variables()));
  // Non-vacuous: every variable differs before the load, by the seed or by a's training step
  // (which also moved the non-trainable moving statistics).
  const NamedTensors b_before = snapshot(*b), a_now = snapshot(*a);
  for (std::size_t i = 0; i < a_now.size(); ++i) {
    EXPECT_FALSE(same_bits(a_now[i].second, b_before[i].second)) << a_now[i].first;
  }

  load_weights(path, *b);
  const NamedTensors expected = stored(snapshot(*a));
  EXPECT_TRUE(same_arrays(snapshot(*b), expected));
  EXPECT_EQ(b->variables().size(), 10u);
  EXPECT_EQ(b->non_trainable_variables().size(), 2u);

  // Identical outputs: in the double build against the original with float32-rounded weights.
  for (Variable v : a->variables()) v.assign(stored(v.peek()));
  const Tensor x = xgrad::testing::uniform({5, 8, 8, 1}, -1, 1, 9);
  EXPECT_TRUE(same_bits((*b)(x), (*a)(x)));
  EXPECT_TRUE(same_bits((*b)(x, true), (*a)(x, true)));  // batch statistics path too
}

// ---------------------------------------------------------------------------------------------
// The file as numpy sees it

TEST(Weights, NumpyReadsTheVariablePathsAsFloat32) {
  TempDir dir;
  auto model = make_model(3);
  optim::Adam adam;
  train_step(*model, adam, 0);
  save_weights(dir.file("weights.npz"), *model);
  save_weights(dir.file("with_optimizer.npz"), *model, &adam);

  EXPECT_THAT(names(model->variables()),
              ElementsAre("tower/conv2d/kernel", "tower/conv2d/bias", "tower/dense/kernel",
                          "tower/dense/bias", "tower/batch_normalization/gamma",
                          "tower/batch_normalization/beta", "tower/batch_normalization/moving_mean",
                          "tower/batch_normalization/moving_variance", "tower/dense_1/kernel",
                          "tower/dense_1/bias"));
  const PythonRun run = run_numpy_script(dir, R"(
for f in ('weights.npz', 'with_optimizer.npz'):
    print('file', f)
    with np.load(d + '/' + f, allow_pickle=False) as z:
        for k in z.files:
            a = z[k]
            print('%s|%s|%s|%d' % (k, a.dtype.str, ','.join(map(str, a.shape)),
                                   zlib.crc32(np.ascontiguousarray(a).tobytes())))
)");
  if (!run.found) GTEST_SKIP() << kNoNumpy;
  ASSERT_EQ(run.status, 0) << run.output;

  std::string weights;
  for (const Variable& v : model->variables()) weights += describe(v.name(), v.peek());
  std::string state;
  for (const auto& [name, t] : adam.state(model->trainable_variables())) {
    state += describe(kOptimizerPrefix + name, t);
  }
  EXPECT_THAT(state, HasSubstr("optimizer/iterations|<f4|2|"));
  EXPECT_THAT(state, HasSubstr("optimizer/tower/conv2d/kernel/m|<f4|3,3,1,4|"));
  EXPECT_THAT(state, HasSubstr("optimizer/tower/dense_1/bias/v|<f4|3|"));
  EXPECT_EQ(run.output,
            "file weights.npz\n" + weights + "file with_optimizer.npz\n" + weights + state);
}

// Values numpy.savez writes below: arange(n) * 0.001 - 0.5 + i for the i-th variable, in double.
double numpy_value(std::size_t k, std::size_t i) {
  // numpy rounds the product before subtracting; with -march=native GCC would otherwise fuse
  // k * 0.001 - 0.5 into one FMA (-ffp-contract=fast) and differ in the last bit.
  const volatile double product = static_cast<double>(k) * 0.001;
  return product - 0.5 + static_cast<double>(i);
}

TEST(Weights, LoadsFilesWrittenByNumpySavez) {
  TempDir dir;
  auto model = make_model(4);
  (*model)(batch(0));
  std::string spec = "spec = [\n";
  for (const Variable& v : model->variables()) {
    spec += "    ('" + v.name() + "', " + py_shape(v.shape()) + "),\n";
  }
  spec += "]\n";
  const PythonRun run = run_numpy_script(dir, spec + R"(
def values(shape, i):
    return (np.arange(int(np.prod(shape))) * 0.001 - 0.5 + i).reshape(shape)
f64 = {name: values(shape, i) for i, (name, shape) in enumerate(spec)}
np.savez(d + '/f32.npz', **{k: a.astype(np.float32) for k, a in f64.items()})
np.savez(d + '/f64.npz', **dict(reversed(list(f64.items()))))  # any order
ints = {k: a.astype(np.float32) for k, a in f64.items()}
ints['tower/dense/bias'] = np.arange(8, dtype=np.int64)
np.savez(d + '/int64.npz', **ints)
print('ok')
)");
  if (!run.found) GTEST_SKIP() << kNoNumpy;
  ASSERT_EQ(run.status, 0) << run.output;
  ASSERT_EQ(run.output, "ok\n");

  // What each file must load as: float32 values rounded once, float64 values rounded to real.
  NamedTensors from_f32, from_f64;
  const std::vector<Variable> vars = model->variables();
  for (std::size_t i = 0; i < vars.size(); ++i) {
    std::vector<real> v32(vars[i].size()), v64(vars[i].size());
    for (std::size_t k = 0; k < v32.size(); ++k) {
      v32[k] = static_cast<real>(static_cast<float>(numpy_value(k, i)));
      v64[k] = static_cast<real>(numpy_value(k, i));
    }
    from_f32.emplace_back(vars[i].name(), Tensor::from_vector(vars[i].shape(), v32));
    from_f64.emplace_back(vars[i].name(), Tensor::from_vector(vars[i].shape(), v64));
  }
  load_weights(dir.file("f32.npz"), *model);
  EXPECT_TRUE(same_arrays(snapshot(*model), from_f32));
  load_weights(dir.file("f64.npz"), *model);
  EXPECT_TRUE(same_arrays(snapshot(*model), from_f64));

  // An integer array for a weight: an error naming the variable and the dtype; nothing loaded.
  const std::string path = dir.file("int64.npz");
  const std::string msg = error_message<std::runtime_error>([&] { load_weights(path, *model); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("'tower/dense/bias'"));
  EXPECT_THAT(msg, HasSubstr("has dtype int64; expected float32 or float64"));
  EXPECT_THAT(msg, Not(HasSubstr("tower/dense/kernel")));  // the others are fine
  EXPECT_TRUE(same_arrays(snapshot(*model), from_f64));
}

// ---------------------------------------------------------------------------------------------
// Mismatches: one error listing everything, and nothing changed

TEST(Weights, MismatchesAreListedInOneErrorAndChangeNothing) {
  TempDir dir;
  const std::string path = dir.file("bad.npz");
  auto model = make_model(5);
  (*model)(batch(0));
  const NamedTensors before = snapshot(*model);

  // Every entry but three is a valid replacement (ones), so a partial load would show.
  NamedTensors arrays;
  for (const auto& [name, t] : before) {
    if (name == "tower/dense/bias") continue;  // missing
    if (name == "tower/conv2d/kernel") {
      arrays.emplace_back(name, Tensor::ones({3, 3, 1, 5}));  // wrong shape
    } else {
      arrays.emplace_back(name, Tensor::ones(t.shape()));
    }
  }
  arrays.emplace_back("tower/extra/kernel", Tensor::ones({2, 7}));  // unexpected
  save_npz(path, arrays);

  optim::Adam adam;
  for (optim::Adam* optimizer : {static_cast<optim::Adam*>(nullptr), &adam}) {
    const std::string msg =
        error_message<std::runtime_error>([&] { load_weights(path, *model, optimizer); });
    EXPECT_THAT(msg, HasSubstr(path));
    EXPECT_THAT(msg, HasSubstr("'tower/dense/bias' [8]"));
    EXPECT_THAT(msg, HasSubstr("'tower/conv2d/kernel'"));
    EXPECT_THAT(msg, HasSubstr("[3, 3, 1, 5]"));
    EXPECT_THAT(msg, HasSubstr("[3, 3, 1, 4]"));
    EXPECT_THAT(msg, HasSubstr("'tower/extra/kernel' [2, 7]"));
    if (optimizer) {
      EXPECT_THAT(msg, HasSubstr("no optimizer state"));
    }
    EXPECT_TRUE(same_arrays(snapshot(*model), before));
  }
  EXPECT_EQ(adam.iterations(), 0);

  // Each problem alone is also an error that changes nothing.
  for (const char* only : {"missing", "shape", "extra"}) {
    NamedTensors one;
    for (const auto& [name, t] : before) {
      if (std::string(only) == "missing" && name == "tower/dense_1/bias") continue;
      one.emplace_back(name, std::string(only) == "shape" && name == "tower/dense_1/kernel"
                                 ? Tensor::ones({3, 8})
                                 : Tensor::ones(t.shape()));
    }
    if (std::string(only) == "extra") one.emplace_back("tower/dense_2/bias", Tensor::ones({3}));
    save_npz(path, one);
    const std::string msg = error_message<std::runtime_error>([&] { load_weights(path, *model); });
    EXPECT_THAT(msg,
                HasSubstr(std::string(only) == "extra" ? "tower/dense_2/bias" : "tower/dense_1/"))
        << only;
    EXPECT_TRUE(same_arrays(snapshot(*model), before)) << only;
  }
}

// ---------------------------------------------------------------------------------------------
// Optimizer state

// An uninterrupted 5-step run equals 3 steps, save, load into a fresh model and a fresh Adam,
// and 2 more steps, bit for bit. In the double build the file rounds the state to float32 after
// step 3, so the reference run rounds it there too (with the optimizer's own state API).
TEST(Weights, OptimizerStateResumesTrainingBitExactly) {
  TempDir dir;
  const std::string path = dir.file("checkpoint.npz");
  constexpr bool kRoundsOnSave = !std::is_same_v<real, float>;

  auto reference = make_model(6);
  optim::Adam reference_adam;
  for (int step = 0; step < 5; ++step) {
    if (step == 3 && kRoundsOnSave) {
      for (Variable v : reference->variables()) v.assign(stored(v.peek()));
      const std::vector<Variable> vars = reference->trainable_variables();
      reference_adam.load_state(stored(reference_adam.state(vars)), vars);
    }
    train_step(*reference, reference_adam, step);
  }

  auto first = make_model(6);
  optim::Adam first_adam;
  for (int step = 0; step < 3; ++step) train_step(*first, first_adam, step);
  save_weights(path, *first, &first_adam);

  auto resumed = make_model(7);
  (*resumed)(batch(0));
  optim::Adam resumed_adam;
  load_weights(path, *resumed, &resumed_adam);
  EXPECT_EQ(resumed_adam.iterations(), 3);
  for (int step = 3; step < 5; ++step) train_step(*resumed, resumed_adam, step);
  EXPECT_TRUE(same_arrays(snapshot(*resumed), snapshot(*reference)));

  // Non-vacuous: the weights alone with a fresh Adam (bias correction restarting at step 1, zero
  // moments) continue differently.
  auto weights_only = make_model(7);
  (*weights_only)(batch(0));
  optim::Adam fresh_adam;
  load_weights(path, *weights_only);  // optimizer entries ignored without an optimizer
  for (int step = 3; step < 5; ++step) train_step(*weights_only, fresh_adam, step);
  EXPECT_TRUE(any_differs(snapshot(*weights_only), snapshot(*reference)));
}

TEST(Weights, OptimizerArgumentNeedsOptimizerStateInTheFile) {
  TempDir dir;
  auto model = make_model(8);
  optim::Adam adam;
  train_step(*model, adam, 0);
  const std::string weights_path = dir.file("weights.npz");
  const std::string state_path = dir.file("with_state.npz");
  save_weights(weights_path, *model);
  save_weights(state_path, *model, &adam);

  auto other = make_model(9);
  (*other)(batch(0));
  const NamedTensors before = snapshot(*other);

  // A weights-only file with an optimizer: a clear error, and nothing loaded.
  optim::Adam fresh;
  std::string msg =
      error_message<std::runtime_error>([&] { load_weights(weights_path, *other, &fresh); });
  EXPECT_THAT(msg, HasSubstr(weights_path));
  EXPECT_THAT(msg, HasSubstr("no optimizer state"));
  EXPECT_TRUE(same_arrays(snapshot(*other), before));
  EXPECT_EQ(fresh.iterations(), 0);

  // State for another optimizer configuration (amsgrad also has "vhat"): the optimizer's error,
  // and neither the model nor the optimizer changed.
  optim::Adam amsgrad({.amsgrad = true});
  msg = error_message<std::runtime_error>([&] { load_weights(state_path, *other, &amsgrad); });
  EXPECT_THAT(msg, HasSubstr(state_path));
  EXPECT_THAT(msg, HasSubstr("optimizer state"));
  EXPECT_THAT(msg, HasSubstr("'tower/conv2d/kernel/vhat'"));
  EXPECT_TRUE(same_arrays(snapshot(*other), before));
  EXPECT_EQ(amsgrad.iterations(), 0);

  // Valid optimizer state but a model mismatch: the optimizer is not touched either.
  NamedTensors tampered = load_npz(state_path);
  for (auto& [name, t] : tampered) {
    if (name == "tower/dense/bias") t = Tensor::ones({9});
  }
  const std::string tampered_path = dir.file("tampered.npz");
  save_npz(tampered_path, tampered);
  msg = error_message<std::runtime_error>([&] { load_weights(tampered_path, *other, &fresh); });
  EXPECT_THAT(msg, HasSubstr("'tower/dense/bias' has shape [9] in the file, [8] in the model"));
  EXPECT_TRUE(same_arrays(snapshot(*other), before));
  EXPECT_EQ(fresh.iterations(), 0);

  // A file with optimizer state, loaded without an optimizer: the weights, entries ignored.
  load_weights(state_path, *other);
  EXPECT_TRUE(same_arrays(snapshot(*other), stored(snapshot(*model))));
  // And with one: the state too.
  load_weights(state_path, *other, &fresh);
  EXPECT_EQ(fresh.iterations(), 1);
  EXPECT_TRUE(same_bits(fresh.slot(other->trainable_variables()[0], "v"),
                        stored(adam.slot(model->trainable_variables()[0], "v"))));
}

// ---------------------------------------------------------------------------------------------
// Errors: misuse and I/O

TEST(Weights, UnbuiltModelIsALogicError) {
  TempDir dir;
  auto model = make_model(10);
  const std::string path = dir.file("w.npz");
  EXPECT_THAT(error_message<std::logic_error>([&] { save_weights(path, *model); }),
              HasSubstr("not built"));
  EXPECT_TRUE(dir.list().empty());

  auto built = make_model(10);
  (*built)(batch(0));
  save_weights(path, *built);
  EXPECT_THAT(error_message<std::logic_error>([&] { load_weights(path, *model); }),
              HasSubstr("not built"));
  EXPECT_FALSE(model->built());
}

TEST(Weights, UnreadableFilesNameThePathAndChangeNothing) {
  TempDir dir;
  auto model = make_model(11);
  (*model)(batch(0));
  const NamedTensors before = snapshot(*model);
  const std::string good = dir.file("good.npz");
  {
    auto other = make_model(12);
    (*other)(batch(0));
    save_weights(good, *other);
  }
  const std::string bytes = read_bytes(good);
  const std::string truncated = dir.file("truncated.npz");
  write_bytes(truncated, bytes.substr(0, bytes.size() / 2));
  const std::string garbage = dir.file("garbage.npz");
  write_bytes(garbage, "this is not a zip archive, just some text that happens to be here\n");
  const std::string missing = dir.file("missing.npz");
  const std::string empty = dir.file("empty.npz");
  write_bytes(empty, "");

  for (const std::string& path : {truncated, garbage, missing, empty}) {
    EXPECT_THAT(error_message<std::runtime_error>([&] { load_weights(path, *model); }),
                HasSubstr(path));
    EXPECT_TRUE(same_arrays(snapshot(*model), before)) << path;
  }
}

TEST(Weights, SavingToAMissingDirectoryFailsAndWritesNothing) {
  TempDir dir;
  auto model = make_model(13);
  (*model)(batch(0));
  const std::string path = dir.file("missing/w.npz");
  EXPECT_THAT(error_message<std::runtime_error>([&] { save_weights(path, *model); }),
              HasSubstr(path));
  optim::Adam adam;
  EXPECT_THAT(error_message<std::runtime_error>([&] { save_weights(path, *model, &adam); }),
              HasSubstr(path));
  EXPECT_TRUE(dir.list().empty());
}

TEST(Weights, SavingOverAFileReplacesItAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("w.npz");
  write_bytes(path, "an older file of another kind");
  auto a = make_model(14);
  (*a)(batch(0));
  save_weights(path, *a);
  auto b = make_model(15);
  (*b)(batch(0));
  ASSERT_TRUE(any_differs(snapshot(*a), snapshot(*b)));
  save_weights(path, *b);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"w.npz"});

  auto c = make_model(16);
  (*c)(batch(0));
  load_weights(path, *c);
  EXPECT_TRUE(same_arrays(snapshot(*c), stored(snapshot(*b))));
}

}  // namespace
}  // namespace xgrad::layers
