//! `steptool advantages`: per-token rewards, advantages and returns for a batch of episodes
//! (JSON on stdin, JSON on stdout). The work is done by `steptool_advantage::run_json`; this
//! module only turns flags into an `AdvantageConfig`.

use std::io::Write;
use std::process::ExitCode;

use steptool_advantage::{
    run_json, AdvantageConfig, AdvantageEstimator, Estimator, KlEstimator, RewardWeighting,
};

/// Arguments of `steptool advantages`.
///
/// Reads `{"episodes": [{"num_tokens": L, "action_spans": [[s, e], ...], "step_rewards": [...],
/// "logprobs": [...], "ref_logprobs": [...], "values": [...], "bootstrap_value": v}]}` from stdin
/// (`bootstrap_value` optional: present for a truncated episode) and prints `{"episodes":
/// [{"rewards", "advantages_raw", "advantages", "returns", "mask"}], "whiten_mean",
/// "whiten_var"}`; every per-token array has `L - 1` entries.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The advantage estimator (step-gae is the paper; reference-compat the released code).
    #[arg(long, value_enum, default_value_t = EstimatorArg::StepGae)]
    estimator: EstimatorArg,
    /// Step-score weighting of reference-compat [default: reference, i.e. (n-1-k)].
    #[arg(long, value_enum)]
    weighting: Option<WeightingArg>,
    /// Discount gamma.
    #[arg(long, default_value_t = AdvantageConfig::default().gamma)]
    gamma: f64,
    /// GAE lambda.
    #[arg(long, default_value_t = AdvantageConfig::default().lam)]
    lam: f64,
    /// KL coefficient beta of the per-token penalty -beta*kl.
    #[arg(long, default_value_t = AdvantageConfig::default().kl_coef)]
    kl_coef: f64,
    /// Per-token KL estimate.
    #[arg(long, value_enum, default_value_t = KlArg::Kl)]
    kl_estimator: KlArg,
    /// Do not whiten the advantages (whiten_mean / whiten_var are then null).
    #[arg(long)]
    no_whiten: bool,
    /// Replace the intermediate step rewards by 0 (the "w/o step-grained reward" ablation).
    #[arg(long)]
    no_intermediate_rewards: bool,
    /// Add per-step-index means ("step_diagnostics") to the output.
    #[arg(long)]
    diagnostics: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum EstimatorArg {
    StepGae,
    TokenGae,
    FinalReward,
    ReferenceCompat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum WeightingArg {
    Reference,
    Plain,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KlArg {
    Kl,
    Abs,
    Mse,
    K3,
}

impl Args {
    fn config(&self) -> anyhow::Result<AdvantageConfig> {
        let weighting = match self.weighting {
            None | Some(WeightingArg::Reference) => RewardWeighting::Reference,
            Some(WeightingArg::Plain) => RewardWeighting::Plain,
        };
        let estimator = match self.estimator {
            EstimatorArg::StepGae => Estimator::StepGae,
            EstimatorArg::TokenGae => Estimator::TokenGae,
            EstimatorArg::FinalReward => Estimator::FinalReward,
            EstimatorArg::ReferenceCompat => Estimator::ReferenceCompat { weighting },
        };
        if self.weighting.is_some() && !matches!(estimator, Estimator::ReferenceCompat { .. }) {
            anyhow::bail!(
                "--weighting applies to --estimator reference-compat only, not {}",
                estimator.name()
            );
        }
        Ok(AdvantageConfig {
            estimator,
            gamma: self.gamma,
            lam: self.lam,
            kl_coef: self.kl_coef,
            kl_estimator: match self.kl_estimator {
                KlArg::Kl => KlEstimator::Kl,
                KlArg::Abs => KlEstimator::Abs,
                KlArg::Mse => KlEstimator::Mse,
                KlArg::K3 => KlEstimator::K3,
            },
            whiten: !self.no_whiten,
            intermediate_rewards: !self.no_intermediate_rewards,
        })
    }
}

/// Run `steptool advantages`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Causes the messages already carry are printed once by `main`'s report.
    let estimator = AdvantageEstimator::new(args.config()?)?;
    let response = run_json(&estimator, std::io::stdin().lock(), args.diagnostics)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &response)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
