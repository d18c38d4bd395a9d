//! Scripted agents for the synthetic benchmark: the expert, a noisy expert and a random policy.
//!
//! All three are pure functions of the request: randomness is seeded from a stable hash of
//! (seed, task id, sample, conversation), so rollouts are reproducible under any thread
//! schedule, and a DFSDT retry (whose conversation carries a diversity prompt) gets a fresh draw,
//! like a sampled model would.

use std::collections::HashMap;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use steptool_mdp::{ToolCall, FINISH_TOOL};

use super::tasks::SyntheticTask;
use crate::agent::{Agent, AgentRequest, AgentTurn};
use crate::conversation::{Message, Role};
use crate::error::{Error, Result};

/// FNV-1a, 64 bit: a hash that is stable across platforms and Rust versions.
fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A seeded generator for this request.
fn request_rng(seed: u64, request: &AgentRequest<'_>) -> ChaCha8Rng {
    let mut h = fnv1a(&seed.to_le_bytes(), 0xcbf2_9ce4_8422_2325);
    h = fnv1a(request.task_id.as_bytes(), h);
    h = fnv1a(&(request.sample as u64).to_le_bytes(), h);
    for m in request.messages {
        h = fnv1a(m.role.as_str().as_bytes(), h);
        h = fnv1a(m.content.as_bytes(), h);
        if let Some(c) = &m.tool_call {
            h = fnv1a(c.name().as_bytes(), h);
            h = fnv1a(c.arguments().as_bytes(), h);
        }
        h = fnv1a(&[0xff], h);
    }
    ChaCha8Rng::seed_from_u64(h)
}

fn finish_answer(answer: &str) -> ToolCall {
    ToolCall::new(
        FINISH_TOOL,
        json!({"return_type": "give_answer", "final_answer": answer}).to_string(),
    )
}

/// The calls made so far in a conversation (assistant tool calls, in order).
fn calls_made(messages: &[Message]) -> Vec<&ToolCall> {
    messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .filter_map(|m| m.tool_call.as_ref())
        .collect()
}

/// The expert: follows the task's plan, reading the conversation to see which plan calls are
/// done (a call counts when the same function was called with equal parsed arguments), and
/// finishes with the ground-truth answer. It solves every task in `plan.len() + 1` actions.
#[derive(Debug, Clone)]
pub struct ExpertAgent {
    tasks: Arc<HashMap<String, SyntheticTask>>,
}

impl ExpertAgent {
    /// An expert that knows these tasks.
    pub fn new(tasks: &[SyntheticTask]) -> Self {
        Self {
            tasks: Arc::new(tasks.iter().map(|t| (t.id.clone(), t.clone())).collect()),
        }
    }

    fn task(&self, id: &str) -> Result<&SyntheticTask> {
        self.tasks.get(id).ok_or_else(|| Error::Agent {
            task: id.to_owned(),
            message: "the expert has no ground truth for this task".into(),
        })
    }

    /// The expert's next action: the first plan call not yet made, or the final answer.
    pub fn next_call(&self, request: &AgentRequest<'_>) -> Result<(String, ToolCall)> {
        let task = self.task(request.task_id)?;
        let made = calls_made(request.messages);
        let mut used = vec![false; made.len()];
        for planned in &task.plan {
            let want: Option<Value> = serde_json::from_str(&planned.arguments).ok();
            let found = made.iter().enumerate().position(|(k, c)| {
                !used[k] && c.name() == planned.name && c.parsed_arguments() == want.as_ref()
            });
            match found {
                Some(k) => used[k] = true,
                None => {
                    return Ok((
                        format!("I should call {} next.", planned.name),
                        ToolCall::new(&planned.name, &planned.arguments),
                    ))
                }
            }
        }
        Ok((
            "I have everything I need to answer.".into(),
            finish_answer(&format!("The answer is {}.", task.answer)),
        ))
    }
}

impl Agent for ExpertAgent {
    fn act(&self, request: &AgentRequest<'_>) -> Result<AgentTurn> {
        let (thought, call) = self.next_call(request)?;
        Ok(AgentTurn::from_call(thought, call))
    }
}

/// The mistakes a noisy expert makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseKind {
    /// Call another offered function with the expert's arguments.
    WrongTool,
    /// Call the right function with a corrupted argument value.
    WrongArgument,
    /// Finish now with a made-up answer.
    PrematureFinish,
}

/// The expert, erring with probability `p` at every turn; the error kind is drawn uniformly
/// from `kinds`. After a mistake it carries on with the plan, so wrong calls waste steps (fatal
/// under a tight step limit, recoverable by DFSDT's backtracking) and premature finishes end the
/// episode unsolved. At the answer turn a wrong tool wastes a step and a wrong argument corrupts
/// the answer (the premature-finish error does not apply there).
#[derive(Debug, Clone)]
pub struct NoisyExpertAgent {
    expert: ExpertAgent,
    p: f64,
    seed: u64,
    kinds: Vec<NoiseKind>,
}

impl NoisyExpertAgent {
    /// A noisy expert with error probability `p` in [0, 1] over all three error kinds.
    pub fn new(tasks: &[SyntheticTask], p: f64, seed: u64) -> Result<Self> {
        Self::with_kinds(
            tasks,
            p,
            seed,
            vec![
                NoiseKind::WrongTool,
                NoiseKind::WrongArgument,
                NoiseKind::PrematureFinish,
            ],
        )
    }

    /// A noisy expert making only the given kinds of error.
    pub fn with_kinds(
        tasks: &[SyntheticTask],
        p: f64,
        seed: u64,
        kinds: Vec<NoiseKind>,
    ) -> Result<Self> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::config("noise", format!("{p} is not a probability")));
        }
        if kinds.is_empty() && p > 0.0 {
            return Err(Error::config(
                "noise kinds",
                "p > 0 needs at least one error kind",
            ));
        }
        Ok(Self {
            expert: ExpertAgent::new(tasks),
            p,
            seed,
            kinds,
        })
    }
}

fn corrupt(value: &str, rng: &mut ChaCha8Rng) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    if chars.is_empty() {
        return "x".into();
    }
    let k = rng.gen_range(0..chars.len());
    let replacement = if chars[k].is_ascii_digit() {
        char::from(b'0' + ((chars[k] as u8 - b'0' + rng.gen_range(1..10)) % 10))
    } else if chars[k] == 'Q' {
        'Z'
    } else {
        'Q'
    };
    chars[k] = replacement;
    chars.into_iter().collect()
}

impl Agent for NoisyExpertAgent {
    fn act(&self, request: &AgentRequest<'_>) -> Result<AgentTurn> {
        let (thought, call) = self.expert.next_call(request)?;
        let mut rng = request_rng(self.seed, request);
        if !rng.gen_bool(self.p) {
            return Ok(AgentTurn::from_call(thought, call));
        }
        let kind = *self
            .kinds
            .choose(&mut rng)
            .unwrap_or(&NoiseKind::PrematureFinish);
        let args: Option<serde_json::Map<String, Value>> =
            call.parsed_arguments().and_then(Value::as_object).cloned();
        let others: Vec<&str> = request
            .functions
            .iter()
            .filter_map(|f| f.pointer("/function/name").and_then(Value::as_str))
            .filter(|n| *n != FINISH_TOOL && *n != call.name())
            .collect();
        let turn = match (kind, args) {
            // At the answer turn: a wrong tool wastes a step, a wrong argument corrupts the
            // answer, and "premature" finishing is simply finishing.
            (NoiseKind::WrongTool, _) => match others.choose(&mut rng) {
                Some(other) => {
                    let args = if call.is_finish() {
                        "{}".to_owned()
                    } else {
                        call.arguments().to_owned()
                    };
                    AgentTurn::from_call(
                        format!("I should call {other} next."),
                        ToolCall::new(*other, args),
                    )
                }
                None => AgentTurn::from_call(thought, call),
            },
            (NoiseKind::WrongArgument, Some(mut args)) => {
                for (key, v) in args.iter_mut() {
                    if let Value::String(s) = v {
                        if key != "return_type" {
                            *s = corrupt(s, &mut rng);
                        }
                    }
                }
                AgentTurn::from_call(
                    thought,
                    ToolCall::new(call.name(), Value::Object(args).to_string()),
                )
            }
            (NoiseKind::PrematureFinish, _) if !call.is_finish() => AgentTurn::from_call(
                "I think I know the answer already.",
                finish_answer(&format!("The answer is {}.", rng.gen_range(0..100_000))),
            ),
            _ => AgentTurn::from_call(thought, call),
        };
        Ok(turn)
    }
}

/// A uniformly random policy: picks any offered function (including `Finish`) and fills its
/// required parameters with random strings; `Finish` answers a random number.
#[derive(Debug, Clone)]
pub struct RandomAgent {
    seed: u64,
}

impl RandomAgent {
    /// A random agent with this seed.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }
}

impl Agent for RandomAgent {
    fn act(&self, request: &AgentRequest<'_>) -> Result<AgentTurn> {
        let mut rng = request_rng(self.seed, request);
        let f = request
            .functions
            .choose(&mut rng)
            .ok_or_else(|| Error::Agent {
                task: request.task_id.to_owned(),
                message: "no functions on offer".into(),
            })?;
        let name = f
            .pointer("/function/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if name == FINISH_TOOL {
            return Ok(AgentTurn::from_call(
                "Let me answer.",
                finish_answer(&format!("The answer is {}.", rng.gen_range(0..100_000))),
            ));
        }
        let mut args = serde_json::Map::new();
        if let Some(Value::Array(required)) = f.pointer("/function/parameters/required") {
            for p in required.iter().filter_map(Value::as_str) {
                let s: String = (0..6)
                    .map(|_| char::from(rng.gen_range(b'A'..=b'Z')))
                    .collect();
                args.insert(p.to_owned(), Value::String(s));
            }
        }
        Ok(AgentTurn::from_call(
            "Let me try this.",
            ToolCall::new(name, Value::Object(args).to_string()),
        ))
    }
}
