//! HTTP basic auth for the agent's server, against the bcrypt hashes of `basic_auth_users` in the
//! web configuration ([`super::web_config`]), with the behaviour of the Prometheus
//! exporter-toolkit:
//!
//! | situation                              | what [`BasicAuth::check`] does                                   |
//! |----------------------------------------|-------------------------------------------------------------------|
//! | no or unparsable `Authorization` value | `false` at once                                                   |
//! | known user, pair verified recently     | `true` from the cache: no bcrypt                                  |
//! | known user, otherwise                  | bcrypt on a blocking thread, one at a time; a success is cached   |
//! | unknown user                           | bcrypt against a decoy hash, then `false`, so timing hides names  |
//! | bcrypt busy with [`MAX_WAITING`] waiting, or no turn within [`MAX_WAIT`] | [`Verdict::Busy`] at once: no bcrypt |
//!
//! bcrypt is slow on purpose (cost 10 takes 50–100 ms), which is why it runs on tokio's blocking
//! pool and why successful checks are remembered: Prometheus sends the same credentials on every
//! scrape. The cache holds SHA-256 digests of (user, hash, password), never the password itself;
//! the hash is part of the key, so a changed configuration never reuses an old success.

use std::collections::{BTreeMap, VecDeque};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use tokio::sync::Semaphore;

/// How many verified (user, hash, password) digests are remembered; exporter-toolkit keeps 100.
const CACHE_CAPACITY: usize = 100;

/// Requests that may wait for the bcrypt slot. A flood of wrong passwords beyond this is
/// answered at once ([`Verdict::Busy`], 429) instead of holding connections in a queue, so the
/// server keeps its connections for the scraper, whose credentials are cached.
pub(crate) const MAX_WAITING: usize = 4;

/// The longest a request waits for its turn at bcrypt.
pub(crate) const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The answer to an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A known user with the right password.
    Allowed,
    /// Missing, unparsable, unknown or wrong credentials.
    Denied,
    /// Not checked: bcrypt is busy with others (a flood of attempts). Try again later.
    Busy,
}

/// Checks `Authorization: Basic …` values against a set of users and bcrypt hashes.
pub(crate) struct BasicAuth {
    users: BTreeMap<String, String>,
    /// What an unknown user's password is checked against: the configured hash with the highest
    /// cost, so that a made-up name costs at least as much time as a real one. (exporter-toolkit
    /// uses a fixed cost-10 hash, which gives unknown names away when the real hashes cost more.)
    /// The result is always discarded.
    decoy: Option<String>,
    verified: Mutex<VecDeque<[u8; 32]>>,
    /// Requests waiting for `bcrypt_slot`, at most [`MAX_WAITING`].
    waiting: std::sync::atomic::AtomicUsize,
    /// bcrypt runs one at a time, as in exporter-toolkit: a flood of wrong passwords then costs
    /// one core, not the whole blocking pool. The permit moves into the blocking task.
    bcrypt_slot: Arc<Semaphore>,
}

impl BasicAuth {
    /// `users` maps a user name to its bcrypt hash, as [`super::web_config::WebConfig`] holds
    /// them (checked at load time). With no users nobody is let in: a server that wants
    /// exporter-toolkit's "no users, no authentication" should not ask at all.
    pub(crate) fn new(users: BTreeMap<String, String>) -> Self {
        let decoy = users
            .values()
            .filter_map(|h| Some((bcrypt::HashParts::from_str(h).ok()?.get_cost(), h)))
            .max_by_key(|(cost, _)| *cost)
            .map(|(_, h)| h.clone());
        BasicAuth {
            users,
            decoy,
            verified: Mutex::new(VecDeque::with_capacity(CACHE_CAPACITY)),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            bcrypt_slot: Arc::new(Semaphore::new(1)),
        }
    }

    /// Checks an `Authorization` header value (`None` when the request has none). Garbage of
    /// any kind — not `Basic`, bad base64, no colon, a user name that is not UTF-8 — is `false`,
    /// never a panic. A request that found bcrypt too busy ([`Verdict::Busy`]) is `false` too.
    #[cfg(test)]
    pub(crate) async fn verify(&self, authorization: Option<&[u8]>) -> bool {
        self.check(authorization).await == Verdict::Allowed
    }

    /// Whether the credentials pass, telling a wrong password from a check that was not made because
    /// bcrypt was busy. The work is bounded: one bcrypt at a time, at most [`MAX_WAITING`]
    /// requests waiting for it, each at most [`MAX_WAIT`]; cached credentials never wait.
    pub(crate) async fn check(&self, authorization: Option<&[u8]>) -> Verdict {
        use std::sync::atomic::Ordering;
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return Verdict::Denied;
        };
        let (hash, known) = match (self.users.get(&user), &self.decoy) {
            (Some(hash), _) => (hash, true),
            (None, Some(decoy)) => (decoy, false),
            (None, None) => return Verdict::Denied,
        };
        let key = cache_key(&user, hash, &password);
        if known && self.cache().contains(&key) {
            return Verdict::Allowed;
        }
        // A place in the queue, or an answer at once.
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Verdict::Busy;
        }
        let turn =
            tokio::time::timeout(MAX_WAIT, Arc::clone(&self.bcrypt_slot).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let permit = match turn {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Verdict::Denied,
            Err(_) => return Verdict::Busy,
        };
        let hash = hash.clone();
        // The permit moves into the blocking task: if this request goes away, the slot stays
        // taken until bcrypt really ends.
        let matched = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            bcrypt::verify(&password, &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if known && matched {
            self.remember(key);
            Verdict::Allowed
        } else {
            Verdict::Denied
        }
    }

    /// Adds a verified digest, forgetting the oldest when full.
    fn remember(&self, key: [u8; 32]) {
        let mut cache = self.cache();
        if !cache.contains(&key) {
            if cache.len() >= CACHE_CAPACITY {
                cache.pop_front();
            }
            cache.push_back(key);
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, VecDeque<[u8; 32]>> {
        // A panic elsewhere cannot leave a list of digests inconsistent.
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Splits `Basic <base64(user:password)>` (scheme case-insensitive, RFC 7617) into the user and
/// the password bytes.
fn parse_basic(header: &[u8]) -> Option<(String, Vec<u8>)> {
    let header = header.trim_ascii();
    let space = header.iter().position(|&b| b == b' ')?;
    let (scheme, credentials) = header.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"Basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim_ascii())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = std::str::from_utf8(&decoded[..colon]).ok()?.to_string();
    Some((user, decoded[colon + 1..].to_vec()))
}

/// SHA-256 over the length-prefixed user, hash and password, so no two triples share a key.
fn cache_key(user: &str, hash: &str, password: &[u8]) -> [u8; 32] {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user.as_bytes(), hash.as_bytes(), password] {
        digest.update(&(part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.finish().as_ref()); // SHA-256: always 32 bytes
    key
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn header(credentials: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
        .into_bytes()
    }

    fn auth() -> BasicAuth {
        let users = [("alice", "wonderland"), ("bob", "builder")]
            .into_iter()
            .map(|(u, p)| (u.to_string(), bcrypt::hash(p, 4).expect("hash")))
            .collect();
        BasicAuth::new(users)
    }

    #[tokio::test]
    async fn right_password_passes_and_wrong_or_unknown_fails() {
        let auth = auth();
        assert!(auth.verify(Some(&header("alice:wonderland"))).await);
        assert!(auth.verify(Some(&header("bob:builder"))).await);
        assert!(!auth.verify(Some(&header("alice:builder"))).await);
        assert!(!auth.verify(Some(&header("alice:"))).await);
        assert!(!auth.verify(Some(&header("mallory:wonderland"))).await);
        assert!(!auth.verify(Some(&header(":wonderland"))).await);
        assert!(!auth.verify(None).await);
    }

    #[tokio::test]
    async fn second_verify_is_served_from_the_cache() {
        let auth = auth();
        let alice = header("alice:wonderland");
        assert!(auth.verify(Some(&alice)).await);
        assert_eq!(auth.cache().len(), 1);
        // With the bcrypt slot taken, a check that needs bcrypt waits: an answer proves the
        // cache gave it.
        let slot = Arc::clone(&auth.bcrypt_slot)
            .acquire_owned()
            .await
            .expect("slot");
        let cached = tokio::time::timeout(Duration::from_secs(5), auth.verify(Some(&alice))).await;
        assert_eq!(cached, Ok(true));
        drop(slot);
        // Failures are not cached, and the cache does not leak across users.
        assert!(!auth.verify(Some(&header("alice:wrong"))).await);
        assert!(!auth.verify(Some(&header("bob:wonderland"))).await);
        assert_eq!(auth.cache().len(), 1);
    }

    #[tokio::test]
    async fn cache_is_bounded() {
        let auth = auth();
        let alice = header("alice:wonderland");
        assert!(auth.verify(Some(&alice)).await);
        for i in 0..CACHE_CAPACITY {
            auth.remember(cache_key("alice", "hash", i.to_string().as_bytes()));
        }
        assert_eq!(auth.cache().len(), CACHE_CAPACITY);
        // alice's digest was the oldest: gone, so the next check needs bcrypt again.
        let slot = Arc::clone(&auth.bcrypt_slot)
            .acquire_owned()
            .await
            .expect("slot");
        let waited =
            tokio::time::timeout(Duration::from_millis(50), auth.verify(Some(&alice))).await;
        assert!(waited.is_err(), "answered from the cache: {waited:?}");
        drop(slot);
        assert!(auth.verify(Some(&alice)).await);
        assert_eq!(auth.cache().len(), CACHE_CAPACITY);
    }

    #[tokio::test]
    async fn garbage_headers_fail_without_panicking() {
        let auth = auth();
        let cases: &[&[u8]] = &[
            b"",
            b"Basic",
            b"Basic ",
            b"Bearer YWxpY2U6d29uZGVybGFuZA==",
            b"Basic !!!not-base64!!!",
            b"Basic YWxpY2U=",               // "alice": no colon
            b"Basic YWxpY2U6d29uZGVybGFuZA", // missing padding
            b"\xff\xfe Basic",
            b"Basic \xff\xfe\xfd",
            b"Basic /w==",         // a single 0xff byte: not UTF-8, no colon
            b"Basic //46cGFzcw==", // user 0xff 0xfe: not UTF-8
        ];
        for case in cases {
            assert!(!auth.verify(Some(case)).await, "{case:?}");
        }
        // The scheme is case-insensitive and surrounding spaces are tolerated.
        let mut lower = b" basic ".to_vec();
        lower.extend_from_slice(&header("alice:wonderland")[6..]);
        assert!(auth.verify(Some(&lower)).await);
    }

    #[tokio::test]
    async fn passwords_may_hold_colons_and_no_users_lets_nobody_in() {
        let users =
            BTreeMap::from([("carol".to_string(), bcrypt::hash("a:b:c", 4).expect("hash"))]);
        let auth = BasicAuth::new(users);
        assert!(auth.verify(Some(&header("carol:a:b:c"))).await);

        let nobody = BasicAuth::new(BTreeMap::new());
        assert!(!nobody.verify(Some(&header("carol:a:b:c"))).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_wrong_passwords_is_turned_away_and_cached_users_still_pass() {
        let auth = Arc::new(auth());
        let alice = header("alice:wonderland");
        assert!(auth.verify(Some(&alice)).await);
        // bcrypt is held: every uncached check must queue, and the queue is bounded.
        let slot = Arc::clone(&auth.bcrypt_slot)
            .acquire_owned()
            .await
            .expect("slot");
        let mut flood = Vec::new();
        for i in 0..50 {
            let auth = auth.clone();
            flood.push(tokio::spawn(async move {
                auth.check(Some(&header(&format!("alice:wrong{i}")))).await
            }));
        }
        // Those beyond the queue are answered at once, without bcrypt.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let answered = flood.iter().filter(|f| f.is_finished()).count();
        assert_eq!(answered, 50 - MAX_WAITING, "answered at once");
        // The cached user passes without waiting, while the flood waits.
        let cached = tokio::time::timeout(Duration::from_secs(1), auth.check(Some(&alice))).await;
        assert_eq!(cached, Ok(Verdict::Allowed));
        drop(slot);
        let mut verdicts = Vec::new();
        for f in flood {
            verdicts.push(f.await.expect("join"));
        }
        assert_eq!(
            verdicts.iter().filter(|v| **v == Verdict::Busy).count(),
            50 - MAX_WAITING
        );
        assert_eq!(
            verdicts.iter().filter(|v| **v == Verdict::Denied).count(),
            MAX_WAITING
        );
        assert_eq!(auth.waiting.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    proptest::proptest! {
        /// Any bytes as an `Authorization` value: a user and password, or nothing, never a panic.
        #[test]
        fn any_authorization_value_parses_or_not(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_basic(&bytes);
            let mut basic = b"Basic ".to_vec();
            basic.extend_from_slice(&bytes);
            let _ = parse_basic(&basic);
        }

        /// Every user:password pair survives the round trip through base64.
        #[test]
        fn basic_credentials_round_trip(user in "[^:]{0,20}", password in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let mut raw = user.clone().into_bytes();
            raw.push(b':');
            raw.extend_from_slice(&password);
            let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&raw));
            proptest::prop_assert_eq!(parse_basic(value.as_bytes()), Some((user, password)));
        }
    }

    #[test]
    fn decoy_is_the_costliest_configured_hash() {
        let cheap = bcrypt::hash("x", 4).expect("hash");
        let dear = bcrypt::hash("y", 5).expect("hash");
        let users = BTreeMap::from([
            ("a".to_string(), cheap),
            ("b".to_string(), dear.clone()),
            ("c".to_string(), "not a hash".to_string()),
        ]);
        assert_eq!(BasicAuth::new(users).decoy, Some(dear));
    }
}
