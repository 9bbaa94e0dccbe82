//! A real browser for the pages `probe` writes and serves: Debian's Chromium, headless, driven
//! over WebDriver by Debian's chromedriver. Both run inside a lab namespace, so nothing the
//! browser does can leave the lab; the session ends (and Chromium with it) when the [`Browser`]
//! is dropped, and chromedriver with the lab.
//!
//! [`Browser::check_report`] is what every lab scenario's HTML report must pass: it loads with no
//! console error and no request of any kind, has one finding per finding of the JSON report,
//! marks exactly the blocking hop of every blocked finding (its component and rule), opens a
//! finding's path from the keyboard, and reads in light, in dark and at 200 % zoom without
//! sideways scrolling. Screenshots go to `<target>/screenshots/`, reports to `<target>/reports/`
//! (CI keeps both).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::lab::{Lab, in_netns};

/// chromedriver's port inside the namespace (each lab namespace is the test's own).
const DRIVER_PORT: u16 = 9515;

/// Where CI keeps what the browser tests leave: the target directory.
pub fn artefacts(kind: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join(kind);
    std::fs::create_dir_all(&dir).expect("create the artefact directory");
    dir
}

/// One Chromium session inside a lab namespace.
pub struct Browser {
    ns: String,
    session: String,
}

impl Browser {
    /// Starts chromedriver in `ns` and a headless Chromium session with a fresh profile under
    /// the lab's directory. Panics, saying what to install, when either is missing.
    pub fn start(lab: &mut Lab, ns: &str) -> Browser {
        for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the browser tests need Debian's chromium and chromium-driver \
                 (scripts/test.sh installs them)"
            );
        }
        let log = lab.dir.join(format!("chromedriver-{ns}.log"));
        // One chromedriver per namespace serves every session a test opens there.
        let running = call(ns, "GET", "/status", None).is_ok();
        if !running {
            lab.spawn(
                ns,
                &[
                    "/usr/bin/chromedriver",
                    &format!("--port={DRIVER_PORT}"),
                    "--allowed-ips=127.0.0.1",
                ],
                &log,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = call(ns, "GET", "/status", None)
                .ok()
                .is_some_and(|v| v["ready"] == true);
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start in 20 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile = lab.dir.join(format!("chromium-profile-{ns}-{n}"));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-default-apps",
                    "--disable-extensions", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let v = call(ns, "POST", "/session", Some(&caps))
            .unwrap_or_else(|e| panic!("chromedriver refused a session: {e}"));
        let session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {v}"))
            .to_string();
        let b = Browser {
            ns: ns.to_string(),
            session,
        };
        b.cdp("Network.enable", json!({}));
        b
    }

    /// A WebDriver command of this session; panics with chromedriver's message on an error.
    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        call(&self.ns, method, &path, body.as_ref())
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// A Chrome DevTools Protocol command.
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns what it returns.
    pub fn eval(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Polls `script` until it returns something truthy, for up to `wait`.
    pub fn wait_for(&self, what: &str, script: &str, wait: Duration) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let v = self.eval(script, json!([]));
            let truthy = !(v.is_null() || v == false || v == 0 || v == "");
            if truthy {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "waited {wait:?} for {what}; the page's text:\n{}",
                self.eval(
                    "return document.body ? document.body.innerText : ''",
                    json!([])
                )
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The browser's log since the last call: console messages and failed loads.
    pub fn log(&self) -> Vec<Value> {
        self.cmd("POST", "/se/log", Some(json!({"type": "browser"})))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Fails on any console error or warning and any failed request logged so far.
    pub fn assert_clean_log(&self, page: &str) {
        let bad: Vec<Value> = self
            .log()
            .into_iter()
            .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
            .collect();
        assert!(bad.is_empty(), "{page}: the browser logged {bad:#?}");
    }

    /// The element matching `css`, as WebDriver names it.
    pub fn element(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Types `keys` into the element matching `css` (WebDriver key codes: Enter is \u{E007}).
    pub fn keys(&self, css: &str, keys: &str) {
        let id = self.element(css);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": keys })),
        );
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Light or dark, as the operating system would ask (`prefers-color-scheme`).
    pub fn color_scheme(&self, dark: bool) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme",
                                  "value": if dark { "dark" } else { "light" }}]}),
        );
    }

    /// Browser zoom: the 1280 × 900 window at `zoom` (2.0 is 200 %: 640 CSS pixels wide).
    pub fn zoom(&self, zoom: f64) {
        if zoom == 1.0 {
            self.cdp("Emulation.clearDeviceMetricsOverride", json!({}));
        } else {
            self.cdp(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": (1280.0 / zoom) as u32, "height": (900.0 / zoom) as u32,
                       "deviceScaleFactor": zoom, "mobile": false}),
            );
        }
    }

    /// Saves the viewport as `<target>/screenshots/<name>.png` and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let v = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .expect("decode the screenshot");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let path = artefacts("screenshots").join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// The page's background colour, as computed.
    pub fn background(&self) -> String {
        self.eval(
            "return getComputedStyle(document.body).backgroundColor",
            json!([]),
        )
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Whether the page scrolls sideways (WCAG's reflow: it must not at 200 %).
    pub fn scrolls_sideways(&self) -> bool {
        self.eval(
            "return document.documentElement.scrollWidth > window.innerWidth + 1",
            json!([]),
        ) == true
    }

    /// The top of the page in a window `width` × `height`, light, as `<name>.png` (the README's
    /// pictures are these).
    pub fn screenshot_sized(&self, name: &str, width: u32, height: u32) -> PathBuf {
        self.eval("window.scrollTo(0, 0)", json!([]));
        self.color_scheme(false);
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        let path = self.screenshot(name);
        self.zoom(1.0);
        path
    }

    /// Light, dark and 200 %: the same page read three ways, each screenshot kept as
    /// `<name>-light`, `<name>-dark`, `<name>-zoom200`.
    pub fn check_readable(&self, name: &str) {
        self.eval("window.scrollTo(0, 0)", json!([]));
        self.color_scheme(false);
        assert_eq!(self.background(), "rgb(255, 255, 255)", "{name}: light");
        self.screenshot(&format!("{name}-light"));
        self.color_scheme(true);
        assert_eq!(self.background(), "rgb(13, 17, 23)", "{name}: dark");
        self.screenshot(&format!("{name}-dark"));
        self.color_scheme(false);
        self.zoom(2.0);
        assert_eq!(
            self.eval("return window.innerWidth", json!([])),
            640,
            "{name}: 200 %"
        );
        assert!(
            !self.scrolls_sideways(),
            "{name}: at 200 % the page scrolls sideways ({} px wide)",
            self.eval("return document.documentElement.scrollWidth", json!([]))
        );
        self.screenshot(&format!("{name}-zoom200"));
        self.zoom(1.0);
    }

    /// Loads the report file `html` (written by `--output html` for `report`, the same run's
    /// JSON) and checks what every report must do. `name` names its screenshots.
    pub fn check_report(&self, html: &Path, report: &Value, name: &str) {
        self.goto(&format!("file://{}", html.display()));
        self.assert_clean_log(name);
        // Nothing fetched: no resource, no other document.
        assert_eq!(
            self.eval(
                "return performance.getEntriesByType('resource').length",
                json!([])
            ),
            0,
            "{name}: the report fetched something"
        );
        let findings = report["findings"].as_array().expect("findings");
        let dom = self.eval(
            "return [...document.querySelectorAll('article.finding')].map(a => ({\
               heading: a.querySelector('h4').textContent,\
               blocks: [...a.querySelectorAll('svg .n.block')].map(n => n.textContent),\
               hops: a.querySelectorAll('svg .n').length + [...a.querySelectorAll('svg use')]\
                 .map(u => document.querySelector(u.getAttribute('href')).querySelectorAll('.n').length)\
                 .reduce((x, y) => x + y, 0),\
               fix: (a.querySelector('.fix code') || {}).textContent || null}))",
            json!([]),
        );
        let dom = dom.as_array().expect("articles");
        assert_eq!(dom.len(), findings.len(), "{name}: one article per finding");
        // Every finding is there (by its code), failures first, and each blocked one marks its
        // blocking component and rule, and nothing else.
        let mut seen = vec![false; dom.len()];
        for f in findings {
            let code = f["code"].as_str().expect("code");
            let i = (0..dom.len())
                .find(|&i| {
                    !seen[i]
                        && dom[i]["heading"].as_str().is_some_and(|h| h.contains(code))
                        && dom[i]["fix"] == f["fix"]
                        && dom[i]["blocks"].as_array().map(Vec::len)
                            == Some(usize::from(blocked(f)))
                })
                .unwrap_or_else(|| panic!("{name}: no article for {f:#}\nin {dom:#?}"));
            seen[i] = true;
            if let Some(hop) = blocking_hop(f) {
                let text = dom[i]["blocks"][0].as_str().unwrap_or("");
                let id = hop["id"].as_str().unwrap_or("?");
                let rule = hop["rule"].as_str().unwrap_or("?");
                assert!(
                    text.contains(id) && text.contains(&format!("rule {rule}")),
                    "{name}: the marked hop {text:?} is not {id} rule {rule}"
                );
                assert!(text.contains("BLOCKS HERE"), "{text}");
                if !f["blocking"].is_null() {
                    assert_eq!(f["blocking"]["id"], hop["id"]);
                    assert_eq!(f["blocking"]["rule"], hop["rule"]);
                }
            }
            let path_len = f["expected"]["path"].as_array().map_or(0, Vec::len);
            if !f["expected"].is_null() {
                assert_eq!(
                    dom[i]["hops"],
                    path_len + 2,
                    "{name}: source, every hop, target"
                );
            }
        }
        // Failures first: the first article is of the worst severity there is.
        let worst = findings.iter().map(rank).min().unwrap_or(3);
        if let Some(first) = dom.first() {
            let label = ["ERROR", "WARNING", "INFO", "OK"][usize::from(worst)];
            assert!(
                first["heading"].as_str().is_some_and(|h| h.contains(label)),
                "{name}: the first finding is not the worst ({label}): {first}"
            );
        }
        // The keyboard: a passing finding's path opens with Enter on its summary.
        let closed = self.eval(
            "return document.querySelectorAll('article.finding details:not([open]) summary').length",
            json!([]),
        );
        if closed != 0 {
            self.keys("article.finding details:not([open]) summary", "\u{E007}");
            assert_eq!(
                self.eval(
                    "return document.activeElement.tagName + ' ' + document.activeElement.parentElement.open",
                    json!([])
                ),
                "SUMMARY true",
                "{name}: Enter on a focused summary opens the path"
            );
        }
        // A fix is copied (or, where the clipboard is refused, selected whole) by its button.
        if findings.iter().any(|f| !f["fix"].is_null()) {
            self.click("button.copy");
            self.wait_for(
                "the Copy button's answer",
                "return document.querySelector('button.copy').textContent === 'Copied'",
                Duration::from_secs(5),
            );
        }
        self.check_readable(name);
        self.screenshot_sized(&format!("{name}-tall"), 1100, 1300);
        self.assert_clean_log(name);
    }
}

/// The hop a finding's diagram marks as blocking: the first deny on its path (that of the
/// blocking component, when the finding names one).
fn blocking_hop(f: &Value) -> Option<&Value> {
    f["expected"]["path"].as_array()?.iter().find(|h| {
        h["decision"] == "deny"
            && (f["blocking"].is_null()
                || (h["id"] == f["blocking"]["id"] && h["kind"] == f["blocking"]["kind"]))
    })
}

fn blocked(f: &Value) -> bool {
    blocking_hop(f).is_some()
}

fn rank(f: &Value) -> u8 {
    match f["severity"].as_str() {
        Some("error") => 0,
        Some("warning") => 1,
        Some("info") => 2,
        _ => 3,
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium; chromedriver goes with the lab.
        let path = format!("/session/{}", self.session);
        let _ = call(&self.ns, "DELETE", &path, None);
    }
}

/// One WebDriver request to chromedriver in `ns`: the response's `value`, or its error.
fn call(ns: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{DRIVER_PORT}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = in_netns(ns, move || -> Result<Vec<u8>, String> {
        let mut s = TcpStream::connect(("127.0.0.1", DRIVER_PORT)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        // chromedriver keeps the connection open: read the head, then Content-Length bytes
        // (or chunks up to the last one).
        let mut raw = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let n = s.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if complete(&raw) {
                break;
            }
        }
        Ok(raw)
    })?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let value = v["value"].clone();
    if let Some(err) = value.get("error").and_then(Value::as_str) {
        return Err(format!(
            "{err}: {}",
            value["message"].as_str().unwrap_or_default()
        ));
    }
    Ok(value)
}

/// Whether `raw` holds a whole HTTP response.
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let body = &raw[end + 4..];
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return body.len() >= len;
    }
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    false
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
