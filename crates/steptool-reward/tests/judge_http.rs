//! The LLM judge against a real HTTP server on 127.0.0.1 speaking the chat-completions
//! protocol: normal answers, malformed JSON, wrong array lengths, 429 with Retry-After, 500, a
//! response slower than the timeout, a dropped connection, a 401, the endpoint pool, the
//! concurrency limit, the round cache and the hybrid annotator. Every case ends in a valid
//! annotation or a clear error, with the number of requests asserted.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use common::{args, MockServer, Reply};
use steptool_mdp::pylit::repr_str_list;
use steptool_mdp::{Step, ToolCall, ToolSchema, Trajectory};
use steptool_reward::judge::prompt;
use steptool_reward::reference;
use steptool_reward::{
    annotate_batch, AnnotationCache, AnswerStatus, ApiKey, BatchOptions, Endpoint, Error,
    HybridAnnotator, JudgeConfig, LlmJudgeAnnotator, RetryPolicy, RewardAnnotator,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// Query 56543: two intermediate steps and a Finish.
fn trajectory_56543() -> Result<Trajectory> {
    Ok(reference::read_converted_predictions(fixture(
        "reference/converted_prediction_qwen2_entry_56543.json",
    ))?
    .remove(0))
}

fn config(rounds: usize) -> JudgeConfig {
    JudgeConfig {
        model: "test-judge".into(),
        rounds,
        timeout_secs: 1.0,
        connect_timeout_secs: 1.0,
        retry: RetryPolicy {
            max_attempts: 4,
            initial_backoff_ms: 1,
            max_backoff_ms: 5,
            ..RetryPolicy::default()
        },
        ..JudgeConfig::default()
    }
}

fn judge(server: &MockServer, rounds: usize) -> Result<LlmJudgeAnnotator> {
    Ok(LlmJudgeAnnotator::new(
        config(rounds),
        vec![Endpoint::new(
            &server.url,
            Some(ApiKey::new("sk-test-secret")?),
        )],
    )?)
}

#[test]
fn normal_answers_and_request_shape() -> Result<()> {
    let server = MockServer::start(vec![
        Reply::answer(&args(&[1, 0], &[4, 1], "Solved")),
        Reply::answer(&args(&[1, 1], &[3, 2], "Unsure")),
        Reply::answer(&args(&[0, 1], &[5, 0], "Unsolved")),
    ])?;
    let t = trajectory_56543()?;
    let a = judge(&server, 3)?.annotate(&t)?;
    assert_eq!(server.count(), 3);
    assert_eq!(a.rounds().len(), 3);
    assert_eq!(a.rounds()[0].succeed_tool_calling, vec![1.0, 0.0]);
    assert_eq!(a.rounds()[2].status, AnswerStatus::Unsolved);
    assert_eq!(a.usage().requests, 3);
    // 3 answers x (100 prompt + 20 completion) tokens.
    assert_eq!(
        (a.usage().prompt_tokens, a.usage().completion_tokens),
        (300, 60)
    );
    assert_eq!(a.provenance().model.as_deref(), Some("test-judge"));

    let req = &server.requests()[0];
    assert_eq!(req.authorization.as_deref(), Some("Bearer sk-test-secret"));
    let body = &req.body;
    assert_eq!(body["model"], "test-judge");
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["max_tokens"], 1000);
    assert_eq!(
        body["tool_choice"]["function"]["name"],
        "evaluate_process_reward"
    );
    assert_eq!(
        body["tools"][0]["function"]["name"],
        "evaluate_process_reward"
    );
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1));
    // The prompt embeds mid_steps as the repr of the reference file's answer_steps.
    let entries = reference::read_entries(fixture(
        "reference/reward_annotation_qwen2_entry_56543.json",
    ))?;
    let mid_steps = repr_str_list(&entries[0].1.answer_steps);
    let template = prompt::reference_template()?;
    let final_answer = t.steps()[2].action.call().arguments();
    let expected = template
        .replace("{query}", t.query())
        .replace("{mid_steps}", &mid_steps)
        .replace("{final_answer}", final_answer);
    assert_eq!(
        body["messages"][0]["content"].as_str(),
        Some(expected.as_str())
    );
    assert_eq!(body["messages"][0]["role"], "user");
    Ok(())
}

#[test]
fn malformed_json_is_asked_again() -> Result<()> {
    let server = MockServer::start(vec![
        Reply::raw("{\"choices\": [ this is not json"),
        Reply::answer("{\"succeed_tool_calling\": [1, 0"), // truncated arguments
        Reply::answer(&args(&[1, 1], &[2, 2], "Solved")),
    ])?;
    let a = judge(&server, 1)?.annotate(&trajectory_56543()?)?;
    assert_eq!(server.count(), 3);
    assert_eq!(a.usage().invalid_answers, 2);
    assert_eq!(a.rounds()[0].contributions, vec![2.0, 2.0]);
    Ok(())
}

#[test]
fn wrong_lengths_end_in_an_error_naming_the_trajectory() -> Result<()> {
    // Three answers with one score for two intermediate steps: max_invalid_answers = 3.
    let bad = args(&[1], &[3], "Solved");
    let server = MockServer::start(vec![
        Reply::answer(&bad),
        Reply::answer(&bad),
        Reply::answer(&bad),
    ])?;
    let err = judge(&server, 3)?
        .annotate(&trajectory_56543()?)
        .err()
        .context("accepted a wrong-length answer")?;
    assert_eq!(server.count(), 3);
    let text = err.to_string();
    ensure!(
        matches!(
            err,
            Error::JudgeAnswer {
                attempts: 3,
                round: 0,
                ..
            }
        ) && text.contains("56543")
            && text.contains("2 intermediate step(s)"),
        "{text}"
    );
    Ok(())
}

#[test]
fn rate_limit_honours_retry_after() -> Result<()> {
    let server = MockServer::start(vec![
        Reply::Http(
            429,
            "{\"error\": \"slow down\"}".into(),
            vec![("Retry-After".into(), "1".into())],
        ),
        Reply::answer(&args(&[1, 1], &[1, 1], "Unsure")),
    ])?;
    let start = Instant::now();
    let a = judge(&server, 1)?.annotate(&trajectory_56543()?)?;
    // The backoff is at most 5 ms, so only Retry-After explains a wait of about a second.
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.count(), 2);
    assert_eq!((a.usage().requests, a.usage().retries), (2, 1));
    Ok(())
}

#[test]
fn server_errors_are_retried_then_reported() -> Result<()> {
    let server = MockServer::start(vec![
        Reply::status(500),
        Reply::status(503),
        Reply::answer(&args(&[0, 0], &[0, 0], "Unsolved")),
    ])?;
    let a = judge(&server, 1)?.annotate(&trajectory_56543()?)?;
    assert_eq!(server.count(), 3);
    assert_eq!(a.usage().retries, 2);

    // Always 500: max_attempts = 4 requests, then an error naming the trajectory and status.
    let server = MockServer::start(vec![Reply::status(500); 4])?;
    let err = judge(&server, 1)?
        .annotate(&trajectory_56543()?)
        .err()
        .context("accepted a 500")?;
    assert_eq!(server.count(), 4);
    let text = err.to_string();
    ensure!(
        matches!(err, Error::Http { attempts: 4, .. })
            && text.contains("56543")
            && text.contains("HTTP 500"),
        "{text}"
    );
    Ok(())
}

#[test]
fn slow_response_times_out_and_is_retried() -> Result<()> {
    let server = MockServer::start(vec![
        Reply::Slow(
            Duration::from_millis(2500),
            Box::new(Reply::answer(&args(&[1, 1], &[5, 5], "Solved"))),
        ),
        Reply::answer(&args(&[1, 1], &[4, 4], "Solved")),
    ])?;
    let a = judge(&server, 1)?.annotate(&trajectory_56543()?)?;
    assert_eq!(server.count(), 2);
    // The answer is the second one: the slow one was abandoned at the 1 s timeout.
    assert_eq!(a.rounds()[0].contributions, vec![4.0, 4.0]);
    assert_eq!(a.usage().retries, 1);
    Ok(())
}

#[test]
fn dropped_connection_is_retried() -> Result<()> {
    let server = MockServer::start(vec![
        Reply::Drop,
        Reply::answer(&args(&[1, 0], &[3, 0], "Solved")),
    ])?;
    let a = judge(&server, 1)?.annotate(&trajectory_56543()?)?;
    assert_eq!(server.count(), 2);
    assert_eq!(a.rounds()[0].succeed_tool_calling, vec![1.0, 0.0]);
    Ok(())
}

#[test]
fn unauthorised_fails_at_once_without_leaking_the_key() -> Result<()> {
    // The server echoes the key it rejects, as some do.
    let server = MockServer::start(vec![Reply::Http(
        401,
        r#"{"error": {"message": "Incorrect API key provided: sk-test-secret"}}"#.into(),
        vec![],
    )])?;
    let j = judge(&server, 1)?;
    let err = j
        .annotate(&trajectory_56543()?)
        .err()
        .context("accepted a 401")?;
    assert_eq!(server.count(), 1);
    let shown = format!("{err} {err:?} {j:?}");
    ensure!(
        shown.contains("HTTP 401") && !shown.contains("sk-test-secret"),
        "{shown}"
    );
    Ok(())
}

#[test]
fn endpoint_pool_is_round_robin() -> Result<()> {
    let ok = || Reply::answer(&args(&[1, 1], &[1, 1], "Solved"));
    let a = MockServer::start(vec![ok(), ok()])?;
    let b = MockServer::start(vec![ok(), ok()])?;
    let judge = LlmJudgeAnnotator::new(
        config(4),
        vec![
            Endpoint::new(&a.url, Some(ApiKey::new("key-a")?)),
            Endpoint::new(&b.url, Some(ApiKey::new("key-b")?)),
        ],
    )?;
    judge.annotate(&trajectory_56543()?)?;
    assert_eq!((a.count(), b.count()), (2, 2));
    assert!(a
        .requests()
        .iter()
        .all(|r| r.authorization.as_deref() == Some("Bearer key-a")));
    assert!(b
        .requests()
        .iter()
        .all(|r| r.authorization.as_deref() == Some("Bearer key-b")));
    Ok(())
}

#[test]
fn concurrency_limit_bounds_requests_in_flight() -> Result<()> {
    let slow = || {
        Reply::Slow(
            Duration::from_millis(300),
            Box::new(Reply::answer(&args(&[1, 1], &[2, 2], "Solved"))),
        )
    };
    let server = MockServer::start((0..8).map(|_| slow()).collect())?;
    let judge = LlmJudgeAnnotator::new(
        JudgeConfig {
            concurrency: 2,
            ..config(1)
        },
        vec![Endpoint::new(&server.url, None)],
    )?;
    let t = trajectory_56543()?;
    let batch = vec![t; 8];
    let report = annotate_batch(
        &judge,
        &batch,
        &BatchOptions {
            threads: 8,
            progress: false,
        },
    )?;
    assert_eq!(report.summary.annotated, 8);
    assert_eq!(server.count(), 8);
    // 8 threads, 300 ms answers: requests overlap, but never more than the limit.
    assert_eq!(server.max_in_flight(), 2);
    assert!(server.requests().iter().all(|r| r.authorization.is_none()));
    Ok(())
}

#[test]
fn round_cache_replays_without_requests() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let t = trajectory_56543()?;
    let server = MockServer::start(vec![
        Reply::answer(&args(&[1, 0], &[4, 1], "Solved")),
        Reply::answer(&args(&[0, 1], &[2, 3], "Unsure")),
    ])?;
    let cache = Arc::new(AnnotationCache::open_dir(dir.path())?);
    let first = judge(&server, 2)?.with_cache(cache).annotate(&t)?;
    assert_eq!(server.count(), 2);

    // Reopen: both rounds come from the cache, a third round is asked for.
    let server2 = MockServer::start(vec![Reply::answer(&args(&[1, 1], &[5, 5], "Solved"))])?;
    let cache = Arc::new(AnnotationCache::open_dir(dir.path())?);
    let again = judge(&server2, 3)?.with_cache(cache).annotate(&t)?;
    assert_eq!(server2.count(), 1);
    assert_eq!(again.usage().cache_hits, 2);
    assert_eq!(&again.rounds()[..2], first.rounds());
    assert_eq!(again.rounds()[2].contributions, vec![5.0, 5.0]);
    Ok(())
}

fn step(name: &str, args: &str, obs: &str) -> Step {
    Step::new(ToolCall::new(name, args), Some(obs.into()))
}

#[test]
fn hybrid_zeroes_malformed_calls_and_skips_the_judge_when_rules_decide() -> Result<()> {
    let tools = vec![ToolSchema::named("weather"), ToolSchema::named("Finish")];
    let finish = Step::new(
        ToolCall::new(
            "Finish",
            r#"{"return_type": "give_answer", "final_answer": "sunny"}"#,
        ),
        None,
    );
    let t = Trajectory::new(
        Some("h1".into()),
        "Weather?",
        tools.clone(),
        vec![
            step("made_up_tool", "{}", r#"{"error": "no such function"}"#),
            step(
                "weather",
                r#"{"city": "Paris"}"#,
                r#"{"error": "", "response": "sunny"}"#,
            ),
            finish,
        ],
    )?;
    // The judge says step 0 succeeded and contributed: the rules overrule it.
    let server = MockServer::start(vec![Reply::answer(&args(&[1, 1], &[4, 5], "Solved"))])?;
    let hybrid = HybridAnnotator::new(judge(&server, 1)?);
    let a = hybrid.annotate(&t)?;
    assert_eq!(server.count(), 1);
    assert_eq!(a.rounds()[0].succeed_tool_calling, vec![0.0, 1.0]);
    assert_eq!(a.rounds()[0].contributions, vec![0.0, 5.0]);
    assert_eq!(a.rounds()[0].status, AnswerStatus::Solved);

    // Every call malformed and the model gave up: no request at all.
    let give_up = Trajectory::new(
        Some("h2".into()),
        "Weather?",
        tools,
        vec![
            step("weather", "not json", "{}"),
            Step::new(
                ToolCall::new("Finish", r#"{"return_type": "give_up_and_restart"}"#),
                None,
            ),
        ],
    )?;
    let server = MockServer::start(vec![])?;
    let a = HybridAnnotator::new(judge(&server, 3)?).annotate(&give_up)?;
    assert_eq!(server.count(), 0);
    assert_eq!(a.rounds()[0].succeed_tool_calling, vec![0.0]);
    assert_eq!(a.rounds()[0].status, AnswerStatus::Unsolved);
    Ok(())
}
