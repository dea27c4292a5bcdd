//! The daemon's parts that need no process around them: the configuration file, key
//! files and private files, and the shard count. A library so that tools other than the
//! `wiregate` binary (the fuzz targets in `fuzz/`) parse a configuration exactly as
//! `wiregate serve` does.
#![forbid(unsafe_code)]

pub mod config;
pub mod keyfile;
pub mod private_files;

/// The shard count to use: the one asked for, checked, or one per core (at most as many
/// as a receiver index can name).
pub fn shards(requested: Option<usize>) -> Result<usize, String> {
    #[cfg(target_os = "linux")]
    use wiregate_dataplane::index::MAX_SHARDS;
    // No engine here to shard: any count a Linux build would take is accepted.
    #[cfg(not(target_os = "linux"))]
    const MAX_SHARDS: usize = 64;
    match requested {
        Some(n) if (1..=MAX_SHARDS).contains(&n) => Ok(n),
        Some(n) => Err(format!(
            "shards must be between 1 and {MAX_SHARDS}, not {n}"
        )),
        None => Ok(std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_SHARDS)),
    }
}
