//! Which way imports run (DESIGN.md §1), read from the source so the rule
//! stays true: the shared mechanics import no pattern and no composer; a
//! pattern imports the shared mechanics only; the composers wire patterns
//! together and nothing imports them back. A doc link (`crate::x::Y` in a
//! comment) counts as an import: it ties the docs of one part to another.
//! Unit tests (`#[cfg(test)]` modules) may use anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One folder each; each imports the shared mechanics only.
const PATTERNS: &[&str] = &[
    "circuit_breaker",
    "rate_limit",
    "bulkhead",
    "retry",
    "timeout",
    "fallback",
    "chaos",
    "slo",
    "adaptive",
    "load_shed",
    "hedge",
    "failover",
];

/// Modules that put patterns together: the stack and its presets, health,
/// configuration, and the adapters that carry patterns onto a wire —
/// HTTP, gRPC, and Redis (a fleet-wide limiter is a rate limiter whose
/// cells live in Redis, guarded by a breaker while Redis is away, with a
/// local limiter for its share of the fleet: it composes two patterns).
const COMPOSERS: &[&str] = &["stack", "health", "config", "http", "grpc", "redis"];

/// The guide: chapters of docs whose examples use everything.
const DOCS: &str = "guide";

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `circuit_breaker` for
/// `src/circuit_breaker/core.rs`, `clock` for `src/clock.rs`.
fn part_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_str()
        .unwrap();
    first.trim_end_matches(".rs").to_string()
}

/// Every top-level module named after `crate::` in `text`, in paths
/// (`crate::retry::Backoff`) and in groups (`crate::{retry::Backoff, ..}`).
fn crate_modules(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found
}

/// A file's text without its unit tests (everything from `#[cfg(test)]`,
/// which by house style closes a file).
fn without_unit_tests(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// Each import that breaks the rule, as `file -> module`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    source_files(src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for file in files {
        let part = part_of(src, &file);
        if COMPOSERS.contains(&part.as_str()) || part == "lib" || part == DOCS {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for used in crate_modules(without_unit_tests(&text)) {
            let forbidden = PATTERNS.contains(&used.as_str()) || COMPOSERS.contains(&used.as_str());
            if used != part && forbidden {
                let rel = file.strip_prefix(src).unwrap().display();
                bad.push(format!("{rel} -> {used}"));
            }
        }
    }
    bad
}

#[test]
fn imports_run_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(
        bad.is_empty(),
        "imports that break DESIGN.md §1 (shared mechanics import no pattern; a pattern \
         imports the shared mechanics only; nothing imports a composer back): {bad:#?}"
    );
}

#[test]
fn every_source_folder_is_classified() {
    // A new pattern folder must be named above, or it would pass as shared
    // mechanics and escape the rule.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(
                PATTERNS.contains(&name)
                    || COMPOSERS.contains(&name)
                    || name == DOCS
                    || name == "telemetry",
                "src/{name}/ is neither a pattern nor a composer: add it to tests/architecture.rs"
            );
        }
    }
}

#[test]
fn the_reader_finds_what_it_must() {
    // The reader itself, on text that breaks the rule.
    let found = crate_modules(
        "use crate::retry::Backoff;\n/// See [`x`](crate::http::Deadline).\nuse crate::{clock::Clock, bulkhead::Bulkhead};",
    );
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["bulkhead", "clock", "http", "retry"]
    );
    assert_eq!(
        without_unit_tests("use crate::clock;\n#[cfg(test)]\nmod tests { use crate::retry; }"),
        "use crate::clock;\n"
    );
}
