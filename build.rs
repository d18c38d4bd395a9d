//! Records where libtorch is in the `steptool` binary and the examples (an rpath), so that
//! `target/release/steptool` runs without `LD_LIBRARY_PATH` or `scripts/with-torch`.
//!
//! torch-sys (`links = "tch"`) publishes the libtorch it linked as `DEP_TCH_LIBTORCH_LIB` to the
//! build scripts of the crates that depend on it directly; this crate does, for that alone.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        match target_os.as_str() {
            "linux" | "macos" => println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}"),
            // Windows has no rpath: libtorch's DLLs must be on PATH.
            _ => {}
        }
    }
}
