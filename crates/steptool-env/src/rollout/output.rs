//! Writing rollouts: our JSONL records and ToolEval's converted-answer format (formats.md §2.1).

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use serde_json::{json, Map, Value};
use steptool_mdp::FINISH_TOOL;

use super::RolloutRecord;
use crate::error::{Error, Result};

/// Write records as JSON lines.
pub fn write_records(path: &Path, records: &[RolloutRecord]) -> Result<()> {
    // Written beside the target and renamed over it: a killed run leaves the old file or the
    // new one, never half of the new one.
    let tmp = steptool_mdp::atomic::temp_sibling(path);
    let write = || -> Result<()> {
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = BufWriter::new(file);
        for r in records {
            serde_json::to_writer(&mut w, r)
                .map_err(|e| Error::json(path.display().to_string(), e))?;
            w.write_all(b"\n").map_err(|e| Error::io(&tmp, e))?;
        }
        w.flush().map_err(|e| Error::io(&tmp, e))
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Read records written by [`write_records`]; errors name the line.
pub fn read_records(path: &Path) -> Result<Vec<RolloutRecord>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (k, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line)
            .map_err(|e| Error::json(format!("{}, line {}", path.display(), k + 1), e))?;
        out.push(record);
    }
    Ok(out)
}

/// One record as a ToolEval converted-answer entry `{query, available_tools, answer}`.
pub fn converted_entry(r: &RolloutRecord) -> Value {
    // The chain as ToolEval's converter linearises it: system -> user -> one tool node per
    // call (thoughts attached to calls are dropped), stopping after Finish.
    let mut tools: Vec<Value> = Vec::new();
    if let Some(t) = &r.trajectory {
        for step in t.steps() {
            let call = step.action.call();
            let is_finish = call.name() == FINISH_TOOL;
            tools.push(json!({
                "name": call.name(),
                "arguments": call.arguments(),
                "response": if is_finish { String::new() } else { step.observation.clone().unwrap_or_default() },
            }));
            if is_finish {
                break;
            }
        }
    }
    let total_steps = 2 + tools.len();
    let mut next: Vec<Value> = Vec::new();
    for message in tools.into_iter().rev() {
        next = vec![json!({"role": "tool", "message": message, "next": next})];
    }
    let details = json!([{"role": "system", "message": "", "next": [
        {"role": "user", "message": "", "next": next}
    ]}]);
    json!({
        "query": r.context.query,
        "available_tools": r.context.functions,
        "answer": {
            "method": r.method,
            "total_steps": total_steps,
            "final_answer": r.final_answer,
            "answer_details": details,
        }
    })
}

/// Records as a ToolEval converted-answer object `{query_id: {query, available_tools, answer}}`.
/// With several samples of one query, the first sample is kept (ToolEval has one answer per
/// query); an error names a query id that appears twice with the same sample.
pub fn to_converted_answers(records: &[RolloutRecord]) -> Result<Value> {
    let mut out = Map::new();
    let mut seen = std::collections::HashSet::new();
    for r in records {
        if !seen.insert((r.query_id.clone(), r.sample)) {
            return Err(Error::data(
                format!("query {}", r.query_id),
                format!("sample {} appears twice", r.sample),
            ));
        }
        if r.sample == 0 {
            out.insert(r.query_id.clone(), converted_entry(r));
        }
    }
    Ok(Value::Object(out))
}

/// Write [`to_converted_answers`] as JSON with `indent=2`.
pub fn write_converted_answers(path: &Path, records: &[RolloutRecord]) -> Result<()> {
    let value = to_converted_answers(records)?;
    let text = crate::pyjson::dumps(&value, Some(2));
    steptool_mdp::atomic::write_atomic(path, text).map_err(|e| Error::io(path, e))
}
