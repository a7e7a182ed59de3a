#!/usr/bin/env bash
# examples/fashion_mnist (784-256-128-10 ReLU in float32, Adam lr 1e-3, batch 128) with its
# default 10 epochs: test accuracy >= 0.88. Data: Debian's dataset-fashion-mnist
# (.ci/install-deps); missing data is a failure, not a skip. About 25 s on two cores.
source "$(dirname "$0")/common.bash"
run_example fashion_mnist
[ "$(key epochs)" = 10 ] || fail "epochs=$(key epochs), want 10"
at_least test_accuracy 0.88
finish
