//! The StableToolBench environment over a tools/cache fixture built from the first ten G1
//! test queries of the reference, including cache misses, forwarding to a loopback server, and
//! every Finish case.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use steptool_env::rollout::{rollout, to_converted_answers, FinishType, RolloutConfig};
use steptool_env::stb::{read_test_queries, StbConfig, StbEnv, TestQuery};
use steptool_env::{
    Agent, AgentRequest, AgentTurn, Environment, Error, Result, Role, StatusCode, StepStatus,
};
use steptool_mdp::names::standardize;
use steptool_mdp::ToolCall;

mod common;
use common::{io, serve};

fn queries_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/reference/test_queries_G1_instruction_first10.json")
}

const LONG: usize = 2000;

/// tools/<Category>/<standard tool>.json from the queries' api_lists (one API left out), and a
/// cache for TheClique's "Transfermarkt search".
fn fixture(dir: &Path) -> Result<(PathBuf, PathBuf, Vec<TestQuery>)> {
    let text = io(std::fs::read_to_string(queries_path()), "queries")?;
    let raw: Vec<Value> = serde_json::from_str(&text).map_err(|e| Error::json("queries", e))?;
    let mut tools: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for q in &raw {
        for api in q["api_list"].as_array().into_iter().flatten() {
            if api["api_name"] == "Songkick festivals" {
                continue; // missing from the tools folder: dropped with a warning
            }
            let key = (
                api["category_name"].as_str().unwrap_or("").to_owned(),
                api["tool_name"].as_str().unwrap_or("").to_owned(),
            );
            let entry = json!({
                "name": api["api_name"], "description": api["api_description"],
                "required_parameters": api["required_parameters"], "optional_parameters": api["optional_parameters"],
            });
            let list = tools.entry(key).or_default();
            if !list.contains(&entry) {
                list.push(entry);
            }
        }
    }
    let tools_dir = dir.join("tools");
    for ((category, tool), apis) in &tools {
        let folder = tools_dir.join(category);
        io(std::fs::create_dir_all(&folder), "tools")?;
        let file = json!({"tool_name": tool, "tool_description": format!("The {tool} tool.\nSecond line"), "api_list": apis});
        io(
            std::fs::write(
                folder.join(format!("{}.json", standardize(tool))),
                file.to_string(),
            ),
            "tool file",
        )?;
    }
    let cache_dir = dir.join("cache");
    let api_dir = cache_dir.join("Data").join("theclique_for_Data");
    io(std::fs::create_dir_all(&api_dir), "cache")?;
    let cache = json!({
        "{'name': 'messi'}": {"error": "", "response": {"Players": [{"name": "Lionel Messi", "bio": "x".repeat(LONG)}]}},
        "{'name': 'fake'}": {"error": "", "response": "simulated", "is_fake": true},
        "{'name': 'limited'}": {"error": "", "response": "Rate limit exceeded"},
        "{}": {"error": "", "response": "empty input"},
    });
    io(
        std::fs::write(api_dir.join("transfermarkt_search.json"), cache.to_string()),
        "cache file",
    )?;
    Ok((tools_dir, cache_dir, read_test_queries(queries_path())?))
}

fn env(dir: &Path, server: Option<String>, timeout: f64) -> Result<(StbEnv, Vec<TestQuery>)> {
    let (tools, cache, tasks) = fixture(dir)?;
    let config = StbConfig {
        cache_dir: Some(cache),
        server_url: server,
        timeout_secs: timeout,
        ..StbConfig::new(tools)
    };
    Ok((StbEnv::new(config)?, tasks))
}

fn tmp() -> Result<tempfile::TempDir> {
    io(tempfile::tempdir(), "tempdir")
}

fn call(env: &mut StbEnv, name: &str, args: &str) -> Result<(String, StatusCode)> {
    let t = env.step(&ToolCall::new(name, args))?;
    Ok((t.observation, t.code))
}

#[test]
fn reset_builds_the_reference_function_list() -> Result<()> {
    let dir = tmp()?;
    let (mut env, tasks) = env(dir.path(), None, 5.0)?;
    assert_eq!(tasks.len(), 10);
    let ctx = env.reset(&tasks[0])?;
    let names = ctx.function_names();
    assert_eq!(names.len(), 10); // 10 APIs - 1 missing + Finish
    assert_eq!(env.skipped_apis(), ["TheClique / Songkick festivals"]);
    assert_eq!(names[0], "songkick_concert_for_theclique");
    assert_eq!(names.last().map(String::as_str), Some("Finish"));
    assert_eq!(
        ctx.relevant_functions,
        vec![
            "transfermarkt_search_for_theclique",
            "transfermarkt_details_for_theclique"
        ]
    );
    let search = &ctx.functions[2]["function"];
    assert_eq!(search["name"], "transfermarkt_search_for_theclique");
    assert_eq!(
        search["description"],
        "This is the subfunction for tool \"theclique\", you can use this tool.The description of this function is: \"Search by name\""
    );
    assert_eq!(search["parameters"]["required"], json!(["", "name"]));
    assert_eq!(search["parameters"]["optional"], json!([""]));
    assert_eq!(
        search["parameters"]["properties"]["name"],
        json!({"type": "string", "description": "", "example_value": "messi"})
    );
    // one tool, listed once, description with the newline removed
    assert!(ctx.system.ends_with("You have access of the following tools:\n1.theclique: The TheClique tool.Second line\n"), "{}", ctx.system);
    assert_eq!(ctx.user, format!("\n{}\nBegin!\n", tasks[0].query));
    // Kick API: an API with only optional parameters gets no properties (quirk)
    let ctx = env.reset(&tasks[1])?;
    let links = ctx
        .functions
        .iter()
        .find(|f| f["function"]["name"] == "get_channel_links_for_kick_com_api_kick_api");
    let links = links.ok_or_else(|| Error::data("test", "missing function"))?;
    assert_eq!(links["function"]["parameters"]["properties"], json!({}));
    assert_eq!(links["function"]["parameters"]["optional"], json!([""]));
    Ok(())
}

#[test]
fn cache_hits_misses_and_observation_truncation() -> Result<()> {
    let dir = tmp()?;
    let (mut env, tasks) = env(dir.path(), None, 5.0)?;
    env.reset(&tasks[0])?;
    // Hit: key = str({'name': 'messi'}) whatever the JSON spacing.
    let (obs, code) = call(
        &mut env,
        "transfermarkt_search_for_theclique",
        r#"{"name":"messi"}"#,
    )?;
    assert_eq!(code, StatusCode::Normal);
    assert!(
        obs.starts_with(
            r#"{"error": "", "response": {"Players": [{"name": "Lionel Messi", "bio": "xxx"#
        ),
        "{obs}"
    );
    assert_eq!(obs.chars().count(), 1024 + 3);
    assert!(obs.ends_with("x..."));
    // Suffix match (the reference's endswith) reaches the same function.
    let (obs2, _) = call(
        &mut env,
        "search_for_theclique",
        "{\n  \"name\": \"messi\"\n}",
    )?;
    assert_eq!(obs2, obs);
    // Empty input = {}.
    assert_eq!(
        call(&mut env, "transfermarkt_search_for_theclique", "")?,
        (
            r#"{"error": "", "response": "empty input"}"#.into(),
            StatusCode::Normal
        )
    );
    // Misses (no entry, a fake entry, an entry failing check_result) without a server: HTTP 500 observation.
    let miss = (
        r#"{"error": "request invalid, data error. status_code=500", "response": ""}"#.to_owned(),
        StatusCode::SendError,
    );
    for args in [
        r#"{"name": "ronaldo"}"#,
        r#"{"name": "fake"}"#,
        r#"{"name": "limited"}"#,
    ] {
        assert_eq!(
            call(&mut env, "transfermarkt_search_for_theclique", args)?,
            miss,
            "{args}"
        );
    }
    // Unparseable input.
    assert_eq!(
        call(&mut env, "transfermarkt_search_for_theclique", "{oops")?,
        (
            "{\"error\": \"Tool input parse error...\\n\", \"response\": \"\"}".into(),
            StatusCode::Normal
        )
    );
    // Hallucinated name.
    assert_eq!(
        call(&mut env, "no_such_tool", "{}")?,
        (
            r#"{"error": "No such function name: no_such_tool", "response": ""}"#.into(),
            StatusCode::HallucinatedName
        )
    );
    // Upstream behaviour: serve any non-fake hit.
    let (tools, cache, _) = fixture(&dir.path().join("b"))?;
    let mut lax = StbEnv::new(StbConfig {
        cache_dir: Some(cache),
        check_cache_result: false,
        ..StbConfig::new(tools)
    })?;
    lax.reset(&tasks[0])?;
    assert_eq!(
        call(
            &mut lax,
            "transfermarkt_search_for_theclique",
            r#"{"name": "limited"}"#
        )?
        .1,
        StatusCode::Normal
    );
    assert_eq!(
        call(
            &mut lax,
            "transfermarkt_search_for_theclique",
            r#"{"name": "fake"}"#
        )?
        .1,
        StatusCode::SendError
    );
    Ok(())
}

#[test]
fn every_finish_case() -> Result<()> {
    let dir = tmp()?;
    let (mut env, tasks) = env(dir.path(), None, 5.0)?;
    env.reset(&tasks[0])?;
    let cases = [
        (
            r#"{"return_type": "give_answer", "final_answer": "Messi"}"#,
            r#"{"response":"successfully giving the final answer."}"#,
            StatusCode::FinalAnswer,
        ),
        (
            r#"{"return_type": "give_up_and_restart"}"#,
            r#"{"response":"chose to give up and restart"}"#,
            StatusCode::GiveUp,
        ),
        (
            r#"{"final_answer": "x"}"#,
            r#"{error:"must have "return_type""}"#,
            StatusCode::BadInput,
        ),
        (
            r#"{"return_type": "give_answer"}"#,
            r#"{error:"must have "final_answer""}"#,
            StatusCode::BadInput,
        ),
        (
            r#"{"return_type": "other"}"#,
            r#"{error:""return_type" is not a valid choice"}"#,
            StatusCode::BadInput,
        ),
        (
            r#"{"return_type": "give_answer", "final_answer": "cut off"#,
            r#"{"response":"successfully giving the final answer."}"#,
            StatusCode::FinalAnswer,
        ),
        (
            "{'return_type': 'give_up_and_restart'}",
            r#"{"response":"chose to give up and restart"}"#,
            StatusCode::GiveUp,
        ),
        (
            "not json",
            r#"{error:"must have "return_type""}"#,
            StatusCode::BadInput,
        ),
    ];
    for (args, obs, code) in cases {
        let t = env.step(&ToolCall::new("Finish", args))?;
        assert_eq!((t.observation.as_str(), t.code), (obs, code), "{args}");
        let terminal = matches!(code, StatusCode::FinalAnswer | StatusCode::GiveUp);
        assert_eq!(t.status == StepStatus::Terminated, terminal, "{args}");
    }
    assert!(env.succeeded());
    Ok(())
}

#[test]
fn misses_are_forwarded_to_the_server() -> Result<()> {
    let (url, server) = serve(vec![
        (
            200,
            r#"{"error": "", "response": {"club": "Inter Miami"}}"#.into(),
            0,
        ),
        (500, "Internal Server Error".into(), 0),
        (200, "not json".into(), 0),
        (
            200,
            r#"{"error": "Unauthorized error...", "response": ""}"#.into(),
            0,
        ),
        (200, r#"{"error": "", "response": "late"}"#.into(), 1500),
    ])?;
    let dir = tmp()?;
    let (mut env, tasks) = env(dir.path(), Some(url), 0.5)?;
    env.reset(&tasks[0])?;
    // a cache hit does not reach the server
    assert_eq!(
        call(
            &mut env,
            "transfermarkt_search_for_theclique",
            r#"{"name": "messi"}"#
        )?
        .1,
        StatusCode::Normal
    );
    let args =
        r#"{"type_s": "player", "other": "x", "id_talent": "28003", "part_slug": "lionel-messi"}"#;
    let details = "transfermarkt_details_for_theclique";
    assert_eq!(
        call(&mut env, details, args)?,
        (
            r#"{"error": "", "response": {"club": "Inter Miami"}}"#.into(),
            StatusCode::Normal
        )
    );
    assert_eq!(
        call(&mut env, details, args)?,
        (
            r#"{"error": "request invalid, data error. status_code=500", "response": ""}"#.into(),
            StatusCode::SendError
        )
    );
    assert_eq!(
        call(&mut env, details, args)?,
        (
            r#"{"error": "request invalid, data error", "response": ""}"#.into(),
            StatusCode::SendError
        )
    );
    assert_eq!(call(&mut env, details, args)?.1, StatusCode::Unauthorized);
    assert_eq!(
        call(&mut env, details, args)?,
        (
            r#"{"error": "Timeout error...", "response": ""}"#.into(),
            StatusCode::Timeout
        )
    );
    let bodies = server
        .join()
        .map_err(|_| Error::data("mock server", "thread panicked"))?;
    assert_eq!(bodies.len(), 5);
    let first: Value =
        serde_json::from_str(&bodies[0]).map_err(|e| Error::json("request body", e))?;
    assert_eq!(
        first,
        json!({"category": "Data", "tool_name": "theclique", "api_name": "transfermarkt_details",
               "tool_input": args, "strip": "truncate", "toolbench_key": ""})
    );
    // nothing listening: an observation, not a crash
    let port = {
        let l = io(TcpListener::bind("127.0.0.1:0"), "bind")?;
        io(l.local_addr(), "addr")?.port()
    };
    let (tools, cache, _) = fixture(&dir.path().join("c"))?;
    let mut refused = StbEnv::new(StbConfig {
        cache_dir: Some(cache),
        server_url: Some(format!("http://127.0.0.1:{port}/virtual")),
        timeout_secs: 2.0,
        ..StbConfig::new(tools)
    })?;
    refused.reset(&tasks[0])?;
    assert_eq!(call(&mut refused, details, args)?.1, StatusCode::Timeout);
    Ok(())
}

struct TwoSteps;
impl Agent for TwoSteps {
    fn act(&self, request: &AgentRequest<'_>) -> Result<AgentTurn> {
        let done = request.messages.iter().any(|m| m.role == Role::Tool);
        let call = if done {
            ToolCall::new(
                "Finish",
                r#"{"return_type": "give_answer", "final_answer": "Lionel Messi"}"#,
            )
        } else {
            ToolCall::new("transfermarkt_search_for_theclique", r#"{"name": "messi"}"#)
        };
        Ok(AgentTurn::from_call("", call))
    }
}

#[test]
fn rollouts_run_on_stabletoolbench_data() -> Result<()> {
    let dir = tmp()?;
    let (env, tasks) = env(dir.path(), None, 5.0)?;
    let r = rollout(&env, &tasks[0], &TwoSteps, &RolloutConfig::default(), 0)?;
    assert_eq!(r.finish_type, FinishType::GiveAnswer);
    assert_eq!(r.codes, vec![StatusCode::Normal, StatusCode::FinalAnswer]);
    assert_eq!(
        r.called_functions(),
        vec!["transfermarkt_search_for_theclique"]
    );
    let converted = to_converted_answers(std::slice::from_ref(&r))?;
    assert_eq!(converted["588"]["answer"]["method"], "CoT@1");
    assert_eq!(converted["588"]["answer"]["total_steps"], 4);
    // A missing tools folder is a clear configuration error.
    let err = StbEnv::new(StbConfig::new(dir.path().join("nope")))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("tools_dir"), "{err}");
    Ok(())
}

fn chat(content: &str) -> String {
    json!({"choices": [{"message": {"role": "assistant", "content": content}}]}).to_string()
}

#[test]
fn misses_are_simulated_with_the_server_prompt() -> Result<()> {
    let (url, server) = serve(vec![
        (
            200,
            chat("```json\n{\"error\": \"\", \"response\": \"simulated club\"}\n```"),
            0,
        ),
        (200, chat("not json"), 0),
        (200, chat("still not"), 0),
        (200, chat("no"), 0),
    ])?;
    let dir = tmp()?;
    let (tools, cache, tasks) = fixture(dir.path())?;
    let base = url.trim_end_matches("/virtual").to_owned() + "/v1";
    let config = StbConfig {
        cache_dir: Some(cache),
        simulator: Some(steptool_env::stb::SimulatorConfig::new(base, "sim")),
        ..StbConfig::new(tools)
    };
    let mut env = StbEnv::new(config)?;
    env.reset(&tasks[0])?;
    let search = "transfermarkt_search_for_theclique";
    assert_eq!(
        call(&mut env, search, r#"{"name": "ronaldo"}"#)?,
        (
            r#"{"error": "", "response": "simulated club"}"#.into(),
            StatusCode::Normal
        )
    );
    // three answers that are not JSON: the server's failure object
    assert_eq!(
        call(&mut env, search, r#"{"name": "pele"}"#)?,
        (
            r#"{"error": "Failed to generate fake response", "response": ""}"#.into(),
            StatusCode::Normal
        )
    );
    let bodies = server
        .join()
        .map_err(|_| Error::data("server", "panicked"))?;
    assert_eq!(bodies.len(), 4);
    let first: Value = serde_json::from_str(&bodies[0]).map_err(|e| Error::json("body", e))?;
    assert_eq!(
        first["messages"][0]["content"],
        steptool_env::stb::SIMULATOR_SYSTEM_PROMPT
    );
    assert_eq!(first["response_format"], json!({"type": "json_object"}));
    assert_eq!(
        (first["model"].as_str(), first["max_tokens"].as_u64()),
        (Some("sim"), Some(1024))
    );
    let user = first["messages"][1]["content"].as_str().unwrap_or("");
    assert!(
        user.starts_with("API Documentation:{'tool_description': 'The TheClique tool.\\nSecond line', 'api_info': [{'name': 'Transfermarkt search', 'description': 'Search by name'}]}\nAPI Examples:[(\"{'name': 'messi'}\", {'error': '', 'response': {'Players': [{'name': 'Lionel Messi', 'bio': 'xxx"),
        "{user}"
    );
    // examples cut to 2048 characters (the first entry alone is longer), then the input
    let examples = user
        .split("\nAPI Examples:")
        .nth(1)
        .and_then(|r| r.split("\nAPI Input:").next())
        .unwrap_or("");
    assert_eq!(examples.chars().count(), 2048);
    assert!(user.ends_with("\nAPI Input:{'name': 'ronaldo'}\n"));
    Ok(())
}

const KEY: &str = "sk-simulator-leak-test-5";

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(KEY) && !text.contains("sk-simulator-leak") && !text.contains("Bearer"),
        "{what} leaks the key: {text}"
    );
}

#[test]
fn the_simulator_key_is_never_printed_serialised_or_echoed_into_errors() -> Result<()> {
    use steptool_env::openai::ApiKey;
    use steptool_env::stb::{simulate, SimulatorConfig};
    use steptool_llm::testing::{LoopbackServer, Reply};

    let key = ApiKey::new(KEY)?;
    let dir = tmp()?;
    let (tools, _, _) = fixture(dir.path())?;
    let sim = SimulatorConfig {
        api_key: Some(key.clone()),
        ..SimulatorConfig::new("http://127.0.0.1:9/v1", "sim")
    };
    let stb = StbConfig {
        simulator: Some(sim.clone()),
        ..StbConfig::new(tools)
    };
    for (what, text) in [
        ("simulator config", serde_json::to_string(&sim)),
        ("stb config", serde_json::to_string(&stb)),
    ] {
        let text = text.map_err(|e| Error::json(what, e))?;
        assert_clean(what, &text);
        assert!(text.contains("<redacted>"), "{text}");
    }
    assert_clean("the config", &format!("{stb:?}"));
    assert_clean("the environment", &format!("{:?}", StbEnv::new(stb)?));

    // A simulator echoing the request headers in a non-JSON 200 body, then in a 401 body.
    let echo_401 = Reply::Json(401, vec![], format!("{{\"error\": \"bad key {KEY}\"}}"));
    let server = io(
        LoopbackServer::start(vec![Reply::EchoHeaders, echo_401]),
        "server",
    )?;
    let sim = SimulatorConfig {
        api_key: Some(key),
        ..SimulatorConfig::new(server.url(), "sim")
    };
    let client = sim.client()?;
    for needle in ["not JSON", "HTTP 401"] {
        let err = simulate(&client, &sim, "API Input:{}").err();
        let text = format!(
            "{err:?} {}",
            err.as_ref()
                .map(|e| format!("{e} {e:#}"))
                .unwrap_or_default()
        );
        assert!(
            text.contains(needle) && text.contains("<redacted>"),
            "{text}"
        );
        assert_clean("the error", &text);
    }
    let received = server.finish();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {KEY}"))
    );
    Ok(())
}
