//! The OpenAI-compatible completions agent against a loopback server: prompt rendering,
//! request fields, token information, retries, timeouts and errors.

mod common;

use std::sync::Arc;

use common::serve;
use serde_json::Value;
use steptool_env::openai::{OpenAiAgent, OpenAiAgentConfig};
use steptool_env::rollout::{rollout, FinishType, RolloutConfig};
use steptool_env::synthetic::{
    Split, SyntheticBenchmark, SyntheticConfig, SyntheticEnv, SyntheticEnvConfig,
};
use steptool_env::{Agent, AgentRequest, Environment, Error, Message, Result};
use steptool_mdp::{ChatFormat, ToolCall};

fn config(url: &str) -> OpenAiAgentConfig {
    let base = url.trim_end_matches("/virtual").to_owned() + "/v1";
    OpenAiAgentConfig {
        retry_wait_secs: 0.0,
        timeout_secs: 2.0,
        attempts: 2,
        ..OpenAiAgentConfig::new(base, "m", ChatFormat::Qwen2)
    }
}

fn parse(body: &str) -> Result<Value> {
    serde_json::from_str(body).map_err(|e| Error::json("request body", e))
}

#[test]
fn renders_the_reference_prompt_and_parses_the_completion() -> Result<()> {
    let (url, server) = serve(vec![(
        200,
        r#"{"choices": [{"text": "Thought: look\nAction: f_for_t\nAction Input: {\"a\": 1}", "logprobs": {"tokens": ["token_id:7", "token_id:9"], "token_logprobs": [-0.5, -0.25]}}]}"#.into(),
        0,
    )])?;
    let agent = OpenAiAgent::new(OpenAiAgentConfig {
        token_info: true,
        ..config(&url)
    })?;
    let functions = vec![
        serde_json::json!({"type": "function", "function": {"name": "f_for_t", "description": "d"}}),
    ];
    let mut diversity = Message::user("try something else");
    diversity.valid = false;
    let messages = vec![
        Message::system("SYS with a function call to actually excute your step. END"),
        Message::user("\nQ\nBegin!\n"),
        Message::assistant("t0", ToolCall::new("g", "{}")),
        Message::tool("g", "{\"error\": \"\", \"response\": 1}"),
        diversity,
    ];
    let turn = agent.act(&AgentRequest {
        task_id: "q1",
        sample: 0,
        messages: &messages,
        functions: &functions,
    })?;
    assert_eq!(turn.thought, "look");
    assert_eq!(
        (turn.call.name(), turn.call.arguments()),
        ("f_for_t", "{\"a\": 1}")
    );
    assert_eq!(turn.token_ids, Some(vec![7, 9]));
    assert_eq!(turn.logprobs, Some(vec![-0.5, -0.25]));
    let bodies = server
        .join()
        .map_err(|_| Error::data("server", "panicked"))?;
    let body = parse(&bodies[0])?;
    let expected_prompt = "<|im_start|>system\nSYS with a function call to actually excute your step. Your output should follow this format:\nThought:\nAction\nAction Input:\n END\nSpecifically, you have access to the following APIs: [{'name': 'f_for_t', 'description': 'd'}]<|im_end|>\n\
<|im_start|>user\n\nQ\nBegin!\n<|im_end|>\n\
<|im_start|>assistant\nThought: t0\nAction: g\nAction Input: {}<|im_end|>\n\
<|im_start|>function\n{\"error\": \"\", \"response\": 1}<|im_end|>\n\
<|im_start|>user\ntry something else<|im_end|>\n\
<|im_start|>assistant\n";
    assert_eq!(body["prompt"], expected_prompt);
    assert_eq!(body["model"], "m");
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(body["truncate_prompt_tokens"], 7100);
    assert_eq!(body["logprobs"], 1);
    assert_eq!(body["echo"], false);
    assert_eq!(
        body["stop"],
        serde_json::json!(["<|im_end|>", "<|endoftext|>"])
    );
    // without rendering invalid messages the diversity prompt disappears
    let quiet = OpenAiAgent::new(OpenAiAgentConfig {
        render_invalid_messages: false,
        ..config(&url)
    })?;
    let prompt = quiet.render(&AgentRequest {
        task_id: "q1",
        sample: 0,
        messages: &messages,
        functions: &functions,
    });
    assert!(!prompt.contains("try something else"));
    Ok(())
}

#[test]
fn retries_then_fails_with_a_clear_error() -> Result<()> {
    // 500, then a body without choices: both attempts fail.
    let (url, server) = serve(vec![(500, "boom".into(), 0), (200, "{}".into(), 0)])?;
    let agent = OpenAiAgent::new(config(&url))?;
    let messages = vec![Message::system("S"), Message::user("U")];
    let err = agent
        .act(&AgentRequest {
            task_id: "q7",
            sample: 0,
            messages: &messages,
            functions: &[],
        })
        .err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("task q7")
            && text.contains("2 attempts failed")
            && text.contains("no choices"),
        "{text}"
    );
    server
        .join()
        .map_err(|_| Error::data("server", "panicked"))?;
    // a slow server times out; the second attempt succeeds
    let (url, server) = serve(vec![
        (200, r#"{"choices": [{"text": "late"}]}"#.into(), 3000),
        (
            200,
            r#"{"choices": [{"text": "Action: x\nAction Input: {}"}]}"#.into(),
            0,
        ),
    ])?;
    let agent = OpenAiAgent::new(config(&url))?;
    let turn = agent.act(&AgentRequest {
        task_id: "q8",
        sample: 0,
        messages: &messages,
        functions: &[],
    })?;
    assert_eq!(turn.call.name(), "x");
    server
        .join()
        .map_err(|_| Error::data("server", "panicked"))?;
    // token info requested but the server does not send ids
    let (url, server) = serve(vec![(
        200,
        r#"{"choices": [{"text": "t", "logprobs": {"tokens": ["a"], "token_logprobs": [-1.0]}}]}"#
            .into(),
        0,
    )])?;
    let agent = OpenAiAgent::new(OpenAiAgentConfig {
        token_info: true,
        attempts: 1,
        ..config(&url)
    })?;
    let err = agent
        .act(&AgentRequest {
            task_id: "q9",
            sample: 0,
            messages: &messages,
            functions: &[],
        })
        .err();
    assert!(err
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("token_id:N"));
    server
        .join()
        .map_err(|_| Error::data("server", "panicked"))?;
    assert!(OpenAiAgent::new(OpenAiAgentConfig::new(
        "localhost:8000",
        "m",
        ChatFormat::Qwen2
    ))
    .is_err());
    Ok(())
}

#[test]
fn drives_a_rollout() -> Result<()> {
    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig {
        min_calls: 1,
        max_calls: 1,
        ..SyntheticConfig::default()
    })?);
    let task = bench.tasks(Split::Test, 1, 0)?.remove(0);
    let call = &task.plan[0];
    let first = format!(
        r#"{{"choices": [{{"text": "Thought: search\nAction: {}\nAction Input: {}"}}]}}"#,
        call.name,
        call.arguments.replace('"', "\\\"")
    );
    let finish = format!(
        r#"{{"choices": [{{"text": "Thought: done\nAction: Finish\nAction Input: {{\"return_type\": \"give_answer\", \"final_answer\": \"{}\"}}"}}]}}"#,
        task.answer
    );
    let (url, server) = serve(vec![(200, first, 0), (200, finish, 0)])?;
    let env = SyntheticEnv::new(bench.clone(), SyntheticEnvConfig::default());
    let agent = OpenAiAgent::new(config(&url))?;
    let r = rollout(&env, &task, &agent, &RolloutConfig::default(), 0)?;
    assert_eq!(r.finish_type, FinishType::GiveAnswer);
    assert!(r.final_answer.contains(&task.answer));
    let bodies = server
        .join()
        .map_err(|_| Error::data("server", "panicked"))?;
    // the second prompt carries the first observation
    let second = parse(&bodies[1])?;
    let obs = r
        .trajectory
        .as_ref()
        .and_then(|t| t.steps()[0].observation.clone())
        .unwrap_or_default();
    assert!(second["prompt"]
        .as_str()
        .unwrap_or("")
        .contains(&format!("<|im_start|>function\n{obs}<|im_end|>")));
    let mut env2 = SyntheticEnv::new(bench, SyntheticEnvConfig::default());
    assert!(env2
        .reset(&task)?
        .system
        .contains("Task description: You should use functions"));
    Ok(())
}

const KEY: &str = "sk-agent-leak-test-7";

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(KEY) && !text.contains("sk-agent-leak") && !text.contains("Bearer"),
        "{what} leaks the key: {text}"
    );
}

#[test]
fn the_key_is_never_printed_serialised_or_echoed_into_errors() -> Result<()> {
    use steptool_env::openai::ApiKey;
    use steptool_llm::testing::{LoopbackServer, Reply};

    // Configs and the agent.
    let key = ApiKey::new(KEY)?;
    let with_key = OpenAiAgentConfig {
        api_key: Some(key.clone()),
        ..config("http://127.0.0.1:9/virtual")
    };
    let written = serde_json::to_string(&with_key).map_err(|e| Error::json("config", e))?;
    assert_clean("the written config", &written);
    assert!(written.contains("\"api_key\":\"<redacted>\""), "{written}");
    assert_clean("the config", &format!("{with_key:?}"));
    assert_clean("the agent", &format!("{:?}", OpenAiAgent::new(with_key)?));
    // A config read from JSON takes the key; one with a line break in the key is rejected.
    let read: OpenAiAgentConfig = serde_json::from_value(serde_json::json!({
        "base_url": "http://h/v1", "model": "m", "chat_format": "qwen2", "api_key": KEY}))
    .map_err(|e| Error::json("config", e))?;
    assert_eq!(read.api_key, Some(key.clone()));
    let bad = serde_json::from_value::<OpenAiAgentConfig>(serde_json::json!({
        "base_url": "http://h/v1", "model": "m", "chat_format": "qwen2",
        "api_key": format!("{KEY}\r\nX: y")}));
    assert_clean("the CR/LF error", &format!("{:?}", bad.err()));

    // A server echoing the request headers in a 200 body that is not JSON, on both attempts.
    let server = common::io(
        LoopbackServer::start(vec![Reply::EchoHeaders, Reply::EchoHeaders]),
        "server",
    )?;
    let agent = OpenAiAgent::new(OpenAiAgentConfig {
        api_key: Some(key),
        ..config(&format!("{}/virtual", server.url().trim_end_matches("/v1")))
    })?;
    let messages = vec![Message::system("S"), Message::user("U")];
    let err = agent
        .act(&AgentRequest {
            task_id: "q-echo",
            sample: 0,
            messages: &messages,
            functions: &[],
        })
        .err();
    let received = server.finish();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {KEY}"))
    );
    assert!(received[0].head.starts_with("POST /v1/completions "));
    let text = format!(
        "{err:?} {}",
        err.as_ref()
            .map(|e| format!("{e} {e:#}"))
            .unwrap_or_default()
    );
    assert!(
        text.contains("2 attempts failed") && text.contains("not JSON"),
        "{text}"
    );
    assert!(text.contains("<redacted>"), "{text}");
    assert_clean("the error", &text);
    assert_eq!(agent.client().counts().requests, 2);
    Ok(())
}
