//! The UAPI `set` parser and its application, against a naive model of the kernel's
//! semantics. The input is one or more `set` bodies (`key=value` lines) separated by a
//! blank line, as `wg` sends them; each that parses is applied both by `apply_set` and by
//! the model, in turn, to the configuration the ones before left, and the two must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiregate_dataplane::DeviceConfig;
use wiregate_dataplane::uapi::{apply_set, parse_set};
use wiregate_fuzz::uapi_model;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut config = DeviceConfig::default();
    for body in text.split("\n\n") {
        let lines: Vec<&str> = body.lines().collect();
        let Ok(request) = parse_set(&lines) else {
            continue;
        };
        let (applied, endpoints) = apply_set(&config, &request);
        let (expected, expected_endpoints) = uapi_model::apply(&config, &request);
        assert_eq!(applied, expected, "apply_set and the model differ");
        assert_eq!(endpoints, expected_endpoints);
        config = applied;
    }
});
