//! Direct preference optimisation (`steptool dpo`): the ETO baseline of the paper's Table 3.
//! The policy explores (K samples per task at temperature T), its successes are paired with its
//! failures of the same task, and the sigmoid DPO loss trains LoRA adapters against the
//! adapter-free base as the reference ([`trainer`]). Pairs can also come from the reference's
//! pair file ([`pairs`]). Shares the optimizer, schedule, checkpoint bundle, metrics and plot
//! with PPO and SFT ([`crate::common`]).

pub mod app;
pub mod pairs;
pub mod trainer;

pub use app::{run_dpo, DpoData, DpoSpec, DpoSummary};
pub use pairs::{exploration_pairs, read_pair_file, PairRow, PairStats};
pub use trainer::{
    dpo_loss, DpoConfig, DpoEval, DpoMetrics, DpoState, DpoTerms, DpoTrainer, PairLogps,
    PreferencePair,
};
