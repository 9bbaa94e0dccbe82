//! The target parser: a targets file (`--targets-file`, `parse_lines`) and the same text whole as
//! one `--target` string (`parse`), under one of three `--protocol`/`--port`/`--path` defaults
//! (picked by the input's length). Each input costs at most one prefix expansion (a /12 is a
//! million targets): the whole text is not parsed again when it is exactly the one line the file
//! parse already took, and any other whole text holds a line break or a comment, which no prefix
//! does, so it fails before expanding.
//!
//! Every target has a label, a port exactly when it is not ICMP (never port 0), a path that starts
//! with `/`, a lower-case host name that is not an address, and a label that parses back to the
//! same target. Errors render and name a line of the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use probe::probe::target::{
    Host, MAX_TARGETS, Protocol, Target, TargetDefaults, parse, parse_lines,
};

fn defaults() -> [TargetDefaults; 3] {
    [
        TargetDefaults {
            protocol: Protocol::Tcp,
            port: Some(80),
            path: "/".to_string(),
        },
        TargetDefaults {
            protocol: Protocol::Icmp,
            port: None,
            path: "/".to_string(),
        },
        TargetDefaults {
            protocol: Protocol::Https,
            port: None,
            path: "/health".to_string(),
        },
    ]
}

fn check_target(t: &Target) {
    assert!(!t.label.is_empty(), "{t:?}");
    assert_eq!(t.port.is_none(), t.protocol == Protocol::Icmp, "{t:?}");
    assert_ne!(t.port, Some(0), "{t:?}");
    assert!(t.path.starts_with('/'), "{t:?}");
    if let Host::Name(name) = &t.host {
        assert!(!name.is_empty(), "{t:?}");
        assert_eq!(*name, name.to_ascii_lowercase(), "{t:?}");
        assert!(name.parse::<std::net::IpAddr>().is_err(), "{t:?}");
    }
    // The label is what reports show and what a user copies into the next run.
    let same = TargetDefaults {
        protocol: t.protocol,
        port: t.port,
        path: t.path.clone(),
    };
    match parse(&t.label, &same) {
        Ok(back) => assert!(back == [t.clone()], "{t:?} re-parses as {back:?}"),
        Err(e) => panic!("the label of {t:?} does not parse: {e}"),
    }
}

/// The first and last few targets: a prefix expands to up to a million.
fn check_targets(targets: &[Target]) {
    assert!(targets.len() <= MAX_TARGETS);
    let n = targets.len();
    for t in targets
        .iter()
        .take(8)
        .chain(targets.iter().skip(n.saturating_sub(2).max(8)))
    {
        check_target(t);
    }
}

fuzz_target!(|data: &[u8]| {
    // The CLI refuses a targets file that is not UTF-8 before parsing it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let [a, b, c] = defaults();
    let d = match data.len() % 3 {
        0 => a,
        1 => b,
        _ => c,
    };
    match parse_lines(text, &d) {
        Ok(targets) => check_targets(&targets),
        Err((line, e)) => {
            assert!(
                line >= 1 && line <= text.lines().count(),
                "line {line} of {} in {e}",
                text.lines().count()
            );
            assert!(!e.to_string().is_empty());
        }
    }
    // As one `--target`, unless that is what `parse_lines` just did: the text is its one line
    // (`parse_lines` trims each line and drops comments; `parse` trims the whole).
    let mut lines = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty());
    let parsed_already = lines.next() == Some(text.trim()) && lines.next().is_none();
    if !parsed_already {
        match parse(text, &d) {
            Ok(targets) => check_targets(&targets),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
});
