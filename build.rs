//! Link-time settings for the static binary that goes into images.
//!
//! With `-C target-feature=+crt-static` (see .ci/run, bench/run.sh and the
//! Dockerfiles) the binary is a static PIE that relocates itself at start-up.
//! Packed relative relocations (DT_RELR) shrink that relocation table from
//! ~115 KB to ~1.4 KB: a smaller file, less to read at every start. The glibc
//! that applies them is the one linked in (2.36+ understands RELR), so this
//! is safe for static builds only; dynamic builds are left as they are.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let static_linux = features.split(',').any(|f| f == "crt-static")
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if static_linux {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
