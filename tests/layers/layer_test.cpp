// Layer base: Keras names (to_snake_case, defaults, uniqueness among siblings, paths),
// variable tracking (trainable / non-trainable, count_params), a custom subclassed layer with
// sublayers and its own weight, and a self-test of the shared layer gradient check.

#include "layers/layer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>

#include "autograd/custom_gradient.h"
#include "autograd/gradient_tape.h"
#include "autograd/ops/reduce.h"
#include "layers/layers.h"
#include "tests/layers/layer_gradcheck.h"
#include "tests/support/random.h"

namespace xgrad::layers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::names;

TEST(LayerNames, ToSnakeCaseIsKeras) {
  EXPECT_EQ(to_snake_case("Dense"), "dense");
  EXPECT_EQ(to_snake_case("Conv2D"), "conv2d");
  EXPECT_EQ(to_snake_case("MaxPooling2D"), "max_pooling2d");
  EXPECT_EQ(to_snake_case("AveragePooling2D"), "average_pooling2d");
  EXPECT_EQ(to_snake_case("BatchNormalization"), "batch_normalization");
  EXPECT_EQ(to_snake_case("Sequential"), "sequential");
  // Keras's generic_utils.to_snake_case on acronyms and words after digits:
  EXPECT_EQ(to_snake_case("Conv2DTranspose"), "conv2d_transpose");
  EXPECT_EQ(to_snake_case("HTTPServer"), "http_server");
  EXPECT_EQ(to_snake_case("ReLU"), "re_lu");
  EXPECT_EQ(to_snake_case("PReLU"), "p_re_lu");
  EXPECT_EQ(to_snake_case("GlobalAveragePooling2D"), "global_average_pooling2d");
  EXPECT_EQ(to_snake_case("already_snake"), "already_snake");
  EXPECT_EQ(to_snake_case(""), "");
}

TEST(LayerNames, DefaultNamesComeFromTheClassName) {
  EXPECT_EQ(Dense(1).name(), "dense");
  EXPECT_EQ(Conv2D(1, {1, 1}).name(), "conv2d");
  EXPECT_EQ(MaxPooling2D().name(), "max_pooling2d");
  EXPECT_EQ(AveragePooling2D().name(), "average_pooling2d");
  EXPECT_EQ(BatchNormalization().name(), "batch_normalization");
  EXPECT_EQ(Flatten().name(), "flatten");
  EXPECT_EQ(Dropout(0.5).name(), "dropout");
  EXPECT_EQ(Activation("relu").name(), "activation");
  EXPECT_EQ(Sequential().name(), "sequential");
  EXPECT_EQ(Dense(1, DenseOptions{.name = "logits"}).name(), "logits");
}

// The example: two Dense in a Sequential named "tower".
TEST(LayerNames, SiblingsGetUniqueNamesAndVariablesTheirPaths) {
  auto first = std::make_shared<Dense>(4);
  auto second = std::make_shared<Dense>(2);
  Sequential tower({first, second}, "tower");
  EXPECT_EQ(first->name(), "dense");
  EXPECT_EQ(second->name(), "dense_1");
  EXPECT_EQ(second->path(), "tower/dense_1");
  tower(Tensor::ones({1, 3}));
  EXPECT_THAT(names(tower.variables()), ElementsAre("tower/dense/kernel", "tower/dense/bias",
                                                    "tower/dense_1/kernel", "tower/dense_1/bias"));
  EXPECT_EQ(first->kernel().name(), "tower/dense/kernel");
  EXPECT_EQ(second->kernel().name(), "tower/dense_1/kernel");
}

TEST(LayerNames, ExplicitNamesAreKeptAndDeduplicated) {
  Sequential model({std::make_shared<Dense>(2, DenseOptions{.name = "embed"}),
                    std::make_shared<Dense>(2, DenseOptions{.name = "embed"}),
                    std::make_shared<Dense>(2), std::make_shared<Dense>(2)});
  std::vector<std::string> layer_names;
  for (const auto& l : model.layers()) layer_names.push_back(l->name());
  EXPECT_THAT(layer_names, ElementsAre("embed", "embed_1", "dense", "dense_1"));
}

// Uniqueness is among siblings: two models each have their own "dense".
TEST(LayerNames, NamesAreUniquePerParentOnly) {
  Sequential a({std::make_shared<Dense>(1)}, "a");
  Sequential b({std::make_shared<Dense>(1)}, "b");
  a(Tensor::ones({1, 2}));
  b(Tensor::ones({1, 2}));
  EXPECT_EQ(a.variables()[0].name(), "a/dense/kernel");
  EXPECT_EQ(b.variables()[0].name(), "b/dense/kernel");
}

TEST(LayerState, BuiltLazilyOnTheFirstCall) {
  Dense dense(3);
  EXPECT_FALSE(dense.built());
  EXPECT_TRUE(dense.variables().empty());
  EXPECT_EQ(dense.count_params(), 0u);
  dense(Tensor::ones({2, 4}));
  EXPECT_TRUE(dense.built());
  EXPECT_EQ(dense.build_input_shape(), (Shape{2, 4}));
  EXPECT_EQ(dense.output_shape(), (Shape{2, 3}));
  dense(Tensor::ones({5, 4}));
  EXPECT_EQ(dense.build_input_shape(), (Shape{2, 4}));  // as in the first call
  EXPECT_EQ(dense.output_shape(), (Shape{5, 3}));       // of the latest call
}

TEST(LayerState, TrainableAndNonTrainableVariables) {
  Sequential model({std::make_shared<Dense>(3), std::make_shared<BatchNormalization>()});
  model(Tensor::ones({4, 2}));
  EXPECT_THAT(
      names(model.trainable_variables()),
      ElementsAre("sequential/dense/kernel", "sequential/dense/bias",
                  "sequential/batch_normalization/gamma", "sequential/batch_normalization/beta"));
  EXPECT_THAT(names(model.non_trainable_variables()),
              ElementsAre("sequential/batch_normalization/moving_mean",
                          "sequential/batch_normalization/moving_variance"));
  for (const Variable& v : model.trainable_variables()) EXPECT_TRUE(v.trainable());
  for (const Variable& v : model.non_trainable_variables()) EXPECT_FALSE(v.trainable());
  EXPECT_EQ(model.variables().size(), 6u);
  // 2·3 + 3 (dense) + 4·3 (batch norm, moving statistics included).
  EXPECT_EQ(model.count_params(), 6u + 3u + 12u);
}

// A custom layer: two Dense sublayers added with add_layer, its own weight from add_weight,
// and a call composed of ops that uses one sublayer twice (its gradients must add up).
class GatedBlock : public Layer {
 public:
  GatedBlock() {
    value_ = add_layer(std::make_shared<Dense>(3, "tanh"));
    gate_ = add_layer(std::make_shared<Dense>(
        3, DenseOptions{.activation = "sigmoid", .bias_initializer = constant(real(0.2))}));
  }
  std::string class_name() const override { return "GatedBlock"; }

 protected:
  void build(const Shape&) override { scale_ = add_weight("scale", {3}, *constant(real(0.5))); }
  Tensor call(const Tensor& x, bool training) override {
    const Tensor v = (*value_)(x, training);
    return v * (*gate_)(x, training) * scale_ + (*value_)(x * Tensor(real(0.5)), training);
  }

 private:
  std::shared_ptr<Dense> value_, gate_;
  Variable scale_;
};

TEST(CustomLayer, TracksSublayersAndOwnWeights) {
  set_random_seed(7);
  GatedBlock block;
  EXPECT_EQ(block.name(), "gated_block");
  ASSERT_EQ(block.layers().size(), 2u);
  EXPECT_EQ(block.layers()[1]->name(), "dense_1");
  const Tensor y = block(Tensor::ones({2, 4}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_THAT(names(block.trainable_variables()),
              ElementsAre("gated_block/scale", "gated_block/dense/kernel", "gated_block/dense/bias",
                          "gated_block/dense_1/kernel", "gated_block/dense_1/bias"));
  EXPECT_EQ(block.count_params(), 3u + 2u * (4u * 3u + 3u));
}

TEST(CustomLayer, GradientsFlowToEveryVariable) {
  set_random_seed(8);
  GatedBlock block;
  const Tensor x = xgrad::testing::uniform({2, 4}, -1, 1, 3);
  block(x);
  GradientTape tape;
  const Tensor loss = sum(square(block(x)));
  const std::vector<Tensor> grads = tape.gradient(loss, block.trainable_variables());
  ASSERT_EQ(grads.size(), 5u);
  for (std::size_t i = 0; i < grads.size(); ++i) {
    ASSERT_TRUE(grads[i].defined()) << block.trainable_variables()[i].name();
    double norm = 0;
    for (real g : grads[i].to_vector()) norm += std::abs(g);
    EXPECT_GT(norm, 0) << block.trainable_variables()[i].name();
  }
  EXPECT_TRUE(testing::check_layer_gradients(block, x));
}

// A custom model nesting a Sequential and a custom block: paths nest, gradients check.
class TwoStage : public Layer {
 public:
  TwoStage() : Layer("two_stage") {
    stem_ = add_layer(std::make_shared<Sequential>(
        std::vector<std::shared_ptr<Layer>>{std::make_shared<Dense>(4, "tanh")}, "stem"));
    head_ = add_layer(std::make_shared<GatedBlock>());
  }
  std::string class_name() const override { return "TwoStage"; }

 protected:
  Tensor call(const Tensor& x, bool training) override {
    return (*head_)((*stem_)(x, training), training);
  }

 private:
  std::shared_ptr<Sequential> stem_;
  std::shared_ptr<GatedBlock> head_;
};

TEST(CustomLayer, NestedModelNamesAndGradients) {
  set_random_seed(9);
  TwoStage model;
  const Tensor x = xgrad::testing::uniform({3, 2}, -1, 1, 4);
  EXPECT_EQ(model(x).shape(), (Shape{3, 3}));
  EXPECT_THAT(
      names(model.variables()),
      ElementsAre("two_stage/stem/dense/kernel", "two_stage/stem/dense/bias",
                  "two_stage/gated_block/scale", "two_stage/gated_block/dense/kernel",
                  "two_stage/gated_block/dense/bias", "two_stage/gated_block/dense_1/kernel",
                  "two_stage/gated_block/dense_1/bias"));
  EXPECT_TRUE(testing::check_layer_gradients(model, x));
  testing::expect_shape_errors(model, {3, 2}, {3, 5}, {3});
}

TEST(LayerErrors, AddingALayerTwiceOrToTwoParentsThrows) {
  auto dense = std::make_shared<Dense>(2);
  Sequential a({dense}, "a");
  EXPECT_THROW(a.add(dense), std::invalid_argument);
  try {
    Sequential b({dense}, "b");
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("a/dense"));
  }
  EXPECT_THROW(a.add(nullptr), std::invalid_argument);
}

TEST(LayerErrors, UndefinedInputThrows) {
  Dense dense(2);
  EXPECT_TRUE(testing::throws_with<std::invalid_argument>(dense, Tensor(), {"dense", "undefined"}));
}

// A layer y = x ⊙ w whose hand-written backward can be made wrong, to show that the shared
// gradient check fails, and names the culprit, when a layer's gradient is off by 10%.
class ScaleLayer : public Layer {
 public:
  enum class Bug { None, InputGrad, WeightGrad, WeightUnused };
  explicit ScaleLayer(Bug bug) : Layer("scale"), bug_(bug) {}
  std::string class_name() const override { return "ScaleLayer"; }

 protected:
  void build(const Shape& s) override { w_ = add_weight("w", {s.back()}, *constant(real(1.5))); }
  Tensor call(const Tensor& x, bool) override {
    if (bug_ == Bug::WeightUnused) return x * Tensor(real(1.5));
    const Bug bug = bug_;
    return custom_gradient(
        "scale_mul", {x, w_.value()}, [](const std::vector<Tensor>& in) { return in[0] * in[1]; },
        [bug](const std::vector<Tensor>& in, const Tensor&, const Tensor& g) {
          Tensor gx = g * in[1];
          Tensor gw = reduce_to_shape(g * in[0], in[1].shape());
          if (bug == Bug::InputGrad) gx = gx * Tensor(real(1.1));
          if (bug == Bug::WeightGrad) gw = gw * Tensor(real(1.1));
          return std::vector<Tensor>{gx, gw};
        });
  }

 private:
  Bug bug_;
  Variable w_;
};

TEST(LayerGradientCheck, PassesForACorrectGradient) {
  ScaleLayer layer(ScaleLayer::Bug::None);
  EXPECT_TRUE(testing::check_layer_gradients(layer, xgrad::testing::uniform({3, 4})));
}

TEST(LayerGradientCheck, FailsNamingTheWrongSource) {
  const Tensor x = xgrad::testing::uniform({3, 4});
  ScaleLayer wrong_input(ScaleLayer::Bug::InputGrad);
  const ::testing::AssertionResult input_result = testing::check_layer_gradients(wrong_input, x);
  EXPECT_FALSE(input_result);
  EXPECT_THAT(input_result.message(), HasSubstr("worst is input"));
  ScaleLayer wrong_weight(ScaleLayer::Bug::WeightGrad);
  const ::testing::AssertionResult weight_result = testing::check_layer_gradients(wrong_weight, x);
  EXPECT_FALSE(weight_result);
  EXPECT_THAT(weight_result.message(), HasSubstr("variable 'scale/w'"));
  EXPECT_THAT(weight_result.message(), HasSubstr("4 gradient element(s) mismatch"));
  // The variable is restored after the numeric perturbations.
  EXPECT_TRUE(testing::tensor_near(wrong_weight.variables()[0].peek(), {4}, {1.5, 1.5, 1.5, 1.5}));
}

TEST(LayerGradientCheck, FailsWhenAWeightDoesNotMatter) {
  ScaleLayer unused(ScaleLayer::Bug::WeightUnused);
  const ::testing::AssertionResult result =
      testing::check_layer_gradients(unused, xgrad::testing::uniform({3, 4}));
  EXPECT_FALSE(result);
  EXPECT_THAT(result.message(), HasSubstr("vacuous"));
}

}  // namespace
}  // namespace xgrad::layers
