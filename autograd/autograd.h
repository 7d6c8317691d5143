#pragma once
/// \file
/// Everything a model author needs from the engine, in one include.

#include "autograd/array.h"
#include "autograd/check.h"
#include "autograd/custom_gradient.h"
#include "autograd/gradient_check.h"
#include "autograd/gradient_tape.h"
#include "autograd/ops/conv2d.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/pool2d.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape.h"
#include "autograd/ops/softmax.h"
#include "autograd/tensor.h"
#include "autograd/threads.h"
#include "autograd/variable.h"
