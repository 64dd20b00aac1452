//! Fuzzes the config-file path end to end: TOML text is parsed into entries (`file::parse`), and
//! the same text loaded as `--config` goes through the flag definitions (`load::load`). Either
//! may refuse the text with an error naming the line and key; neither may panic.
#![no_main]

use std::ffi::OsString;
use std::io::Write;

use libfuzzer_sys::fuzz_target;
use nexo_server::settings::{file, load};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(problem) = file::parse(text) {
        // A refusal must be displayable (it is what the operator reads).
        let _ = problem.in_file(std::path::Path::new("fuzz.toml")).to_string();
    }
    let Ok(mut config) = tempfile::NamedTempFile::new() else { return };
    if config.write_all(data).is_err() {
        return;
    }
    let args: Vec<OsString> = vec!["nexo".into(), "--config".into(), config.path().into()];
    if let Err(e) = load::load(&args) {
        let _ = e.to_string();
    }
});
