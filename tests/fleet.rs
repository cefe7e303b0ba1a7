//! The fleet store: a shared PostgreSQL behind several "hosts" (PAM
//! services with their own configuration and host name), against a
//! throwaway cluster (tests/common/postgres.rs).
#![cfg(test)]
#![allow(missing_docs)]

mod common;

use common::postgres::{Cluster, postgres_or_skip};

#[test]
fn the_throwaway_cluster_runs_and_is_private() {
    if !postgres_or_skip("the_throwaway_cluster_runs_and_is_private") {
        return;
    }
    let cluster = Cluster::start();
    assert_eq!(cluster.sql("postgres", "SELECT 1"), "1");
    let data = cluster.sql("postgres", "SHOW data_directory");
    assert!(data.starts_with(cluster.dir.path().to_str().unwrap()), "{data}");
    cluster.restart();
    assert_eq!(cluster.sql("postgres", "SELECT 2"), "2");
}
