//! `steptool advantages`: JSON on stdin, JSON on stdout, clear errors on stderr.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{anyhow, Context, Result};
use serde_json::Value;

/// Two actions: token 1, and tokens 3..5 (positions 0 and 2,3); rewards [0, 1]; no KL; V ≡ 0.
const REQUEST: &str = r#"{"episodes": [
  {"num_tokens": 5, "action_spans": [[1, 2], [3, 5]], "step_rewards": [0.0, 1.0],
   "logprobs": [-1, -1, -1, -1], "ref_logprobs": [-1, -1, -1, -1], "values": [0, 0, 0, 0]}]}"#;

/// Run the binary with `args` and `stdin`; returns (exit success, stdout, stderr).
fn steptool(args: &[&str], stdin: &str) -> Result<(bool, String, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_steptool"))
        .arg("advantages")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning steptool")?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("no stdin"))?
        .write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    Ok((
        out.status.success(),
        String::from_utf8(out.stdout)?,
        String::from_utf8(out.stderr)?,
    ))
}

fn ok_json(args: &[&str], stdin: &str) -> Result<Value> {
    let (ok, stdout, stderr) = steptool(args, stdin)?;
    if !ok {
        return Err(anyhow!("steptool advantages {args:?} failed: {stderr}"));
    }
    Ok(serde_json::from_str(&stdout)?)
}

fn floats(v: &Value) -> Result<Vec<f64>> {
    v.as_array()
        .ok_or_else(|| anyhow!("{v} is not an array"))?
        .iter()
        .map(|x| x.as_f64().ok_or_else(|| anyhow!("{x} is not a number")))
        .collect()
}

fn assert_close(actual: &[f64], expected: &[f64]) {
    assert_close_to(actual, expected, 1e-6);
}

fn assert_close_to(actual: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!((a - e).abs() < tol, "{actual:?} vs {expected:?}");
    }
}

#[test]
fn every_estimator_by_hand() -> Result<()> {
    // step-gae: A_1 = 1 on positions 2,3; A_0 = 0 + γ·V(s_1) - V(s_0) + γλ·A_1 = 0.9405 on 0
    let out = ok_json(&["--no-whiten"], REQUEST)?;
    let ep = &out["episodes"][0];
    assert_close(&floats(&ep["advantages"])?, &[0.9405, 0.0, 1.0, 1.0]);
    assert_close(&floats(&ep["advantages_raw"])?, &[0.9405, 0.0, 1.0, 1.0]);
    assert_close(&floats(&ep["returns"])?, &[0.9405, 0.0, 1.0, 1.0]);
    assert_close(&floats(&ep["rewards"])?, &[0.0, 0.0, 0.0, 1.0]);
    assert_eq!(ep["mask"], serde_json::json!([1, 0, 1, 1]));
    assert!(out["whiten_mean"].is_null() && out["whiten_var"].is_null());

    // token-gae along positions 0,2,3: A_3 = 1, A_2 = 0.9405, A_0 = 0.9405² = 0.88454025
    let out = ok_json(&["--estimator", "token-gae", "--no-whiten"], REQUEST)?;
    assert_close(
        &floats(&out["episodes"][0]["advantages"])?,
        &[0.88454025, 0.0, 0.9405, 1.0],
    );

    // final-reward: only positions 2,3 are trained
    let out = ok_json(&["--estimator", "final-reward", "--no-whiten"], REQUEST)?;
    assert_close(
        &floats(&out["episodes"][0]["advantages"])?,
        &[0.0, 0.0, 0.9405, 1.0],
    );
    assert_eq!(out["episodes"][0]["mask"], serde_json::json!([0, 0, 1, 1]));

    // reference-compat, plain, γ = 0.5, λ = 1: GAE through every position, γλ = 0.5:
    // A_3 = 1, A_2 = 0.5, A_1 = 0.25 (observation position, still counted), A_0 = 0.125
    let args = [
        "--estimator",
        "reference-compat",
        "--weighting",
        "plain",
        "--gamma",
        "0.5",
        "--lam",
        "1",
        "--no-whiten",
    ];
    let out = ok_json(&args, REQUEST)?;
    assert_close(
        &floats(&out["episodes"][0]["advantages"])?,
        &[0.125, 0.25, 0.5, 1.0],
    );
    // the released weighting multiplies the final score by 0: everything is 0
    let args = ["--estimator", "reference-compat", "--no-whiten"];
    let out = ok_json(&args, REQUEST)?;
    assert_close(&floats(&out["episodes"][0]["advantages"])?, &[0.0; 4]);
    Ok(())
}

#[test]
fn ablation_and_kl_flags() -> Result<()> {
    // --no-intermediate-rewards: r_0 = 0.5 is replaced by 0, so A_0 = 0 + γλ·A_1 = 0.9405
    // (with it: 0.5 + 0.9405 = 1.4405)
    let request = REQUEST.replace("[0.0, 1.0]", "[0.5, 1.0]");
    let out = ok_json(&["--no-whiten"], &request)?;
    assert_close(
        &floats(&out["episodes"][0]["advantages"])?,
        &[1.4405, 0.0, 1.0, 1.0],
    );
    let out = ok_json(&["--no-whiten", "--no-intermediate-rewards"], &request)?;
    assert_close(
        &floats(&out["episodes"][0]["advantages"])?,
        &[0.9405, 0.0, 1.0, 1.0],
    );
    // --kl-estimator abs --kl-coef 1: |logp - ref| = |-1.5 - -1| = 0.5 at position 3, penalty
    // -0.5, so R_1 = 1 - 0.5 = 0.5 = A_1 and A_0 = 0.9405·0.5 = 0.47025
    let request = REQUEST.replace(
        r#""logprobs": [-1, -1, -1, -1]"#,
        r#""logprobs": [-1, -1, -1, -1.5]"#,
    );
    let args = ["--no-whiten", "--kl-estimator", "abs", "--kl-coef", "1"];
    let out = ok_json(&args, &request)?;
    assert_close(
        &floats(&out["episodes"][0]["advantages"])?,
        &[0.47025, 0.0, 0.5, 0.5],
    );
    assert_close(
        &floats(&out["episodes"][0]["rewards"])?,
        &[0.0, 0.0, 0.0, 0.5],
    );
    Ok(())
}

#[test]
fn whitening_reports_its_statistics() -> Result<()> {
    let out = ok_json(&[], REQUEST)?;
    // masked raw advantages 0.9405, 1, 1: mean = 2.9405 / 3 = 0.98016667
    // var = (0.0396667² + 2·0.0198333²) / 2 = (0.00157344 + 0.00078672) / 2 = 0.00118008
    let mean = out["whiten_mean"]
        .as_f64()
        .ok_or_else(|| anyhow!("no mean"))?;
    let var = out["whiten_var"]
        .as_f64()
        .ok_or_else(|| anyhow!("no var"))?;
    assert!((mean - 0.98016667).abs() < 1e-6, "{mean}");
    assert!((var - 0.00118008).abs() < 1e-7, "{var}");
    // whitened: -0.0396667 / sqrt(0.00118008 + 1e-8) = -1.1547005 · (1 - 1e-8 / (2·0.00118008))
    //         = -1.1546956;  0.0198333 / sqrt(0.00118009) = 0.5773478
    assert_close_to(
        &floats(&out["episodes"][0]["advantages"])?,
        &[-1.1546956, 0.0, 0.5773478, 0.5773478],
        1e-6,
    );
    let out = ok_json(&["--diagnostics"], REQUEST)?;
    assert_eq!(out["step_diagnostics"][0]["tokens"], 1);
    assert_eq!(out["step_diagnostics"][1]["episodes"], 1);
    Ok(())
}

#[test]
fn malformed_input_gets_an_error_naming_episode_and_field() -> Result<()> {
    // REQUEST's episode followed by `second`
    let first = REQUEST
        .strip_prefix(r#"{"episodes": ["#)
        .and_then(|s| s.strip_suffix("]}"))
        .ok_or_else(|| anyhow!("REQUEST changed shape"))?;
    let two = |second: &str| format!(r#"{{"episodes": [{first}, {second}]}}"#);
    let good = r#"{"num_tokens": 3, "action_spans": [[1, 3]], "step_rewards": [1.0],
        "logprobs": [0, 0], "ref_logprobs": [0, 0], "values": [0, 0]}"#;
    let cases: Vec<(Vec<&str>, String, &str)> = vec![
        (vec![], two(&good.replace("[[1, 3]]", "[[1, 4]]")), "episode 1, field `action_spans`"),
        (vec![], two(&good.replace("[[1, 3]]", "[[1, 3], [2, 3]]")), "overlaps"),
        (vec![], two(&good.replace(r#""values": [0, 0]"#, r#""values": [0]"#)), "episode 1, field `values`: 1 entries"),
        (vec![], two(&good.replace("[1.0]", "[1e40]")), "episode 1, field `step_rewards`"),
        (vec![], two(&good.replace(r#""logprobs""#, r#""logprob""#)), "episode 1: unknown field `logprob`"),
        (vec![], "{\"episodes\": [}".into(), "invalid JSON"),
        (vec!["--weighting", "plain"], REQUEST.into(), "--weighting applies to --estimator reference-compat only"),
        (vec!["--gamma", "2"], REQUEST.into(), "field `gamma`: 2 is outside [0, 1]"),
        (vec!["--estimator", "final-reward"], r#"{"episodes": [{"num_tokens": 2, "action_spans": [[1, 2]], "step_rewards": [1], "logprobs": [0], "ref_logprobs": [0], "values": [0]}]}"#.into(), "whitening needs at least 2"),
    ];
    for (args, input, needle) in cases {
        let (ok, stdout, stderr) = steptool(&args, &input)?;
        assert!(!ok, "{args:?} accepted {input}: {stdout}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains(needle),
            "stderr `{stderr}` should contain `{needle}`"
        );
        // One line, and the text after the first `: ` (the cause) is not printed again.
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        if let Some((_, cause)) = stderr.trim_end().split_once(": ") {
            let tail = cause.rsplit(": ").next().unwrap_or(cause);
            assert_eq!(
                stderr.matches(tail).count(),
                1,
                "a cause printed twice: {stderr}"
            );
        }
    }
    Ok(())
}
