//! Rendering observations for people (a table, a summary line, a progress bar) and for programs
//! (JSON and JSON lines, the contract of `verdicts.md` §1).

mod explain;
mod findings;
pub mod html;
mod progress;
mod table;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

pub use explain::render_explain;
pub use findings::render_findings;
pub use progress::Progress;
pub use table::{render_table, summary_line};

use crate::observation::Observation;

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

/// Whether standard output's reader has gone (a closed pipe).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// A writer that treats a closed pipe as a sink: once a write fails with `EPIPE`, this and every
/// later write to standard output succeed without writing. `probe … | head -n3` then runs to its
/// end, and its exit code says whether probes failed exactly as it would have with the whole
/// output read (under `set -o pipefail` a script learns it). Any other error is returned.
#[derive(Debug)]
pub struct PipeSafe<W: Write>(pub W);

impl<W: Write> Write for PipeSafe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        match self.0.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(());
        }
        match self.0.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(())
            }
            other => other,
        }
    }
}

/// Standard output, locked, for results ([`PipeSafe`]).
pub fn stdout() -> PipeSafe<io::StdoutLock<'static>> {
    PipeSafe(io::stdout().lock())
}

/// Writes `observations` as a pretty JSON array followed by a newline.
///
/// Buffered here: stdout is line-buffered, and a 65,536-target sweep prints over a million lines,
/// which unbuffered cost more than the sweep itself.
pub fn write_json(out: &mut impl Write, observations: &[Observation]) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer_pretty(&mut out, observations)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Writes the pretty JSON array of [`write_json`] while results arrive out of order.
///
/// Each observation is serialised when it arrives (while the run is still waiting on slower
/// probes), and written as soon as every earlier one has been: the array comes out in input order,
/// byte for byte what `write_json` prints, and the end of a large run has nothing left to format.
/// Only observations that arrive ahead of an earlier one are held, as bytes.
pub struct JsonArrayWriter<W: Write> {
    out: W,
    held: Vec<Option<Box<[u8]>>>,
    next: usize,
    written: usize,
}

impl<W: Write> JsonArrayWriter<W> {
    /// A writer for the observations with indices `0..total`.
    pub fn new(out: W, total: usize) -> Self {
        JsonArrayWriter {
            out,
            held: std::iter::repeat_with(|| None).take(total).collect(),
            next: 0,
            written: 0,
        }
    }

    /// Takes the observation with input index `index`.
    pub fn push(&mut self, index: usize, observation: &Observation) -> io::Result<()> {
        let mut element = Vec::with_capacity(512);
        serde_json::to_writer_pretty(&mut element, observation)?;
        // Inside the array every line is indented one level more. JSON strings escape their
        // newlines, so every raw newline is formatting.
        let mut indented = Vec::with_capacity(element.len() + element.len() / 8);
        indented.extend_from_slice(b"  ");
        for &b in &element {
            indented.push(b);
            if b == b'\n' {
                indented.extend_from_slice(b"  ");
            }
        }
        match self.held.get_mut(index) {
            Some(slot) => *slot = Some(indented.into_boxed_slice()),
            None => return Ok(()),
        }
        while let Some(Some(element)) = self.held.get_mut(self.next).map(Option::take) {
            self.write_element(&element)?;
            self.next += 1;
        }
        Ok(())
    }

    fn write_element(&mut self, element: &[u8]) -> io::Result<()> {
        self.out
            .write_all(if self.written == 0 { b"[\n" } else { b",\n" })?;
        self.out.write_all(element)?;
        self.written += 1;
        Ok(())
    }

    /// Writes what is still held (after an interrupted run, skipping the gaps), closes the
    /// array, and flushes.
    pub fn finish(mut self) -> io::Result<()> {
        let held = std::mem::take(&mut self.held);
        for element in held.into_iter().skip(self.next).flatten() {
            self.write_element(&element)?;
        }
        self.out
            .write_all(if self.written == 0 { b"[]\n" } else { b"\n]\n" })?;
        self.out.flush()
    }
}

/// Writes one observation as a single JSON line and flushes, so consumers see it at once.
pub fn write_json_line(out: &mut impl Write, observation: &Observation) -> io::Result<()> {
    serde_json::to_writer(&mut *out, observation)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::target::{TargetDefaults, parse};

    fn observations(n: usize) -> Vec<Observation> {
        (0..n)
            .map(|i| {
                let target = parse(&format!("10.0.0.{i}:80"), &TargetDefaults::default())
                    .expect("target")
                    .remove(0);
                // A detail with a newline and a quote: escaped in JSON, never a raw newline.
                Observation::error(&target, None, format!("line one\nline \"{i}\""))
            })
            .collect()
    }

    fn streamed(obs: &[Observation], order: &[usize]) -> String {
        let mut out = Vec::new();
        let mut writer = JsonArrayWriter::new(&mut out, obs.len());
        for &i in order {
            writer.push(i, &obs[i]).expect("write");
        }
        writer.finish().expect("finish");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn streamed_array_is_byte_for_byte_the_pretty_array_in_input_order() {
        let obs = observations(5);
        let mut whole = Vec::new();
        write_json(&mut whole, &obs).expect("write");
        let whole = String::from_utf8(whole).expect("utf-8");
        for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]] {
            assert_eq!(streamed(&obs, &order), whole, "arrival order {order:?}");
        }
        let mut empty = Vec::new();
        write_json(&mut empty, &[]).expect("write");
        assert_eq!(streamed(&[], &[]), String::from_utf8(empty).expect("utf-8"));
    }

    #[test]
    fn an_interrupted_stream_is_still_one_valid_array_of_what_finished() {
        let obs = observations(4);
        let text = streamed(&obs, &[3, 0, 2]);
        let parsed: Vec<serde_json::Value> = serde_json::from_str(&text).expect("valid JSON");
        let targets: Vec<&str> = parsed
            .iter()
            .map(|o| o["target"].as_str().expect("target"))
            .collect();
        assert_eq!(targets, ["10.0.0.0:80", "10.0.0.2:80", "10.0.0.3:80"]);
    }
}
