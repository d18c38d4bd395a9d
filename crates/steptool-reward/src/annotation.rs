//! What an annotator says about one trajectory (paper eq. 3 components) and the
//! [`RewardAnnotator`] trait every annotator implements.
//!
//! For a trajectory of `n` steps, steps `0..n-1` are intermediate tool calls, each scored with
//! SuccCalling (0 or 1) and Contribution (0 to 5); step `n-1` is the final step, scored with an
//! [`AnswerStatus`] (IsSolved). An annotator may score the same trajectory several times
//! ("rounds", K = 3 in the reference); the [`crate::RewardShaper`] averages them.

use serde::{Deserialize, Serialize};
use steptool_mdp::Trajectory;

use crate::error::{trajectory_label, Error, Result};

/// The highest Contribution score (the judge's 0-5 scale, formats.md §2.3).
pub const MAX_CONTRIBUTION: f32 = 5.0;

/// IsSolved: the status of the final answer (ToolEval's three-way protocol).
pub use steptool_mdp::AnswerStatus;

/// One round of scores for one trajectory: one SuccCalling and one Contribution per
/// intermediate step, and the final answer's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundScores {
    /// SuccCalling per intermediate step: 0 or 1.
    pub succeed_tool_calling: Vec<f32>,
    /// Contribution to the final answer per intermediate step: 0 to [`MAX_CONTRIBUTION`].
    pub contributions: Vec<f32>,
    /// IsSolved of the final step.
    pub status: AnswerStatus,
}

impl RoundScores {
    /// Check this round against a trajectory with `num_intermediate` intermediate steps:
    /// both lists that long, SuccCalling 0 or 1, Contribution finite in `0..=5`.
    pub fn check(&self, num_intermediate: usize) -> std::result::Result<(), String> {
        for (what, list) in [
            ("succeed_tool_calling", &self.succeed_tool_calling),
            ("contributions", &self.contributions),
        ] {
            if list.len() != num_intermediate {
                return Err(format!(
                    "`{what}` has {} value(s), the trajectory has {num_intermediate} intermediate step(s)",
                    list.len()
                ));
            }
        }
        if let Some((k, v)) = self
            .succeed_tool_calling
            .iter()
            .enumerate()
            .find(|(_, &v)| v != 0.0 && v != 1.0)
        {
            return Err(format!(
                "`succeed_tool_calling` of step {k} is {v}, expected 0 or 1"
            ));
        }
        if let Some((k, v)) = self
            .contributions
            .iter()
            .enumerate()
            .find(|(_, &v)| !(v.is_finite() && (0.0..=MAX_CONTRIBUTION).contains(&v)))
        {
            return Err(format!(
                "`contributions` of step {k} is {v}, expected a number from 0 to {MAX_CONTRIBUTION}"
            ));
        }
        Ok(())
    }
}

/// Where an annotation comes from, kept with it in caches and output files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The annotator's name ([`RewardAnnotator::name`]).
    pub annotator: String,
    /// The judge model, for LLM annotators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// SHA-256 (hex) of the prompt template, for LLM annotators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_hash: Option<String>,
    /// SHA-256 (hex) of the annotator's fingerprint ([`RewardAnnotator::fingerprint`]).
    pub config_hash: String,
}

impl Provenance {
    /// Provenance of `annotator`: its name and the hash of its fingerprint.
    pub fn of<A: RewardAnnotator + ?Sized>(annotator: &A) -> Self {
        Self {
            annotator: annotator.name().to_owned(),
            model: None,
            prompt_hash: None,
            config_hash: crate::hash::sha256_hex(annotator.fingerprint().as_bytes()),
        }
    }
}

/// What annotating cost: requests, retries, tokens (zero for annotators that call nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Usage {
    /// HTTP requests sent (including retried ones).
    pub requests: u64,
    /// Requests repeated after a transient failure (429, 5xx, timeout, connection error).
    pub retries: u64,
    /// Answers rejected by validation (and asked again).
    pub invalid_answers: u64,
    /// Rounds answered from the cache instead of the endpoint.
    pub cache_hits: u64,
    /// Prompt tokens, when the endpoint reports usage.
    pub prompt_tokens: u64,
    /// Completion tokens, when the endpoint reports usage.
    pub completion_tokens: u64,
}

impl Usage {
    /// Add `other` to `self`.
    pub fn add(&mut self, other: &Usage) {
        self.requests += other.requests;
        self.retries += other.retries;
        self.invalid_answers += other.invalid_answers;
        self.cache_hits += other.cache_hits;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// The annotation of one trajectory: one or more [`RoundScores`] and their provenance.
///
/// Invariants (checked by [`StepAnnotation::new`]): at least one step and one round; every round
/// has exactly `num_steps - 1` scores per list, in range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StepAnnotationRepr", into = "StepAnnotationRepr")]
pub struct StepAnnotation {
    query_id: Option<String>,
    num_steps: usize,
    rounds: Vec<RoundScores>,
    provenance: Provenance,
    usage: Usage,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepAnnotationRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_id: Option<String>,
    num_steps: usize,
    rounds: Vec<RoundScores>,
    provenance: Provenance,
    #[serde(default)]
    usage: Usage,
}

impl TryFrom<StepAnnotationRepr> for StepAnnotation {
    type Error = Error;
    fn try_from(r: StepAnnotationRepr) -> Result<Self> {
        Ok(
            StepAnnotation::new(r.query_id, r.num_steps, r.rounds, r.provenance)?
                .with_usage(r.usage),
        )
    }
}

impl From<StepAnnotation> for StepAnnotationRepr {
    fn from(a: StepAnnotation) -> Self {
        StepAnnotationRepr {
            query_id: a.query_id,
            num_steps: a.num_steps,
            rounds: a.rounds,
            provenance: a.provenance,
            usage: a.usage,
        }
    }
}

impl StepAnnotation {
    /// A validated annotation of a trajectory of `num_steps` steps.
    pub fn new(
        query_id: Option<String>,
        num_steps: usize,
        rounds: Vec<RoundScores>,
        provenance: Provenance,
    ) -> Result<Self> {
        let label = query_id.as_deref().unwrap_or("<no id>").to_owned();
        let invalid = |message: String| Error::InvalidAnnotation {
            trajectory: label.clone(),
            message,
        };
        if num_steps == 0 {
            return Err(invalid("a trajectory has at least one step".into()));
        }
        if rounds.is_empty() {
            return Err(invalid("no rounds".into()));
        }
        for (k, round) in rounds.iter().enumerate() {
            round
                .check(num_steps - 1)
                .map_err(|m| invalid(format!("round {k}: {m}")))?;
        }
        Ok(Self {
            query_id,
            num_steps,
            rounds,
            provenance,
            usage: Usage::default(),
        })
    }

    /// A validated annotation of `trajectory` (query id and step count taken from it).
    pub fn for_trajectory(
        trajectory: &Trajectory,
        rounds: Vec<RoundScores>,
        provenance: Provenance,
    ) -> Result<Self> {
        Self::new(
            trajectory.query_id().map(str::to_owned),
            trajectory.len(),
            rounds,
            provenance,
        )
    }

    /// This annotation with its cost recorded.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Check that this annotation belongs to `trajectory` (same query id, same step count).
    pub fn check_matches(&self, trajectory: &Trajectory) -> Result<()> {
        if self.num_steps != trajectory.len() || self.query_id.as_deref() != trajectory.query_id() {
            return Err(Error::InvalidAnnotation {
                trajectory: trajectory_label(trajectory),
                message: format!(
                    "annotation of query {:?} with {} step(s) does not match the trajectory (query {:?}, {} step(s))",
                    self.query_id,
                    self.num_steps,
                    trajectory.query_id(),
                    trajectory.len()
                ),
            });
        }
        Ok(())
    }

    /// The query id of the annotated trajectory.
    pub fn query_id(&self) -> Option<&str> {
        self.query_id.as_deref()
    }

    /// Number of steps of the annotated trajectory (intermediate steps + the final step).
    pub fn num_steps(&self) -> usize {
        self.num_steps
    }

    /// Number of intermediate steps (`num_steps - 1`).
    pub fn num_intermediate(&self) -> usize {
        self.num_steps - 1
    }

    /// The rounds, in order.
    pub fn rounds(&self) -> &[RoundScores] {
        &self.rounds
    }

    /// Who annotated.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// What annotating cost.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }
}

/// Annotates one trajectory with step-level reward components (paper eq. 3).
///
/// Implementations must be deterministic *given their fingerprint* as far as the cache is
/// concerned: [`crate::CachedAnnotator`] keys answers by the trajectory and
/// [`RewardAnnotator::fingerprint`], so two configurations that may answer differently must
/// have different fingerprints.
///
/// # Implementing your own
///
/// ```
/// use steptool_reward::{AnswerStatus, Provenance, RewardAnnotator, RewardShaper, RoundScores, StepAnnotation};
/// use steptool_mdp::{Step, ToolCall, ToolSchema, Trajectory};
///
/// /// Every call succeeds and contributes fully; answers are always solved.
/// struct Optimist;
///
/// impl RewardAnnotator for Optimist {
///     fn name(&self) -> &str { "optimist" }
///     fn fingerprint(&self) -> String { "optimist v1".into() }
///     fn annotate(&self, t: &Trajectory) -> steptool_reward::Result<StepAnnotation> {
///         let n = t.intermediate_steps().len();
///         let round = RoundScores { succeed_tool_calling: vec![1.0; n], contributions: vec![5.0; n], status: AnswerStatus::Solved };
///         StepAnnotation::for_trajectory(t, vec![round], Provenance::of(self))
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let t = Trajectory::new(None, "q", vec![ToolSchema::named("f"), ToolSchema::named("Finish")], vec![
///     Step::new(ToolCall::new("f", "{}"), Some("{}".into())),
///     Step::new(ToolCall::new("Finish", r#"{"return_type": "give_answer", "final_answer": "a"}"#), None),
/// ])?;
/// let rewards = RewardShaper::default().shape(&Optimist.annotate(&t)?);
/// assert_eq!(rewards, vec![1.0, 1.0]); // (5*1 + 5) / 10, Solved
/// # Ok(()) }
/// ```
pub trait RewardAnnotator: Send + Sync {
    /// A short name, recorded in [`Provenance::annotator`].
    fn name(&self) -> &str;

    /// Everything that can change this annotator's answers (model, prompt, thresholds, number
    /// of rounds), as a string; hashed into the cache key and [`Provenance::config_hash`].
    /// Secrets (API keys) and transport settings (endpoints, timeouts) do not belong here.
    fn fingerprint(&self) -> String;

    /// Annotate one trajectory. Errors name the trajectory; no default scores.
    fn annotate(&self, trajectory: &Trajectory) -> Result<StepAnnotation>;
}

impl<A: RewardAnnotator + ?Sized> RewardAnnotator for &A {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn fingerprint(&self) -> String {
        (**self).fingerprint()
    }
    fn annotate(&self, trajectory: &Trajectory) -> Result<StepAnnotation> {
        (**self).annotate(trajectory)
    }
}

impl<A: RewardAnnotator + ?Sized> RewardAnnotator for Box<A> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn fingerprint(&self) -> String {
        (**self).fingerprint()
    }
    fn annotate(&self, trajectory: &Trajectory) -> Result<StepAnnotation> {
        (**self).annotate(trajectory)
    }
}

impl<A: RewardAnnotator + ?Sized> RewardAnnotator for std::sync::Arc<A> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn fingerprint(&self) -> String {
        (**self).fingerprint()
    }
    fn annotate(&self, trajectory: &Trajectory) -> Result<StepAnnotation> {
        (**self).annotate(trajectory)
    }
}
