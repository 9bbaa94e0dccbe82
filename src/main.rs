//! The `probe` binary: see the library's docs for the layout.

use std::process::ExitCode;

fn main() -> ExitCode {
    probe::cli::main()
}
