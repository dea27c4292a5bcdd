//! The wireguard-go drop-in needs Linux's TUN and wiregate's userspace engine: elsewhere
//! it says so.

use crate::DropIn;

pub fn run(args: DropIn) -> Result<(), String> {
    Err(format!(
        "{}: the wireguard-go drop-in (wiregate <interface>) runs on Linux only; on {} use `wiregate serve`",
        args.interface,
        std::env::consts::OS
    ))
}
