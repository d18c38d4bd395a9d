//! Task generation for the synthetic benchmark: templates, seeded splits, difficulty knobs.

use std::collections::BTreeSet;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::world::{Api, Kind, World, KINDS};
use crate::error::{Error, Result};

/// Knobs of the synthetic benchmark. Every field has a default; unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticConfig {
    /// Seed of the world (entities, ids, values). Default 7.
    pub world_seed: u64,
    /// Entities per kind. Default 40.
    pub entities_per_kind: usize,
    /// Near-duplicate names per base name (search decoys). Default 2.
    pub decoys_per_name: usize,
    /// Fewest tool calls a task needs (1..=4). Default 1.
    pub min_calls: usize,
    /// Most tool calls a task needs (1..=4). Default 4.
    pub max_calls: usize,
    /// Distractor tools offered besides the needed ones. Default 6.
    pub distractors: usize,
    /// Share of distractors drawn from the same entity kinds as the needed tools (look-alike
    /// names such as `city_population_for_geodb` next to `city_elevation_for_geodb`). Default 0.5.
    pub lookalike_share: f64,
    /// Share of multi-call templates (tool combinations) held out of the train split. Default 0.2.
    pub held_out_fraction: f64,
    /// Seed of the template split. Default 11.
    pub split_seed: u64,
    /// Which start entities each split draws from. Default `disjoint`.
    pub entity_split: EntitySplit,
}

/// Which entities the tasks of each split start from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntitySplit {
    /// Train tasks start from even-indexed entities, test tasks from odd-indexed ones: a test
    /// query names an entity that no train query names, so the model must copy an unseen name
    /// from the query into the search.
    #[default]
    Disjoint,
    /// Both splits start from every entity, but never the same (template, start entity) pair:
    /// the pairs are split by the parity of the entity index plus a hash of the template, so a
    /// test task asks a question no train task asks, about names that train tasks also name.
    /// For a model trained from scratch that cannot learn to copy unseen names from a few
    /// hundred demonstrations (`docs/baselines.md`).
    Shared,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            world_seed: 7,
            entities_per_kind: 40,
            decoys_per_name: 2,
            min_calls: 1,
            max_calls: 4,
            distractors: 6,
            lookalike_share: 0.5,
            held_out_fraction: 0.2,
            split_seed: 11,
            entity_split: EntitySplit::Disjoint,
        }
    }
}

impl SyntheticConfig {
    /// Check every field once.
    pub fn validate(&self) -> Result<()> {
        if self.entities_per_kind < 2 {
            return Err(Error::config(
                "entities_per_kind",
                format!(
                    "{} < 2 (train and test need one each)",
                    self.entities_per_kind
                ),
            ));
        }
        if self.decoys_per_name > 4 {
            return Err(Error::config(
                "decoys_per_name",
                format!(
                    "{} > 4 (the number of decoy suffixes per kind)",
                    self.decoys_per_name
                ),
            ));
        }
        if !(1..=4).contains(&self.min_calls)
            || !(1..=4).contains(&self.max_calls)
            || self.min_calls > self.max_calls
        {
            return Err(Error::config(
                "min_calls/max_calls",
                format!(
                    "need 1 <= min_calls ({}) <= max_calls ({}) <= 4",
                    self.min_calls, self.max_calls
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.lookalike_share) {
            return Err(Error::config(
                "lookalike_share",
                format!("{} is not in [0, 1]", self.lookalike_share),
            ));
        }
        if !(0.0..1.0).contains(&self.held_out_fraction) {
            return Err(Error::config(
                "held_out_fraction",
                format!("{} is not in [0, 1)", self.held_out_fraction),
            ));
        }
        Ok(())
    }
}

/// Train or test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Tasks for training: seen templates, their half of the start entities
    /// ([`EntitySplit`]).
    Train,
    /// Tasks for evaluation: all templates (including held-out tool combinations), the other
    /// half of the start entities.
    Test,
}

impl Split {
    fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// What a task asks for at the end of its relation path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The field shown by the search API (1 call).
    Summary,
    /// Attribute `k` of the final kind.
    Attribute(usize),
}

/// A tool combination: start kind, relations followed, what is read at the end.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Template {
    /// Kind of the named start entity.
    pub start: Kind,
    /// Relation indices followed, in order.
    pub path: Vec<usize>,
    /// What is asked.
    pub target: Target,
}

impl Template {
    /// Every template with at most two relations.
    pub fn all() -> Vec<Template> {
        let mut out = Vec::new();
        for start in KINDS {
            out.push(Template {
                start,
                path: vec![],
                target: Target::Summary,
            });
            let mut paths: Vec<Vec<usize>> = vec![vec![]];
            for r1 in 0..start.spec().relations.len() {
                paths.push(vec![r1]);
                let k1 = start.spec().relations[r1].target;
                for r2 in 0..k1.spec().relations.len() {
                    paths.push(vec![r1, r2]);
                }
            }
            for path in paths {
                let end = Self::end_kind_of(start, &path);
                for a in 0..end.spec().attributes.len() {
                    out.push(Template {
                        start,
                        path: path.clone(),
                        target: Target::Attribute(a),
                    });
                }
            }
        }
        out
    }

    fn end_kind_of(start: Kind, path: &[usize]) -> Kind {
        path.iter()
            .fold(start, |k, &r| k.spec().relations[r].target)
    }

    /// The kind at the end of the path.
    pub fn end_kind(&self) -> Kind {
        Self::end_kind_of(self.start, &self.path)
    }

    /// Tool calls needed: 1 for a summary, otherwise search + relations + attribute.
    pub fn calls(&self) -> usize {
        match self.target {
            Target::Summary => 1,
            Target::Attribute(_) => 2 + self.path.len(),
        }
    }

    /// A stable key such as `company>headquarters>country:gdp`.
    pub fn key(&self) -> String {
        let mut k = self.start.spec().noun.to_owned();
        let mut kind = self.start;
        for &r in &self.path {
            let rel = kind.spec().relations[r];
            k.push('>');
            k.push_str(rel.api);
            kind = rel.target;
        }
        k.push(':');
        k.push_str(match self.target {
            Target::Summary => kind.spec().summary.0,
            Target::Attribute(a) => kind.spec().attributes[a].api,
        });
        k
    }
}

/// One ground-truth call of a task's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedCall {
    /// Function name.
    pub name: String,
    /// Argument JSON (compact).
    pub arguments: String,
}

/// One task of the synthetic benchmark, with its ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticTask {
    /// Unique id (`test-3-17`).
    pub id: String,
    /// The split.
    pub split: Split,
    /// The user's query.
    pub query: String,
    /// The template key (tool combination).
    pub template: String,
    /// Whether the template is held out of the train split.
    pub held_out: bool,
    /// Function names offered, in prompt order (`Finish` is appended by the environment).
    pub offered: Vec<String>,
    /// The ground-truth calls in order.
    pub plan: Vec<PlannedCall>,
    /// The ground-truth answer (the value the final answer must contain).
    pub answer: String,
    /// Relevant function names (the distinct names of the plan), for recall.
    pub relevant: Vec<String>,
}

const PHRASINGS: [&str; 5] = [
    "What is the {a} of {p}?",
    "Find the {a} of {p}.",
    "I need to know the {a} of {p}. Can you look it up?",
    "Tell me the {a} of {p}.",
    "Could you get me the {a} of {p}?",
];

/// The generator: world + templates + split.
#[derive(Debug, Clone)]
pub struct TaskGenerator {
    config: SyntheticConfig,
    world: Arc<World>,
    templates: Vec<Template>,
    held_out: BTreeSet<Template>,
}

impl TaskGenerator {
    /// Build the world and the template split from a validated config.
    pub fn new(config: SyntheticConfig) -> Result<Self> {
        config.validate()?;
        let world = Arc::new(World::generate(
            config.world_seed,
            config.entities_per_kind,
            config.decoys_per_name,
        ));
        let templates: Vec<Template> = Template::all()
            .into_iter()
            .filter(|t| (config.min_calls..=config.max_calls).contains(&t.calls()))
            .collect();
        let mut multi: Vec<Template> = templates
            .iter()
            .filter(|t| t.calls() >= 2)
            .cloned()
            .collect();
        multi.sort();
        let mut rng = ChaCha8Rng::seed_from_u64(config.split_seed);
        multi.shuffle(&mut rng);
        let n_held = (config.held_out_fraction * multi.len() as f64).round() as usize;
        let held_out = multi.into_iter().take(n_held).collect();
        Ok(Self {
            config,
            world,
            templates,
            held_out,
        })
    }

    /// The config.
    pub fn config(&self) -> &SyntheticConfig {
        &self.config
    }

    /// The world.
    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    /// The templates allowed by `min_calls..=max_calls`.
    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    /// Whether a template is held out of the train split.
    pub fn is_held_out(&self, t: &Template) -> bool {
        self.held_out.contains(t)
    }

    /// `n` tasks of a split, a pure function of (config, split, seed). The number of calls is
    /// drawn uniformly from the allowed range, then a template with that many calls, then a
    /// start entity (even indices for train, odd for test).
    pub fn tasks(&self, split: Split, n: usize, seed: u64) -> Result<Vec<SyntheticTask>> {
        let salt = match split {
            Split::Train => 0x7472_6169_6e00_0000u64,
            Split::Test => 0x7465_7374_0000_0000u64,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ salt);
        let pool: Vec<&Template> = self
            .templates
            .iter()
            .filter(|t| split == Split::Test || !self.held_out.contains(*t))
            .collect();
        let counts: Vec<usize> = {
            let mut c: Vec<usize> = pool.iter().map(|t| t.calls()).collect();
            c.sort_unstable();
            c.dedup();
            c
        };
        if counts.is_empty() {
            return Err(Error::config(
                "min_calls/max_calls",
                "no template left for this split",
            ));
        }
        (0..n)
            .map(|k| {
                let calls = counts[rng.gen_range(0..counts.len())];
                let with: Vec<&&Template> = pool.iter().filter(|t| t.calls() == calls).collect();
                let template = (*with[rng.gen_range(0..with.len())]).clone();
                let id = task_id(split, seed, k);
                self.instantiate(&template, split, id, &mut rng)
            })
            .collect()
    }

    fn instantiate(
        &self,
        t: &Template,
        split: Split,
        id: String,
        rng: &mut ChaCha8Rng,
    ) -> Result<SyntheticTask> {
        let world = &self.world;
        let n = world.entities(t.start).len();
        let parity = match split {
            Split::Train => 0,
            Split::Test => 1,
        };
        let shift = match self.config.entity_split {
            EntitySplit::Disjoint => 0,
            EntitySplit::Shared => template_hash(t),
        };
        let candidates: Vec<usize> = (0..n).filter(|i| (i + shift) % 2 == parity).collect();
        let start_idx = *candidates
            .choose(rng)
            .ok_or_else(|| Error::config("entities_per_kind", "too few entities for the split"))?;
        let start = world.entity(t.start, start_idx);
        let mut plan = vec![call(Api::Search(t.start), "name", &start.name)];
        let mut phrase = format!("the {} \"{}\"", t.start.spec().noun, start.name);
        let (mut kind, mut idx) = (t.start, start_idx);
        for &r in &t.path {
            let e = world.entity(kind, idx);
            plan.push(call(Api::Relation(kind, r), &kind.id_param(), &e.id));
            let rel = kind.spec().relations[r];
            phrase = format!("the {} of {phrase}", rel.phrase);
            idx = e.relations[r];
            kind = rel.target;
        }
        let end = world.entity(kind, idx);
        let (asked, answer) = match t.target {
            Target::Summary => (kind.spec().summary.1.to_owned(), end.summary.clone()),
            Target::Attribute(a) => {
                plan.push(call(Api::Attribute(kind, a), &kind.id_param(), &end.id));
                (
                    kind.spec().attributes[a].phrase.to_owned(),
                    end.attributes[a].to_string(),
                )
            }
        };
        let query = PHRASINGS[rng.gen_range(0..PHRASINGS.len())]
            .replace("{a}", &asked)
            .replace("{p}", &phrase);
        let mut relevant: Vec<String> = Vec::new();
        for c in &plan {
            if !relevant.contains(&c.name) {
                relevant.push(c.name.clone());
            }
        }
        let offered = self.offer(&relevant, rng);
        Ok(SyntheticTask {
            id,
            split,
            query,
            template: t.key(),
            held_out: self.held_out.contains(t),
            offered,
            plan,
            answer,
            relevant,
        })
    }

    fn offer(&self, relevant: &[String], rng: &mut ChaCha8Rng) -> Vec<String> {
        let all = Api::all();
        let kinds: BTreeSet<Kind> = all
            .iter()
            .filter(|a| relevant.contains(&a.function_name()))
            .map(|a| match a {
                Api::Search(k) | Api::Attribute(k, _) | Api::Relation(k, _) => *k,
            })
            .collect();
        let (mut lookalike, mut other): (Vec<String>, Vec<String>) = all
            .iter()
            .filter(|a| !relevant.contains(&a.function_name()))
            .partition_map(|a| {
                let k = match a {
                    Api::Search(k) | Api::Attribute(k, _) | Api::Relation(k, _) => *k,
                };
                (kinds.contains(&k), a.function_name())
            });
        lookalike.shuffle(rng);
        other.shuffle(rng);
        let want_look =
            ((self.config.distractors as f64) * self.config.lookalike_share).round() as usize;
        let mut offered: Vec<String> = relevant.to_vec();
        offered.extend(lookalike.iter().take(want_look).cloned());
        let rest = self
            .config
            .distractors
            .saturating_sub(offered.len() - relevant.len());
        offered.extend(other.iter().take(rest).cloned());
        // top up from look-alikes when the other pool ran short
        let missing = self
            .config
            .distractors
            .saturating_sub(offered.len() - relevant.len());
        offered.extend(lookalike.iter().skip(want_look).take(missing).cloned());
        offered.shuffle(rng);
        offered
    }
}

trait PartitionMap<T> {
    fn partition_map<F: FnMut(T) -> (bool, String)>(self, f: F) -> (Vec<String>, Vec<String>);
}

impl<T, I: Iterator<Item = T>> PartitionMap<T> for I {
    fn partition_map<F: FnMut(T) -> (bool, String)>(self, mut f: F) -> (Vec<String>, Vec<String>) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for x in self {
            let (left, v) = f(x);
            if left {
                a.push(v)
            } else {
                b.push(v)
            }
        }
        (a, b)
    }
}

fn call(api: Api, param: &str, value: &str) -> PlannedCall {
    PlannedCall {
        name: api.function_name(),
        arguments: serde_json::json!({ param: value }).to_string(),
    }
}

/// The id [`TaskGenerator::tasks`] gives the `k`-th task of `split` drawn with `seed`:
/// `<split>-<seed>-<k>` (`train-0-3`).
pub fn task_id(split: Split, seed: u64, k: usize) -> String {
    format!("{}-{seed}-{k}", split.as_str())
}

/// The inverse of [`task_id`]: `(split, seed, k)`, or `None` for any other string.
pub fn parse_task_id(id: &str) -> Option<(Split, u64, usize)> {
    let (split, rest) = id.split_once('-')?;
    let split = match split {
        "train" => Split::Train,
        "test" => Split::Test,
        _ => return None,
    };
    let (seed, k) = rest.split_once('-')?;
    Some((split, seed.parse().ok()?, k.parse().ok()?))
}

/// A stable hash of a template's key (FNV-1a), for the `shared` entity split: it must not
/// change between builds or platforms, or a resumed study would draw other tasks.
fn template_hash(t: &Template) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in t.key().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % 2) as usize
}
