//! A StableToolBench-compatible environment (formats.md §4).
//!
//! ```text
//!   test query (api_list) ──▶ tools/<Category>/<standard_tool>.json ──▶ functions (§3.3) + Finish
//!   step(call) ─▶ Finish? ─▶ reference Finish handling (status 2/3/4)
//!              └▶ function (suffix match) ─▶ tool_response_cache/<std_cat>/<tool>_for_<std_cat>/<api>.json
//!                                           key = str(json.loads(arguments))   (Python repr)
//!                     hit (not fake, check_result ok) ─▶ json.dumps(entry), status from "error"
//!                     miss ─▶ POST <server>/virtual (StableToolBench server)  ─▶ same
//!                          └▶ or an LLM simulator (the server's fallback prompt)  ─▶ same
//!                          └▶ neither: the reference's HTTP-500 observation, status 12
//!   observation: first 1024 characters + "..." when longer
//! ```
//!
//! Point [`StbConfig::tools_dir`] at StableToolBench's `server/tools` folder and
//! [`StbConfig::cache_dir`] at its `tool_response_cache`; set [`StbConfig::server_url`] to a
//! running server's `http://host:8081/virtual` to answer cache misses. Tasks are
//! [`TestQuery`]s read by steptool-mdp's [`read_test_queries`].

mod cache;
mod env;
mod simulator;
mod tools;

pub use cache::{cache_key, check_result, CachePath, ResponseCache};
pub use env::{StbConfig, StbEnv, ToolbenchKey};
pub use simulator::{simulate, simulator_user_prompt, SimulatorConfig, SIMULATOR_SYSTEM_PROMPT};
pub use steptool_mdp::formats::queries::{read_query_ids, read_test_queries, TestQuery};
pub use tools::{api_function, StbFunction, ToolsFolder};
