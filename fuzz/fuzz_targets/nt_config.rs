//! The WireGuardNT configuration buffer decoder: any bytes give a configuration or an
//! error, never a panic, and a configuration it gives survives being encoded for the
//! driver and decoded again unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiregate_windows::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(config) = decode(data) else {
        return;
    };
    let again = decode(&encode(&config)).expect("an encoded configuration decodes");
    assert_eq!(again, config, "decode(encode(c)) differs from c");
});
