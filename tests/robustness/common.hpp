// Helpers of the robustness tests: the shared test support (scratch files, exact exception
// messages) under the name the robustness tests use.
#pragma once

#include <ad/error.hpp>

#include "support.hpp"

namespace robust = support;
