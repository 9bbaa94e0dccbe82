//! Rendering observations for people (a table, a summary line, a progress bar) and for programs
//! (JSON and JSON lines, the contract of `verdicts.md` §1).

mod findings;
mod progress;
mod table;

use std::io::{self, Write};

pub use findings::render_findings;
pub use progress::Progress;
pub use table::{render_table, summary_line};

use crate::probe::Observation;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table with a row per target and a summary line.
    Table,
    /// One JSON array, in input order, printed when the run ends.
    Json,
    /// One JSON object per line, printed as each probe completes.
    Jsonl,
}

/// Writes `observations` as a pretty JSON array followed by a newline.
pub fn write_json(out: &mut impl Write, observations: &[Observation]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, observations)?;
    out.write_all(b"\n")
}

/// Writes one observation as a single JSON line and flushes, so consumers see it at once.
pub fn write_json_line(out: &mut impl Write, observation: &Observation) -> io::Result<()> {
    serde_json::to_writer(&mut *out, observation)?;
    out.write_all(b"\n")?;
    out.flush()
}
