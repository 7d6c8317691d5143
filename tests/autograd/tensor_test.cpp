#include "autograd/tensor.h"

#include <sstream>
#include <stdexcept>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "autograd/autograd.h"

namespace xgrad {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Tensor, ConstructorsGiveShapesAndValues) {
  Tensor s(real(2.5));
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.item(), real(2.5));
  Tensor v{1, 2, 3};
  EXPECT_EQ(v.shape(), (Shape{3}));
  Tensor m{{1, 2, 3}, {4, 5, 6}};
  EXPECT_EQ(m.shape(), (Shape{2, 3}));
  EXPECT_THAT(m.to_vector(), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(Tensor::zeros({2, 2}).to_vector(), std::vector<real>(4, 0));
  EXPECT_EQ(Tensor::full({3}, 7).to_vector(), std::vector<real>(3, 7));
  Array a = xt::zeros<real>({2, 1});
  EXPECT_EQ(Tensor(a).shape(), (Shape{2, 1}));
}

TEST(Tensor, CopiesShareDataAndIdentity) {
  Tensor a{1, 2, 3};
  Tensor b = a;
  EXPECT_EQ(a.id(), b.id());
  EXPECT_EQ(a.data(), b.data());
  Tensor c{1, 2, 3};
  EXPECT_NE(a.id(), c.id());
}

TEST(Tensor, UndefinedTensorIsReportedNotCrashed) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.shape(), std::logic_error);
  EXPECT_EQ(t.id(), 0u);
}

TEST(Tensor, BadConstructionThrowsWithShapes) {
  try {
    Tensor::from_vector({2, 3}, {1, 2});
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
  }
  EXPECT_THROW((Tensor{{1, 2}, {3}}), std::invalid_argument);
  EXPECT_THROW(Tensor({1, 2}).item(), std::invalid_argument);
}

TEST(Tensor, PrintsShapeAndValues) {
  std::ostringstream os;
  os << Tensor{{1, 2}, {3, 4}};
  EXPECT_THAT(os.str(), HasSubstr("shape=[2, 2]"));
  EXPECT_THAT(os.str(), HasSubstr("4"));
}

TEST(Variable, AssignKeepsShapeAndGivesNewValue) {
  Variable v(Tensor{1, 2}, "v");
  const Tensor before = v.peek();
  v.assign_sub(Tensor{1, 1});
  EXPECT_THAT(v.peek().to_vector(), ElementsAre(0, 1));
  EXPECT_NE(v.peek().id(), before.id());
  EXPECT_THAT(before.to_vector(), ElementsAre(1, 2));  // earlier reads keep their value
  v.assign_add(Tensor{2, 2});
  EXPECT_THAT(v.peek().to_vector(), ElementsAre(2, 3));
  v.assign(Tensor{5, 6});
  EXPECT_THAT(v.peek().to_vector(), ElementsAre(5, 6));
  EXPECT_EQ(v.name(), "v");
  EXPECT_TRUE(v.trainable());
}

TEST(Variable, InPlaceUpdateWhenNobodyElseHoldsTheValue) {
  Variable v(Tensor{1, 2}, "v");
  const real* storage = v.peek().data();
  v.assign_sub(Tensor{1, 1});
  EXPECT_EQ(v.peek().data(), storage);
  EXPECT_THAT(v.peek().to_vector(), ElementsAre(0, 1));
}

TEST(Variable, UpdatesNeverWriteThroughAReshapeView) {
  // A variable whose value is a view copies before writing (the base is somebody else's).
  const Tensor base = Tensor::from_vector({2, 2}, {1, 2, 3, 4});
  Variable v(reshape(base, {4}), "v");
  v.assign_add(Tensor{1, 1, 1, 1});
  EXPECT_THAT(v.value().to_vector(), ElementsAre(2, 3, 4, 5));
  EXPECT_THAT(base.to_vector(), ElementsAre(1, 2, 3, 4));
  Variable w(reshape(base, {4}), "w");
  w.update_in_place([](real* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) p[i] *= 10;
  });
  EXPECT_THAT(w.value().to_vector(), ElementsAre(10, 20, 30, 40));
  EXPECT_THAT(base.to_vector(), ElementsAre(1, 2, 3, 4));
  // A live view of a variable's value forces the copy too.
  Variable u(Tensor{1, 2, 3, 4}, "u");
  const Tensor view = reshape(u.value(), {2, 2});
  u.assign_add(Tensor{1, 1, 1, 1});
  EXPECT_THAT(view.to_vector(), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(u.value().to_vector(), ElementsAre(2, 3, 4, 5));
}

TEST(Variable, AssignWrongShapeNamesVariableAndShapes) {
  Variable v(Tensor{1, 2}, "dense/kernel");
  try {
    v.assign(Tensor{1, 2, 3});
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("dense/kernel"));
    EXPECT_THAT(e.what(), HasSubstr("[2]"));
    EXPECT_THAT(e.what(), HasSubstr("[3]"));
  }
}

TEST(Threads, SetNumThreadsValidates) {
  const int before = num_threads();
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(before);
  EXPECT_THROW(set_num_threads(0), std::invalid_argument);
}

}  // namespace
}  // namespace xgrad
