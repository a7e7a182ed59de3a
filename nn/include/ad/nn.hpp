// Everything of ad::nn in one include: parameters, layers and mlp(), initializers, losses,
// optimizers (L-BFGS and Newton's method too) and schedules, fit/evaluate/predict, data loading,
// metrics, model files, plots.
#pragma once

#include <ad/ops.hpp>
#include <ad/nn/data.hpp>
#include <ad/nn/distributed.hpp>
#include <ad/nn/init.hpp>
#include <ad/nn/lbfgs.hpp>
#include <ad/nn/losses.hpp>
#include <ad/nn/metrics.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/newton.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/parameter.hpp>
#include <ad/nn/random.hpp>
#include <ad/nn/second_order.hpp>
#include <ad/nn/serialize.hpp>
#include <ad/nn/train.hpp>
