//! Guards every trainer shares against runs that go on without learning.

/// Skipped steps in a row after which an SFT or DPO run stops (PPO's default is the same).
pub const MAX_NONFINITE_STEPS: usize = 3;

/// Stops a run whose updates keep being skipped for a NaN/inf loss or gradient: after `max`
/// skipped steps in a row, the run ends with [`Error::NonFinite`] instead of going on without
/// learning (the SFT and DPO runs; PPO counts inside its trainer, `max_nonfinite_steps`).
#[derive(Debug, Clone)]
pub struct NonFiniteStreak {
    trainer: &'static str,
    max: usize,
    count: usize,
}

impl NonFiniteStreak {
    /// A streak counter for `trainer` that stops after `max` skipped steps in a row.
    pub fn new(trainer: &'static str, max: usize) -> Self {
        NonFiniteStreak {
            trainer,
            max: max.max(1),
            count: 0,
        }
    }

    /// Records step `step` (skipped or not); an error once `max` in a row were skipped.
    pub fn observe(&mut self, step: u64, skipped: bool) -> crate::error::Result<()> {
        if !skipped {
            self.count = 0;
            return Ok(());
        }
        self.count += 1;
        if self.count >= self.max {
            return Err(crate::error::Error::NonFinite {
                trainer: self.trainer,
                step,
                count: self.count,
                detail: "the update was skipped".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod streak_tests {
    use super::NonFiniteStreak;

    #[test]
    fn a_streak_stops_the_run_and_a_finite_step_resets_it() {
        let mut s = NonFiniteStreak::new("SFT", 3);
        for (step, skipped) in [(0, true), (1, true), (2, false), (3, true), (4, true)] {
            assert!(s.observe(step, skipped).is_ok(), "step {step}");
        }
        let e = s.observe(5, true).expect_err("third in a row").to_string();
        assert!(
            e.contains("SFT step 5") && e.contains("3 steps in a row"),
            "{e}"
        );
    }
}
