//! Integration tests: the real `probe` binary, run in network namespaces against real servers and
//! real nftables rules (see `lab`), plus command-line behaviour that needs no network.

mod agent;
mod bad_input;
mod cli;
mod lab;
mod scenarios;
mod sweep;
mod taxonomy;
