//! The 7B path on a loopback server: rollouts through [`ServerGenerator`] and adapter
//! publishing through [`AdapterRegistry`], against an OpenAI-compatible server written here
//! that answers `/v1/completions` with its own copy of the tiny model (vLLM's answer shape:
//! `return_tokens_as_token_ids`, `token_logprobs`, `stop_reason`) and implements
//! `/v1/load_lora_adapter` and `/v1/unload_lora_adapter` (plain-text answers, as vLLM).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use steptool_env::rollout::{RolloutConfig, RolloutRecord};
use steptool_env::synthetic::{
    Split, SyntheticBenchmark, SyntheticConfig, SyntheticEnv, SyntheticEnvConfig,
};
use steptool_llm::testing::{LoopbackServer, Reply};
use steptool_llm::{Client, ClientOptions, Endpoint, RetryPolicy};
use steptool_mdp::ChatFormat;
use steptool_model::{
    FinishReason, GenerationConfig, LoadOptions, LoraConfig, Model, RowRequest, Sampling,
};
use steptool_ppo::app::{tiny_llama_config, train_tokenizer};
use steptool_ppo::online::run::synthetic_texts;
use steptool_ppo::online::server::{AdapterRegistry, LogprobsMode, ServerConfig, ServerGenerator};
use steptool_ppo::online::{
    policy_rollouts, Generator, OnPolicySpec, PolicySampling, PromptStyle, Renderer,
};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Tests that seed libtorch's global generator run one at a time.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Most requests one test server answers, and how long it lives.
const MAX_REQUESTS: usize = 400;
const LIFETIME: Duration = Duration::from_secs(120);

/// What the test server does with an adapter load.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Loads {
    /// Loads the adapter directory into its model before serving the adapter's name.
    Applied,
    /// Answers "Success" and registers the name, but keeps serving the weights it has.
    Ignored,
}

struct ServerState {
    model: Model,
    tokenizer: tokenizers::Tokenizer,
    loads: Loads,
    /// Served adapter names and their directories (`None`: a load that was ignored).
    adapters: HashMap<String, Option<PathBuf>>,
    /// The adapter whose weights the model holds.
    active: Option<String>,
}

/// A vLLM-like server on 127.0.0.1 owning its own model (a `tch::Tensor` is not `Sync`), one
/// request per connection, at most [`MAX_REQUESTS`] and [`LIFETIME`]; stops when dropped.
struct TestServer {
    url: String,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn start_server(model: Model, tokenizer: tokenizers::Tokenizer, loads: Loads) -> R<TestServer> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    listener.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut state = ServerState {
            model,
            tokenizer,
            loads,
            adapters: HashMap::new(),
            active: None,
        };
        let deadline = Instant::now() + LIFETIME;
        let mut served = 0;
        while served < MAX_REQUESTS && Instant::now() < deadline && !flag.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    served += 1;
                    let _ = handle(stream, &mut state);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(_) => break,
            }
        }
    });
    Ok(TestServer {
        url,
        stop,
        handle: Some(handle),
    })
}

fn read_request(stream: &mut TcpStream) -> std::io::Result<(String, String)> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk)?;
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if body.len() >= len || n == 0 {
                let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                return Ok((path, body.to_owned()));
            }
        } else if n == 0 {
            return Ok((String::new(), String::new()));
        }
    }
}

fn handle(mut stream: TcpStream, state: &mut ServerState) -> std::io::Result<()> {
    let (path, body) = read_request(&mut stream)?;
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let (status, content_type, answer) = match path.as_str() {
        "/v1/completions" => match complete(state, &request) {
            Ok(v) => (200, "application/json", v.to_string()),
            Err((code, m)) => (
                code,
                "application/json",
                json!({"error": {"message": m}}).to_string(),
            ),
        },
        "/v1/load_lora_adapter" => load(state, &request),
        "/v1/unload_lora_adapter" => {
            let name = request["lora_name"].as_str().unwrap_or("");
            match state.adapters.remove(name) {
                Some(_) => (
                    200,
                    "text/plain",
                    format!("Success: LoRA adapter '{name}' removed successfully."),
                ),
                None => (
                    404,
                    "application/json",
                    json!({"error": {"message": format!("adapter {name} not found")}}).to_string(),
                ),
            }
        }
        _ => (
            404,
            "application/json",
            json!({"error": {"message": "no such route"}}).to_string(),
        ),
    };
    let out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

fn load(state: &mut ServerState, request: &Value) -> (u16, &'static str, String) {
    let (Some(name), Some(path)) = (request["lora_name"].as_str(), request["lora_path"].as_str())
    else {
        return (
            400,
            "application/json",
            json!({"error": {"message": "lora_name and lora_path"}}).to_string(),
        );
    };
    if state.adapters.contains_key(name) {
        return (
            400,
            "application/json",
            json!({"error": {"message": format!("{name} is already loaded")}}).to_string(),
        );
    }
    let dir = match state.loads {
        Loads::Applied => Some(PathBuf::from(path)),
        Loads::Ignored => None,
    };
    state.adapters.insert(name.to_owned(), dir);
    (
        200,
        "text/plain",
        format!("Success: LoRA adapter '{name}' added successfully."),
    )
}

fn complete(state: &mut ServerState, r: &Value) -> Result<Value, (u16, String)> {
    let bad = |m: &str| (400, m.to_owned());
    let name = r["model"].as_str().ok_or_else(|| bad("model"))?.to_owned();
    let dir = state
        .adapters
        .get(&name)
        .ok_or_else(|| (404, format!("The model `{name}` does not exist.")))?
        .clone();
    if let Some(dir) = dir {
        if state.active.as_deref() != Some(&name) {
            state
                .model
                .load_adapter(&dir)
                .map_err(|e| (500, format!("{e:#}")))?;
            state.active = Some(name.clone());
        }
    }
    if r["return_tokens_as_token_ids"] != json!(true) || r["logprobs"] != json!(1) {
        return Err(bad(
            "this test server only answers with token ids and log-probs",
        ));
    }
    let prompt: Vec<i64> = r["prompt"]
        .as_array()
        .ok_or_else(|| bad("prompt must be token ids"))?
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    let max_tokens = r["max_tokens"].as_u64().ok_or_else(|| bad("max_tokens"))? as usize;
    let temperature = r["temperature"].as_f64().unwrap_or(1.0);
    let top_p = r["top_p"].as_f64().unwrap_or(1.0);
    let sampling = if temperature == 0.0 {
        Sampling::ArgMax
    } else if let Some(k) = r["top_k"].as_u64() {
        Sampling::TopK {
            k: k as usize,
            temperature,
        }
    } else if top_p < 1.0 {
        Sampling::TopP {
            p: top_p,
            temperature,
        }
    } else {
        Sampling::Temperature { temperature }
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let stop_strings = strings(&r["stop"]);
    let cfg = GenerationConfig {
        max_new_tokens: max_tokens,
        sampling,
        stop_token_ids: r["stop_token_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default(),
        stop_strings: stop_strings.clone(),
        ignore_eos: r["ignore_eos"].as_bool().unwrap_or(false),
        // vLLM's default `--logprobs-mode raw_logprobs`.
        tempered_logprobs: false,
        ..GenerationConfig::default()
    };
    let row = RowRequest {
        prompt,
        seed: r["seed"].as_u64().unwrap_or(0),
        max_new_tokens: max_tokens,
    };
    let tokenizer = &state.tokenizer;
    let decode = |ids: &[i64]| -> String {
        let ids: Vec<u32> = ids.iter().map(|&t| t as u32).collect();
        tokenizer.decode(&ids, false).unwrap_or_default()
    };
    let g = state
        .model
        .generate_rows(std::slice::from_ref(&row), &cfg, Some(&decode))
        .map_err(|e| (400, format!("{e:#}")))?
        .remove(0);
    let text = decode(&g.tokens);
    let (finish, stop_reason) = match g.finish_reason {
        FinishReason::Length => ("length", Value::Null),
        FinishReason::StopToken => {
            let last = g.tokens.last().copied().unwrap_or(-1);
            let reason = if cfg.stop_token_ids.contains(&last) {
                json!(last)
            } else {
                Value::Null
            };
            ("stop", reason)
        }
        FinishReason::StopString => {
            let s = stop_strings
                .iter()
                .find(|s| text.contains(s.as_str()))
                .cloned();
            ("stop", json!(s))
        }
    };
    let tokens: Vec<String> = g.tokens.iter().map(|t| format!("token_id:{t}")).collect();
    Ok(json!({
        "id": "cmpl-test", "object": "text_completion", "model": name,
        "choices": [{
            "index": 0, "text": text,
            "logprobs": {"tokens": tokens, "token_logprobs": g.logprobs, "top_logprobs": null, "text_offset": []},
            "finish_reason": finish, "stop_reason": stop_reason,
        }],
        "usage": {"prompt_tokens": row.prompt.len(), "completion_tokens": g.tokens.len()},
    }))
}

fn small_spec() -> OnPolicySpec {
    OnPolicySpec {
        train_tasks: 2,
        eval_tasks: 2,
        ..OnPolicySpec::default()
    }
}

struct Setup {
    local: Model,
    server: TestServer,
    renderer: Renderer,
    env: SyntheticEnv,
    bench: Arc<SyntheticBenchmark>,
    vocab: i64,
}

/// The trainer's model and the server with an identical copy (same seeds).
fn setup(loads: Loads) -> R<Setup> {
    let tok = train_tokenizer(&synthetic_texts(&small_spec())?, 600)?;
    let vocab = tok.get_vocab_size(true) as i64;
    let build = || -> R<Model> {
        tch::manual_seed(5);
        let mut m = Model::random(tiny_llama_config(vocab)?, LoadOptions::cpu())?;
        m.attach_lora(LoraConfig::default(), 5)?;
        Ok(m)
    };
    let local = build()?;
    let served = build()?;
    let bos = local.config().bos_token_id().map(|b| b as u32);
    let server = start_server(served, tok.clone(), loads)?;
    let bench = Arc::new(SyntheticBenchmark::new(SyntheticConfig::default())?);
    Ok(Setup {
        local,
        server,
        renderer: Renderer::new(ChatFormat::ToolLlama, tok, bos).with_style(PromptStyle::Compact),
        env: SyntheticEnv::new(bench.clone(), SyntheticEnvConfig::default()),
        bench,
        vocab,
    })
}

fn registry(s: &Setup) -> R<AdapterRegistry> {
    let config = ServerConfig {
        base_urls: vec![s.server.url.clone()],
        max_attempts: 1,
        timeout_s: 60,
        ..ServerConfig::default()
    };
    // A fixed prompt of valid ids: 1 (bos), then 19 ids spread over the vocabulary.
    let prompt = std::iter::once(1)
        .chain((1..20).map(|i| (i * 37) % s.vocab))
        .collect();
    Ok(AdapterRegistry::new(config, None, prompt)?)
}

/// PPO-like change of the adapter: every LoRA B (zero at attach) gets N(0, 0.5^2) entries.
fn perturb_lora_b(model: &Model) -> R<usize> {
    let _g = tch::no_grad_guard();
    let mut n = 0;
    for (name, mut t) in model.var_store().variables() {
        if name.contains("lora_B") {
            let noise = t.f_randn_like()?.f_mul_scalar(0.5)?;
            t.f_copy_(&noise)?;
            n += 1;
        }
    }
    Ok(n)
}

fn greedy_rollouts<G: Generator + ?Sized>(s: &Setup, g: &G, batch: usize) -> R<Vec<RolloutRecord>> {
    let tasks = s.bench.tasks(Split::Train, 2, 0)?;
    let sampling = PolicySampling {
        temperature: 0.0,
        max_new_tokens: 10,
        max_total_tokens: 4096,
        batch,
        ..PolicySampling::default()
    };
    let cfg = RolloutConfig {
        samples: 1,
        max_actions: 2,
        ..small_spec().rollout
    };
    let (summary, stats) = policy_rollouts(g, &s.renderer, &sampling, &s.env, &tasks, &cfg, false)?;
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(summary.records.len(), 2);
    assert!(stats.turns >= 2 && stats.generated_tokens > 0);
    let mut records = summary.records;
    records.sort_by(|a, b| (&a.query_id, a.sample).cmp(&(&b.query_id, b.sample)));
    Ok(records)
}

#[test]
fn server_rollouts_equal_local_rollouts_and_each_publish_is_checked() -> R {
    let _g = serial();
    let s = setup(Loads::Applied)?;
    let dir = tempfile::tempdir()?;
    let mut reg = registry(&s)?;
    assert!(
        reg.generator().is_err(),
        "no generator before the first publish"
    );

    let v0 = reg.publish(&s.local, 0, dir.path())?;
    assert_eq!(v0.name, "policy-v0");
    assert!(v0.path.join("adapter_config.json").is_file());
    assert_eq!(v0.unloaded, None);
    // Same f32 CPU model on both sides: only KV-cache vs full-forward rounding.
    assert!(v0.max_abs_diff[0].1 < 1e-4, "{v0}");

    // (a) Greedy rollouts through the server (2 rows in flight) equal local ones (1 row per
    // batch, the server's batch size), token for token.
    let generator = reg.generator()?;
    assert_eq!(generator.model(), "policy-v0");
    let remote = greedy_rollouts(&s, &generator, 2)?;
    let local = greedy_rollouts(&s, &s.local, 1)?;
    for (r, l) in remote.iter().zip(&local) {
        let (rt, lt) = (
            r.trace.as_ref().ok_or("no trace")?,
            l.trace.as_ref().ok_or("no trace")?,
        );
        assert_eq!(rt.input_ids, lt.input_ids, "task {}", r.query_id);
        assert_eq!(rt.action_spans, lt.action_spans);
        assert_eq!(rt.finish_reasons, lt.finish_reasons);
        for (a, b) in rt
            .logprobs
            .iter()
            .flatten()
            .zip(lt.logprobs.iter().flatten())
        {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert!(rt.logprobs.iter().flatten().any(|&x| x < 0.0));
    }

    // (b) After a PPO-like change the new version is written, loaded, checked, and the old
    // one unloaded.
    assert!(perturb_lora_b(&s.local)? > 0);
    let v1 = reg.publish(&s.local, 1, dir.path())?;
    assert_eq!(v1.unloaded.as_deref(), Some("policy-v0"));
    assert!(v1.max_abs_diff[0].1 < 1e-4, "{v1}");
    assert_eq!(reg.current_version(), Some(1));
    assert!(v1.to_string().contains("published policy-v1"), "{v1}");

    // The server generates with the new adapter: one row equals the local model's.
    let row = RowRequest {
        prompt: vec![1, 40, 41, 42, 43],
        seed: 9,
        max_new_tokens: 6,
    };
    let cfg = GenerationConfig {
        max_new_tokens: 6,
        ignore_eos: true,
        ..GenerationConfig::default()
    };
    let decode = |_: &[i64]| String::new();
    let served = reg
        .generator()?
        .generate_rows(std::slice::from_ref(&row), &cfg, &decode)?;
    let ours = s
        .local
        .generate_rows(std::slice::from_ref(&row), &cfg, Some(&decode))?;
    assert_eq!(served[0].tokens, ours[0].tokens);
    assert_eq!(served[0].finish_reason, FinishReason::Length);

    // The old version is gone from the server: asking for it is an error naming the server.
    let client = Client::single(
        Endpoint::new(s.server.url.clone(), None),
        ClientOptions {
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            ..ClientOptions::default()
        },
    )?;
    let old = ServerGenerator::new(client, "policy-v0", LogprobsMode::Raw);
    let err = old
        .generate_rows(&[row], &cfg, &decode)
        .err()
        .ok_or("policy-v0 should be unloaded")?;
    let msg = format!("{err:#}");
    assert!(msg.contains(&s.server.url) && msg.contains("404"), "{msg}");
    Ok(())
}

#[test]
fn a_server_that_ignores_the_load_fails_the_staleness_check() -> R {
    let _g = serial();
    let s = setup(Loads::Ignored)?;
    let dir = tempfile::tempdir()?;
    let mut reg = registry(&s)?;
    // Both sides start with the same weights: the first check passes even though the
    // server ignored the load.
    reg.publish(&s.local, 0, dir.path())?;
    perturb_lora_b(&s.local)?;
    let err = reg
        .publish(&s.local, 1, dir.path())
        .err()
        .ok_or("a server serving the old weights must fail the check")?;
    let msg = format!("{err:#}");
    assert!(msg.contains("stale adapter"), "{msg}");
    assert!(
        msg.contains("policy-v1") && msg.contains(&s.server.url),
        "{msg}"
    );
    assert!(msg.contains("tolerance 1e-2"), "{msg}");
    // The version that was checked stays current; the failed one left the server, so it can
    // be published again (and fails again: the server still ignores loads).
    assert_eq!(reg.current_version(), Some(0));
    assert_eq!(reg.generator()?.model(), "policy-v0");
    let again = format!(
        "{:#}",
        reg.publish(&s.local, 1, dir.path()).err().ok_or("again")?
    );
    assert!(again.contains("stale adapter"), "{again}");
    Ok(())
}

/// A well-formed answer: ids 5 and 7, stopped for `stop_reason`.
fn stopped(stop_reason: Value) -> Value {
    json!({"choices": [{"index": 0, "text": "hi", "finish_reason": "stop", "stop_reason": stop_reason,
        "logprobs": {"tokens": ["token_id:5", "token_id:7"], "token_logprobs": [-0.5, -0.25]}}]})
}

#[test]
fn an_answer_without_ids_or_logprobs_fails_naming_the_server_and_the_row() -> R {
    let no_logprobs = json!({"choices": [{"index": 0, "text": "hi", "finish_reason": "length"}]});
    let no_values = json!({"choices": [{"index": 0, "text": "hi", "finish_reason": "length",
        "logprobs": {"tokens": ["token_id:5", "token_id:6"]}}]});
    let text_tokens = json!({"choices": [{"index": 0, "text": "hi", "finish_reason": "length",
        "logprobs": {"tokens": ["h", "i"], "token_logprobs": [-0.5, -0.25]}}]});
    let server = LoopbackServer::start(vec![
        Reply::ok(no_logprobs.to_string()),
        Reply::ok(no_values.to_string()),
        Reply::ok(text_tokens.to_string()),
        Reply::ok(stopped(json!("\nObservation:")).to_string()),
        Reply::ok(stopped(json!(7)).to_string()),
        Reply::ok(stopped(Value::Null).to_string()),
    ])?;
    let client = Client::single(
        Endpoint::new(server.url(), None),
        ClientOptions {
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            ..ClientOptions::default()
        },
    )?;
    let generator = ServerGenerator::new(client, "policy-v3", LogprobsMode::Raw);
    let row = RowRequest {
        prompt: vec![1, 2, 3],
        seed: 0,
        max_new_tokens: 4,
    };
    let cfg = GenerationConfig {
        max_new_tokens: 4,
        ..GenerationConfig::default()
    };
    let decode = |_: &[i64]| String::new();
    let expected = [
        "no token ids `choices[0].logprobs.tokens`",
        "no log-probs `choices[0].logprobs.token_logprobs`",
        "not \"token_id:<id>\"",
    ];
    for want in expected {
        let err = generator
            .generate_rows(std::slice::from_ref(&row), &cfg, &decode)
            .err()
            .ok_or("an answer without ids or log-probs must fail")?;
        let msg = format!("{err:#}");
        assert!(msg.contains(server.url()), "{msg}");
        assert!(
            msg.contains("row 0 (model `policy-v3`, prompt of 3 tokens"),
            "{msg}"
        );
        assert!(msg.contains(want), "{msg}");
    }
    // vLLM's `stop_reason`: the stop string, the stop token id, or null (EOS).
    for want in [
        FinishReason::StopString,
        FinishReason::StopToken,
        FinishReason::StopToken,
    ] {
        let g = generator.generate_rows(std::slice::from_ref(&row), &cfg, &decode)?;
        assert_eq!(g[0].tokens, vec![5, 7]);
        assert_eq!(g[0].logprobs, vec![-0.5, -0.25]);
        assert_eq!(g[0].finish_reason, want);
    }
    let received = server.finish();
    assert_eq!(received.len(), 6);
    // What was asked: token-id prompt, ids and log-probs back.
    let body: Value = serde_json::from_str(&received[0].body)?;
    assert_eq!(body["prompt"], json!([1, 2, 3]));
    assert_eq!(body["return_tokens_as_token_ids"], json!(true));
    assert_eq!(body["logprobs"], json!(1));
    assert_eq!(body["model"], json!("policy-v3"));
    assert_eq!(body["temperature"], json!(0.0));
    Ok(())
}

#[test]
fn log_probs_the_trainer_cannot_score_are_refused_before_any_request() -> R {
    let t = Sampling::Temperature { temperature: 0.7 };
    let top_p = Sampling::TopP {
        p: 0.9,
        temperature: 0.7,
    };
    assert_eq!(LogprobsMode::Raw.score_temperature(&t)?, 1.0);
    assert_eq!(LogprobsMode::Processed.score_temperature(&t)?, 0.7);
    assert_eq!(
        LogprobsMode::Processed.score_temperature(&Sampling::ArgMax)?,
        1.0
    );
    assert!(LogprobsMode::Processed.score_temperature(&top_p).is_err());
    // Nothing listens on this port (the discard service); the check comes first.
    let client = Client::single(
        Endpoint::new("http://127.0.0.1:9/v1", None),
        ClientOptions::default(),
    )?;
    let decode = |_: &[i64]| String::new();
    let row = RowRequest {
        prompt: vec![1, 2],
        seed: 0,
        max_new_tokens: 2,
    };
    // Rollouts record tempered log-probs (`Renderer::generation_config`); a raw server
    // cannot give them.
    let cfg = GenerationConfig {
        max_new_tokens: 2,
        sampling: t,
        tempered_logprobs: true,
        ..GenerationConfig::default()
    };
    let raw = ServerGenerator::new(client.clone(), "policy-v0", LogprobsMode::Raw);
    let msg = format!(
        "{:#}",
        raw.generate_rows(std::slice::from_ref(&row), &cfg, &decode)
            .err()
            .ok_or("raw")?
    );
    assert!(msg.contains("--logprobs-mode processed_logprobs"), "{msg}");
    let processed = ServerGenerator::new(client, "policy-v0", LogprobsMode::Processed);
    let cfg = GenerationConfig {
        sampling: top_p,
        ..cfg
    };
    let msg = format!(
        "{:#}",
        processed
            .generate_rows(&[row], &cfg, &decode)
            .err()
            .ok_or("top-p")?
    );
    assert!(msg.contains("top_p = 1"), "{msg}");
    Ok(())
}
