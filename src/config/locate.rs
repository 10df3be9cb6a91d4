//! Where in a file a setting is: the line a value out of range is
//! reported at. TOML is read with its spans (exact); YAML and JSON, whose
//! parsers keep no positions past parsing, by their keys' lines.

use toml::de::{DeTable, DeValue};

/// A file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Toml,
    Yaml,
    Json,
}

/// The file's keys for the setting a builder's field names: the breaker's
/// `sliding_window` is set by two keys, a shedder's `codel` by two.
fn keys_of(field: &str) -> Vec<&str> {
    match field {
        "sliding_window" => vec!["sliding_window_size", "sliding_window_type"],
        "codel" => vec!["codel_target", "codel_interval"],
        "rate" => vec!["rate", "per"],
        other => vec![other],
    }
}

/// The 1-based line where instance `name` of `section` sets `field`, else
/// where the section's defaults set it, else the instance's own line.
pub(super) fn line_of(
    text: &str,
    format: Format,
    section: &str,
    name: &str,
    field: &str,
) -> Option<usize> {
    let keys = keys_of(field);
    match format {
        Format::Toml => toml_line(text, section, name, &keys),
        Format::Yaml | Format::Json => text_line(text, format, section, name, &keys),
    }
}

fn toml_line(text: &str, section: &str, name: &str, keys: &[&str]) -> Option<usize> {
    /// The table under `key`, with where its key is.
    fn table<'a, 'i>(t: &'a DeTable<'i>, key: &str) -> Option<(usize, &'a DeTable<'i>)> {
        let (k, v) = t.iter().find(|(k, _)| k.get_ref().as_ref() == key)?;
        match v.get_ref() {
            DeValue::Table(inner) => Some((k.span().start, inner)),
            _ => None,
        }
    }
    let field_at = |t: &DeTable<'_>| {
        keys.iter().find_map(|key| {
            t.iter()
                .find(|(k, _)| k.get_ref().as_ref() == *key)
                .map(|(k, _)| k.span().start)
        })
    };
    let root = DeTable::parse(text).ok()?;
    let (_, section) = table(root.get_ref(), section)?;
    let own = table(section, "instances").and_then(|(_, i)| table(i, name));
    // In the instance's table, or one nested in it (a keyed breaker's
    // `breaker`), then in the defaults.
    let nested = |t: &DeTable<'_>| {
        field_at(t).or_else(|| {
            t.iter().find_map(|(_, v)| match v.get_ref() {
                DeValue::Table(inner) => field_at(inner),
                _ => None,
            })
        })
    };
    let at = own
        .and_then(|(_, t)| nested(t))
        .or_else(|| table(section, "defaults").and_then(|(_, d)| nested(d)))
        .or(own.map(|(at, _)| at))?;
    Some(line_at(text, at))
}

/// The 1-based line of byte `offset`.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// YAML and JSON: the section's line, then `instances`, then the
/// instance's, then the field's among the lines nested under it (or on the
/// instance's own line, for an inline mapping).
fn text_line(
    text: &str,
    format: Format,
    section: &str,
    name: &str,
    keys: &[&str],
) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let find_key =
        |from: usize, key: &str| (from..lines.len()).find(|&i| has_key(lines[i], key, format));
    let within = |start: usize| {
        // The lines nested deeper than `start`'s.
        let indent = indent_of(lines[start]);
        let end = (start + 1..lines.len())
            .find(|&i| !lines[i].trim().is_empty() && indent_of(lines[i]) <= indent)
            .unwrap_or(lines.len());
        start..end
    };
    let field_in = |start: usize| {
        within(start).find(|&i| keys.iter().any(|key| has_key(lines[i], key, format)))
    };
    let s = find_key(0, section)?;
    let instance = find_key(s, "instances")
        .filter(|&i| within(s).contains(&i))
        .and_then(|i| find_key(i, name).filter(|&n| within(i).contains(&n)));
    let defaults = find_key(s, "defaults").filter(|&d| within(s).contains(&d));
    let at = instance
        .and_then(field_in)
        .or_else(|| defaults.and_then(field_in))
        .or(instance)?;
    Some(at + 1)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Whether `line` holds `key` as a mapping key.
fn has_key(line: &str, key: &str, format: Format) -> bool {
    let quoted = format!("\"{key}\"");
    let needle = if format == Format::Json {
        quoted.as_str()
    } else {
        key
    };
    line.match_indices(needle).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + needle.len()..].trim_start();
        let starts =
            format == Format::Json || matches!(before, None | Some(' ' | '{' | ',' | '"' | '\''));
        let key_end = if format == Format::Json {
            after
        } else {
            after.trim_start_matches(['"', '\'']).trim_start()
        };
        starts && key_end.starts_with(':')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_found_in_each_format() {
        let toml = "[circuit_breakers.defaults]\nminimum_number_of_calls = 5\n\
                    [circuit_breakers.instances.payments]\n\n# failure_rate_threshold = 1\n\
                    failure_rate_threshold = 150\n";
        let at = |f| line_of(toml, Format::Toml, "circuit_breakers", "payments", f);
        assert_eq!(at("failure_rate_threshold"), Some(6));
        assert_eq!(at("minimum_number_of_calls"), Some(2));
        assert_eq!(at("wait_duration_in_open_state"), Some(3));

        let yaml = "circuit_breakers:\n  defaults:\n    minimum_number_of_calls: 5\n  instances:\n    \
                    search: { failure_rate_threshold: 10 }\n    payments:\n      failure_rate_threshold: 150\n";
        let at = |n, f| line_of(yaml, Format::Yaml, "circuit_breakers", n, f);
        assert_eq!(at("payments", "failure_rate_threshold"), Some(7));
        assert_eq!(at("search", "failure_rate_threshold"), Some(5));
        assert_eq!(at("payments", "minimum_number_of_calls"), Some(3));

        let json = "{\n  \"bulkheads\": {\n    \"instances\": {\n      \"a\": {\n        \
                    \"max_concurrent_calls\": 0\n      }\n    }\n  }\n}\n";
        let at = line_of(json, Format::Json, "bulkheads", "a", "max_concurrent_calls");
        assert_eq!(at, Some(5));
    }
}
