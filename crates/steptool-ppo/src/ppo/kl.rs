//! The KL coefficient controller (TRL's `AdaptiveKLController` / `FixedKLController`).

use serde::{Deserialize, Serialize};

use crate::config::KlControl;

/// The current KL coefficient `β` and how it moves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KlController {
    /// The setting.
    pub control: KlControl,
    /// The current `β`.
    pub value: f64,
}

impl KlController {
    /// A controller at its initial value.
    pub fn new(control: KlControl) -> Self {
        let value = match control {
            KlControl::Adaptive { init, .. } => init,
            KlControl::Fixed { coef } => coef,
        };
        KlController { control, value }
    }

    /// Updates `β` after a PPO step with batch-mean KL `current` over `n_steps` episodes:
    /// `β ← β·(1 + clip(current/target − 1, −0.2, 0.2)·n_steps/horizon)`; fixed: unchanged.
    pub fn update(&mut self, current: f64, n_steps: usize) {
        if let KlControl::Adaptive {
            target, horizon, ..
        } = self.control
        {
            let err = (current / target - 1.0).clamp(-0.2, 0.2);
            self.value *= 1.0 + err * n_steps as f64 / horizon;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_and_fixed() {
        let mut c = KlController::new(KlControl::default());
        // KL 12 vs target 6: error clipped to 0.2; 0.3·(1 + 0.2·8/10000) = 0.3·1.00016 = 0.300048
        c.update(12.0, 8);
        assert!((c.value - 0.300048).abs() < 1e-12);
        // KL 4.5: error 4.5/6 − 1 = −0.25 -> −0.2; 0.300048·(1 − 0.00016)
        c.update(4.5, 8);
        assert!((c.value - 0.300048 * (1.0 - 0.00016)).abs() < 1e-12);
        let mut f = KlController::new(KlControl::Fixed { coef: 0.05 });
        f.update(100.0, 8);
        assert_eq!(f.value, 0.05);
    }
}
