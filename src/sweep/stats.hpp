// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The few statistics the sweep tables report: mean ± sample standard deviation over seeds, and the
/// win-rate of SRR over QER (method.md §5.7).

#include <cstddef>
#include <span>
#include <string>

namespace srr::sweep {

struct MeanStd {
  double mean = 0, std = 0;
  std::size_t n = 0;  ///< finite values that went in (0: mean and std are NaN)
};

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for a single value) of the finite
/// values; NaN and ±Inf are left out, so a layer without activation statistics does not poison a mean.
MeanStd mean_std(std::span<const double> values);

/// "mean ± std" with `digits` significant digits ("7.733 ± 0.012"; "7.733" when n = 1; "–" when n = 0).
std::string format_mean_std(const MeanStd& m, int digits);

/// Fraction of positions where `srr` is strictly below `qer` (a tie is not a win), over the positions
/// where both are finite; NaN when there are none. InputError when the lengths differ (the two points
/// were not made from the same model).
double win_rate(std::span<const double> srr, std::span<const double> qer);

/// A number as text for tables and CSV: %.*g with `digits` significant digits, "nan" for NaN.
std::string format_number(double v, int digits);

}  // namespace srr::sweep
