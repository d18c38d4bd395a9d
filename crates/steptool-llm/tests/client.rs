//! The client against loopback servers: echoed keys never reach an error, retries honour
//! `Retry-After` and are counted, 4xx fail at once, the concurrency limit holds across clones.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use steptool_llm::testing::{LoopbackServer, Reply};
use steptool_llm::{
    ApiKey, Client, ClientOptions, Endpoint, Error, RequestCounts, RetryPolicy, CHAT_COMPLETIONS,
};

const KEY: &str = "sk-llm-test-0123456789";

fn options(max_attempts: u32) -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(5),
        connect_timeout: Some(Duration::from_secs(2)),
        retry: RetryPolicy {
            max_attempts,
            initial_backoff_ms: 1,
            max_backoff_ms: 5,
            ..RetryPolicy::default()
        },
        concurrency: None,
    }
}

fn client(server: &LoopbackServer, max_attempts: u32) -> Result<Client> {
    Ok(Client::single(
        Endpoint::new(server.url(), Some(ApiKey::new(KEY)?)),
        options(max_attempts),
    )?)
}

/// Every way an error is printed, with and without anyhow's chain.
fn shown(err: Error) -> String {
    let direct = format!("{err} | {err:#} | {err:?}");
    let chained = anyhow::Error::from(err);
    format!("{direct} | {chained:#} | {chained:?}")
}

fn assert_clean(text: &str) -> Result<()> {
    ensure!(
        !text.contains(KEY) && !text.contains("sk-llm-test") && !text.contains("Bearer"),
        "leaked: {text}"
    );
    Ok(())
}

#[test]
fn configs_and_the_client_never_show_the_key() -> Result<()> {
    let endpoint = Endpoint::new("http://127.0.0.1:9/v1", Some(ApiKey::new(KEY)?));
    let client = Client::single(endpoint.clone(), ClientOptions::default())?;
    let texts = [
        serde_json::to_string(&endpoint)?,
        format!("{endpoint:?}"),
        format!("{client:?}"),
        format!("{:?}", client.redactor()),
        format!("{:?}", ApiKey::new(KEY)?),
    ];
    for text in &texts {
        assert_clean(text)?;
    }
    assert!(texts[0].contains("<redacted>"));
    // What we write cannot be read back as a key.
    assert!(serde_json::from_str::<Endpoint>(&texts[0]).is_err());
    let read: Endpoint =
        serde_json::from_value(json!({"base_url": "http://h/v1", "api_key": KEY}))?;
    assert_eq!(read.api_key, Some(ApiKey::new(KEY)?));
    Ok(())
}

#[test]
fn a_key_with_a_line_break_is_rejected_without_being_quoted() -> Result<()> {
    let bad = format!("{KEY}\r\nX-Injected: yes");
    let err = ApiKey::new(bad.as_str()).err().context("accepted CR/LF")?;
    let text = shown(err);
    assert_clean(&text)?;
    assert!(
        text.contains("not visible ASCII") && !text.contains("Injected"),
        "{text}"
    );
    let from_config =
        serde_json::from_value::<Endpoint>(json!({"base_url": "http://h", "api_key": bad}));
    let text = format!("{:?}", from_config.err());
    assert_clean(&text)?;
    assert!(text.contains("not visible ASCII"), "{text}");
    Ok(())
}

#[test]
fn echoed_headers_never_reach_an_error() -> Result<()> {
    // 200 with a non-JSON body echoing the headers, twice (max_attempts = 2).
    let server = LoopbackServer::start(vec![Reply::EchoHeaders, Reply::EchoHeaders])?;
    let c = client(&server, 2)?;
    let err = c
        .post_json(CHAT_COMPLETIONS, &json!({"model": "m"}))
        .err()
        .context("accepted a text body")?;
    let received = server.finish();
    assert_eq!(received.len(), 2);
    // The server did see the key: the echo is real.
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {KEY}"))
    );
    assert!(matches!(err, Error::Invalid { attempts: 2, .. }), "{err:?}");
    let text = shown(err);
    assert_clean(&text)?;
    assert!(
        text.contains("not JSON") && text.contains("<redacted>"),
        "{text}"
    );

    // The echo inside a tool call's arguments, quoted by the caller's check.
    let server = LoopbackServer::start(vec![Reply::EchoHeadersInToolCall("echo".into())])?;
    let c = client(&server, 1)?;
    let err = c
        .post_json_with(CHAT_COMPLETIONS, &json!({}), |v| {
            let args = v
                .pointer("/choices/0/message/tool_calls/0/function/arguments")
                .and_then(Value::as_str)
                .ok_or("no tool call")?;
            serde_json::from_str::<Value>(args)
                .map_err(|e| format!("arguments are not JSON ({e}): {args}"))
        })
        .err()
        .context("accepted echoed arguments")?;
    assert_eq!(server.finish().len(), 1);
    let text = shown(err);
    assert_clean(&text)?;
    assert!(text.contains("arguments are not JSON"), "{text}");

    // An error status with the echo in the body (as a 401 page may), and the text reply path.
    let echo_401 = Reply::Json(401, vec![], format!("{{\"error\": \"bad key {KEY}\"}}"));
    let server = LoopbackServer::start(vec![echo_401, Reply::EchoHeaders])?;
    let c = client(&server, 3)?;
    let err = c
        .post_text(CHAT_COMPLETIONS, &json!({}))
        .err()
        .context("accepted a 401")?;
    assert_eq!(err.status(), Some(401));
    let text = shown(err);
    assert_clean(&text)?;
    // The text path returns the body as is (the caller's to handle), but its redactor cleans it.
    let reply = c.post_text(CHAT_COMPLETIONS, &json!({}))?;
    assert!(reply.value.contains(KEY));
    assert_clean(&c.redactor().redact(&reply.value))?;
    assert_eq!(server.finish().len(), 2);
    Ok(())
}

#[test]
fn rate_limits_are_retried_after_retry_after_and_counted() -> Result<()> {
    let server = LoopbackServer::start(vec![
        Reply::Json(
            429,
            vec![("Retry-After".into(), "0".into())],
            "{\"error\": \"slow down\"}".into(),
        ),
        Reply::ok("{\"ok\": true}"),
    ])?;
    let c = Client::single(
        Endpoint::new(server.url(), None),
        ClientOptions {
            // Without Retry-After the first wait would be 10 s: only the header explains a
            // quick success.
            retry: RetryPolicy {
                initial_backoff_ms: 10_000,
                jitter: false,
                ..RetryPolicy::default()
            },
            ..options(3)
        },
    )?;
    let start = Instant::now();
    let reply = c.post_json_with(CHAT_COMPLETIONS, &json!({}), |v| Ok(v["ok"].clone()))?;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(reply.value, json!(true));
    assert_eq!((reply.requests, reply.retries), (2, 1));
    assert_eq!(
        c.counts(),
        RequestCounts {
            requests: 2,
            retries: 1
        }
    );
    assert_eq!(server.finish().len(), 2);
    Ok(())
}

#[test]
fn client_errors_fail_at_once_server_errors_are_retried() -> Result<()> {
    let server = LoopbackServer::start(vec![Reply::status(400)])?;
    let c = client(&server, 4)?;
    let err = c
        .post_json(CHAT_COMPLETIONS, &json!({}))
        .err()
        .context("accepted 400")?;
    assert!(
        matches!(
            err,
            Error::Status {
                status: 400,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.finish().len(), 1);

    let server = LoopbackServer::start(vec![
        Reply::status(500),
        Reply::status(503),
        Reply::status(502),
    ])?;
    let c = client(&server, 3)?;
    let err = c
        .post_json(CHAT_COMPLETIONS, &json!({}))
        .err()
        .context("accepted 5xx")?;
    assert!(
        matches!(
            err,
            Error::Status {
                status: 502,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("HTTP 502"), "{err}");
    assert_eq!(
        c.counts(),
        RequestCounts {
            requests: 3,
            retries: 2
        }
    );
    assert_eq!(server.finish().len(), 3);

    // Nobody listening: a transport error after every attempt, counted as sent.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let c = Client::single(
        Endpoint::new(
            format!("http://127.0.0.1:{port}/v1"),
            Some(ApiKey::new(KEY)?),
        ),
        options(2),
    )?;
    let err = c
        .post_json(CHAT_COMPLETIONS, &json!({}))
        .err()
        .context("connected to nothing")?;
    assert!(
        matches!(err, Error::Transport { attempts: 2, .. }),
        "{err:?}"
    );
    assert_clean(&shown(err))?;
    assert_eq!(
        c.counts(),
        RequestCounts {
            requests: 2,
            retries: 1
        }
    );
    Ok(())
}

#[test]
fn endpoints_are_round_robin_with_their_own_keys() -> Result<()> {
    let a = LoopbackServer::start(vec![Reply::status(500), Reply::ok("{}")])?;
    let b = LoopbackServer::start(vec![Reply::ok("{}")])?;
    let c = Client::new(
        vec![
            Endpoint::new(a.url(), Some(ApiKey::new("key-a")?)),
            Endpoint::new(b.url(), None),
        ],
        options(2),
    )?;
    // a: 500, retried on b; the next call goes to a again.
    c.post_json(CHAT_COMPLETIONS, &json!({}))?;
    c.post_json(CHAT_COMPLETIONS, &json!({}))?;
    let (a, b) = (a.finish(), b.finish());
    assert_eq!((a.len(), b.len()), (2, 1));
    assert!(a
        .iter()
        .all(|r| r.header("authorization").as_deref() == Some("Bearer key-a")));
    assert_eq!(b[0].header("authorization"), None);
    assert!(
        a[0].head.starts_with("POST /v1/chat/completions "),
        "{}",
        a[0].head
    );
    Ok(())
}

#[test]
fn concurrency_limit_is_shared_by_clones() -> Result<()> {
    let slow = || Reply::Slow(Duration::from_millis(200), Box::new(Reply::ok("{}")));
    let server = LoopbackServer::start((0..6).map(|_| slow()).collect())?;
    let c = Client::single(
        Endpoint::new(server.url(), None),
        ClientOptions {
            concurrency: Some(2),
            ..options(1)
        },
    )?;
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let c = c.clone();
                s.spawn(move || c.post_json(CHAT_COMPLETIONS, &json!({})).is_ok())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .collect()
    });
    assert_eq!(results, vec![true; 6]);
    // 6 threads, 200 ms answers: requests overlap, but never more than the limit.
    assert_eq!(server.max_in_flight(), 2);
    assert_eq!(
        c.counts(),
        RequestCounts {
            requests: 6,
            retries: 0
        }
    );
    assert_eq!(server.finish().len(), 6);
    // Settings are checked once.
    let bad = Client::single(
        Endpoint::new("http://h", None),
        ClientOptions {
            concurrency: Some(0),
            ..options(1)
        },
    );
    assert!(matches!(
        bad,
        Err(Error::Config {
            field: "concurrency",
            ..
        })
    ));
    assert!(Client::single(Endpoint::new("localhost:8000", None), options(1)).is_err());
    assert!(Client::new(vec![], options(1)).is_err());
    Ok(())
}
