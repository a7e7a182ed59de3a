// ad::gradcheck itself: a custom op recorded with a deliberately wrong backward rule must fail,
// at the right input and entry; the same op with the right rule passes.
#include <ad/gradcheck.hpp>
#include <ad/ops.hpp>

#include <doctest/doctest.h>

#include <string>

using ad::Tape;
using ad::Var;
using Arr = xt::xarray<double>;

namespace {

// y = x^2 elementwise with the backward rule dx += factor * x * g: factor 2 is right, 3 is wrong.
template <int Factor>
void square_backward(Tape<double>& t, ad::detail::Node<double>& n) {
  auto& in = t.node(n.in[0]);
  if (!in.active) return;
  if (!in.has_grad) {
    in.grad = xt::zeros<double>(in.val().shape());
    in.has_grad = true;
  }
  for (std::size_t i = 0; i < in.grad.size(); ++i) in.grad.data()[i] += Factor * in.val().data()[i] * n.grad.data()[i];
}

template <int Factor>
Var<double> custom_square(const Var<double>& x) {
  auto& t = x.tape();
  const ad::Shape shape(x.shape().begin(), x.shape().end());  // copied: recording may move x's node
  auto y = t.record("custom_square", &square_backward<Factor>, {x}, shape);
  auto& n = t.node(y.id());
  for (std::size_t i = 0; i < n.value.size(); ++i) n.value.data()[i] = x.value().data()[i] * x.value().data()[i];
  t.after_forward(y.id());
  return y;
}

const Arr a = {{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}};
const Arr b = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};

}  // namespace

TEST_CASE("gradcheck: a custom op with the right backward rule passes") {
  auto f = [](Tape<double>&, const std::vector<Var<double>>& x) { return ad::sum(custom_square<2>(x[0]) * x[1]); };
  const auto r = ad::gradcheck(f, {a, b});
  INFO(r.report());
  CHECK(r.ok);
}

TEST_CASE("gradcheck: a custom op with a wrong backward rule fails at that input and entry") {
  auto f = [](Tape<double>&, const std::vector<Var<double>>& x) { return ad::sum(custom_square<3>(x[0]) * x[1]); };
  const auto r = ad::gradcheck(f, {a, b});
  INFO(r.report());
  CHECK_FALSE(r.ok);
  REQUIRE(r.inputs.size() == 2);
  CHECK_FALSE(r.inputs[0].ok);
  CHECK(r.inputs[1].ok);  // the other input's gradient (x^2) is still right
  // engine 3 a b against numeric 2 a b: the error is |a b|, largest at (0, 2) and (1, 0): 6.
  CHECK(r.inputs[0].max_abs_error == doctest::Approx(6.0).epsilon(1e-6));
  CHECK(r.inputs[0].worst_at.size() == 2);
  CHECK(r.inputs[0].engine_at_worst == doctest::Approx(1.5 * r.inputs[0].numeric_at_worst).epsilon(1e-6));
  CHECK(r.report().find("FAIL") != std::string::npos);
}

TEST_CASE("gradcheck: the worst entry is reported as a multi-index") {
  // Only entry (1, 2) of the custom op's input is wrong: f = sum(custom(x) * mask).
  auto f = [](Tape<double>& t, const std::vector<Var<double>>& x) {
    Arr mask = xt::zeros<double>({2, 3});
    mask(1, 2) = 1.0;
    return ad::sum(custom_square<3>(x[0]) * t.constant(mask));
  };
  const auto r = ad::gradcheck(f, {a});
  INFO(r.report());
  CHECK_FALSE(r.ok);
  CHECK(r.inputs[0].worst_index == 5);
  CHECK(r.inputs[0].worst_at == ad::Shape{1, 2});
  CHECK(r.inputs[0].engine_at_worst == doctest::Approx(3 * -0.75));
  CHECK(r.inputs[0].numeric_at_worst == doctest::Approx(2 * -0.75).epsilon(1e-8));
  CHECK(r.report().find("(1, 2)") != std::string::npos);
}
