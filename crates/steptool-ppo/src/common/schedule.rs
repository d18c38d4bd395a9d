//! Learning-rate schedules shared by every trainer (PPO, SFT, DPO): constant (the StepTool
//! reference), linear and cosine with linear warm-up (the SFT scripts: 4 % warm-up, cosine).

use serde::{Deserialize, Serialize};

/// Learning-rate schedule, evaluated per optimisation step `s` (0-based: a PPO step, an SFT
/// or DPO optimizer step) as a factor on the trainer's base learning rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// Factor 1 (the reference: no scheduler).
    #[default]
    Constant,
    /// Linear warm-up over `warmup_steps`, then linear decay to 0 at `total_steps`.
    Linear {
        /// Warm-up PPO steps.
        warmup_steps: u64,
        /// PPO step at which the rate reaches 0.
        total_steps: u64,
    },
    /// Linear warm-up, then half a cosine down to 0 at `total_steps`.
    Cosine {
        /// Warm-up PPO steps.
        warmup_steps: u64,
        /// PPO step at which the rate reaches 0.
        total_steps: u64,
    },
}

impl LrSchedule {
    /// The factor at PPO step `step`.
    pub fn factor(&self, step: u64) -> f64 {
        let (warm, total) = match *self {
            LrSchedule::Constant => return 1.0,
            LrSchedule::Linear {
                warmup_steps,
                total_steps,
            }
            | LrSchedule::Cosine {
                warmup_steps,
                total_steps,
            } => (warmup_steps, total_steps),
        };
        if step < warm {
            return (step + 1) as f64 / warm as f64;
        }
        let span = total.saturating_sub(warm).max(1) as f64;
        let progress = ((step - warm) as f64 / span).min(1.0);
        match self {
            LrSchedule::Linear { .. } => 1.0 - progress,
            _ => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

impl LrSchedule {
    /// A cosine schedule over `total_steps` with `warmup_fraction` of them warming up (the
    /// paper's SFT: 4 %, at least one step when the fraction is above 0).
    pub fn cosine_with_warmup(total_steps: u64, warmup_fraction: f64) -> Self {
        let warm = (total_steps as f64 * warmup_fraction).ceil() as u64;
        LrSchedule::Cosine {
            warmup_steps: warm.min(total_steps),
            total_steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_warms_up_then_decays_to_zero() {
        // 100 steps, 4 % warm-up = 4 steps: factors 1/4, 2/4, 3/4, 4/4, then cosine from 1.
        let s = LrSchedule::cosine_with_warmup(100, 0.04);
        assert_eq!(
            s,
            LrSchedule::Cosine {
                warmup_steps: 4,
                total_steps: 100
            }
        );
        assert!((s.factor(0) - 0.25).abs() < 1e-12);
        assert!((s.factor(3) - 1.0).abs() < 1e-12);
        assert!((s.factor(4) - 1.0).abs() < 1e-12);
        // half-way through the decay (step 4 + 48): 0.5 * (1 + cos(pi/2)) = 0.5
        assert!((s.factor(52) - 0.5).abs() < 1e-12);
        assert!(s.factor(100).abs() < 1e-12);
        assert_eq!(LrSchedule::Constant.factor(7), 1.0);
    }
}
