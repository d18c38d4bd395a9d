//! Unbiased pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", eq. 1).

use crate::error::{Error, Result};

/// `pass@k = 1 - C(n-c, k) / C(n, k)` for `n` samples of which `c` are correct, computed as
/// the numerically stable product `1 - prod_{i=n-c+1}^{n} (1 - k/i)`.
///
/// Errors when `k == 0`, `k > n` or `c > n`.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> Result<f64> {
    if k == 0 || k > n {
        return Err(Error::config(
            "k",
            format!("pass@{k} needs 1 <= k <= n = {n}"),
        ));
    }
    if c > n {
        return Err(Error::data(
            "pass@k",
            format!("{c} correct out of {n} samples"),
        ));
    }
    if n - c < k {
        return Ok(1.0);
    }
    let prod: f64 = ((n - c + 1)..=n)
        .map(|i| 1.0 - k as f64 / i as f64)
        .product();
    Ok(1.0 - prod)
}

/// The mean of [`pass_at_k`] over queries given as `(n, c)` pairs.
pub fn pass_at_k_mean(counts: &[(usize, usize)], k: usize) -> Result<f64> {
    if counts.is_empty() {
        return Err(Error::data("pass@k", "no queries"));
    }
    let mut sum = 0.0;
    for (q, &(n, c)) in counts.iter().enumerate() {
        sum += pass_at_k(n, c, k)
            .map_err(|e| Error::data(format!("pass@k, query {q}"), e.to_string()))?;
    }
    Ok(sum / counts.len() as f64)
}
