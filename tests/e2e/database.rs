//! Databases for the gateways under test, in the PostgreSQL cluster tests/run started.

use crate::cmd;
use crate::names::unique;
use std::path::PathBuf;

/// A fresh database in the cluster, as connection settings.
pub fn fresh_database() -> String {
    let cluster = std::env::var("WIREGATE_TEST_POSTGRES").expect(
        "WIREGATE_TEST_POSTGRES is not set: run the tests with tests/run, which starts a PostgreSQL cluster",
    );
    let name = unique("wge2e").replace('-', "_");
    let mut client = postgres::Client::connect(&cluster, postgres::NoTls)
        .unwrap_or_else(|e| panic!("the test cluster ({cluster}): {e}"));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    format!("{cluster} dbname={name}")
}

/// A cluster of the test's own (tests/postgres), stopped and deleted when dropped.
pub struct Cluster {
    dir: PathBuf,
    pub url: String,
}

fn script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/postgres").to_owned()
}

impl Cluster {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(unique("wgpg"));
        let url = cmd::run(&[&script(), "start", dir.to_str().unwrap()])
            .trim()
            .to_owned();
        Self { dir, url }
    }
    /// `tests/postgres <what>`: `pause` or `resume`.
    pub fn call(&self, what: &str) {
        cmd::run(&[&script(), what, self.dir.to_str().unwrap()]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = cmd::try_run(&[&script(), "stop", self.dir.to_str().unwrap()]);
    }
}
