//! ToolEval's LLM pass-rate judge against a loopback chat-completions server, with the
//! reference templates.

mod common;

use std::path::Path;

use common::{io, serve};
use serde_json::{json, Value};
use steptool_env::metrics::{
    judge_round, AnswerJudge, AnswerStatus, JudgeInput, LlmJudgeConfig, ToolEvalJudge,
    ToolEvalTemplates,
};
use steptool_env::{Error, Result};

fn templates() -> Result<ToolEvalTemplates> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/reference");
    let t = io(
        std::fs::read_to_string(dir.join("tooleval_default_template.txt")),
        "template",
    )?;
    let c = io(
        std::fs::read_to_string(dir.join("tooleval_default_config.yaml")),
        "config",
    )?;
    ToolEvalTemplates::parse(&t, &c)
}

fn reply(status: &str) -> String {
    let args = json!({"answer_status": status}).to_string();
    json!({"choices": [{"message": {"role": "assistant", "content": "reason",
        "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": args}}]}}]})
    .to_string()
}

#[test]
fn check_then_parse_answer_status() -> Result<()> {
    let t = templates()?;
    let prompt = t.prompt(
        "check_answer_status",
        &[("query", "Q?"), ("answer", "A {x}")],
    )?;
    assert!(
        prompt.starts_with("\nGiving the query and answer, you need give `answer_status`"),
        "{prompt}"
    );
    assert!(prompt.contains("Query:\nQ?\nAnswer:\nA {x}\n\nNow give your reason"));

    let (url, server) = serve(vec![
        (200, reply("Unsure"), 0),
        (200, reply("Solved"), 0),
        (200, reply("Unsolved"), 0),
    ])?;
    let base = url.trim_end_matches("/virtual").to_owned() + "/v1";
    let judge = ToolEvalJudge::new(
        t,
        LlmJudgeConfig {
            retry_wait_secs: 0.0,
            attempts: 1,
            ..LlmJudgeConfig::new(base, "judge")
        },
    )?;
    let converted =
        json!({"method": "CoT@1", "total_steps": 3, "final_answer": "x", "answer_details": []});
    let input = JudgeInput {
        query_id: "7",
        query: "Q?",
        finish_arguments: Some(r#"{"return_type": "give_answer", "final_answer": "é"}"#),
        reference_answer: None,
        converted_answer: Some(&converted),
    };
    assert_eq!(judge_round(&input, &judge, 0)?, AnswerStatus::Solved); // Unsure -> parse -> Solved
    assert_eq!(judge.judge(&input, 1)?, AnswerStatus::Unsolved); // decided by the first call
    let bodies = server
        .join()
        .map_err(|_| Error::data("server", "panicked"))?;
    let first: Value = serde_json::from_str(&bodies[0]).map_err(|e| Error::json("body", e))?;
    assert_eq!(
        first["tool_choice"],
        json!({"type": "function", "function": {"name": "check_answer_status"}})
    );
    assert_eq!(first["tools"][0]["function"]["name"], "check_answer_status");
    assert_eq!(
        (
            first["model"].as_str(),
            first["max_tokens"].as_u64(),
            first["temperature"].as_u64()
        ),
        (Some("judge"), Some(1000), Some(0))
    );
    let content = first["messages"][0]["content"].as_str().unwrap_or("");
    assert!(
        content.contains("Answer:\n{\"return_type\": \"give_answer\", \"final_answer\": \"é\"}\n"),
        "{content}"
    );
    let second: Value = serde_json::from_str(&bodies[1]).map_err(|e| Error::json("body", e))?;
    let content = second["messages"][0]["content"].as_str().unwrap_or("");
    // json.dumps of the converted answer (Python separators)
    assert!(
        content.contains(
            r#"Answer:
{"method": "CoT@1", "total_steps": 3, "final_answer": "x", "answer_details": []}"#
        ),
        "{content}"
    );
    Ok(())
}

#[test]
fn bad_judge_output_is_an_error_naming_the_query() -> Result<()> {
    let (url, server) = serve(vec![(200, reply("Maybe"), 0), (200, "{}".into(), 0)])?;
    let base = url.trim_end_matches("/virtual").to_owned() + "/v1";
    let judge = ToolEvalJudge::new(
        templates()?,
        LlmJudgeConfig {
            retry_wait_secs: 0.0,
            attempts: 2,
            ..LlmJudgeConfig::new(base, "j")
        },
    )?;
    let input = JudgeInput {
        query_id: "9",
        query: "Q",
        finish_arguments: Some("{}"),
        reference_answer: None,
        converted_answer: None,
    };
    let err = judge
        .judge(&input, 0)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("query 9")
            && err.contains("2 attempts failed")
            && err.contains("no tool call"),
        "{err}"
    );
    server
        .join()
        .map_err(|_| Error::data("server", "panicked"))?;
    assert!(ToolEvalTemplates::parse(
        "<function><name>x</name>",
        "completions_kwargs: {functions: []}"
    )
    .is_err());
    Ok(())
}

#[test]
fn ties_are_broken_by_select_better_answer() -> Result<()> {
    use std::sync::Arc;
    use steptool_env::metrics::{compare, ExactJudge, ToolEvalPreference, WinRateOutcome};
    use steptool_env::rollout::{rollout, RolloutConfig};
    use steptool_env::synthetic::{
        ExpertAgent, Split, SyntheticBenchmark, SyntheticConfig, SyntheticEnv, SyntheticEnvConfig,
    };

    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig {
        max_calls: 2,
        ..SyntheticConfig::default()
    })?);
    let tasks = bench.tasks(Split::Test, 2, 0)?;
    let env = SyntheticEnv::new(bench, SyntheticEnvConfig::default());
    let expert = ExpertAgent::new(&tasks);
    let reference: Vec<_> = tasks
        .iter()
        .map(|t| rollout(&env, t, &expert, &RolloutConfig::default(), 0))
        .collect::<Result<_>>()?;
    let mut candidate = reference.clone();
    // query 0: a different (still correct) answer -> LLM; query 1: identical -> coin flip, no LLM
    candidate[0].final_answer = candidate[0]
        .final_answer
        .replace("The answer is", "CANDIDATE says");
    let sel = json!({"choices": [{"message": {"role": "assistant", "content": "",
        "tool_calls": [{"id": "1", "type": "function", "function": {"name": "select_better_answer", "arguments": "{\"index\": 0}"}}]}}]})
    .to_string();
    let (url, server) = serve(vec![(200, sel, 0)])?;
    let base = url.trim_end_matches("/virtual").to_owned() + "/v1";
    let judge = ToolEvalJudge::new(
        templates()?,
        LlmJudgeConfig {
            retry_wait_secs: 0.0,
            attempts: 1,
            ..LlmJudgeConfig::new(base, "j")
        },
    )?;
    let tie = ToolEvalPreference::new(&judge, &reference, &candidate, 1);
    let w = compare(&reference, &candidate, &ExactJudge, 1, &tie)?;
    let bodies = server
        .join()
        .map_err(|_| Error::data("server", "panicked"))?;
    assert_eq!(bodies.len(), 1, "identical answers never reach the LLM");
    let body: Value = serde_json::from_str(&bodies[0]).map_err(|e| Error::json("body", e))?;
    let content = body["messages"][0]["content"].as_str().unwrap_or("");
    let answer_0 = content
        .split("Answer_0:\n")
        .nth(1)
        .and_then(|r| r.split("\n\nAnswer_1:").next())
        .unwrap_or("");
    assert!(
        !answer_0.contains("\"method\""),
        "method is removed: {answer_0}"
    );
    assert!(answer_0.starts_with("{\"total_steps\": "), "{answer_0}");
    // index 0 wins: the candidate wins query 0 iff it was shown first
    let q0 = w.per_query.iter().find(|q| q.0 == tasks[0].id).map(|q| q.3);
    let expected = if answer_0.contains("CANDIDATE") {
        WinRateOutcome::Win
    } else {
        WinRateOutcome::Lose
    };
    assert_eq!(q0, Some(expected));
    Ok(())
}

const KEY: &str = "sk-tooleval-leak-test-3";

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(KEY) && !text.contains("sk-tooleval-leak") && !text.contains("Bearer"),
        "{what} leaks the key: {text}"
    );
}

#[test]
fn the_key_is_never_printed_serialised_or_echoed_into_errors() -> Result<()> {
    use steptool_env::openai::ApiKey;
    use steptool_llm::testing::{LoopbackServer, Reply};

    let key = ApiKey::new(KEY)?;
    let config = LlmJudgeConfig {
        api_key: Some(key.clone()),
        ..LlmJudgeConfig::new("http://127.0.0.1:9/v1", "j")
    };
    let written = serde_json::to_string(&config).map_err(|e| Error::json("config", e))?;
    assert_clean("the written config", &written);
    assert!(written.contains("<redacted>"), "{written}");
    assert_clean("the config", &format!("{config:?}"));
    assert_clean(
        "the judge",
        &format!("{:?}", ToolEvalJudge::new(templates()?, config)?),
    );

    // Echoed headers: in a non-JSON body, inside the tool call's arguments, in a 401 body.
    let echo_401 = Reply::Json(
        401,
        vec![],
        format!("{{\"error\": \"Incorrect API key {KEY}\"}}"),
    );
    for (replies, needle) in [
        (vec![Reply::EchoHeaders, Reply::EchoHeaders], "not JSON"),
        (
            vec![
                Reply::EchoHeadersInToolCall("check_answer_status".into()),
                Reply::EchoHeadersInToolCall("check_answer_status".into()),
            ],
            "arguments are not JSON",
        ),
        (vec![echo_401], "HTTP 401"),
    ] {
        let expected = replies.len();
        let server = io(LoopbackServer::start(replies), "server")?;
        let judge = ToolEvalJudge::new(
            templates()?,
            LlmJudgeConfig {
                api_key: Some(key.clone()),
                retry_wait_secs: 0.0,
                attempts: 2,
                ..LlmJudgeConfig::new(server.url(), "j")
            },
        )?;
        let input = JudgeInput {
            query_id: "echo",
            query: "Q",
            finish_arguments: Some("{}"),
            reference_answer: None,
            converted_answer: None,
        };
        let err = judge.judge(&input, 0).err();
        // A 401 is not retried.
        assert_eq!(server.finish().len(), expected);
        let text = format!(
            "{err:?} {}",
            err.as_ref()
                .map(|e| format!("{e} {e:#}"))
                .unwrap_or_default()
        );
        assert!(
            text.contains("query echo") && text.contains(needle),
            "{text}"
        );
        assert_clean("the error", &text);
    }
    Ok(())
}
