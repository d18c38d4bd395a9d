//! The synthetic benchmark as an [`Environment`].

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use steptool_mdp::ToolCall;

use super::tasks::{Split, SyntheticConfig, SyntheticTask, TaskGenerator};
use super::world::{Api, WorldTool, TOOL_GROUPS};
use crate::env::{
    is_finish_call, no_such_function, reference_finish, system_prompt, task_description,
    user_prompt, Context, Environment, StatusCode, StepStatus, Transition,
};
use crate::error::{Error, Result};
use crate::pyjson::truncate_observation;
use crate::tool::{NameMatch, Tool, ToolRegistry};

/// The benchmark: task generator plus every tool of the world.
#[derive(Debug, Clone)]
pub struct SyntheticBenchmark {
    generator: TaskGenerator,
    tools: HashMap<String, Arc<dyn Tool>>,
}

impl SyntheticBenchmark {
    /// Build from a config (validated here).
    pub fn new(config: SyntheticConfig) -> Result<Self> {
        let generator = TaskGenerator::new(config)?;
        let tools = Api::all()
            .into_iter()
            .map(|api| {
                let tool: Arc<dyn Tool> = Arc::new(WorldTool::new(api, generator.world().clone()));
                (api.function_name(), tool)
            })
            .collect();
        Ok(Self { generator, tools })
    }

    /// The task generator (world, templates, split).
    pub fn generator(&self) -> &TaskGenerator {
        &self.generator
    }

    /// `n` tasks of a split (see [`TaskGenerator::tasks`]).
    pub fn tasks(&self, split: Split, n: usize, seed: u64) -> Result<Vec<SyntheticTask>> {
        self.generator.tasks(split, n, seed)
    }

    /// The tool with this exact function name.
    pub fn tool(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name)
    }

    /// The registry of the tools a task offers, in prompt order.
    pub fn registry_for(&self, task: &SyntheticTask) -> Result<ToolRegistry> {
        let mut registry = ToolRegistry::new();
        for name in &task.offered {
            let tool = self.tools.get(name).ok_or_else(|| {
                Error::data(
                    format!("synthetic task {}", task.id),
                    format!("offers unknown function `{name}`"),
                )
            })?;
            registry.register(tool.clone())?;
        }
        Ok(registry)
    }
}

/// Environment settings shared with the StableToolBench environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticEnvConfig {
    /// Observations longer than this many characters are cut and get `"..."`. Default 1024.
    pub max_observation_length: usize,
    /// How called names are matched. Default: the reference's suffix match.
    pub name_match: NameMatch,
    /// Steps after which a non-finishing step is [`StepStatus::Truncated`]. Default none (the
    /// rollout strategies enforce their own step limit).
    pub max_steps: Option<usize>,
}

impl Default for SyntheticEnvConfig {
    fn default() -> Self {
        Self {
            max_observation_length: 1024,
            name_match: NameMatch::Suffix,
            max_steps: None,
        }
    }
}

/// One episode on the synthetic benchmark.
#[derive(Debug, Clone)]
pub struct SyntheticEnv {
    bench: Arc<SyntheticBenchmark>,
    config: SyntheticEnvConfig,
    registry: Option<ToolRegistry>,
    steps: usize,
    success: bool,
}

impl SyntheticEnv {
    /// An environment over `bench`.
    pub fn new(bench: Arc<SyntheticBenchmark>, config: SyntheticEnvConfig) -> Self {
        Self {
            bench,
            config,
            registry: None,
            steps: 0,
            success: false,
        }
    }
}

impl Environment for SyntheticEnv {
    type Task = SyntheticTask;

    fn reset(&mut self, task: &SyntheticTask) -> Result<Context> {
        let registry = self.bench.registry_for(task)?;
        let mut groups: Vec<(String, String)> = Vec::new();
        for tool in registry.tools() {
            let group = tool.name().rsplit("_for_").next().unwrap_or("");
            if let Some((name, _, desc)) = TOOL_GROUPS.iter().find(|(n, _, _)| *n == group) {
                groups.push(((*name).to_owned(), (*desc).to_owned()));
            }
        }
        let context = Context {
            query_id: task.id.clone(),
            query: task.query.clone(),
            system: system_prompt(&task_description(&groups)),
            user: user_prompt(&task.query),
            functions: registry.functions(),
            relevant_functions: task.relevant.clone(),
            reference_answer: Some(task.answer.clone()),
        };
        self.registry = Some(registry);
        self.steps = 0;
        self.success = false;
        Ok(context)
    }

    fn step(&mut self, call: &ToolCall) -> Result<Transition> {
        let registry = self
            .registry
            .as_ref()
            .ok_or_else(|| Error::data("synthetic environment", "step() before reset()"))?;
        self.steps += 1;
        let mut transition = if is_finish_call(call) {
            let f = reference_finish(call.arguments());
            if f.code == StatusCode::FinalAnswer {
                self.success = true;
            }
            Transition::from_code(f.observation, f.code)
        } else {
            match registry.resolve(call.name(), self.config.name_match) {
                Some(tool) => {
                    let out = tool.call(call.arguments());
                    let code = StatusCode::from_error_field(&out.error);
                    Transition::from_code(
                        truncate_observation(
                            out.to_observation(),
                            self.config.max_observation_length,
                        ),
                        code,
                    )
                }
                None => Transition::from_code(
                    no_such_function(call.name()),
                    StatusCode::HallucinatedName,
                ),
            }
        };
        if transition.status == StepStatus::Continue
            && self.config.max_steps.is_some_and(|m| self.steps >= m)
        {
            transition.status = StepStatus::Truncated;
        }
        Ok(transition)
    }

    fn succeeded(&self) -> bool {
        self.success
    }
}
