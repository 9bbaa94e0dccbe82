//! One rendering of a page shared by every request that asks for it while it is being rendered.
//!
//! At 10,000 checks `/metrics` is some 33 MB of text, and rendering it takes about three times
//! that while it runs. Rendered once per request, 32 concurrent scrapes took 2.9 GB (issue 13).
//! Here a request that arrives while the page is being rendered waits for that rendering and
//! gets the same bytes (reference-counted, never copied): however many requests come at once,
//! at most one rendering is in memory, plus the finished page while connections still send it.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::watch;

/// A page rendered on demand, one rendering at a time, shared by the requests that wait for it.
#[derive(Debug, Default)]
pub(crate) struct SharedPage {
    /// The rendering under way, if any.
    rendering: Arc<Mutex<Option<watch::Receiver<Option<Bytes>>>>>,
}

impl SharedPage {
    /// The page: the rendering under way if there is one, else a new one by `render` (on the
    /// blocking pool, and carried on even if this request goes away). `None` if it failed.
    pub(crate) async fn get<F>(&self, render: F) -> Option<Bytes>
    where
        F: FnOnce() -> Bytes + Send + 'static,
    {
        let mut rx = {
            let mut rendering = self
                .rendering
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match &*rendering {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    *rendering = Some(rx.clone());
                    let slot = Arc::clone(&self.rendering);
                    tokio::spawn(async move {
                        let page = tokio::task::spawn_blocking(render).await;
                        // Later requests render anew: a page is shared only while it is made.
                        *slot.lock().unwrap_or_else(PoisonError::into_inner) = None;
                        if let Ok(page) = page {
                            let _ = tx.send(Some(page));
                        }
                        // A rendering that panicked drops `tx`: its waiters get `None`.
                    });
                    rx
                }
            }
        };
        rx.wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|p| p.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_one_rendering() {
        let page = Arc::new(SharedPage::default());
        let renders = Arc::new(AtomicUsize::new(0));
        let mut waiting = Vec::new();
        for _ in 0..32 {
            let (page, renders) = (page.clone(), renders.clone());
            waiting.push(tokio::spawn(async move {
                page.get(move || {
                    renders.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    Bytes::from_static(b"page")
                })
                .await
            }));
        }
        for w in waiting {
            assert_eq!(w.await.expect("join"), Some(Bytes::from_static(b"page")));
        }
        // The first request renders; all 31 others arrive while it does (they are spawned in
        // microseconds, it takes 300 ms) and share it.
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        // Once done, the next request renders anew.
        let again = page.get(|| Bytes::from_static(b"new")).await;
        assert_eq!(again, Some(Bytes::from_static(b"new")));
    }

    #[tokio::test]
    async fn a_rendering_that_panics_answers_none_and_the_next_one_works() {
        let page = SharedPage::default();
        assert_eq!(page.get(|| panic!("render bug")).await, None);
        assert_eq!(
            page.get(|| Bytes::from_static(b"ok")).await,
            Some(Bytes::from_static(b"ok"))
        );
    }
}
