//! Panics are bugs, and a bug must never pass for a result.
//!
//! Every task that could panic is either joined by someone who checks, or wrapped so that the
//! panic becomes data ([`crate::probe::run_guarded`] turns a prober's panic into an `error`
//! observation for its target). Behind both, [`install_hook`] counts every panic of the process,
//! on any thread, so that `probe` exits with [`EXIT_CODE`] when one happened anywhere in a run,
//! whatever the run's own outcome, and the agent exports the count
//! (`probe_agent_panics_total`).

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};

/// The exit code of a run in which something panicked: the output is incomplete or wrong, and
/// the reason is a bug in `probe`, not in the network or the input.
pub(crate) const EXIT_CODE: u8 = 3;

static PANICS: AtomicU64 = AtomicU64::new(0);

/// Counts every panic, then prints it as Rust's default hook does (the message and where).
/// Installed once by the binary's `main`; library users keep their own hook.
pub(crate) fn install_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::Relaxed);
        default(info);
    }));
}

/// How many panics happened in this process since [`install_hook`].
pub(crate) fn count() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// The text of a panic's payload (`panic!("…")` gives a `&str` or a `String`).
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_text_is_recovered() {
        let caught = std::panic::catch_unwind(|| panic!("bad {}", 7)).expect_err("panics");
        assert_eq!(message(caught.as_ref()), "bad 7");
        let caught = std::panic::catch_unwind(|| panic!("static")).expect_err("panics");
        assert_eq!(message(caught.as_ref()), "static");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(42u8)).expect_err("panics");
        assert_eq!(message(caught.as_ref()), "a panic without a message");
    }
}
