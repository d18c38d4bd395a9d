//! The binary finds libtorch by itself: `build.rs` links it with an rpath to the libtorch it was
//! built against, so a user does not set `LD_LIBRARY_PATH` (issue: every binary failed with
//! "libtorch_cpu.so: cannot open shared object file").

use std::process::{Command, Stdio};

#[test]
fn the_binary_starts_without_ld_library_path() -> Result<(), Box<dyn std::error::Error>> {
    let out = Command::new(env!("CARGO_BIN_EXE_steptool"))
        .arg("--version")
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout)?;
    assert!(stdout.starts_with("steptool "), "{stdout}");
    Ok(())
}
