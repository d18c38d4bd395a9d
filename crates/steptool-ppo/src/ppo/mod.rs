//! StepTool's PPO: the config, one step ([`trainer`]), its loss and KL controller, the episode
//! data, the offline loop ([`run`]) and the whole run behind `steptool train` ([`app`]).

pub mod app;
pub mod config;
pub mod data;
pub mod kl;
pub mod loss;
pub mod plot;
pub mod run;
pub mod trainer;
