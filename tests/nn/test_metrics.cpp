// Tests of nn/src/metrics.cpp against small hand-computed cases.
#include <ad/nn/metrics.hpp>

#include <doctest/doctest.h>

#include "support.hpp"

#include <algorithm>
#include <string>
#include <vector>

using V = std::vector<std::size_t>;

namespace {
using namespace support;




}  // namespace

TEST_CASE("metrics: accuracy") {
  CHECK(ad::nn::accuracy({0, 1, 2, 1}, {0, 1, 1, 1}) == 0.75);
  CHECK(ad::nn::accuracy({3}, {3}) == 1.0);
  CHECK(ad::nn::accuracy({0, 0, 0}, {1, 1, 1}) == 0.0);
  CHECK(has(message_of<ad::ShapeError>([] { ad::nn::accuracy({0, 1}, {0}); }), "2 predictions but 1"));
  message_of<ad::ValueError>([] { ad::nn::accuracy({}, {}); });
}

TEST_CASE("metrics: argmax_rows takes the first maximum; threshold_labels for binary outputs") {
  CHECK(ad::nn::argmax_rows(xt::xarray<double>{{0.1, 0.7, 0.2}, {5, 5, 1}, {-3, -2, -1}}) == V{1, 0, 2});
  CHECK(ad::nn::argmax_rows(xt::xarray<float>{{1.f, 2.f}, {3.f, -1.f}}) == V{1, 0});
  CHECK(ad::nn::argmax_rows(xt::xarray<double>::from_shape({0, 3})).empty());
  CHECK(has(message_of<ad::ShapeError>([] { ad::nn::argmax_rows(xt::xarray<double>{1, 2}); }), "threshold_labels"));
  CHECK(ad::nn::threshold_labels(column({0.2, 0.5, 0.51})) == V{0, 0, 1});
  CHECK(ad::nn::threshold_labels(xt::xarray<float>{-1.f, 2.f}, 0.0) == V{0, 1});
  message_of<ad::ShapeError>([] { ad::nn::threshold_labels(xt::xarray<double>{{0.1, 0.9}}); });
}

TEST_CASE("metrics: confusion matrix has truth in rows and predictions in columns") {
  const V truth = {0, 0, 1, 1, 2, 2}, pred = {0, 1, 1, 1, 2, 0};
  const auto m = ad::nn::confusion_matrix(pred, truth, 3);
  CHECK(m == xt::xarray<std::size_t>{{1, 1, 0}, {0, 2, 0}, {1, 0, 1}});
  CHECK(ad::nn::confusion_matrix({1}, {0}, 2) == xt::xarray<std::size_t>{{0, 1}, {0, 0}});
  CHECK(has(message_of<ad::ValueError>([] { ad::nn::confusion_matrix({0, 3}, {0, 1}, 3); }),
            "predicted label 3 at position 1"));
  CHECK(has(message_of<ad::ValueError>([] { ad::nn::confusion_matrix({0, 1}, {5, 1}, 3); }), "true label 5"));
  message_of<ad::ShapeError>([] { ad::nn::confusion_matrix({0}, {0, 1}, 3); });
}

TEST_CASE("metrics: classification report by hand") {
  const V truth = {0, 0, 1, 1, 2, 2}, pred = {0, 1, 1, 1, 2, 0};
  const auto r = ad::nn::classification_report(pred, truth, 3);
  // Columns of the confusion matrix: predicted 0 twice (1 right), 1 three times (2 right),
  // 2 once (right).
  CHECK(r.precision[0] == doctest::Approx(0.5));
  CHECK(r.precision[1] == doctest::Approx(2.0 / 3));
  CHECK(r.precision[2] == doctest::Approx(1.0));
  CHECK(r.recall[0] == doctest::Approx(0.5));
  CHECK(r.recall[1] == doctest::Approx(1.0));
  CHECK(r.recall[2] == doctest::Approx(0.5));
  CHECK(r.f1[0] == doctest::Approx(0.5));
  CHECK(r.f1[1] == doctest::Approx(0.8));
  CHECK(r.f1[2] == doctest::Approx(2.0 / 3));
  CHECK(r.support == V{2, 2, 2});
  CHECK(r.accuracy == doctest::Approx(4.0 / 6));
  CHECK(r.macro_f1 == doctest::Approx((0.5 + 0.8 + 2.0 / 3) / 3));

  // A class never predicted and one never present: zeros, not NaN.
  const auto z = ad::nn::classification_report({0, 0, 0}, {0, 1, 0}, 3);
  CHECK(z.precision[1] == 0.0);
  CHECK(z.recall[1] == 0.0);
  CHECK(z.f1[1] == 0.0);
  CHECK(z.support == V{2, 1, 0});
  CHECK(z.f1[2] == 0.0);
  CHECK(z.precision[0] == doctest::Approx(2.0 / 3));
  CHECK(z.f1[0] == doctest::Approx(0.8));

  const std::string t = r.to_string({"cat", "dog", "bird"});
  CHECK(has(t, "precision"));
  CHECK(has(t, "dog"));
  CHECK(has(t, "0.6667"));  // accuracy and precision of dog
  CHECK(has(t, "accuracy"));
  CHECK(has(t, "macro avg"));
  CHECK(has(t, "weighted avg"));
  CHECK(has(r.to_string(), "         2"));  // unnamed classes are numbered
}

TEST_CASE("metrics: mse and r2 by hand") {
  CHECK(ad::nn::mse(xt::xarray<double>{1, 2, 4}, xt::xarray<double>{1, 2, 3}) == doctest::Approx(1.0 / 3));
  CHECK(ad::nn::mse(column({1, 2, 4}), xt::xarray<double>{1, 2, 3}) == doctest::Approx(1.0 / 3));
  CHECK(ad::nn::mse(xt::xarray<double>{{0, 1}, {2, 5}}, xt::xarray<double>{{0, 0}, {0, 0}}) == 7.5);
  CHECK(has(message_of<ad::ShapeError>([] { ad::nn::mse(xt::xarray<double>{1, 2}, xt::xarray<double>{1, 2, 3}); }),
            "(2,)"));
  message_of<ad::ShapeError>([] { ad::nn::mse(xt::xarray<double>{{1, 2}}, column({1, 2})); });
  // (xt::zeros rather than from_shape({0}): g++ 12 saw a false -Wmaybe-uninitialized in the latter)
  message_of<ad::ValueError>([] {
    const xt::xarray<double> empty = xt::zeros<double>({std::size_t(0)});
    ad::nn::mse(empty, empty);
  });

  // SS_res = 1, SS_tot = 2.
  CHECK(ad::nn::r2_score(xt::xarray<double>{1, 2, 4}, xt::xarray<double>{1, 2, 3}) == doctest::Approx(0.5));
  CHECK(ad::nn::r2_score(xt::xarray<double>{1, 2, 3}, xt::xarray<double>{1, 2, 3}) == 1.0);
  // Predicting the mean scores 0; worse than the mean is negative.
  CHECK(ad::nn::r2_score(xt::xarray<double>{2, 2, 2}, xt::xarray<double>{1, 2, 3}) == doctest::Approx(0.0));
  CHECK(ad::nn::r2_score(xt::xarray<double>{3, 2, 1}, xt::xarray<double>{1, 2, 3}) == doctest::Approx(-3.0));
  // Two outputs averaged: 0.5 and 1.
  CHECK(ad::nn::r2_score(xt::xarray<double>{{1, 0}, {2, 0}, {4, 3}}, xt::xarray<double>{{1, 0}, {2, 0}, {3, 3}}) ==
        doctest::Approx(0.75));
  // Constant truth: 1 if hit exactly, else 0.
  CHECK(ad::nn::r2_score(xt::xarray<double>{5, 5}, xt::xarray<double>{5, 5}) == 1.0);
  CHECK(ad::nn::r2_score(xt::xarray<double>{5, 6}, xt::xarray<double>{5, 5}) == 0.0);
  message_of<ad::ValueError>([] { ad::nn::r2_score(xt::xarray<double>{1}, xt::xarray<double>{1}); });
}

TEST_CASE("metrics: format_confusion_matrix lays out rows as true classes, columns as predictions") {
  // truth 0,0,1,2 predicted 0,1,1,1: row 0 = [1 1 0], row 1 = [0 1 0], row 2 = [0 1 0]
  const auto cm = ad::nn::confusion_matrix({0, 1, 1, 1}, {0, 0, 1, 2}, 3);
  CHECK(ad::nn::format_confusion_matrix(cm, {"cat", "dog"}) ==
        " true\\pred cat dog   2\n"
        "       cat   1   1   0\n"
        "       dog   0   1   0\n"
        "         2   0   1   0\n");
}
