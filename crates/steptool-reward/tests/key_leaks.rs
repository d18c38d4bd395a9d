//! The judge's key never reaches an error, a log line, a debug print or a written config, even
//! when the endpoint echoes the request headers (`Authorization: Bearer <key>`) in a 200 body
//! that is not JSON, or inside the tool call's arguments, with the judge and with the hybrid.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{ensure, Context, Result};
use steptool_llm::testing::{LoopbackServer, Reply};
use steptool_mdp::Trajectory;
use steptool_reward::{
    reference, ApiKey, Endpoint, Error, HybridAnnotator, JudgeConfig, LlmJudgeAnnotator,
    RetryPolicy, RewardAnnotator,
};

const KEY: &str = "sk-judge-leak-test-42";

fn trajectory_56543() -> Result<Trajectory> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/reference/converted_prediction_qwen2_entry_56543.json");
    Ok(reference::read_converted_predictions(path)?.remove(0))
}

fn judge(server: &LoopbackServer) -> Result<LlmJudgeAnnotator> {
    let config = JudgeConfig {
        model: "test-judge".into(),
        rounds: 1,
        timeout_secs: 5.0,
        connect_timeout_secs: 2.0,
        max_invalid_answers: 3,
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff_ms: 1,
            max_backoff_ms: 2,
            ..RetryPolicy::default()
        },
        ..JudgeConfig::default()
    };
    Ok(LlmJudgeAnnotator::new(
        config,
        vec![Endpoint::new(server.url(), Some(ApiKey::new(KEY)?))],
    )?)
}

fn assert_clean(what: &str, text: &str) -> Result<()> {
    ensure!(
        !text.contains(KEY) && !text.contains("sk-judge-leak") && !text.contains("Bearer"),
        "{what} leaks the key: {text}"
    );
    Ok(())
}

/// A log sink: every line the judge and its client write while `f` runs.
fn with_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink(Arc::new(Mutex::new(Vec::new())));
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let logs = sink
        .0
        .lock()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    (out, logs)
}

fn check_echo(reply: Reply, hybrid: bool) -> Result<()> {
    // max_invalid_answers = 3: three echoed answers, then an error.
    let server = LoopbackServer::start(vec![reply.clone(), reply.clone(), reply])?;
    let annotator: Box<dyn RewardAnnotator> = if hybrid {
        Box::new(HybridAnnotator::new(judge(&server)?))
    } else {
        Box::new(judge(&server)?)
    };
    let t = trajectory_56543()?;
    let (result, logs) = with_logs(|| annotator.annotate(&t));
    let err = result.err().context("accepted an echo as an answer")?;
    let received = server.finish();
    assert_eq!(received.len(), 3);
    // The echo is real: the server saw the key.
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {KEY}"))
    );
    ensure!(
        matches!(err, Error::JudgeAnswer { attempts: 3, .. }),
        "{err:?}"
    );
    let direct = format!("{err} | {err:#} | {err:?}");
    let chained = anyhow::Error::from(err);
    assert_clean(
        "the error",
        &format!("{direct} | {chained:#} | {chained:?}"),
    )?;
    assert!(direct.contains("<redacted>"), "{direct}");
    ensure!(
        logs.contains("asking again"),
        "no log lines captured: {logs}"
    );
    assert_clean("the log", &logs)?;
    Ok(())
}

#[test]
fn headers_echoed_in_a_non_json_body_never_reach_errors_or_logs() -> Result<()> {
    check_echo(Reply::EchoHeaders, false)
}

#[test]
fn headers_echoed_in_tool_call_arguments_never_reach_errors_or_logs() -> Result<()> {
    check_echo(
        Reply::EchoHeadersInToolCall("evaluate_process_reward".into()),
        false,
    )
}

#[test]
fn the_hybrid_annotator_does_not_leak_either() -> Result<()> {
    check_echo(Reply::EchoHeaders, true)?;
    check_echo(
        Reply::EchoHeadersInToolCall("evaluate_process_reward".into()),
        true,
    )
}

#[test]
fn an_echoing_error_status_and_retries_do_not_leak() -> Result<()> {
    // 500 twice (max_attempts = 2) with the headers in the body.
    let echo_500 = Reply::Json(
        500,
        vec![],
        format!("{{\"error\": \"upstream said: Authorization: Bearer {KEY}\"}}"),
    );
    let server = LoopbackServer::start(vec![echo_500.clone(), echo_500])?;
    let j = judge(&server)?;
    let (result, logs) = with_logs(|| {
        j.annotate(&trajectory_56543()?)
            .map_err(anyhow::Error::from)
    });
    let err = result.err().context("accepted a 500")?;
    assert_eq!(server.finish().len(), 2);
    let text = format!("{err} | {err:#} | {err:?}");
    assert_clean("the error", &text)?;
    assert!(text.contains("HTTP 500"), "{text}");
    ensure!(logs.contains("retrying"), "no retry log: {logs}");
    assert_clean("the log", &logs)?;
    Ok(())
}

#[test]
fn configs_and_the_judge_never_show_the_key() -> Result<()> {
    let server = LoopbackServer::start(vec![])?;
    let j = judge(&server)?;
    let endpoint = Endpoint::new("http://127.0.0.1:9/v1", Some(ApiKey::new(KEY)?));
    let texts = [
        serde_json::to_string(&endpoint)?,
        format!("{endpoint:?}"),
        serde_json::to_string(j.config())?,
        format!("{:?}", j.config()),
        serde_json::to_string(j.endpoints())?,
        format!("{j:?}"),
        format!("{:?}", j.client()),
        format!("{:?}", HybridAnnotator::new(judge(&server)?)),
    ];
    for text in &texts {
        assert_clean("a config", text)?;
    }
    assert!(texts[0].contains("<redacted>") && texts[5].contains("<redacted>"));
    // Nothing was sent.
    assert_eq!(j.client().counts().requests, 0);
    Ok(())
}
