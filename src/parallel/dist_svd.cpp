// SPDX-License-Identifier: MIT
#include "parallel/dist_svd.hpp"

#include <array>
#include <exception>
#include <type_traits>
#include <utility>

#include "qer/range_finder.hpp"

namespace srr::parallel {

namespace {

/// The command the root broadcasts before each operation. Everything a server needs travels in it, so
/// servers need no settings of their own.
enum Command : std::int64_t {
  Stop = 0, SvdFloat = 1, SvdDouble = 2, Eigen = 3, Cholesky = 4, TrmmFloat = 5, TrmmDouble = 6, TrsmDouble = 7
};

struct Header {
  std::int64_t command = Stop;
  std::int64_t m = 0, n = 0;  ///< shape of A (or n×n of R)
  std::int64_t k = 0;         ///< triplets wanted
  std::int64_t l = 0;         ///< sketch width
  std::int64_t iters = 0;     ///< power (or block Krylov) iterations
  std::int64_t krylov = 0;    ///< keep every iterate (Spectrum::Flat)
  std::int64_t width = 0;     ///< columns of the final basis: l, or the Krylov width
  std::int64_t vectors = 0;
  std::int64_t block = 0;

  using Packed = std::array<std::int64_t, 10>;
  Packed pack() const { return {command, m, n, k, l, iters, krylov, width, vectors, block}; }
  static Header unpack(const Packed& a) { return {a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]}; }
};

/// Root: sends the header. Servers: waits for it, asleep between polls.
Header exchange_header(const Communicator& comm, Header h) {
  Header::Packed packed = h.pack();
  comm.bcast(std::span<std::int64_t>(packed), 0, Wait::Poll);
  return Header::unpack(packed);
}

template <class T>
constexpr Command svd_command() {
  return std::is_same_v<T, float> ? SvdFloat : SvdDouble;
}

/// Raised on the servers when the root's own step of a command failed; the root raises the real error.
class RootStepFailed : public Error {
public:
  RootStepFailed() : Error("the root's step of a distributed command failed") {}
};

/// Runs f on the root only and tells every rank whether it succeeded, so that a failure there cannot
/// leave the servers waiting in the next collective. Collective over the grid's communicator.
template <class F>
void root_step(const ProcessGrid& grid, F&& f) {
  std::exception_ptr failure;
  int failed = 0;
  if (grid.rank() == 0) {
    try {
      f();
    } catch (...) {
      failure = std::current_exception();
      failed = 1;
    }
  }
  failed = grid.communicator().bcast_value(failed, 0, Wait::Poll);
  if (!failed) return;
  if (failure) std::rethrow_exception(failure);
  throw RootStepFailed();
}

/// DistMatrix and PBLAS/ScaLAPACK on the grid: the distributed backend of qer/range_finder.hpp. Every
/// operation is collective over the grid's communicator; the small dense step runs on the root.
template <class T>
struct DistBackend {
  using Mat = DistMatrix<T>;
  const ProcessGrid& grid;
  index_t block;

  Mat multiply(const Mat& A, const Mat& X, Op op) const { return matmul(A, X, op, Op::N); }
  void orthonormalize(Mat& X) const { parallel::orthonormalize(X); }
  Mat zeros(index_t rows, index_t cols) const { return Mat(grid, rows, cols, block); }
  void copy_columns(const Mat& from, index_t count, Mat& to, index_t at) const {
    copy(from, 0, 0, from.rows(), count, to, 0, at);
  }
  Mat leading_columns(const Mat& from, index_t count) const {
    Mat out(grid, from.rows(), count, block);
    copy(from, 0, 0, from.rows(), count, out, 0, 0);
    return out;
  }
  Matrix<T> project(const Mat& Q, const Mat& A) const { return matmul(Q, A, Op::T, Op::N).gather_to(0); }
  Matrix<T> lift(const Mat& Q, const Matrix<T>& U, index_t k) const {
    Mat Ub(grid, Q.cols(), k, block);  // U is empty off the root, so its shape comes from k
    Ub.scatter_from(grid.rank() == 0 ? U : Matrix<T>());
    return matmul(Q, Ub).gather_to(0);
  }
  template <class F>
  void on_root(F&& f) const {
    root_step(grid, std::forward<F>(f));
  }
};

/// The range plan the root chose, as the header carries it to the servers.
qer::RangePlan plan_of(const Header& h) {
  return {.sketch = h.l, .iters = static_cast<int>(h.iters), .krylov = h.krylov != 0, .width = h.width};
}

/// The randomized truncated SVD of qer/range_finder.hpp on the grid: every rank runs it, the root with the
/// whole A and the sketch G, the others with empty matrices. Returns the result on the root. Collective
/// over the grid's communicator.
template <class T>
qer::TruncatedSvd<T> randomized_svd(const ProcessGrid& grid, const Header& h, const Matrix<T>& A,
                                    const Matrix<T>& G) {
  DistMatrix<T> Ad(grid, h.m, h.n, h.block);
  Ad.scatter_from(A);
  DistMatrix<T> Gd(grid, h.n, h.l, h.block);
  Gd.scatter_from(G);
  return qer::randomized_top<T>(DistBackend<T>{grid, h.block}, Ad, Gd, plan_of(h), h.k, h.vectors != 0);
}

/// p?syevd on the grid; the root passes R, the others an empty matrix. Result on the root. Collective
/// over the grid's communicator.
la::Eig<double> eigen(const ProcessGrid& grid, const Header& h, const Matrix<double>& R) {
  DistMatrix<double> Rd(grid, h.n, h.n, h.block);
  Rd.scatter_from(R);
  DistMatrix<double> Z(grid, h.n, h.n, h.block);
  la::Eig<double> out;
  out.w = la::psyevd(Rd.local_data(), Rd.descriptor(), Z.local_data(), Z.descriptor());
  if (h.vectors) out.Z = Z.gather_to(0);
  return out;
}

/// p?potrf on the grid; the root passes R, the others an empty matrix. Returns p?potrf's info, the same
/// on every rank (reduced over the grid: ScaLAPACK does not promise that), and the factor U on the root
/// (zeros below the diagonal) when it is 0. Collective over the grid's communicator.
int cholesky_on_grid(const ProcessGrid& grid, const Header& h, const Matrix<double>& R, Matrix<double>& U) {
  DistMatrix<double> Rd(grid, h.n, h.n, h.block);
  Rd.scatter_from(R);
  const int info = la::ppotrf_upper(Rd.local_data(), Rd.descriptor());
  const int worst = grid.communicator().allreduce_value(info, ReduceOp::Max);
  if (worst != 0) return worst;
  U = Rd.gather_to(0);
  for (index_t j = 0; j < U.cols(); ++j)
    for (index_t i = j + 1; i < U.rows(); ++i) U(i, j) = 0;
  return 0;
}

/// X ← U·X (p?trmm) or X ← U⁻¹·X (p?trsm) on the grid, U upper triangular m×m, X m×n; the root passes
/// both, the others empty matrices. Result on the root. Collective over the grid's communicator.
template <class T>
void triangular_on_grid(const ProcessGrid& grid, const Header& h, bool solve, const Matrix<T>& U, Matrix<T>& X) {
  DistMatrix<T> Ud(grid, h.m, h.m, h.block);
  Ud.scatter_from(U);
  DistMatrix<T> Xd(grid, h.m, h.n, h.block);
  Xd.scatter_from(X);
  if (solve)
    la::ptrsm_upper(Op::N, Ud.local_data(), Ud.descriptor(), Xd.local_data(), Xd.descriptor());
  else
    la::ptrmm_upper(Op::N, Ud.local_data(), Ud.descriptor(), Xd.local_data(), Xd.descriptor());
  Matrix<T> out = Xd.gather_to(0);
  if (grid.rank() == 0) X = std::move(out);
}

template <class T>
constexpr Command trmm_command() {
  return std::is_same_v<T, float> ? TrmmFloat : TrmmDouble;
}

}  // namespace

DistributedSvdEngine::DistributedSvdEngine(const ProcessGrid& grid, qer::SvdSettings settings, index_t block)
    : grid_(grid), settings_(settings), local_(settings), block_(block) {
  SRR_ASSERT(block >= 1);
}

std::string DistributedSvdEngine::name() const {
  return detail::concat("dist-", qer::to_string(settings_.method), "-", grid_.rows(), "x", grid_.cols());
}

template <class T>
qer::TruncatedSvd<T> DistributedSvdEngine::top_impl(const Matrix<T>& A, index_t k, bool vectors,
                                                    qer::Spectrum spectrum, Rng& rng) const {
  if (!is_root()) throw Error("DistributedSvdEngine::top is called by the grid's rank 0; the others serve()");
  const index_t m = A.rows(), n = A.cols();
  SRR_ASSERT(k >= 0 && k <= std::min(m, n));
  const qer::RangePlan plan = qer::range_plan(k, m, n, spectrum, settings_);
  // The local engine takes these paths without a sketch; so does the root here, alone.
  if (settings_.method != qer::SvdMethod::Randomized || k == 0 || plan.sketch >= std::min(m, n))
    return local_.top(A, k, vectors, spectrum, rng);
  const Header h = exchange_header(grid_.communicator(), {svd_command<T>(), m, n, k, plan.sketch, plan.iters,
                                                          plan.krylov ? 1 : 0, plan.width, vectors ? 1 : 0, block_});
  const Matrix<T> G = qer::gaussian_sketch<T>(n, plan.sketch, rng);
  return randomized_svd(grid_, h, A, G);
}

qer::TruncatedSvd<float> DistributedSvdEngine::top(const Matrix<float>& A, index_t k, bool vectors,
                                                   qer::Spectrum spectrum, Rng& rng) const {
  return top_impl(A, k, vectors, spectrum, rng);
}

qer::TruncatedSvd<double> DistributedSvdEngine::top(const Matrix<double>& A, index_t k, bool vectors,
                                                    qer::Spectrum spectrum, Rng& rng) const {
  return top_impl(A, k, vectors, spectrum, rng);
}

bool DistributedSvdEngine::distributes_eigen(index_t n) const {
  return n >= 2 * block_ * std::max(grid_.rows(), grid_.cols());
}

la::Eig<double> DistributedSvdEngine::symmetric_eigen(const Matrix<double>& R, bool vectors) const {
  if (!is_root()) throw Error("DistributedSvdEngine::symmetric_eigen is called by the grid's rank 0");
  SRR_ASSERT(R.rows() == R.cols());
  if (!distributes_eigen(R.rows())) return la::syevd(R, vectors);
  const Header h = exchange_header(grid_.communicator(), {Eigen, R.rows(), R.rows(), 0, 0, 0, 0, 0,
                                                          vectors ? 1 : 0, block_});
  return eigen(grid_, h, R);
}

void DistributedSvdEngine::cholesky(Matrix<double>& A) const {
  if (!is_root()) throw Error("DistributedSvdEngine::cholesky is called by the grid's rank 0");
  SRR_ASSERT(A.rows() == A.cols());
  if (!distributes_factor(A.rows())) return local_.cholesky(A);
  const Header h = exchange_header(grid_.communicator(), {Cholesky, A.rows(), A.rows(), 0, 0, 0, 0, 0, 0, block_});
  Matrix<double> U;
  const int info = cholesky_on_grid(grid_, h, A, U);
  if (info != 0) throw la::LapackError("pdpotrf", info);  // not positive definite: the caller adds a ridge
  A = std::move(U);
}

template <class T>
void DistributedSvdEngine::triangular(const Matrix<T>& U, Matrix<T>& X, bool solve) const {
  if (!is_root()) throw Error("DistributedSvdEngine: triangular products are called by the grid's rank 0");
  SRR_ASSERT(U.rows() == U.cols() && U.rows() == X.rows());
  if (!distributes_factor(U.rows()) || X.cols() == 0) {
    if (solve) {
      if constexpr (std::is_same_v<T, double>) local_.upper_solve(U, X);
    } else {
      local_.upper_times(U, X);
    }
    return;
  }
  const Header h = exchange_header(grid_.communicator(), {solve ? TrsmDouble : trmm_command<T>(), U.rows(), X.cols(),
                                                          0, 0, 0, 0, 0, 0, block_});
  triangular_on_grid(grid_, h, solve, U, X);
}

void DistributedSvdEngine::upper_times(const Matrix<float>& U, Matrix<float>& X) const { triangular(U, X, false); }
void DistributedSvdEngine::upper_times(const Matrix<double>& U, Matrix<double>& X) const { triangular(U, X, false); }
void DistributedSvdEngine::upper_solve(const Matrix<double>& U, Matrix<double>& X) const { triangular(U, X, true); }

bool DistributedSvdEngine::distributes_factor(index_t n) const { return distributes_eigen(n); }

void DistributedSvdEngine::stop() const {
  if (!is_root()) throw Error("DistributedSvdEngine::stop is called by the grid's rank 0");
  exchange_header(grid_.communicator(), Header{});
}

ServeStats DistributedSvdEngine::serve() const {
  if (is_root()) throw Error("DistributedSvdEngine::serve is for the grid's ranks other than 0");
  ServeStats stats;
  for (;;) {
    const Header h = exchange_header(grid_.communicator(), Header{});
    if (h.command == Stop) return stats;
    ++stats.commands;
    try {
      switch (h.command) {
        case SvdFloat: randomized_svd(grid_, h, Matrix<float>(), Matrix<float>()); break;
        case SvdDouble: randomized_svd(grid_, h, Matrix<double>(), Matrix<double>()); break;
        case Eigen: eigen(grid_, h, Matrix<double>()); break;
        case Cholesky: {
          Matrix<double> U;
          if (cholesky_on_grid(grid_, h, Matrix<double>(), U) != 0) ++stats.failures;  // raised on the root
          break;
        }
        case TrmmFloat: {
          Matrix<float> X;
          triangular_on_grid(grid_, h, false, Matrix<float>(), X);
          break;
        }
        case TrmmDouble:
        case TrsmDouble: {
          Matrix<double> X;
          triangular_on_grid(grid_, h, h.command == TrsmDouble, Matrix<double>(), X);
          break;
        }
        default: throw Error(detail::concat("unknown distributed command ", h.command));
      }
    } catch (const la::ScalapackError&) {
      ++stats.failures;  // raised on every rank alike (ScaLAPACK's checks are global); the root reports it
    } catch (const RootStepFailed&) {
      ++stats.failures;
    }
  }
}

}  // namespace srr::parallel
