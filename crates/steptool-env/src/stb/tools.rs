//! The `tools/` folder and the reference's `api_json_to_openai_json` (formats.md §3.3, §4.3).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use steptool_mdp::names::{change_name, function_name, standardize};

use crate::env::py_isspace;
use crate::error::{Error, Result};

/// One API offered to the model, with what the environment needs to call it.
#[derive(Debug, Clone, PartialEq)]
pub struct StbFunction {
    /// The OpenAI function dict.
    pub schema: Value,
    /// Its name.
    pub name: String,
    /// The category folder (`category_name` of the query).
    pub category: String,
    /// The standard tool name (file stem).
    pub standard_tool_name: String,
    /// `change_name(standardize(api_name))`.
    pub pure_api_name: String,
    /// The tool's `tool_description` (for the system prompt).
    pub tool_description: String,
}

fn take_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn str_field<'a>(v: &'a Value, key: &str, ctx: &str) -> Result<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::data(ctx, format!("missing string field `{key}`")))
}

/// The reference's `api_json_to_openai_json` for one API dict of a tools file.
///
/// Quirks kept: `required`/`optional` start with `""`; properties are only filled when the API
/// has at least one required parameter; `example_value` is present iff `str(default)` is not
/// empty; the description replaces the API name by the function name and keeps 256 characters.
pub fn api_function(api: &Value, standard_tool_name: &str, ctx: &str) -> Result<Value> {
    let api_name = str_field(api, "name", ctx)?;
    let name = function_name(api_name, standard_tool_name);
    let mut description = format!(
        "This is the subfunction for tool \"{standard_tool_name}\", you can use this tool."
    );
    let api_desc = api.get("description").and_then(Value::as_str).unwrap_or("");
    let stripped = api_desc.trim_matches(py_isspace);
    if !stripped.is_empty() {
        let truncated = take_chars(&stripped.replace(api_name, &name), 256);
        description.push_str(&format!(
            "The description of this function is: \"{truncated}\""
        ));
    }
    let mut properties = Map::new();
    let mut required = vec![Value::String(String::new())];
    let mut optional = vec![Value::String(String::new())];
    let params = |key: &str| -> Result<Vec<Value>> {
        match api.get(key) {
            Some(Value::Array(a)) => Ok(a.clone()),
            None => Ok(Vec::new()),
            Some(other) => Err(Error::data(ctx, format!("`{key}` is not a list: {other}"))),
        }
    };
    let req = params("required_parameters")?;
    if !req.is_empty() {
        for (list, out) in [
            (req, &mut required),
            (params("optional_parameters")?, &mut optional),
        ] {
            for (k, p) in list.iter().enumerate() {
                let c = format!("{ctx}, parameter {k}");
                let pname = change_name(&standardize(str_field(p, "name", &c)?));
                let ptype = match p.get("type").and_then(Value::as_str) {
                    Some("NUMBER") => "integer",
                    Some("BOOLEAN") => "boolean",
                    _ => "string",
                };
                let pdesc = take_chars(
                    p.get("description").and_then(Value::as_str).unwrap_or(""),
                    256,
                );
                let default = p
                    .get("default")
                    .ok_or_else(|| Error::data(&c, "missing field `default`"))?;
                let mut prop = json!({"type": ptype, "description": pdesc});
                if default.as_str() != Some("") {
                    prop["example_value"] = default.clone();
                }
                properties.insert(pname.clone(), prop);
                out.push(Value::String(pname));
            }
        }
    }
    Ok(json!({"type": "function", "function": {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required, "optional": optional}
    }}))
}

/// A tools folder, with parsed tool files cached across tasks.
#[derive(Debug, Clone)]
pub struct ToolsFolder {
    root: PathBuf,
    files: Arc<Mutex<HashMap<PathBuf, Arc<Value>>>>,
}

impl ToolsFolder {
    /// A tools folder at `root` (`tools/<Category>/<standard_tool_name>.json`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            files: Arc::default(),
        }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn load(&self, path: &Path) -> Result<Arc<Value>> {
        if let Ok(files) = self.files.lock() {
            if let Some(v) = files.get(path) {
                return Ok(v.clone());
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let v: Arc<Value> = Arc::new(
            serde_json::from_str(&text).map_err(|e| Error::json(path.display().to_string(), e))?,
        );
        if let Ok(mut files) = self.files.lock() {
            files.insert(path.to_owned(), v.clone());
        }
        Ok(v)
    }

    /// The server's `api_doc` for the simulator: `{"tool_description", "api_info": [{"name",
    /// "description"} of the APIs whose `standardize(name)` equals `standardize(api_name)`]}`.
    pub fn api_doc(
        &self,
        category: &str,
        standard_tool_name: &str,
        api_name: &str,
    ) -> Result<Value> {
        let path = self
            .root
            .join(category)
            .join(format!("{standard_tool_name}.json"));
        let tool = self.load(&path)?;
        let wanted = standardize(api_name);
        let info: Vec<Value> = tool
            .get("api_list")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|a| {
                a.get("name")
                    .and_then(Value::as_str)
                    .map(standardize)
                    .as_deref()
                    == Some(wanted.as_str())
            })
            .map(|a| json!({"name": a.get("name"), "description": a.get("description")}))
            .collect();
        Ok(
            json!({"tool_description": tool.get("tool_description").cloned().unwrap_or(Value::Null), "api_info": info}),
        )
    }

    /// The reference's `fetch_api_json` + `api_json_to_openai_json` for one `api_list` entry:
    /// `Ok(None)` when the tool file has no API of that name (the reference prints and skips
    /// it); an error when the tool file is missing (the reference skips the whole query).
    pub fn function(
        &self,
        category: &str,
        tool_name: &str,
        api_name: &str,
    ) -> Result<Option<StbFunction>> {
        let standard_tool_name = standardize(tool_name);
        let path = self
            .root
            .join(category)
            .join(format!("{standard_tool_name}.json"));
        let tool = self.load(&path)?;
        let ctx = path.display().to_string();
        let wanted = change_name(&standardize(api_name));
        let apis = tool
            .get("api_list")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::data(&ctx, "missing array `api_list`"))?;
        for (k, api) in apis.iter().enumerate() {
            let c = format!("{ctx}, api_list[{k}]");
            let name = str_field(api, "name", &c)?;
            if change_name(&standardize(name)) != wanted {
                continue;
            }
            let schema = api_function(api, &standard_tool_name, &c)?;
            let fname = schema["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            return Ok(Some(StbFunction {
                schema,
                name: fname,
                category: category.to_owned(),
                standard_tool_name,
                pure_api_name: wanted,
                tool_description: tool
                    .get("tool_description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            }));
        }
        Ok(None)
    }
}
