//! The policy as an [`Agent`]: batched KV-cache generation across every live conversation of a
//! rollout, tokens in and tokens out.
//!
//! ```text
//!  rollout threads (one per live conversation, up to `batch`)         the model's thread
//!  CoT / DFSDT ── act(messages) ─▶ PolicyClient ── Job(prompt ids) ──▶ serve(): gathers the
//!                                   │  prompt = ids the policy wrote        pending jobs (up to
//!                                   │  + tokenised new messages             `batch`), one
//!                ◀─ AgentTurn ──────┘  ◀── Generation (ids, log-probs) ──── generate_rows call
//! ```
//!
//! - **One chat format for generation and training.** A prompt is the conversation's tokens so
//!   far: the previous turn's exact token record (generated ids plus the format's turn closing),
//!   then the messages that came after it, each rendered by [`ChatFormat::render_message`] and
//!   tokenised once, then [`ChatFormat::generation_prompt`]. The rollout's [`TokenTrace`] is
//!   those same ids, so the trainer scores exactly what the policy read and wrote; generated
//!   text is never re-tokenised. (Segments are tokenised one by one, so a BPE merge across a
//!   segment boundary that a whole-string encoding would make does not happen: the policy sees
//!   the same segmentation at rollout and at training, which is what matters.)
//! - **Behaviour log-probs** are those of the distribution sampled from, `softmax(logits/T)`
//!   without top-p truncation; the trainer scores with the same `T` (`PpoConfig::temperature`),
//!   as verl does.
//! - **Randomness is a function of the request**: every row has its own seed, hashed from the
//!   rollout seed, the task, the sample and the prompt ids, so a rollout does not depend on which
//!   conversations happened to share a batch (up to the float rounding of a padded batch; with
//!   `batch = 1` runs are bit-for-bit reproducible).
//! - **Budgets**: at most `max_new_tokens` per turn and `max_total_tokens` per conversation (the
//!   model's positions). A turn with no room left is an agent error (a pruned node under
//!   `AgentErrors::Prune`, kept in the record's `agent_errors`), never a silent cut; a turn that
//!   hits its length limit is kept, with finish reason `length`, and rewarded as it is.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use steptool_env::rollout::{run_many, RolloutConfig, RolloutRecord, RolloutSummary};
use steptool_env::{chat_message, Agent, AgentRequest, AgentTurn, Environment, Message, Role};
use steptool_mdp::{parse_react, ActionSpan, ChatFormat, TokenTrace};
use steptool_model::{FinishReason, Generation, GenerationConfig, Model, RowRequest, Sampling};

use crate::error::{Error, Result};

/// How the policy samples during rollouts. Defaults: temperature 0.7 and top-p 1 (the paper's
/// exploration setting for RFT/ETO/StepTool's collection), 256 new tokens per turn, 2048 tokens
/// per conversation, batches of up to 8 conversations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySampling {
    /// Sampling temperature; 0 means greedy.
    pub temperature: f64,
    /// Nucleus probability in (0, 1]; 1 samples from the whole (tempered) distribution.
    pub top_p: f64,
    /// Most tokens generated per assistant turn.
    pub max_new_tokens: usize,
    /// Most tokens of a whole conversation (prompt, turns, observations).
    pub max_total_tokens: usize,
    /// Most conversations generated in one batch.
    pub batch: usize,
    /// Seed of the rollout's samplers.
    pub seed: u64,
}

impl Default for PolicySampling {
    fn default() -> Self {
        PolicySampling {
            temperature: 0.7,
            top_p: 1.0,
            max_new_tokens: 256,
            max_total_tokens: 2048,
            batch: 8,
            seed: 0,
        }
    }
}

impl PolicySampling {
    /// Greedy decoding with the same budgets (evaluation).
    pub fn greedy(&self) -> Self {
        PolicySampling {
            temperature: 0.0,
            ..self.clone()
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::config("temperature", "must be finite and >= 0"));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::config("top_p", "must be in (0, 1]"));
        }
        if self.max_new_tokens == 0 || self.batch == 0 {
            return Err(Error::config(
                "max_new_tokens / batch",
                "must be at least 1",
            ));
        }
        if self.max_total_tokens <= self.max_new_tokens {
            return Err(Error::config(
                "max_total_tokens",
                "must exceed max_new_tokens",
            ));
        }
        Ok(())
    }

    /// The sampling rule.
    pub fn sampling(&self) -> Sampling {
        let (t, p) = (self.temperature, self.top_p);
        if t == 0.0 {
            Sampling::ArgMax
        } else if p >= 1.0 {
            Sampling::Temperature { temperature: t }
        } else {
            Sampling::TopP { p, temperature: t }
        }
    }

    /// The temperature the trainer must score this policy's log-probs at.
    pub fn score_temperature(&self) -> f64 {
        self.sampling().temperature()
    }
}

/// How the system prompt presents the tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PromptStyle {
    /// The reference's open-model prompt: the AutoGPT system prompt with `str(functions)`
    /// (formats.md §3.1): ~1,600 tokens for eight tools with a small BPE.
    #[default]
    Reference,
    /// The same information in a few lines: one line per tool with its name, argument names
    /// and one-line description (~10x shorter); for small models and CPU studies. Every method
    /// of a study uses the same style.
    Compact,
}

/// The compact system prompt of `functions` (OpenAI function dicts): a one-line instruction and
/// `- name(arg, ...): description` per tool, the description cut to its core sentence.
pub fn compact_system_prompt(functions: &[serde_json::Value]) -> String {
    let mut out = String::from(
        "Solve the task with the tools, one call per turn, then call Finish with the answer.\nTools:\n",
    );
    for f in functions {
        let f = f.get("function").unwrap_or(f);
        let name = f
            .get("name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?");
        let args: Vec<&str> = f
            .pointer("/parameters/properties")
            .and_then(serde_json::Value::as_object)
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let desc = f
            .get("description")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        // The reference wraps descriptions: `... The description of this function is: "X"`.
        let core = desc
            .rsplit_once("The description of this function is: \"")
            .map_or(desc, |(_, d)| d.trim_end_matches('"'));
        let core = core
            .split(". ")
            .next()
            .unwrap_or(core)
            .trim_end_matches('.');
        out.push_str(&format!("- {name}({}): {core}\n", args.join(", ")));
    }
    out
}

/// Renders conversations into token ids with one chat format and one tokenizer.
#[derive(Debug, Clone)]
pub struct Renderer {
    format: ChatFormat,
    tokenizer: tokenizers::Tokenizer,
    bos: Option<u32>,
    stop_token_ids: Vec<i64>,
    render_invalid: bool,
    style: PromptStyle,
}

/// Stop strings of a ReAct turn beyond the format's end-of-turn markers: a model that goes on
/// to write the observation itself is stopped there.
pub const REACT_STOP_STRINGS: &[&str] = &["\nObservation:"];

impl Renderer {
    /// A renderer for `format`. `bos` is prepended to every conversation when given (LLaMA-2
    /// and Llama-3 prompts start with one; ChatML does not). The format's end-of-turn markers
    /// that are single tokens of `tokenizer` become stop tokens.
    pub fn new(format: ChatFormat, mut tokenizer: tokenizers::Tokenizer, bos: Option<u32>) -> Self {
        // Segments are continuations of one text: a pre-tokenizer that adds a prefix space to
        // every input (ByteLevel `add_prefix_space`, Metaspace's prepend) would put a space
        // at every segment boundary that the rendered text does not have.
        if let Some(mut pre) = tokenizer.get_pre_tokenizer().cloned() {
            no_prefix_space(&mut pre);
            tokenizer.with_pre_tokenizer(Some(pre));
        }
        let stop_token_ids = format
            .stop_strings()
            .iter()
            .filter_map(|s| tokenizer.token_to_id(s))
            .map(i64::from)
            .collect();
        Renderer {
            format,
            tokenizer,
            bos,
            stop_token_ids,
            render_invalid: false,
            style: PromptStyle::Reference,
        }
    }

    /// Present the tools in `style`.
    pub fn with_style(mut self, style: PromptStyle) -> Self {
        self.style = style;
        self
    }

    /// Render DFSDT diversity prompts marked invalid too (the reference's wrappers do).
    pub fn with_render_invalid(mut self, yes: bool) -> Self {
        self.render_invalid = yes;
        self
    }

    /// The chat format.
    pub fn format(&self) -> ChatFormat {
        self.format
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &tokenizers::Tokenizer {
        &self.tokenizer
    }

    /// Token ids of one text segment (no special tokens added).
    pub fn segment(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::Input(format!("tokenising a prompt segment: {e}")))
    }

    /// Decoded text of generated ids, special tokens dropped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| Error::Input(format!("decoding generated tokens: {e}")))
    }

    /// The generation settings of a rollout with `sampling`.
    pub fn generation_config(&self, sampling: &PolicySampling) -> GenerationConfig {
        let mut stop_strings: Vec<String> = self
            .format
            .stop_strings()
            .iter()
            .map(|s| s.to_string())
            .collect();
        stop_strings.extend(REACT_STOP_STRINGS.iter().map(|s| s.to_string()));
        GenerationConfig {
            max_new_tokens: sampling.max_new_tokens,
            sampling: sampling.sampling(),
            seed: sampling.seed,
            stop_token_ids: self.stop_token_ids.clone(),
            stop_strings,
            tempered_logprobs: true,
            ..GenerationConfig::default()
        }
    }

    /// The prompt ids of a conversation's opening (no generated turn yet), as a rollout sends
    /// them.
    pub fn opening_ids(
        &self,
        messages: &[Message],
        functions: &[serde_json::Value],
    ) -> Result<Vec<u32>> {
        let mut ids: Vec<u32> = self.bos.into_iter().collect();
        self.extend_prompt(&mut ids, messages, functions)?;
        Ok(ids)
    }

    /// Appends the ids of `messages` (env messages after the last generated turn) and the
    /// opening of the next assistant turn to `ids`.
    fn extend_prompt(
        &self,
        ids: &mut Vec<u32>,
        messages: &[Message],
        functions: &[serde_json::Value],
    ) -> Result<()> {
        let inner: Vec<serde_json::Value> = functions
            .iter()
            .map(|f| f.get("function").cloned().unwrap_or_else(|| f.clone()))
            .collect();
        for m in messages.iter().filter(|m| m.valid || self.render_invalid) {
            let chat = match (m.role, self.style) {
                (Role::System, PromptStyle::Compact) => {
                    steptool_mdp::Message::new(Role::System, compact_system_prompt(functions))
                }
                _ => chat_message(m, &inner),
            };
            ids.extend(self.segment(&self.format.render_message(&chat))?);
        }
        ids.extend(self.segment(self.format.generation_prompt())?);
        Ok(())
    }
}

fn no_prefix_space(pre: &mut tokenizers::PreTokenizerWrapper) {
    use tokenizers::pre_tokenizers::metaspace::PrependScheme;
    use tokenizers::PreTokenizerWrapper as P;
    match pre {
        P::ByteLevel(b) => b.add_prefix_space = false,
        P::Metaspace(m) => m.set_prepend_scheme(PrependScheme::Never),
        P::Sequence(s) => s.as_mut().iter_mut().for_each(no_prefix_space),
        _ => {}
    }
}

/// A conversation's token record after one of its turns.
#[derive(Debug, Clone, Default)]
struct Partial {
    ids: Vec<u32>,
    spans: Vec<ActionSpan>,
    logprobs: Vec<Vec<f32>>,
    finish: Vec<String>,
}

type Key = (String, usize, u64);

impl Renderer {
    /// The token trace of a conversation someone else wrote (an expert demonstration, a
    /// reference SFT conversation): the same prompt rendering as a rollout, each assistant turn
    /// "generated" as its ReAct text followed by the format's end-of-turn token (when it is one
    /// token of the tokenizer), so SFT teaches exactly the turns the policy will produce.
    /// Log-probs are 0 (there is no behaviour policy).
    pub fn teacher_trace(
        &self,
        messages: &[Message],
        functions: &[serde_json::Value],
    ) -> Result<TokenTrace> {
        let mut p = Partial {
            ids: self.bos.into_iter().collect(),
            ..Partial::default()
        };
        let mut from = 0;
        for (j, m) in messages.iter().enumerate() {
            if m.role != Role::Assistant {
                continue;
            }
            self.extend_prompt(&mut p.ids, &messages[from..j], functions)?;
            let text = match &m.tool_call {
                Some(call) => steptool_mdp::chat::react_text(&m.content, call),
                None => m.content.clone(),
            };
            let mut turn = self.segment(&text)?;
            let ended = match self.stop_token_ids.first() {
                Some(&eos) => {
                    turn.push(eos as u32);
                    true
                }
                None => false,
            };
            let start = p.ids.len();
            p.ids.extend_from_slice(&turn);
            p.spans.push(ActionSpan::new(start, p.ids.len()));
            p.logprobs.push(vec![0.0; turn.len()]);
            p.finish
                .push(if ended { "stop_token" } else { "length" }.to_owned());
            p.ids
                .extend(self.segment(self.format.close_generated_turn(ended))?);
            from = j + 1;
        }
        let trace = TokenTrace {
            input_ids: p.ids,
            action_spans: p.spans,
            logprobs: p.logprobs,
            finish_reasons: p.finish,
        };
        trace.validate()?;
        Ok(trace)
    }
}

/// Hash of a message list as the rollout sees it (the `valid` flag excluded: DFSDT marks a
/// diversity prompt invalid after the turn it was shown in).
fn messages_hash(messages: &[Message]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for m in messages {
        m.role.hash(&mut h);
        m.content.hash(&mut h);
        m.tool_call
            .as_ref()
            .map(|c| (c.name().to_owned(), c.arguments().to_owned()))
            .hash(&mut h);
        m.name.hash(&mut h);
    }
    h.finish()
}

/// FNV-1a of the request, for per-row seeds that are stable across Rust versions.
fn row_seed(seed: u64, task: &str, sample: usize, ids: &[u32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    task.bytes().for_each(&mut eat);
    (sample as u64).to_le_bytes().into_iter().for_each(&mut eat);
    for id in ids {
        id.to_le_bytes().into_iter().for_each(&mut eat);
    }
    h
}

fn finish_name(f: &FinishReason) -> &'static str {
    match f {
        FinishReason::StopToken => "stop_token",
        FinishReason::StopString => "stop_string",
        FinishReason::Length => "length",
    }
}

struct Job {
    row: RowRequest,
    reply: mpsc::Sender<std::result::Result<Generation, String>>,
}

/// The [`Agent`] side: renders the prompt, sends it to the model's thread, parses the turn and
/// records its tokens. Cheap to share across the rollout's threads.
pub struct PolicyClient<'r> {
    renderer: &'r Renderer,
    sampling: PolicySampling,
    jobs: mpsc::Sender<Job>,
    partials: Mutex<HashMap<Key, Arc<Partial>>>,
}

impl std::fmt::Debug for PolicyClient<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyClient")
            .field("sampling", &self.sampling)
            .finish_non_exhaustive()
    }
}

impl PolicyClient<'_> {
    fn lookup(&self, key: &Key) -> Option<Arc<Partial>> {
        self.partials.lock().ok()?.get(key).cloned()
    }

    fn turn(&self, request: &AgentRequest<'_>) -> Result<AgentTurn> {
        let msgs = request.messages;
        let task = request.task_id;
        // The newest generated turn is the base; everything after it is new text.
        let last_assistant = msgs.iter().rposition(|m| m.role == Role::Assistant);
        let (base, tail) = match last_assistant {
            Some(j) => {
                let key = (task.to_owned(), request.sample, messages_hash(&msgs[..j]));
                let p = self.lookup(&key).ok_or_else(|| Error::Input(format!(
                    "task {task}: assistant turn {j} was not generated by this policy rollout (no token record; the policy only continues its own conversations)"
                )))?;
                (p, &msgs[j + 1..])
            }
            None => {
                let p = Partial {
                    ids: self.renderer.bos.into_iter().collect(),
                    ..Partial::default()
                };
                (Arc::new(p), msgs)
            }
        };
        let mut ids = base.ids.clone();
        self.renderer
            .extend_prompt(&mut ids, tail, request.functions)?;
        let room = self.sampling.max_total_tokens.saturating_sub(ids.len());
        if room == 0 {
            return Err(Error::Env(steptool_env::Error::Agent {
                task: task.to_owned(),
                message: format!(
                    "the conversation has {} tokens: no room for another turn within max_total_tokens = {}",
                    ids.len(),
                    self.sampling.max_total_tokens
                ),
            }));
        }
        let row = RowRequest {
            prompt: ids.iter().map(|&t| i64::from(t)).collect(),
            seed: row_seed(self.sampling.seed, task, request.sample, &ids),
            max_new_tokens: self.sampling.max_new_tokens.min(room),
        };
        let (tx, rx) = mpsc::channel();
        self.jobs
            .send(Job { row, reply: tx })
            .map_err(|_| Error::Input("the model's thread has stopped".into()))?;
        let generation = rx
            .recv()
            .map_err(|_| Error::Input("the model's thread has stopped".into()))?
            .map_err(|e| Error::Input(format!("task {task}: generation failed: {e}")))?;
        let generated: Vec<u32> = generation.tokens.iter().map(|&t| t as u32).collect();
        let mut text = self.renderer.decode(&generated)?;
        for stop in REACT_STOP_STRINGS {
            if let Some(i) = text.find(stop) {
                text.truncate(i);
            }
        }
        let parsed = parse_react(&text);
        let start = ids.len();
        ids.extend_from_slice(&generated);
        let span = ActionSpan::new(start, ids.len());
        let ended = generation.finish_reason == FinishReason::StopToken;
        ids.extend(
            self.renderer
                .segment(self.renderer.format.close_generated_turn(ended))?,
        );
        let mut next = Partial {
            ids,
            spans: base.spans.clone(),
            logprobs: base.logprobs.clone(),
            finish: base.finish.clone(),
        };
        next.spans.push(span);
        next.logprobs.push(generation.logprobs.clone());
        next.finish
            .push(finish_name(&generation.finish_reason).to_owned());
        let key = (task.to_owned(), request.sample, messages_hash(msgs));
        if let Ok(mut map) = self.partials.lock() {
            map.insert(key, Arc::new(next));
        }
        Ok(AgentTurn {
            text,
            thought: parsed.thought,
            call: parsed.call,
            token_ids: Some(generated),
            logprobs: Some(generation.logprobs),
        })
    }

    /// The token trace of a record this client rolled out (its output chain's last turn).
    pub fn trace(&self, record: &RolloutRecord) -> Result<TokenTrace> {
        let j = record
            .messages
            .iter()
            .rposition(|m| m.role == Role::Assistant)
            .ok_or_else(|| {
                Error::Input(format!("task {}: the record has no turn", record.query_id))
            })?;
        let key = (
            record.query_id.clone(),
            record.sample,
            messages_hash(&record.messages[..j]),
        );
        let p = self.lookup(&key).ok_or_else(|| {
            Error::Input(format!(
                "task {} sample {}: no token record for the output chain",
                record.query_id, record.sample
            ))
        })?;
        let steps = record.trajectory.as_ref().map_or(0, |t| t.len());
        if p.spans.len() != steps {
            return Err(Error::Input(format!(
                "task {} sample {}: {} generated turns but {} trajectory steps",
                record.query_id,
                record.sample,
                p.spans.len(),
                steps
            )));
        }
        let trace = TokenTrace {
            input_ids: p.ids.clone(),
            action_spans: p.spans.clone(),
            logprobs: p.logprobs.clone(),
            finish_reasons: p.finish.clone(),
        };
        trace.validate()?;
        Ok(trace)
    }
}

impl Agent for PolicyClient<'_> {
    fn act(&self, request: &AgentRequest<'_>) -> steptool_env::Result<AgentTurn> {
        self.turn(request).map_err(|e| match e {
            Error::Env(e) => e,
            other => steptool_env::Error::Agent {
                task: request.task_id.to_owned(),
                message: format!("{other:#}"),
            },
        })
    }
}

/// What the model's thread did during a rollout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ServeStats {
    /// `generate_rows` calls.
    pub batches: usize,
    /// Turns generated.
    pub turns: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Seconds spent generating.
    pub generate_seconds: f64,
    /// Wall seconds of the whole rollout.
    pub wall_seconds: f64,
}

impl ServeStats {
    /// Generated tokens per wall second of the rollout.
    pub fn tokens_per_s(&self) -> f64 {
        self.generated_tokens as f64 / self.wall_seconds.max(1e-9)
    }
}

/// What generates the policy's turns during a rollout: our own model (batched KV-cache
/// generation on this machine) or an inference server that serves the same policy (vLLM /
/// SGLang with the adapter loaded, reporting token ids and log-probs). Called on one thread.
pub trait Generator {
    /// One continuation per row (its own seed and budget), with generated ids and their
    /// behaviour log-probs. `decoder` turns generated ids into text for stop strings.
    fn generate_rows(
        &self,
        rows: &[RowRequest],
        cfg: &GenerationConfig,
        decoder: &dyn steptool_model::TokenDecoder,
    ) -> Result<Vec<Generation>>;
}

impl Generator for Model {
    fn generate_rows(
        &self,
        rows: &[RowRequest],
        cfg: &GenerationConfig,
        decoder: &dyn steptool_model::TokenDecoder,
    ) -> Result<Vec<Generation>> {
        Ok(Model::generate_rows(self, rows, cfg, Some(decoder))?)
    }
}

/// Serves generation jobs on this thread until every client is gone: each round takes the
/// pending jobs (up to `batch`, waiting up to 2 ms for stragglers) into one `generate_rows`.
fn serve<G: Generator + ?Sized>(
    model: &G,
    renderer: &Renderer,
    jobs: &mpsc::Receiver<Job>,
    cfg: &GenerationConfig,
    batch: usize,
) -> ServeStats {
    let decode = |ids: &[i64]| -> String {
        let ids: Vec<u32> = ids.iter().map(|&t| t as u32).collect();
        renderer.tokenizer.decode(&ids, false).unwrap_or_default()
    };
    let mut stats = ServeStats::default();
    while let Ok(first) = jobs.recv() {
        let mut round = vec![first];
        let deadline = Instant::now() + Duration::from_millis(2);
        while round.len() < batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match jobs.recv_timeout(left) {
                Ok(j) => round.push(j),
                Err(_) => break,
            }
        }
        let rows: Vec<RowRequest> = round.iter().map(|j| j.row.clone()).collect();
        let t = Instant::now();
        let out = model.generate_rows(&rows, cfg, &decode);
        stats.generate_seconds += t.elapsed().as_secs_f64();
        stats.batches += 1;
        match out {
            Ok(gens) => {
                for (job, g) in round.into_iter().zip(gens) {
                    stats.turns += 1;
                    stats.generated_tokens += g.tokens.len();
                    let _ = job.reply.send(Ok(g));
                }
            }
            Err(e) => {
                // One failure answers every row of the batch; each caller names its task.
                let text = format!("{e:#}");
                for job in round {
                    let _ = job.reply.send(Err(text.clone()));
                }
            }
        }
    }
    stats
}

/// Rollouts of `tasks` by the policy: `config.samples` per task, CoT or DFSDT, every record
/// with its [`TokenTrace`]. The model generates on this thread; the conversations run on a pool
/// of `sampling.batch` threads.
pub fn policy_rollouts<E, G>(
    model: &G,
    renderer: &Renderer,
    sampling: &PolicySampling,
    env: &E,
    tasks: &[E::Task],
    config: &RolloutConfig,
    progress: bool,
) -> Result<(RolloutSummary, ServeStats)>
where
    E: Environment + Sync,
    E::Task: Sync,
    G: Generator + ?Sized,
{
    sampling.validate()?;
    let cfg = renderer.generation_config(sampling);
    let (tx, rx) = mpsc::channel::<Job>();
    let client = PolicyClient {
        renderer,
        sampling: sampling.clone(),
        jobs: tx,
        partials: Mutex::new(HashMap::new()),
    };
    let t0 = Instant::now();
    let (summary, mut stats) = std::thread::scope(|s| -> Result<(RolloutSummary, ServeStats)> {
        let worker = s.spawn(move || -> Result<RolloutSummary> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(sampling.batch)
                .build()
                .map_err(|e| Error::Input(format!("starting the rollout threads: {e}")))?;
            let mut summary = pool.install(|| run_many(env, tasks, &client, config, progress))?;
            for r in &mut summary.records {
                if r.trajectory.is_some() {
                    r.trace = Some(client.trace(r)?);
                }
            }
            // Dropping the client closes the job channel, which ends `serve`.
            drop(client);
            Ok(summary)
        });
        let stats = serve(model, renderer, &rx, &cfg, sampling.batch);
        let summary = worker
            .join()
            .map_err(|_| Error::Input("a rollout thread panicked".into()))??;
        Ok((summary, stats))
    })?;
    stats.wall_seconds = t0.elapsed().as_secs_f64();
    Ok((summary, stats))
}
