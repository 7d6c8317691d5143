#pragma once
/// \file
/// Every layer, in one include.

#include "layers/activation.h"
#include "layers/batch_normalization.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/initializers.h"
#include "layers/layer.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
