//! `steptool train` as a user runs it with output to a file or a pipe: progress comes as plain
//! lines on stderr (no terminal codes), the summary on stdout, and the run directory holds
//! what the summary names.

use std::process::Command;

#[test]
fn progress_off_a_terminal_is_plain_lines() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let out = Command::new(env!("CARGO_BIN_EXE_steptool"))
        .args(["train", "--steps", "2", "--run-name", "piped", "--runs-dir"])
        .arg(tmp.path())
        .output()?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "terminal codes in piped stderr: {stderr:?}"
    );
    assert!(
        stderr.lines().any(|l| l.starts_with("PPO steps 2/2 [")),
        "no plain progress line: {stderr}"
    );
    assert!(stdout.contains("piped"), "{stdout}");
    let run = tmp.path().join("piped");
    for f in ["metrics.jsonl", "metrics.png", "checkpoints/latest"] {
        assert!(run.join(f).exists(), "{f}");
    }
    Ok(())
}
