//! `cargo fuzz run oxfile --sanitizer none` (stable Rust): the oxfile parser
//! under libFuzzer, with the rules of tests/oxfile_mutations.rs: no panic,
//! every problem at a line:col (except the whole file's "nothing to run"),
//! `check`'s plan and report for every valid file. Seeds: fuzz/seeds (the
//! example oxfiles); see fuzz/run.sh.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use oxinit::api::config::{parse_str, plan, render_check_at, ConfigError, LoadContext};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ctx = LoadContext {
        env: BTreeMap::from([("X".to_owned(), "x".to_owned())]),
        // No passwd or group here: user names fail the same way every time.
        etc_dir: "/nonexistent".into(),
        lookups: oxinit::api::config::Lookups::Check,
    };
    match parse_str(text, Path::new("/nonexistent/oxfile.toml"), &ctx) {
        Ok(config) => {
            let _ = plan(&config);
            let _ = render_check_at(&config, UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        }
        Err(ConfigError::Invalid { problems, .. }) => {
            assert!(!problems.is_empty(), "invalid without a problem");
            let lines = text.split('\n').count();
            for p in &problems {
                let whole_file = p.line == 0 && p.message.starts_with("nothing to run: ");
                assert!(
                    whole_file || (p.line >= 1 && p.col >= 1 && p.line <= lines),
                    "problem without a line:col in the text: {p:?}"
                );
            }
        }
        Err(other) => panic!("not a config problem: {other}"),
    }
});
