// matmul: one GEMM per batch matrix; a batch of a times a single matrix b is folded into one
// tall GEMM (the Dense-layer case), which is where BLAS is fastest.

#include "autograd/ops/matmul.h"

#include "autograd/check.h"
#include "autograd/detail/blas.h"
#include "autograd/detail/record.h"
#include "autograd/profile.h"
#include "autograd/ops/reduce.h"

namespace xgrad {

namespace {

std::string both(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  return "got a.shape=" + shape_to_string(a.shape()) + (ta ? " (transposed)" : "") +
         ", b.shape=" + shape_to_string(b.shape()) + (tb ? " (transposed)" : "");
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const detail::ProfileScope profile_scope("matmul");
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  check_arg(sa.size() >= 2 && sb.size() >= 2, "matmul",
            "operands must have rank >= 2; " + both(a, b, ta, tb));
  const std::size_t ra = sa.size(), rb = sb.size();
  const std::size_t m = ta ? sa[ra - 1] : sa[ra - 2];
  const std::size_t k = ta ? sa[ra - 2] : sa[ra - 1];
  const std::size_t kb = tb ? sb[rb - 1] : sb[rb - 2];
  const std::size_t n = tb ? sb[rb - 2] : sb[rb - 1];
  check_arg(k == kb, "matmul",
            "inner dimensions differ (" + std::to_string(k) + " vs " + std::to_string(kb) + "); " +
                both(a, b, ta, tb));
  const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes("matmul", batch_a, batch_b);
  } catch (const std::invalid_argument&) {
    check_arg(false, "matmul", "batch axes do not broadcast; " + both(a, b, ta, tb));
  }
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Array out_arr = empty_array(out_shape);

  const std::size_t lda = sa[ra - 1], ldb = sb[rb - 1];
  const std::size_t nbatch = shape_size(batch);
  if (nbatch == 0) {
    // empty batch: nothing to compute
  } else if (nbatch == 1 || (batch_b.empty() && !ta)) {
    // No batch, or b is one matrix applied to every row of a: one tall GEMM.
    detail::gemm(ta, tb, m * nbatch, n, k, real(1), a.data(), lda, b.data(), ldb, real(0),
                 out_arr.data(), n);
  } else {
    // Broadcast batch indexing: map each output batch index to a and b batch offsets.
    const std::size_t rank = batch.size();
    auto offset = [&](const Shape& bs, std::size_t flat, std::size_t mat) {
      std::size_t off = 0, stride = mat;
      std::size_t rem = flat;
      for (std::size_t i = rank; i-- > 0;) {
        const std::size_t idx = rem % batch[i];
        rem /= batch[i];
        const std::size_t lead = rank - bs.size();
        if (i >= lead) {
          const std::size_t extent = bs[i - lead];
          if (extent != 1) off += idx * stride;
          stride *= extent;
        }
      }
      return off;
    };
    const std::size_t mat_a = sa[ra - 2] * sa[ra - 1], mat_b = sb[rb - 2] * sb[rb - 1];
    for (std::size_t i = 0; i < nbatch; ++i) {
      detail::gemm(ta, tb, m, n, k, real(1), a.data() + offset(batch_a, i, mat_a), lda,
                   b.data() + offset(batch_b, i, mat_b), ldb, real(0),
                   out_arr.data() + i * m * n, n);
    }
  }
  Tensor out(std::move(out_arr));
  return detail::record(
      "matmul", out, {a, b}, [a, b, ta, tb](const Tensor& g, const detail::NeededInputs& needed) {
        Tensor da, db;
        if (needed[0]) {
          if (!ta) da = tb ? matmul(g, b) : matmul(g, b, false, true);
          else da = tb ? matmul(b, g, true, true) : matmul(b, g, false, true);
          da = reduce_to_shape(da, a.shape());
        }
        if (needed[1]) {
          if (!tb) db = ta ? matmul(a, g) : matmul(a, g, true, false);
          else db = ta ? matmul(g, a, true, true) : matmul(g, a, true, false);
          db = reduce_to_shape(db, b.shape());
        }
        return std::vector<Tensor>{da, db};
      });
}

}  // namespace xgrad
