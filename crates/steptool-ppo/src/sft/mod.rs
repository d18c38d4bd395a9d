//! Supervised fine-tuning (`steptool sft`): the start point of every StepTool run (ToolLLaMA is
//! an SFT'd LLaMA-2) and the SFT baseline of the paper's Table 3. Shares the optimizer,
//! schedule, checkpoint bundle, metrics and plot with PPO ([`crate::common`]).

pub mod app;
pub mod trainer;

pub use app::{run_sft, SftData, SftSpec, SftSummary};
pub use trainer::{SftConfig, SftMetrics, SftState, SftTrainer};
