// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Dense column-major matrix, the one storage type of the numerical core.
///
/// Orientation note: a checkpoint stores a linear layer as W_t[out][in] row-major. Read column-major with
/// rows = in and cols = out, those same bytes are the paper's W (in×out, y = xW). So converting between the
/// two is free: see from_out_in().

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "base/error.hpp"

namespace srr::la {

using index_t = std::int64_t;

template <class T>
class Matrix {
public:
  Matrix() = default;
  Matrix(index_t rows, index_t cols, T fill = T(0))
      : rows_(rows), cols_(cols), data_(checked_size(rows, cols), fill) {}

  /// Builds the paper-oriented W (in×out) from checkpoint storage W_t[out][in] (row-major). No transpose
  /// is needed: the bytes are identical.
  template <class U>
  static Matrix from_out_in(std::span<const U> values, index_t out, index_t in) {
    SRR_ASSERT(static_cast<index_t>(values.size()) == out * in);
    Matrix m(in, out);
    std::copy(values.begin(), values.end(), m.data_.begin());
    return m;
  }

  index_t rows() const { return rows_; }
  index_t cols() const { return cols_; }
  index_t ld() const { return std::max<index_t>(1, rows_); }
  index_t size() const { return rows_ * cols_; }
  bool empty() const { return size() == 0; }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  T* col(index_t j) { return data_.data() + j * rows_; }
  const T* col(index_t j) const { return data_.data() + j * rows_; }
  T& operator()(index_t i, index_t j) { return data_[static_cast<std::size_t>(i + j * rows_)]; }
  const T& operator()(index_t i, index_t j) const { return data_[static_cast<std::size_t>(i + j * rows_)]; }
  std::span<T> values() { return data_; }
  std::span<const T> values() const { return data_; }

  /// Element type conversion (float <-> double), exact when widening.
  template <class U>
  Matrix<U> cast() const& {
    Matrix<U> out(rows_, cols_);
    std::transform(data_.begin(), data_.end(), out.data(), [](T v) { return static_cast<U>(v); });
    return out;
  }
  /// The same on a temporary: no copy at all when the type does not change (layer-sized matrices).
  template <class U>
  Matrix<U> cast() && {
    if constexpr (std::is_same_v<U, T>)
      return std::move(*this);
    else
      return static_cast<const Matrix&>(*this).cast<U>();
  }

  /// Columns [j0, j0+count) as a new matrix.
  Matrix columns(index_t j0, index_t count) const {
    SRR_ASSERT(j0 >= 0 && count >= 0 && j0 + count <= cols_);
    Matrix out(rows_, count);
    std::copy(col(j0), col(j0) + rows_ * count, out.data());
    return out;
  }

  /// Rows [i0, i0+count) as a new matrix.
  Matrix row_block(index_t i0, index_t count) const {
    SRR_ASSERT(i0 >= 0 && count >= 0 && i0 + count <= rows_);
    Matrix out(count, cols_);
    for (index_t j = 0; j < cols_; ++j) std::copy(col(j) + i0, col(j) + i0 + count, out.col(j));
    return out;
  }

  Matrix transposed() const {
    Matrix out(cols_, rows_);
    for (index_t j = 0; j < cols_; ++j)
      for (index_t i = 0; i < rows_; ++i) out(j, i) = (*this)(i, j);
    return out;
  }

private:
  static std::size_t checked_size(index_t rows, index_t cols) {
    SRR_ASSERT(rows >= 0 && cols >= 0);
    return static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  }
  index_t rows_ = 0;
  index_t cols_ = 0;
  std::vector<T> data_;
};

}  // namespace srr::la
