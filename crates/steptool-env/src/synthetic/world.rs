//! The synthetic world: entities of four kinds, their attributes and relations, and the tools
//! that expose them.
//!
//! Everything is a deterministic function of the world seed. Ids are random hex codes, values
//! random integers: nothing can be answered without calling the tools, and every id has to be
//! copied exactly from an earlier observation.

use std::collections::HashMap;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::tool::{Tool, ToolOutput};

/// The four entity kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Companies (category Business, tool `bizregistry`).
    Company,
    /// Cities (category Travel, tool `geodb`; weather attributes in tool `meteo`).
    City,
    /// People (category Social, tool `peopledata`).
    Person,
    /// Countries (category Data, tool `worldfacts`).
    Country,
}

/// All kinds in a fixed order.
pub const KINDS: [Kind; 4] = [Kind::Company, Kind::City, Kind::Person, Kind::Country];

/// A numeric attribute exposed by its own API.
#[derive(Debug, Clone, Copy)]
pub struct AttrSpec {
    /// API name part (`founded_year`).
    pub api: &'static str,
    /// How a query names it (`founding year`).
    pub phrase: &'static str,
    /// Tool (RapidAPI tool) the API belongs to.
    pub tool: &'static str,
    /// Value range (inclusive).
    pub range: (i64, i64),
}

/// A relation to another entity, exposed by its own API.
#[derive(Debug, Clone, Copy)]
pub struct RelSpec {
    /// API name part (`headquarters`).
    pub api: &'static str,
    /// How a query names it (`headquarters city`).
    pub phrase: &'static str,
    /// The related kind.
    pub target: Kind,
}

/// Static description of a kind.
#[derive(Debug, Clone, Copy)]
pub struct KindSpec {
    /// Singular noun (`company`).
    pub noun: &'static str,
    /// Plural noun (`companies`).
    pub plural: &'static str,
    /// Prefix of ids.
    pub id_prefix: &'static str,
    /// Main tool.
    pub tool: &'static str,
    /// The string field returned by the search API (`ticker`) and its phrase.
    pub summary: (&'static str, &'static str),
    /// Suffixes that make decoy names (`Zelora` -> `Zelora Group`).
    pub decoy_suffixes: &'static [&'static str],
    /// Numeric attributes.
    pub attributes: &'static [AttrSpec],
    /// Relations.
    pub relations: &'static [RelSpec],
}

const COMPANY: KindSpec = KindSpec {
    noun: "company",
    plural: "companies",
    id_prefix: "CO",
    tool: "bizregistry",
    summary: ("ticker", "stock ticker"),
    decoy_suffixes: &["Group", "Labs", "Holdings", "Systems"],
    attributes: &[
        AttrSpec {
            api: "founded_year",
            phrase: "founding year",
            tool: "bizregistry",
            range: (1850, 2022),
        },
        AttrSpec {
            api: "employee_count",
            phrase: "number of employees",
            tool: "bizregistry",
            range: (12, 250_000),
        },
        AttrSpec {
            api: "annual_revenue",
            phrase: "annual revenue in million USD",
            tool: "bizfinance",
            range: (1, 90_000),
        },
    ],
    relations: &[
        RelSpec {
            api: "headquarters",
            phrase: "headquarters city",
            target: Kind::City,
        },
        RelSpec {
            api: "ceo",
            phrase: "CEO",
            target: Kind::Person,
        },
    ],
};

const CITY: KindSpec = KindSpec {
    noun: "city",
    plural: "cities",
    id_prefix: "CI",
    tool: "geodb",
    summary: ("postal_code", "postal code"),
    decoy_suffixes: &["Heights", "Springs", "Harbor", "North"],
    attributes: &[
        AttrSpec {
            api: "population",
            phrase: "population",
            tool: "geodb",
            range: (2_000, 9_000_000),
        },
        AttrSpec {
            api: "elevation",
            phrase: "elevation in meters",
            tool: "geodb",
            range: (0, 3_500),
        },
        AttrSpec {
            api: "temperature",
            phrase: "current temperature in Celsius",
            tool: "meteo",
            range: (-25, 45),
        },
        AttrSpec {
            api: "humidity",
            phrase: "current relative humidity in percent",
            tool: "meteo",
            range: (5, 100),
        },
    ],
    relations: &[
        RelSpec {
            api: "country",
            phrase: "country",
            target: Kind::Country,
        },
        RelSpec {
            api: "mayor",
            phrase: "mayor",
            target: Kind::Person,
        },
    ],
};

const PERSON: KindSpec = KindSpec {
    noun: "person",
    plural: "people",
    id_prefix: "PE",
    tool: "peopledata",
    summary: ("username", "username"),
    decoy_suffixes: &["Jr.", "Sr.", "II", "III"],
    attributes: &[
        AttrSpec {
            api: "birth_year",
            phrase: "birth year",
            tool: "peopledata",
            range: (1930, 2004),
        },
        AttrSpec {
            api: "follower_count",
            phrase: "number of social media followers",
            tool: "socialstats",
            range: (0, 5_000_000),
        },
    ],
    relations: &[
        RelSpec {
            api: "employer",
            phrase: "employer",
            target: Kind::Company,
        },
        RelSpec {
            api: "hometown",
            phrase: "hometown",
            target: Kind::City,
        },
    ],
};

const COUNTRY: KindSpec = KindSpec {
    noun: "country",
    plural: "countries",
    id_prefix: "CN",
    tool: "worldfacts",
    summary: ("iso_code", "ISO code"),
    decoy_suffixes: &["Republic", "Union", "Federation", "Islands"],
    attributes: &[
        AttrSpec {
            api: "gdp",
            phrase: "GDP in billion USD",
            tool: "worldfacts",
            range: (1, 25_000),
        },
        AttrSpec {
            api: "calling_code",
            phrase: "international calling code",
            tool: "worldfacts",
            range: (1, 999),
        },
    ],
    relations: &[
        RelSpec {
            api: "largest_city",
            phrase: "largest city",
            target: Kind::City,
        },
        RelSpec {
            api: "head_of_state",
            phrase: "head of state",
            target: Kind::Person,
        },
    ],
};

impl Kind {
    /// The static description of this kind.
    pub fn spec(self) -> &'static KindSpec {
        match self {
            Kind::Company => &COMPANY,
            Kind::City => &CITY,
            Kind::Person => &PERSON,
            Kind::Country => &COUNTRY,
        }
    }

    /// The argument name of APIs taking this kind's id (`company_id`).
    pub fn id_param(self) -> String {
        format!("{}_id", self.spec().noun)
    }

    fn index(self) -> usize {
        KINDS.iter().position(|&k| k == self).unwrap_or(0)
    }
}

/// Category and description of each RapidAPI-style tool of the world.
pub const TOOL_GROUPS: [(&str, &str, &str); 7] = [
    (
        "bizregistry",
        "Business",
        "Official company registry: search companies by name, founding data, staff and leadership.",
    ),
    (
        "bizfinance",
        "Finance",
        "Financial key figures of registered companies.",
    ),
    (
        "geodb",
        "Travel",
        "Geographic database of cities: search, population, elevation, administrative links.",
    ),
    (
        "meteo",
        "Weather",
        "Current weather conditions for cities by city id.",
    ),
    (
        "peopledata",
        "Social",
        "Public person directory: search people, biographical data, employment and hometown.",
    ),
    (
        "socialstats",
        "Social",
        "Social media statistics of public persons.",
    ),
    (
        "worldfacts",
        "Data",
        "Country facts: search countries, economy, dialing codes, capitals and leaders.",
    ),
];

/// One entity of the world.
#[derive(Debug, Clone)]
pub struct Entity {
    /// Its id (`CO3F9A1`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The search summary value (ticker, postal code, username, ISO code).
    pub summary: String,
    /// Attribute values in the order of [`KindSpec::attributes`].
    pub attributes: Vec<i64>,
    /// Related entity indices in the order of [`KindSpec::relations`].
    pub relations: Vec<usize>,
}

/// The world: entities per kind, with names that come in clusters of near-duplicates.
#[derive(Debug, Clone)]
pub struct World {
    entities: [Vec<Entity>; 4],
    by_id: HashMap<String, (Kind, usize)>,
}

const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ra", "ve", "zu", "to", "ne", "sa", "qui", "dor", "bel", "an", "tri", "mo",
    "xe", "li", "gar", "pho", "ny", "cal", "te", "ru", "vin",
];

fn capitalised_word(rng: &mut ChaCha8Rng, syllables: usize) -> String {
    let mut w = String::new();
    for _ in 0..syllables {
        w.push_str(SYLLABLES[rng.gen_range(0..SYLLABLES.len())]);
    }
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => w,
    }
}

impl World {
    /// Generate the world: `per_kind` entities of each kind, names in clusters of one base name
    /// plus `decoys` near-duplicates (`"Zelora"`, `"Zelora Group"`, ...) so that a search
    /// returns several candidates and the right one must be picked by its exact name.
    pub fn generate(seed: u64, per_kind: usize, decoys: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut used_names = std::collections::HashSet::new();
        let mut used_ids = std::collections::HashSet::new();
        let mut entities: [Vec<Entity>; 4] = Default::default();
        for kind in KINDS {
            let spec = kind.spec();
            let mut names = Vec::with_capacity(per_kind);
            while names.len() < per_kind {
                let base = if kind == Kind::Person {
                    format!(
                        "{} {}",
                        capitalised_word(&mut rng, 2),
                        capitalised_word(&mut rng, 2)
                    )
                } else {
                    capitalised_word(&mut rng, 3)
                };
                if !used_names.insert(base.clone()) {
                    continue;
                }
                names.push(base.clone());
                let mut suffixes = spec.decoy_suffixes.to_vec();
                suffixes.shuffle(&mut rng);
                for suffix in suffixes.iter().take(decoys) {
                    if names.len() < per_kind {
                        let name = format!("{base} {suffix}");
                        used_names.insert(name.clone());
                        names.push(name);
                    }
                }
            }
            names.shuffle(&mut rng);
            for name in names {
                let id = loop {
                    let id = format!("{}{:05X}", spec.id_prefix, rng.gen_range(0..0x100000u32));
                    if used_ids.insert(id.clone()) {
                        break id;
                    }
                };
                let summary = match kind {
                    Kind::Company => (0..4).map(|_| rng.gen_range(b'A'..=b'Z') as char).collect(),
                    Kind::City => format!("{:05}", rng.gen_range(10000..99999)),
                    Kind::Person => format!(
                        "{}{}",
                        name.split(' ').next().unwrap_or("user").to_lowercase(),
                        rng.gen_range(10..999)
                    ),
                    Kind::Country => (0..3).map(|_| rng.gen_range(b'A'..=b'Z') as char).collect(),
                };
                let attributes = spec
                    .attributes
                    .iter()
                    .map(|a| rng.gen_range(a.range.0..=a.range.1))
                    .collect();
                entities[kind.index()].push(Entity {
                    id,
                    name,
                    summary,
                    attributes,
                    relations: Vec::new(),
                });
            }
        }
        for kind in KINDS {
            for e in 0..entities[kind.index()].len() {
                let rels = kind
                    .spec()
                    .relations
                    .iter()
                    .map(|r| rng.gen_range(0..entities[r.target.index()].len()))
                    .collect();
                entities[kind.index()][e].relations = rels;
            }
        }
        let mut by_id = HashMap::new();
        for kind in KINDS {
            for (k, e) in entities[kind.index()].iter().enumerate() {
                by_id.insert(e.id.clone(), (kind, k));
            }
        }
        Self { entities, by_id }
    }

    /// The entities of a kind.
    pub fn entities(&self, kind: Kind) -> &[Entity] {
        &self.entities[kind.index()]
    }

    /// One entity.
    pub fn entity(&self, kind: Kind, index: usize) -> &Entity {
        &self.entities[kind.index()][index]
    }

    /// Look an id up within a kind.
    pub fn find(&self, kind: Kind, id: &str) -> Option<&Entity> {
        match self.by_id.get(id) {
            Some(&(k, i)) if k == kind => Some(&self.entities[k.index()][i]),
            _ => None,
        }
    }
}

/// What a tool of the world does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// Search a kind by (part of) the name.
    Search(Kind),
    /// Read attribute `k` of an entity.
    Attribute(Kind, usize),
    /// Follow relation `k` of an entity.
    Relation(Kind, usize),
}

impl Api {
    /// Every API of the world in a fixed order.
    pub fn all() -> Vec<Api> {
        let mut out = Vec::new();
        for kind in KINDS {
            out.push(Api::Search(kind));
            for k in 0..kind.spec().attributes.len() {
                out.push(Api::Attribute(kind, k));
            }
            for k in 0..kind.spec().relations.len() {
                out.push(Api::Relation(kind, k));
            }
        }
        out
    }

    /// The RapidAPI-style tool this API belongs to.
    pub fn tool(self) -> &'static str {
        match self {
            Api::Search(kind) | Api::Relation(kind, _) => kind.spec().tool,
            Api::Attribute(kind, k) => kind.spec().attributes[k].tool,
        }
    }

    /// The OpenAI function name `<api>_for_<tool>`.
    pub fn function_name(self) -> String {
        let api = match self {
            Api::Search(kind) => format!("search_{}", kind.spec().plural),
            Api::Attribute(kind, k) => {
                format!("{}_{}", kind.spec().noun, kind.spec().attributes[k].api)
            }
            Api::Relation(kind, k) => {
                format!("{}_{}", kind.spec().noun, kind.spec().relations[k].api)
            }
        };
        format!("{api}_for_{}", self.tool())
    }

    /// The argument name.
    pub fn param(self) -> String {
        match self {
            Api::Search(_) => "name".into(),
            Api::Attribute(kind, _) | Api::Relation(kind, _) => kind.id_param(),
        }
    }

    /// The OpenAI function dict, in the shape of the reference's `api_json_to_openai_json`.
    pub fn schema(self) -> Value {
        let name = self.function_name();
        let (desc, pdesc) = match self {
            Api::Search(kind) => (
                format!(
                    "Search {} by name; returns up to 5 matches with their id, name and {}.",
                    kind.spec().plural,
                    kind.spec().summary.1
                ),
                format!("Full or partial name of the {}", kind.spec().noun),
            ),
            Api::Attribute(kind, k) => (
                format!(
                    "Get the {} of a {} by its id.",
                    kind.spec().attributes[k].phrase,
                    kind.spec().noun
                ),
                format!(
                    "Id of the {}, as returned by search_{}",
                    kind.spec().noun,
                    kind.spec().plural
                ),
            ),
            Api::Relation(kind, k) => {
                let r = kind.spec().relations[k];
                (
                    format!(
                        "Get the {} of a {} by its id; returns the {}'s id and name.",
                        r.phrase,
                        kind.spec().noun,
                        r.target.spec().noun
                    ),
                    format!(
                        "Id of the {}, as returned by search_{}",
                        kind.spec().noun,
                        kind.spec().plural
                    ),
                )
            }
        };
        let tool = self.tool();
        json!({"type": "function", "function": {
            "name": name,
            "description": format!("This is the subfunction for tool \"{tool}\", you can use this tool.The description of this function is: \"{desc}\""),
            "parameters": {"type": "object",
                "properties": {self.param(): {"type": "string", "description": pdesc}},
                "required": [self.param()], "optional": []}
        }})
    }

    /// Execute against the world.
    pub fn execute(self, world: &World, arguments: &str) -> ToolOutput {
        let parsed: Value = match serde_json::from_str(arguments) {
            Ok(v) => v,
            Err(e) => return ToolOutput::err(format!("Invalid JSON in tool input: {e}")),
        };
        let param = self.param();
        let Some(arg) = parsed.get(&param).and_then(Value::as_str) else {
            return ToolOutput::err(format!("Missing required string parameter '{param}'"));
        };
        match self {
            Api::Search(kind) => {
                let needle = arg.trim().to_lowercase();
                if needle.is_empty() {
                    return ToolOutput::err("Parameter 'name' must not be empty");
                }
                let mut hits: Vec<&Entity> = world
                    .entities(kind)
                    .iter()
                    .filter(|e| e.name.to_lowercase().contains(&needle))
                    .collect();
                hits.sort_by(|a, b| a.name.cmp(&b.name));
                let summary_key = kind.spec().summary.0;
                let results: Vec<Value> = hits
                    .iter()
                    .take(5)
                    .map(|e| json!({"id": e.id, "name": e.name, summary_key: e.summary}))
                    .collect();
                ToolOutput::ok(json!({"count": hits.len(), "results": results}))
            }
            Api::Attribute(kind, k) => match world.find(kind, arg) {
                Some(e) => ToolOutput::ok(json!({
                    kind.id_param(): e.id,
                    kind.spec().attributes[k].api: e.attributes[k],
                })),
                None => ToolOutput::err(format!("No {} with id '{arg}'", kind.spec().noun)),
            },
            Api::Relation(kind, k) => match world.find(kind, arg) {
                Some(e) => {
                    let r = kind.spec().relations[k];
                    let t = world.entity(r.target, e.relations[k]);
                    ToolOutput::ok(json!({
                        r.target.id_param(): t.id,
                        format!("{}_name", r.target.spec().noun): t.name,
                    }))
                }
                None => ToolOutput::err(format!("No {} with id '{arg}'", kind.spec().noun)),
            },
        }
    }
}

/// A world API as a [`Tool`].
#[derive(Debug, Clone)]
pub struct WorldTool {
    api: Api,
    schema: Value,
    world: Arc<World>,
}

impl WorldTool {
    /// The tool for `api` over `world`.
    pub fn new(api: Api, world: Arc<World>) -> Self {
        Self {
            api,
            schema: api.schema(),
            world,
        }
    }

    /// Which API this is.
    pub fn api(&self) -> Api {
        self.api
    }
}

impl Tool for WorldTool {
    fn schema(&self) -> &Value {
        &self.schema
    }

    fn call(&self, arguments: &str) -> ToolOutput {
        self.api.execute(&self.world, arguments)
    }
}
