//! Batch-wide whitening (TRL's `masked_whiten`), order-independent.
//!
//! ```text
//! mean = Σ m_t·a_t / N,   var = Σ m_t·(a_t - mean)² / (N - 1),   N = Σ m_t   (whole batch)
//! â_t  = (a_t - mean) / sqrt(var + 1e-8)
//! ```
//!
//! The sums are accumulated in `f64`, one partial sum per episode in token order, and the
//! per-episode partials are added in sorted order, so the statistics are bit-for-bit the same
//! whatever the order of the episodes in the batch (and whatever rayon's scheduling).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The mean and unbiased variance that whitening used, and over how many positions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WhitenStats {
    /// Masked mean of the raw advantages over the batch.
    pub mean: f64,
    /// Masked unbiased variance of the raw advantages over the batch.
    pub var: f64,
    /// Number of masked positions `N` in the batch.
    pub count: usize,
}

/// TRL's `1e-8` added to the variance before the reciprocal square root.
pub const WHITEN_EPS: f64 = 1e-8;

impl WhitenStats {
    /// Statistics computed elsewhere (for example those of a TRL batch).
    pub fn new(mean: f64, var: f64, count: usize) -> Self {
        Self { mean, var, count }
    }

    /// Mean and unbiased variance of `values` restricted to `mask`, over a batch given as
    /// `(values, mask)` per episode. Fails when fewer than 2 positions are masked.
    pub fn of_batch<'a, I>(episodes: I) -> Result<Self>
    where
        I: IntoIterator<Item = (&'a [f32], &'a [bool])> + Clone,
    {
        let mut count = 0usize;
        let mut sums = Vec::new();
        for (values, mask) in episodes.clone() {
            let mut s = 0.0f64;
            for (&v, &m) in values.iter().zip(mask) {
                if m {
                    s += f64::from(v);
                    count += 1;
                }
            }
            sums.push(s);
        }
        if count < 2 {
            return Err(Error::Whitening { count });
        }
        let mean = stable_sum(sums) / count as f64;
        let squares = episodes
            .into_iter()
            .map(|(values, mask)| {
                values
                    .iter()
                    .zip(mask)
                    .filter(|(_, &m)| m)
                    .map(|(&v, _)| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
            })
            .collect();
        let var = stable_sum(squares) / (count - 1) as f64;
        Ok(Self { mean, var, count })
    }

    /// `(a - mean) / sqrt(var + 1e-8)`, computed in `f64` and rounded once to `f32` (TRL
    /// computes it in `f32`; the difference is below 1e-6 for whitened values of order 1, while
    /// the `f32` subtraction of two nearby numbers can lose several digits).
    #[inline]
    pub fn apply(&self, a: f32) -> f32 {
        ((f64::from(a) - self.mean) * self.inv_std()) as f32
    }

    /// `1 / sqrt(var + 1e-8)`.
    #[inline]
    pub fn inv_std(&self) -> f64 {
        1.0 / (self.var + WHITEN_EPS).sqrt()
    }
}

/// Sum of per-episode partial sums in an order that does not depend on the episodes' order.
pub(crate) fn stable_sum(mut parts: Vec<f64>) -> f64 {
    parts.sort_by(f64::total_cmp);
    parts.iter().sum()
}
