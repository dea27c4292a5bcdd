//! The `wiregate serve` configuration file, parsed exactly as the daemon parses it
//! (`wiregate::config::Config::parse`): any text gives a configuration or an error with a
//! message, never a panic, and a file that parsed parses again to the same tunnels (the
//! keys generated the first time are found the second).
//!
//! Keys are generated into a temporary state directory, which is also the working
//! directory. Inputs that name a file to read (`private_key_file`, `url_file`) are
//! skipped: the fuzzer has no business reading the machine's files, or blocking on a
//! FIFO or a terminal among them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use wiregate::config::Config;

fn state_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("wiregate-fuzz-config")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        std::env::set_current_dir(&dir).expect("cd into the temporary directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains("_file") {
        return;
    }
    let dir = state_dir();
    match Config::parse("fuzz.toml", text, Some(dir)) {
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
        Ok(first) => {
            let second = Config::parse("fuzz.toml", text, Some(dir)).expect("parses again");
            let names = |c: &Config| {
                c.tunnels
                    .iter()
                    .map(|t| t.config.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(names(&first), names(&second));
        }
    }
});
