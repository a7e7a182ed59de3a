#!/usr/bin/env bash
# examples/breast_cancer (30-16-1, ReLU, Adam, early stopping on a validation part): test
# accuracy >= 0.95 on the held-out 20%.
source "$(dirname "$0")/common.bash"
run_example breast_cancer
at_least test_accuracy 0.95
finish
