//! CoT and DFSDT with scripted agents: backtracking, give-up handling, the query budget and its
//! discarded last call, diversity prompts, output selection and the output formats.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use steptool_env::rollout::{
    read_records, rollout, to_converted_answers, write_records, FinishType, RolloutConfig, Strategy,
};
use steptool_env::synthetic::{
    ExpertAgent, Split, SyntheticBenchmark, SyntheticConfig, SyntheticEnv, SyntheticEnvConfig,
    SyntheticTask,
};
use steptool_env::{Agent, AgentRequest, AgentTurn, Message, Result, Role, StatusCode};
use steptool_mdp::ToolCall;

/// An agent scripted by the number of actions already in the chain.
struct Scripted<F> {
    script: F,
    calls: AtomicUsize,
    diversity_calls: AtomicUsize,
    seen: Mutex<Vec<Vec<Message>>>,
}

impl<F: Fn(usize) -> ToolCall + Send + Sync> Scripted<F> {
    fn new(script: F) -> Self {
        Self {
            script,
            calls: AtomicUsize::new(0),
            diversity_calls: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl<F: Fn(usize) -> ToolCall + Send + Sync> Agent for Scripted<F> {
    fn act(&self, request: &AgentRequest<'_>) -> Result<AgentTurn> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let last = request.messages.last().map(|m| m.role);
        if last == Some(Role::User) && request.messages.len() > 2 {
            self.diversity_calls.fetch_add(1, Ordering::SeqCst);
        }
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(request.messages.to_vec());
        }
        let depth = request
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        Ok(AgentTurn::from_call("scripted", (self.script)(depth)))
    }
}

fn setup() -> Result<(SyntheticEnv, SyntheticTask)> {
    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig::default())?);
    let task = bench.tasks(Split::Test, 1, 0)?.remove(0);
    Ok((
        SyntheticEnv::new(bench, SyntheticEnvConfig::default()),
        task,
    ))
}

fn dfs(max_actions: usize, max_query_count: usize) -> RolloutConfig {
    RolloutConfig {
        strategy: Strategy::Dfsdt,
        max_actions,
        max_query_count,
        ..RolloutConfig::default()
    }
}

fn tool_call(task: &SyntheticTask) -> ToolCall {
    // A real function with bad arguments: a normal (status 0) observation with an error field.
    ToolCall::new(&task.offered[0], "{}")
}

fn give_up() -> ToolCall {
    ToolCall::new("Finish", r#"{"return_type": "give_up_and_restart"}"#)
}

#[test]
fn full_tree_hits_the_budget_and_discards_the_30th_call() -> Result<()> {
    let (env, task) = setup()?;
    let t = task.clone();
    let agent = Scripted::new(move |_| tool_call(&t));
    let r = rollout(&env, &task, &agent, &dfs(4, 30), 0)?;
    // A full binary tree of depth 4 has 2 + 4 + 8 + 16 = 30 calls; the 30th is discarded.
    assert_eq!(agent.calls.load(Ordering::SeqCst), 30);
    assert_eq!(r.query_count, 30);
    assert_eq!(r.tree_size, 29);
    assert_eq!(r.finish_type, FinishType::None);
    assert_eq!(r.final_answer, "");
    // The output is a random walk to a leaf: every leaf is at depth 4.
    assert_eq!(r.trajectory.as_ref().map(|t| t.len()), Some(4));
    // Each of the 15 inner nodes asks for its second child with a diversity prompt.
    assert_eq!(agent.diversity_calls.load(Ordering::SeqCst), 15);
    // A smaller budget stops earlier, again discarding the last call.
    let t = task.clone();
    let agent = Scripted::new(move |_| tool_call(&t));
    let r = rollout(&env, &task, &agent, &dfs(4, 5), 0)?;
    assert_eq!((r.query_count, r.tree_size), (5, 4));
    Ok(())
}

#[test]
fn diversity_prompts_list_previous_candidates_and_stay_in_context() -> Result<()> {
    let (env, task) = setup()?;
    let t = task.clone();
    let agent = Scripted::new(move |_| tool_call(&t));
    rollout(&env, &task, &agent, &dfs(2, 30), 0)?;
    let seen = agent.seen.lock().map(|s| s.clone()).unwrap_or_default();
    // Calls: root->A, A->A1, A->A2 (diverse), root->B (diverse), B->B1, B->B2 (diverse).
    assert_eq!(seen.len(), 6);
    let a2 = seen[2]
        .last()
        .map(|m| m.content.clone())
        .unwrap_or_default();
    assert!(
        a2.starts_with(
            "This is not the first time you try this task, all previous trails failed.\n"
        ),
        "{a2}"
    );
    assert!(
        a2.contains("Here are some previous actions candidates:\n[\n  {\n    \"name\": \""),
        "{a2}"
    );
    assert!(a2.contains("\"mento-carlo-action-value\": 0.0\n  }\n]\nagain, your former observation: {\"error\": "), "{a2}");
    assert!(a2.ends_with("then make actions that is different from all the previous."));
    // The root has no observation: no "again, your former observation" line.
    let b = seen[3]
        .last()
        .map(|m| m.content.clone())
        .unwrap_or_default();
    assert!(b.contains("]\n\nRemember you are now"), "{b}");
    assert!(!b.contains("again, your former observation"));
    // B's subtree keeps the root's diversity prompt, marked invalid (the open-model quirk).
    let b1 = &seen[4];
    assert_eq!(b1[2].role, Role::User);
    assert!(!b1[2].valid);
    assert!(b1[2].content.starts_with("This is not the first time"));
    Ok(())
}

#[test]
fn give_up_backtracks_one_extra_level() -> Result<()> {
    let (env, task) = setup()?;
    let t = task.clone();
    // Act at depth 0, give up at depth 1.
    let agent = Scripted::new(move |depth| if depth == 0 { tool_call(&t) } else { give_up() });
    let r = rollout(&env, &task, &agent, &dfs(4, 30), 0)?;
    // root->A, A->A1 gives up (returns 2), so A returns 1 without trying A2; root->B, B->B1
    // gives up likewise: 4 calls.
    assert_eq!(r.query_count, 4);
    assert_eq!(r.tree_size, 4);
    assert_eq!(r.finish_type, FinishType::GiveUp);
    assert_eq!(r.codes, vec![StatusCode::Normal, StatusCode::GiveUp]);
    assert!(r.final_answer.contains("give_up_and_restart"));
    // An ordinary failure at the same place (a hallucinated name, limit 2 actions) makes the
    // parent try a second child instead: root->A, A1, A2, root->B, B1, B2 = 6 calls.
    let t = task.clone();
    let agent = Scripted::new(move |depth| {
        if depth == 0 {
            tool_call(&t)
        } else {
            ToolCall::new("nope", "{}")
        }
    });
    let r = rollout(&env, &task, &agent, &dfs(2, 30), 0)?;
    assert_eq!((r.query_count, r.finish_type), (6, FinishType::None));
    assert_eq!(r.codes.last(), Some(&StatusCode::HallucinatedName));
    // the renamed call in the messages, the written name in the trajectory
    assert!(r.messages.iter().any(|m| m
        .tool_call
        .as_ref()
        .is_some_and(|c| c.name() == "invalid_hallucination_function_name")));
    assert_eq!(
        r.called_functions().last().map(String::as_str),
        Some("nope")
    );
    Ok(())
}

#[test]
fn success_stops_the_search_and_cot_follows_one_chain() -> Result<()> {
    let (env, task) = setup()?;
    let expert = ExpertAgent::new(std::slice::from_ref(&task));
    let r = rollout(&env, &task, &expert, &dfs(5, 30), 0)?;
    assert_eq!(r.finish_type, FinishType::GiveAnswer);
    assert_eq!(r.query_count, task.plan.len() + 1);
    assert_eq!(r.tree_size, task.plan.len() + 1);
    assert_eq!(r.method, "DFS_woFilter_w2");
    // CoT: the chain stops at the action limit, and a give-up prunes it (no valid answer).
    let cot = RolloutConfig {
        max_actions: 3,
        ..RolloutConfig::default()
    };
    let t = task.clone();
    let agent = Scripted::new(move |_| tool_call(&t));
    let r = rollout(&env, &task, &agent, &cot, 0)?;
    assert_eq!(
        (r.query_count, r.finish_type, r.method.as_str()),
        (3, FinishType::None, "CoT@1")
    );
    let agent = Scripted::new(|_| give_up());
    let r = rollout(&env, &task, &agent, &cot, 0)?;
    assert_eq!((r.query_count, r.finish_type), (1, FinishType::None));
    assert!(r.trajectory.as_ref().is_some_and(|t| t.finish().is_some()));
    Ok(())
}

#[test]
fn records_round_trip_and_convert_to_tooleval() -> Result<()> {
    let (env, task) = setup()?;
    let expert = ExpertAgent::new(std::slice::from_ref(&task));
    let r = rollout(&env, &task, &expert, &dfs(5, 30), 0)?;
    let dir = tempfile::tempdir().map_err(|e| steptool_env::Error::io("tempdir", e))?;
    let path = dir.path().join("t.jsonl");
    write_records(&path, std::slice::from_ref(&r))?;
    assert_eq!(read_records(&path)?, vec![r.clone()]);
    let converted = to_converted_answers(std::slice::from_ref(&r))?;
    let entry = &converted[&task.id];
    assert_eq!(entry["query"], task.query.as_str());
    assert_eq!(entry["answer"]["method"], "DFS_woFilter_w2");
    // system + user + one node per call + Finish
    assert_eq!(entry["answer"]["total_steps"], task.plan.len() + 3);
    assert_eq!(
        entry["available_tools"].as_array().map(Vec::len),
        Some(task.offered.len() + 1)
    );
    let mut node = &entry["answer"]["answer_details"][0];
    let mut roles = Vec::new();
    loop {
        roles.push(node["role"].as_str().unwrap_or("?").to_owned());
        match node["next"].get(0) {
            Some(n) => node = n,
            None => break,
        }
    }
    assert_eq!(roles.len(), task.plan.len() + 3);
    assert_eq!(node["message"]["name"], "Finish");
    assert_eq!(node["message"]["response"], "");
    assert_eq!(
        entry["answer"]["final_answer"],
        node["message"]["arguments"]
    );
    // a malformed line is reported with its number
    std::fs::write(&path, "\n{oops}\n").map_err(|e| steptool_env::Error::io(&path, e))?;
    let err = read_records(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("line 2"), "{err}");
    Ok(())
}

/// Fails on its first call, then behaves as the expert.
struct FailFirst {
    expert: ExpertAgent,
    calls: AtomicUsize,
}

impl Agent for FailFirst {
    fn act(&self, request: &AgentRequest<'_>) -> Result<AgentTurn> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(steptool_env::Error::Agent {
                task: request.task_id.into(),
                message: "server down".into(),
            });
        }
        self.expert.act(request)
    }
}

#[test]
fn agent_errors_fail_the_task_or_prune_a_node() -> Result<()> {
    use steptool_env::rollout::AgentErrors;
    let (env, task) = setup()?;
    let agent = || FailFirst {
        expert: ExpertAgent::new(std::slice::from_ref(&task)),
        calls: AtomicUsize::new(0),
    };
    // default: the rollout fails with the agent's error
    let err = rollout(&env, &task, &agent(), &dfs(5, 30), 0)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("server down"), "{err}");
    // prune (reference): the failed call is a pruned child, the root tries its second child
    let prune = RolloutConfig {
        agent_errors: AgentErrors::Prune,
        ..dfs(5, 30)
    };
    let r = rollout(&env, &task, &agent(), &prune, 0)?;
    assert_eq!(r.finish_type, FinishType::GiveAnswer);
    assert_eq!(r.query_count, task.plan.len() + 2);
    assert_eq!(r.tree_size, task.plan.len() + 2);
    assert_eq!(r.agent_errors.len(), 1);
    // the failed child has no action: no diversity prompt lists it
    assert!(r
        .messages
        .iter()
        .all(|m| !m.content.starts_with("This is not the first time")));
    // CoT: the chain ends at the failed call
    let cot = RolloutConfig {
        agent_errors: AgentErrors::Prune,
        ..RolloutConfig::default()
    };
    let r = rollout(&env, &task, &agent(), &cot, 0)?;
    assert_eq!(
        (r.query_count, r.finish_type, r.trajectory.is_none()),
        (1, FinishType::None, true)
    );
    assert!(r.agent_errors[0].contains("server down"));
    Ok(())
}
