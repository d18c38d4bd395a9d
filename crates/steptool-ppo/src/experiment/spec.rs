//! The study's spec: the start, the methods, the shared collection, the update budget and the
//! evaluation, with the `quick` and `full` presets.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use steptool_env::rollout::Strategy;
use steptool_model::{LoraConfig, Precision};

use crate::dpo::DpoConfig;
use crate::embedded::TinyModel;
use crate::error::{Error, Result};
use crate::online::PolicySampling;
use crate::sft::{SftConfig, SftData, SftSpec};
use crate::PpoConfig;

/// One method of the paper's Table 3 (and ours beyond it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The start: SFT on the expert demonstrations (no further training).
    Sft,
    /// Rejection-sampling fine-tuning on the expert data + the solved samples.
    Rft,
    /// PPO with the final reward only (trajectory-level).
    PpoFinal,
    /// ETO: DPO on success/failure pairs of the collection.
    EtoDpo,
    /// StepTool: step-grained rewards + step-grained optimisation (per-step GAE).
    Steptool,
    /// Ablation: step-grained optimisation with the final reward only.
    SteptoolWoStepReward,
    /// Ablation: step rewards, each step its own sub-trajectory trained on its own reward.
    SteptoolWoStepOptimization,
    /// Beyond the paper: StepTool collecting with the current policy every pass.
    SteptoolOnline,
}

impl Method {
    /// Every method, in the report's order.
    pub const ALL: [Method; 8] = [
        Method::Sft,
        Method::Rft,
        Method::PpoFinal,
        Method::EtoDpo,
        Method::Steptool,
        Method::SteptoolWoStepReward,
        Method::SteptoolWoStepOptimization,
        Method::SteptoolOnline,
    ];

    /// The name in specs, directories and `results.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Sft => "sft",
            Method::Rft => "rft",
            Method::PpoFinal => "ppo_final",
            Method::EtoDpo => "eto_dpo",
            Method::Steptool => "steptool",
            Method::SteptoolWoStepReward => "steptool_wo_step_reward",
            Method::SteptoolWoStepOptimization => "steptool_wo_step_optimization",
            Method::SteptoolOnline => "steptool_online",
        }
    }

    /// The row label of the paper's tables.
    pub fn label(self) -> &'static str {
        match self {
            Method::Sft => "SFT",
            Method::Rft => "RFT",
            Method::PpoFinal => "PPO (final reward)",
            Method::EtoDpo => "ETO (DPO)",
            Method::Steptool => "StepTool",
            Method::SteptoolWoStepReward => "  w/o step-grained reward",
            Method::SteptoolWoStepOptimization => "  w/o step-grained optimization",
            Method::SteptoolOnline => "StepTool, online (ours)",
        }
    }

    /// Whether the method trains with PPO (a `steptool train` run with an on-policy spec).
    pub fn is_ppo(self) -> bool {
        matches!(
            self,
            Method::PpoFinal
                | Method::Steptool
                | Method::SteptoolWoStepReward
                | Method::SteptoolWoStepOptimization
                | Method::SteptoolOnline
        )
    }
}

/// The held-out evaluation of every method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StudyEval {
    /// Held-out test tasks (held-out tool combinations included), greedy.
    pub tasks: usize,
    /// Strategies evaluated greedily on `tasks`.
    pub strategies: Vec<Strategy>,
    /// The k of pass@k (CoT, sampled); the largest is the samples per task.
    pub pass_at_k: Vec<usize>,
    /// Tasks of the pass@k evaluation (the first of the test tasks).
    pub pass_at_k_tasks: usize,
    /// Sampling temperature of pass@k.
    pub pass_at_k_temperature: f64,
    /// PPO-family runs also evaluate greedy CoT after every this many passes (the curves of
    /// `training.png`); 0: only at the start and the end.
    pub curve_every: u64,
    /// Test tasks of those curve points (the first of the test tasks; the final numbers use
    /// all `tasks`).
    pub curve_tasks: usize,
}

impl Default for StudyEval {
    fn default() -> Self {
        StudyEval {
            tasks: 32,
            strategies: vec![Strategy::Cot, Strategy::Dfsdt],
            pass_at_k: vec![1, 2, 4, 8],
            pass_at_k_tasks: 8,
            pass_at_k_temperature: 0.7,
            curve_every: 1,
            curve_tasks: 12,
        }
    }
}

/// The whole study (`steptool experiment`). Every method starts from the same SFT checkpoint
/// (`start`), every RL method learns from the same annotation (the benchmark's ground truth
/// through the paper's eq. 3) and the offline ones from the same collection, and every trained
/// method gets the same number of optimizer updates (see [`ExperimentSpec::updates`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Which preset this came from (`quick`, `full`, or anything for a custom spec).
    pub preset: String,
    /// Seeds: each one repeats the collection and every method's training and sampling (the
    /// start and the test tasks are shared).
    pub seeds: Vec<u64>,
    /// The start: an SFT run on the synthetic expert's demonstrations. Its `env` is the
    /// study's environment (benchmark, train/test tasks, chat format, prompt style, sampling
    /// budgets, rollout limits); its `model_dir` a real HF checkpoint to start from (`--model`)
    /// or `None` for the tiny LLaMA of `env.tiny_model`. A LoRA start is merged into its base
    /// once (`start/merged/`), so every method can put its own adapters on the result.
    pub start: SftSpec,
    /// The methods, in the report's order.
    pub methods: Vec<Method>,
    /// Samples per train task of the shared collection (the paper's K = 3).
    pub samples: usize,
    /// Sampling temperature of the collection (the paper's 0.7).
    pub temperature: f64,
    /// Passes of PPO over the collection (the online method: iterations, each collecting
    /// afresh); sets the update budget.
    pub passes: u64,
    /// PPO settings of every PPO-family method (estimator, ablation switches, schedule and
    /// scoring temperature are set per method).
    pub ppo: PpoConfig,
    /// LoRA of every adapter-trained method (PPO family, DPO).
    pub lora: LoraConfig,
    /// RFT's fine-tuning (its `max_steps` is the update budget).
    pub rft: SftConfig,
    /// ETO's DPO (its `max_steps` is the update budget).
    pub dpo: DpoConfig,
    /// The evaluation.
    pub eval: StudyEval,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Precision.
    pub precision: Precision,
    /// CPU threads (0: libtorch's default).
    pub threads: i32,
    /// Progress on stderr.
    pub progress: bool,
}

impl Default for ExperimentSpec {
    fn default() -> Self {
        ExperimentSpec::full()
    }
}

impl ExperimentSpec {
    /// `full`: 3 seeds; the 3.5M-parameter LLaMA of the SFT demo (hidden 256, 4 layers)
    /// fully fine-tuned on 480 expert demonstrations of a world with 400 entities per kind;
    /// 24 train tasks x 3 samples; 2 PPO
    /// passes; 32 test tasks with CoT and DFSDT, pass@k on 8 of them.
    pub fn full() -> Self {
        let mut start = SftSpec {
            run_name: "start".into(),
            eval_pass_rate: false,
            data: SftData::Synthetic { tasks: 480 },
            ..SftSpec::embedded_default()
        };
        // The start recipe (docs/results.md, "The start"): names and ids are split by a
        // tokenizer that never saw this world (as a pretrained tokenizer splits unseen names),
        // tied embeddings, and the next-token loss on the whole conversation so the model
        // learns to copy from its context; 8 epochs of batches of 4.
        start.env.tiny_model.tie_embeddings = true;
        start.env.tiny_model.tokenizer_world_seed = Some(1007);
        start.sft.context_loss_weight = 1.0;
        start.sft.batch_size = 4;
        start.sft.epochs = 6;
        // Test queries name entities that no train query names (the benchmark splits start
        // entities by parity). With the default 40 entities per kind a small model memorises
        // the 20 train names of each kind instead of learning to copy the query's: 400 per
        // kind leaves it nothing to memorise. The same world for every method.
        start.env.benchmark.entities_per_kind = 400;
        let mut s = ExperimentSpec {
            preset: "full".into(),
            seeds: vec![1, 2, 3],
            start,
            methods: Method::ALL.to_vec(),
            samples: 3,
            temperature: 0.7,
            passes: 2,
            ppo: PpoConfig {
                learning_rate: 2e-4,
                batch_size: 8,
                mini_batch_size: 4,
                gradient_accumulation_steps: 2,
                ppo_epochs: 2,
                ..PpoConfig::default()
            },
            lora: LoraConfig {
                r: 16,
                alpha: 32.0,
                target_modules: vec![
                    "q_proj".into(),
                    "k_proj".into(),
                    "v_proj".into(),
                    "o_proj".into(),
                ],
                ..LoraConfig::default()
            },
            rft: SftConfig {
                learning_rate: 1e-4,
                batch_size: 8,
                micro_batch_size: 4,
                full_finetune: true,
                ..SftConfig::default()
            },
            dpo: DpoConfig {
                learning_rate: 2e-4,
                batch_size: 8,
                micro_batch_size: 2,
                ..DpoConfig::default()
            },
            eval: StudyEval::default(),
            device: "cpu".into(),
            precision: Precision::F32,
            threads: 0,
            progress: true,
        };
        s.start.env.train_tasks = 24;
        s.start.env.eval_tasks = s.eval.tasks;
        // DFSDT of a weak policy spends its whole agent-call budget on most tasks: 12 calls
        // (the reference's 30 would triple the evaluation's cost) with width 2.
        s.start.env.rollout.max_query_count = 12;
        s
    }

    /// `quick`: one seed, a 0.2M-parameter LLaMA on 24 demonstrations, 4 train tasks, 4 test
    /// tasks; every method runs and every row of the report is written, in a few minutes.
    /// A smoke test of the whole study (CI runs it), not a measurement.
    pub fn quick() -> Self {
        let mut s = ExperimentSpec::full();
        s.preset = "quick".into();
        s.seeds = vec![1];
        s.passes = 1;
        s.start.data = SftData::Synthetic { tasks: 24 };
        s.start.sft.epochs = 1;
        s.start.sft.batch_size = 8;
        s.start.env.tiny_model = TinyModel {
            hidden: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            intermediate: 128,
            vocab: 600,
            ..s.start.env.tiny_model
        };
        s.start.env.train_tasks = 4;
        s.start.env.sampling = PolicySampling {
            max_new_tokens: 48,
            ..s.start.env.sampling.clone()
        };
        s.start.env.rollout.max_query_count = 8;
        s.samples = 2;
        s.eval = StudyEval {
            tasks: 4,
            pass_at_k_tasks: 2,
            curve_every: 0,
            curve_tasks: 4,
            ..StudyEval::default()
        };
        s.start.env.eval_tasks = s.eval.tasks;
        s
    }

    /// The preset called `name`.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "quick" => Ok(ExperimentSpec::quick()),
            "full" => Ok(ExperimentSpec::full()),
            other => Err(Error::config(
                "preset",
                format!("unknown preset {other:?} (quick or full)"),
            )),
        }
    }

    /// Reads a JSON spec (unknown fields rejected; missing ones from `full`).
    pub fn from_json_file(path: &Path) -> Result<Self> {
        crate::checkpoint::read_spec(path)
    }

    /// Starts the study from a pretrained HF checkpoint (`--model DIR`) with the recipe
    /// measured for one (docs/experiment.md, "From a pretrained model"): LoRA r 16 on every
    /// projection at lr 3e-4, one epoch, the paper's assistant-only loss (the tiny model's
    /// full fine-tuning at lr 1e-3 and context loss would wreck pretrained weights), and RFT
    /// with LoRA at the same rate. The chat format follows the tokenizer's special tokens
    /// (ChatML for SmolLM2 and Qwen2, Llama-3.1 headers, otherwise ToolLLaMA's). The adapter
    /// is merged into the base once (`start/merged/`) and every method starts from that.
    pub fn use_pretrained_start(&mut self, dir: &Path) -> Result<()> {
        let tok = dir.join("tokenizer.json");
        let text = std::fs::read_to_string(&tok).map_err(Error::io(&tok))?;
        self.start.env.chat_format = if text.contains("<|im_start|>") {
            steptool_mdp::ChatFormat::Qwen2
        } else if text.contains("<|start_header_id|>") {
            steptool_mdp::ChatFormat::Llama31
        } else {
            steptool_mdp::ChatFormat::ToolLlama
        };
        self.start.model_dir = Some(dir.to_path_buf());
        self.start.lora = LoraConfig {
            r: 16,
            alpha: 32.0,
            target_modules: steptool_model::lora::TARGETABLE
                .iter()
                .map(|m| m.to_string())
                .collect(),
            ..LoraConfig::default()
        };
        self.start.sft = SftConfig {
            full_finetune: false,
            learning_rate: 3e-4,
            epochs: 1,
            context_loss_weight: 0.0,
            ..self.start.sft.clone()
        };
        self.rft = SftConfig {
            full_finetune: false,
            learning_rate: 3e-4,
            ..self.rft.clone()
        };
        Ok(())
    }

    /// Checks what the study needs beyond each run's own checks.
    pub fn validate(&self) -> Result<()> {
        if self.seeds.is_empty() {
            return Err(Error::config("seeds", "needs at least one seed"));
        }
        if self.methods.is_empty() {
            return Err(Error::config("methods", "needs at least one method"));
        }
        if self.samples == 0 || self.passes == 0 {
            return Err(Error::config("samples / passes", "must be at least 1"));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::config("temperature", "must be finite and > 0"));
        }
        let e = &self.eval;
        if e.tasks == 0 || e.curve_tasks == 0 || e.strategies.is_empty() {
            return Err(Error::config(
                "eval.tasks / curve_tasks / strategies",
                "needs at least one task and one strategy",
            ));
        }
        if e.pass_at_k.contains(&0) || e.pass_at_k_tasks == 0 {
            return Err(Error::config(
                "eval.pass_at_k / pass_at_k_tasks",
                "every k and the task count must be at least 1",
            ));
        }
        if !(e.pass_at_k_temperature.is_finite() && e.pass_at_k_temperature > 0.0) {
            return Err(Error::config(
                "eval.pass_at_k_temperature",
                "must be finite and > 0",
            ));
        }
        self.ppo.validate()?;
        self.rft.validate()?;
        self.dpo.validate()?;
        Ok(())
    }

    /// The update budget: the optimizer updates of one PPO-family run, `passes x
    /// ceil(train_tasks x samples / batch) PPO steps x ppo_epochs x` the optimizer steps per
    /// epoch. RFT and DPO run this many optimizer steps (`max_steps`), each on a batch of their
    /// own `batch_size`.
    pub fn updates(&self) -> u64 {
        let episodes = (self.start.env.train_tasks * self.samples) as u64;
        let steps = self.passes * episodes.div_ceil(self.ppo.batch_size as u64);
        let per_epoch = (self.ppo.batch_size
            / (self.ppo.mini_batch_size * self.ppo.gradient_accumulation_steps))
            .max(1) as u64;
        steps * self.ppo.ppo_epochs as u64 * per_epoch
    }

    /// The directory of one seed's runs under `out`.
    pub fn seed_dir(out: &Path, seed: u64) -> PathBuf {
        out.join(format!("seed-{seed}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type R = std::result::Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn presets_validate_and_round_trip() -> R {
        for name in ["quick", "full"] {
            let s = ExperimentSpec::preset(name)?;
            s.validate()?;
            let json = serde_json::to_string(&s)?;
            let back: ExperimentSpec = serde_json::from_str(&json)?;
            assert_eq!(back, s);
        }
        assert!(ExperimentSpec::preset("medium").is_err());
        let bad = r#"{"seeds": [1], "typo_field": 3}"#;
        assert!(serde_json::from_str::<ExperimentSpec>(bad).is_err());
        Ok(())
    }

    #[test]
    fn the_update_budget_counts_optimizer_steps() {
        let mut s = ExperimentSpec::full();
        s.start.env.train_tasks = 10;
        s.samples = 3;
        s.passes = 2;
        s.ppo.batch_size = 8;
        s.ppo.mini_batch_size = 2;
        s.ppo.gradient_accumulation_steps = 2;
        s.ppo.ppo_epochs = 3;
        // 30 episodes -> 4 PPO steps per pass, 8 in all; 3 epochs x 2 optimizer steps each.
        assert_eq!(s.updates(), 8 * 3 * 2);
    }

    #[test]
    fn bad_specs_name_the_field() {
        let err = |s: &ExperimentSpec| {
            s.validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let mut s = ExperimentSpec::quick();
        s.seeds.clear();
        assert!(err(&s).contains("seeds"));
        let mut s = ExperimentSpec::quick();
        s.eval.pass_at_k = vec![0, 1];
        assert!(err(&s).contains("pass_at_k"));
    }

    #[test]
    fn method_names_are_the_serde_names() -> R {
        for m in Method::ALL {
            let j = serde_json::to_value(m)?;
            assert_eq!(j.as_str(), Some(m.as_str()));
        }
        Ok(())
    }
}
