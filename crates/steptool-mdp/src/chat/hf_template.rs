//! Hugging Face `chat_template`s (Jinja) from a `tokenizer_config.json`, rendered with
//! minijinja the way transformers renders them.
//!
//! transformers compiles templates in a sandboxed Jinja environment with `trim_blocks` and
//! `lstrip_blocks` on, exposes `raise_exception`, and passes `messages`, `add_generation_prompt`
//! and the special tokens (`bos_token`, `eos_token`, …). Python string methods used by
//! templates (`.strip()`, `.startswith()`, …) come from minijinja-contrib's `pycompat`.

use std::path::Path;

use minijinja::{context, Environment, ErrorKind};
use serde_json::Value;

use super::{Message, Role};
use crate::error::{Error, Location, Result};

const TEMPLATE_NAME: &str = "chat_template";

/// A chat template taken from a tokenizer config.
#[derive(Debug)]
pub struct HfChatTemplate {
    env: Environment<'static>,
    source_name: String,
    bos_token: String,
    eos_token: String,
}

impl HfChatTemplate {
    /// Read `chat_template`, `bos_token` and `eos_token` from a `tokenizer_config.json`. When
    /// `chat_template` is a list of named templates, the one named `default` is used.
    pub fn from_tokenizer_config(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Value = serde_json::from_str(&text).map_err(|source| Error::Json {
            location: Location::file(path),
            source,
        })?;
        let template = match config.get("chat_template") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                .and_then(|t| t.get("template"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    Error::format(
                        Location::file(path).with_field("chat_template"),
                        "a list of templates without one named \"default\"",
                    )
                })?
                .to_owned(),
            Some(other) => {
                return Err(Error::format(
                    Location::file(path).with_field("chat_template"),
                    format!("expected a string or a list of named templates, found {other}"),
                ))
            }
            None => {
                return Err(Error::format(
                    Location::file(path).with_field("chat_template"),
                    "the tokenizer config has no chat template",
                ))
            }
        };
        let token = |key: &str| -> String {
            match config.get(key) {
                Some(Value::String(s)) => s.clone(),
                // AddedToken dicts: {"content": "<s>", "lstrip": false, ...}
                Some(Value::Object(o)) => o
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                _ => String::new(),
            }
        };
        Self::new(
            template,
            token("bos_token"),
            token("eos_token"),
            path.display().to_string(),
        )
    }

    /// A template from its source text and special tokens; `source_name` names it in errors.
    pub fn new(
        template: String,
        bos_token: String,
        eos_token: String,
        source_name: String,
    ) -> Result<Self> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_template_owned(TEMPLATE_NAME, template)
            .map_err(|source| Error::Template {
                name: source_name.clone(),
                source,
            })?;
        Ok(Self {
            env,
            source_name,
            bos_token,
            eos_token,
        })
    }

    /// Render `messages`; with `add_generation_prompt` the opening of an assistant turn is
    /// appended. Assistant turns with a call are passed as their ReAct text
    /// ([`Message::model_text`]) and, for templates that use them, as OpenAI `tool_calls`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                let mut v = serde_json::json!({"role": m.role.as_str(), "content": m.model_text()});
                if let (Role::Assistant, Some(call)) = (m.role, &m.tool_call) {
                    v["tool_calls"] = serde_json::json!([{"type": "function", "function": {"name": call.name(), "arguments": call.arguments()}}]);
                }
                v
            })
            .collect();
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|source| Error::Template {
                name: self.source_name.clone(),
                source,
            })?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token.clone(),
                eos_token => self.eos_token.clone(),
            })
            .map_err(|source| Error::Template {
                name: self.source_name.clone(),
                source,
            })
    }
}
