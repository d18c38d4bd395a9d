//! DFSDT (`Algorithms/DFS.py`, method `DFS_woFilter_w2`, formats.md §5.3).
//!
//! `dfs(node)` returns a "backtrack distance":
//! 1. a node at the action limit, pruned or terminal: terminal → success, return 2; otherwise
//!    it is pruned; a give-up (status 4) is recorded and returns 2; anything else returns 1;
//! 2. up to `width` times: if the node already has children, a diversity prompt listing them is
//!    appended to the node's messages (and kept, marked `valid: false`, in every later prompt of
//!    the subtree, as the open-model wrappers do); ask the agent; count the call and **if the
//!    count reaches `max_query_count` return 100000 at once, discarding that completion**;
//!    expand the child (status 3 → terminal, status 4 → pruned); `r = dfs(child)`; after a
//!    success return 10000; if `r > 1` return `r - 1`;
//! 3. return 1.
//!
//! So an ordinary failure makes the parent try another child, a give-up abandons the parent
//! state too, and success or the budget unwinds everything. A full binary tree of depth 4 is
//! 2 + 4 + 8 + 16 = 30 calls: the budget, whose last call is discarded.
//!
//! Output (`to_json`): the first success chain; else a give-up chain chosen at random (seeded);
//! else (`valid_data: false`) a random walk from the root, as ToolEval's converter does.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::{ask, AgentErrors, Chain, FinishType, RolloutConfig, RolloutRecord};
use crate::agent::Agent;
use crate::conversation::Message;
use crate::env::{Context, Environment, StatusCode, StepStatus};
use crate::error::Result;
use crate::pyjson;

/// The reference's `DIVERSITY_PROMPT` with `{previous_candidate}` still in it.
pub const DIVERSITY_PROMPT: &str = "This is not the first time you try this task, all previous trails failed.\nBefore you generate my thought for this state, I will first show you your previous actions for this state, and then you must generate actions that is different from all of them. Here are some previous actions candidates:\n{previous_candidate}\nRemember you are now in the intermediate state of a trail, you will first analyze the now state and previous action candidates, then make actions that is different from all the previous.";

struct Node<E> {
    env: E,
    chain: Chain,
    children: Vec<usize>,
    pruned: bool,
    terminal: bool,
    code: Option<StatusCode>,
    observation: String,
    /// A failed agent call (reference: a pruned Thought node without an action).
    failed: bool,
}

struct Search<'a, E, A: ?Sized> {
    nodes: Vec<Node<E>>,
    agent: &'a A,
    context: &'a Context,
    config: &'a RolloutConfig,
    sample: usize,
    queries: usize,
    success: Option<usize>,
    give_ups: Vec<usize>,
    errors: Vec<String>,
}

impl<E: Environment, A: Agent + ?Sized> Search<'_, E, A> {
    fn diversity_prompt(&self, idx: usize) -> Option<String> {
        let node = &self.nodes[idx];
        if node.children.is_empty() {
            return None;
        }
        let candidates: Vec<serde_json::Value> = node
            .children
            .iter()
            .filter(|&&c| !self.nodes[c].failed)
            .filter_map(|&c| {
                let child = &self.nodes[c];
                let step = child.chain.steps.last()?;
                let call = step.action.call();
                Some(json!({
                    "name": call.name(),
                    "arguments": call.arguments(),
                    "function_output": child.observation,
                    "mento-carlo-action-value": 0.0,
                }))
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let mut text = format!(
            "{}\n",
            pyjson::dumps(&serde_json::Value::Array(candidates), Some(2))
        );
        if !node.observation.is_empty() {
            text.push_str(&format!(
                "again, your former observation: {}\n",
                node.observation
            ));
        }
        Some(DIVERSITY_PROMPT.replace("{previous_candidate}", &text))
    }

    fn dfs(&mut self, idx: usize) -> Result<u64> {
        {
            let node = &mut self.nodes[idx];
            if node.chain.steps.len() >= self.config.max_actions || node.pruned || node.terminal {
                if node.terminal {
                    if self.success.is_none() {
                        self.success = Some(idx);
                    }
                    return Ok(2);
                }
                node.pruned = true;
                if node.code == Some(StatusCode::GiveUp) {
                    self.give_ups.push(idx);
                    return Ok(2);
                }
                return Ok(1);
            }
        }
        for _ in 0..self.config.width {
            let diversity = self.diversity_prompt(idx);
            let had_prompt = diversity.is_some();
            if let Some(prompt) = diversity {
                self.nodes[idx].chain.messages.push(Message::user(prompt));
            }
            let asked = ask(
                self.agent,
                self.context,
                self.sample,
                &self.nodes[idx].chain.messages,
            );
            if had_prompt {
                if let Some(m) = self.nodes[idx].chain.messages.last_mut() {
                    m.valid = false;
                }
            }
            self.queries += 1;
            if self.queries >= self.config.max_query_count {
                return Ok(100_000);
            }
            let turn = match asked {
                Ok(turn) => turn,
                Err(e) if self.config.agent_errors == AgentErrors::Prune => {
                    self.errors.push(e.to_string());
                    let parent = &self.nodes[idx];
                    let child = Node {
                        env: parent.env.clone(),
                        chain: parent.chain.clone(),
                        children: Vec::new(),
                        pruned: true,
                        terminal: false,
                        code: None,
                        observation: String::new(),
                        failed: true,
                    };
                    let c = self.nodes.len();
                    self.nodes.push(child);
                    self.nodes[idx].children.push(c);
                    // a pruned child returns 1: the node tries its next child
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut env = self.nodes[idx].env.clone();
            let transition = env.step(&turn.call)?;
            let mut chain = self.nodes[idx].chain.clone();
            chain.push(turn, &transition);
            let child = Node {
                env,
                chain,
                children: Vec::new(),
                pruned: transition.code == StatusCode::GiveUp
                    || transition.status == StepStatus::Truncated,
                terminal: transition.code == StatusCode::FinalAnswer,
                code: Some(transition.code),
                observation: transition.observation,
                failed: false,
            };
            let c = self.nodes.len();
            self.nodes.push(child);
            self.nodes[idx].children.push(c);
            let r = self.dfs(c)?;
            if self.success.is_some() {
                return Ok(10_000);
            }
            if r > 1 {
                return Ok(r - 1);
            }
        }
        Ok(1)
    }
}

/// Run DFSDT on an environment that was just reset to `context`.
pub fn run_dfsdt<E: Environment, A: Agent + ?Sized>(
    env: E,
    context: &Context,
    agent: &A,
    config: &RolloutConfig,
    sample: usize,
) -> Result<RolloutRecord> {
    let root = Node {
        env,
        chain: Chain::new(context),
        children: Vec::new(),
        pruned: false,
        terminal: false,
        code: None,
        observation: String::new(),
        failed: false,
    };
    let mut search = Search {
        nodes: vec![root],
        agent,
        context,
        config,
        sample,
        queries: 0,
        success: None,
        give_ups: Vec::new(),
        errors: Vec::new(),
    };
    search.dfs(0)?;
    let mut rng = ChaCha8Rng::seed_from_u64(
        config.seed ^ (sample as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    let (chosen, finish) = if let Some(s) = search.success {
        (s, FinishType::GiveAnswer)
    } else if let Some(&g) = search.give_ups.choose(&mut rng) {
        (g, FinishType::GiveUp)
    } else {
        let mut at = 0;
        while let Some(&next) = search.nodes[at].children.choose(&mut rng) {
            at = next;
        }
        (at, FinishType::None)
    };
    let tree_size = search.nodes.len() - 1;
    let queries = search.queries;
    let errors = std::mem::take(&mut search.errors);
    let chain = search.nodes.swap_remove(chosen).chain;
    let mut record =
        chain.into_record(context, sample, config.method(), finish, queries, tree_size)?;
    record.agent_errors = errors;
    Ok(record)
}
