//! Integration tests: the real `probe` binary, run in network namespaces against real servers and
//! real nftables rules (see `lab`), plus command-line behaviour that needs no network.
#![allow(clippy::expect_used)] // a test or bench stops at the first surprise

mod abuse;
mod agent;
mod bad_input;
mod browser;
mod cli;
mod hostile;
mod huawei;
mod lab;
mod layers;
mod moto;
mod privileges;
mod scenarios;
mod server;
mod shards;
mod soak;
mod sweep;
mod taxonomy;
mod whole_path;
