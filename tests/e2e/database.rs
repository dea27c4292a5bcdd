//! Databases for the gateways under test, in the PostgreSQL cluster tests/run started.

use crate::names::unique;

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
