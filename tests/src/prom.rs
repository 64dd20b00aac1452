//! A small, strict parser of the Prometheus text exposition format (version 0.0.4), so the suite
//! checks `/metrics` the way a scraper reads it rather than by searching for substrings.
//!
//! Strict where the format is: metric and label names by their grammar, quoted label values with
//! the three escapes (`\\`, `\"`, `\n`), float values (`NaN`, `+Inf`, `-Inf` included) with an
//! optional integer timestamp, at most one `# HELP` and one `# TYPE` per family, both before its
//! first sample, a known type, the samples of one family contiguous, no series twice, and a final
//! newline. Stricter than the format in one way that Nexo promises: every family has both lines.

use std::collections::BTreeMap;

/// Label name → value of one sample.
pub type Labels = BTreeMap<String, String>;

/// One metric family.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Family {
    /// The `# HELP` text (unescaped).
    pub help: Option<String>,
    /// The `# TYPE`: `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub kind: Option<String>,
    /// Samples in order.
    pub samples: Vec<(Labels, f64)>,
}

impl Family {
    /// The value of the sample with exactly these labels.
    pub fn value(&self, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: Labels = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.samples.iter().find(|(l, _)| *l == wanted).map(|(_, v)| *v)
    }
}

/// Parses a whole exposition; every family must carry `# HELP` and `# TYPE`.
///
/// # Errors
/// The first violation, with its line number.
pub fn parse(text: &str) -> Result<BTreeMap<String, Family>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition does not end with a newline".into());
    }
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut closed: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", index + 1);
        if line.is_empty() {
            continue;
        }
        let family_of_line = if let Some(rest) = line.strip_prefix('#') {
            match parse_comment(rest).map_err(at)? {
                Some((name, Comment::Help(help))) => {
                    let family = families.entry(name.clone()).or_default();
                    if family.help.is_some() || !family.samples.is_empty() {
                        return Err(at(format!("HELP for {name} repeated or after its samples")));
                    }
                    family.help = Some(help);
                    name
                }
                Some((name, Comment::Type(kind))) => {
                    let family = families.entry(name.clone()).or_default();
                    if family.kind.is_some() || !family.samples.is_empty() {
                        return Err(at(format!("TYPE for {name} repeated or after its samples")));
                    }
                    family.kind = Some(kind);
                    name
                }
                None => continue,
            }
        } else {
            let (name, labels, value) = parse_sample(line).map_err(at)?;
            let family_name = family_name(&name, &families);
            let family = families.entry(family_name.clone()).or_default();
            if family.samples.iter().any(|(l, _)| *l == labels) && name == family_name {
                return Err(at(format!("series {name}{labels:?} appears twice")));
            }
            family.samples.push((labels, value));
            family_name
        };
        if current.as_ref() != Some(&family_of_line) {
            if closed.contains(&family_of_line) {
                return Err(at(format!("lines of {family_of_line} are not contiguous")));
            }
            if let Some(done) = current.replace(family_of_line) {
                closed.push(done);
            }
        }
    }
    for (name, family) in &families {
        if family.help.is_none() || family.kind.is_none() {
            return Err(format!("metric {name} lacks a # HELP or # TYPE line"));
        }
    }
    Ok(families)
}

enum Comment {
    Help(String),
    Type(String),
}

/// `# HELP name text`, `# TYPE name kind`, or another comment (`None`).
fn parse_comment(rest: &str) -> Result<Option<(String, Comment)>, String> {
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    match keyword {
        "HELP" => {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            check_metric_name(name)?;
            Ok(Some((name.to_owned(), Comment::Help(unescape(help, false)?))))
        }
        "TYPE" => {
            let (name, kind) = rest.split_once(' ').ok_or("TYPE without a type")?;
            check_metric_name(name)?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(format!("unknown type {kind:?}"));
            }
            Ok(Some((name.to_owned(), Comment::Type(kind.to_owned()))))
        }
        _ => Ok(None),
    }
}

/// Histogram and summary samples (`_bucket`, `_sum`, `_count`) belong to their base family.
fn family_name(name: &str, families: &BTreeMap<String, Family>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && families
                .get(base)
                .and_then(|f| f.kind.as_deref())
                .is_some_and(|k| k == "histogram" || k == "summary")
        {
            return base.to_owned();
        }
    }
    name.to_owned()
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!("bad label name {name:?}"))
    }
}

/// Undoes `\\`, `\n` (and `\"` in label values); any other escape is an error.
fn unescape(text: &str, quotes: bool) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            other => return Err(format!("bad escape \\{other:?}")),
        }
    }
    Ok(out)
}

fn parse_sample(line: &str) -> Result<(String, Labels, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("a sample needs a value")?;
    let (name, mut rest) = line.split_at(name_end);
    check_metric_name(name)?;
    let mut labels = Labels::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let rest = rest.strip_prefix(' ').ok_or("expected one space before the value")?;
    let mut parts = rest.split(' ');
    let value = parse_value(parts.next().unwrap_or(""))?;
    if let Some(ts) = parts.next() {
        ts.parse::<i64>().map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if parts.next().is_some() {
        return Err("trailing fields after the timestamp".into());
    }
    Ok((name.to_owned(), labels, value))
}

/// Parses `a="x",b="y"}` (after the `{`); returns what follows the `}`.
fn parse_labels<'a>(mut rest: &'a str, labels: &mut Labels) -> Result<&'a str, String> {
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let (name, after) = rest.split_once("=\"").ok_or("expected name=\"value\" in labels")?;
        check_label_name(name)?;
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or("unterminated label value")?;
        let value = unescape(after.get(..end).unwrap_or_default(), true)?;
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = after.get(end + 1..).unwrap_or_default();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => {
            let ok = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
            if !ok {
                return Err(format!("bad value {text:?}"));
            }
            text.parse::<f64>().map_err(|_| format!("bad value {text:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n\
        # HELP req_total Requests, by \\\\ path.\n# TYPE req_total counter\n\
        req_total{path=\"/a\\\"b\",code=\"200\"} 3 1700000000000\nreq_total{path=\"/\",code=\"500\"} +Inf\n\
        # HELP lat Latency.\n# TYPE lat histogram\nlat_bucket{le=\"1\"} 2\nlat_bucket{le=\"+Inf\"} 3\n\
        lat_sum 4.5e0\nlat_count 3\n";

    #[test]
    fn accepts_a_valid_exposition() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m["up"].value(&[]), Some(1.0));
        assert_eq!(m["req_total"].help.as_deref(), Some("Requests, by \\ path."));
        assert_eq!(m["req_total"].value(&[("path", "/a\"b"), ("code", "200")]), Some(3.0));
        assert_eq!(m["req_total"].value(&[("path", "/"), ("code", "500")]), Some(f64::INFINITY));
        assert_eq!(m["lat"].samples.len(), 4);
    }

    #[test]
    fn rejects_what_a_scraper_would() {
        let bad = [
            ("up 1\n", "lacks"),
            ("# HELP up x\n# TYPE up gauge\nup 1", "newline"),
            ("# HELP up x\n# TYPE up gauge\n# TYPE up gauge\nup 1\n", "repeated"),
            ("# HELP up x\n# TYPE up gauge\nup 1\n# HELP up y\n", "repeated"),
            ("# HELP up x\n# TYPE up meter\nup 1\n", "unknown type"),
            ("# HELP 9up x\n# TYPE 9up gauge\n9up 1\n", "bad metric name"),
            ("# HELP up x\n# TYPE up gauge\nup{a=\"1} 1\n", "unterminated"),
            ("# HELP up x\n# TYPE up gauge\nup{a=\"\\t\"} 1\n", "bad escape"),
            ("# HELP up x\n# TYPE up gauge\nup{a=\"1\",a=\"2\"} 1\n", "twice"),
            ("# HELP up x\n# TYPE up gauge\nup one\n", "bad value"),
            ("# HELP up x\n# TYPE up gauge\nup 1\nup 2\n", "twice"),
            (
                "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n",
                "contiguous",
            ),
            ("# HELP up x\n# TYPE up gauge\nup  1\n", "bad value"),
        ];
        for (text, why) in bad {
            let err = parse(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }
}
