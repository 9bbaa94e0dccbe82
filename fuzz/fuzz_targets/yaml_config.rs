//! The native YAML configuration (`probe validate --config FILE`): any bytes parse to a model or
//! to an error naming the file; a model passes the checks of `probe_fuzz::check_model`; the
//! flow-nesting guard agrees with libyaml's scanner (`probe_fuzz::check_yaml_nesting`).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use probe::config::yaml;

fuzz_target!(|data: &[u8]| {
    probe_fuzz::check_yaml_nesting(data);
    match yaml::parse(data, Path::new("fuzz.yaml")) {
        Ok(model) => probe_fuzz::check_model(&model),
        Err(e) => probe_fuzz::check_error(&e),
    }
});
