//! The `probe agent` daemon: the long-running side of `probe`, serving its findings over HTTP.

pub mod auth;
