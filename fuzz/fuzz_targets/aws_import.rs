//! The AWS importer (`--aws DIR`): NUL-separated JSON documents, optionally preceded by the
//! agent's address (see `probe_fuzz::json_files`). An import ends in an error naming a file or in
//! a model that passes `probe_fuzz::check_model`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use probe::config::aws;

fuzz_target!(|data: &[u8]| {
    match probe_fuzz::json_files(data) {
        Ok((files, agent)) => probe_fuzz::check_imported(aws::import(&files, agent), agent),
        Err(e) => probe_fuzz::check_error(&e),
    }
});
