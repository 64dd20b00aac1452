//! Which subscription a push belongs to: the v1 push frame names only the concrete topic, so
//! the async client matches it against each subscription's MQTT-style filter itself (`+` one
//! level, `#` the rest, `$share/<group>/` stripped). Pure functions, no I/O.

/// Whether `topic` matches the subscription `filter`.
pub(crate) fn matches(filter: &str, topic: &str) -> bool {
    let filter = shared_filter(filter).unwrap_or(filter);
    // MQTT: a wildcard in the first level does not match topics starting with `$`.
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut levels = topic.split('/');
    for part in filter.split('/') {
        match (part, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (part, Some(level)) if part == level => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

/// The filter of a shared subscription `$share/<group>/<filter>`; `None` for a plain one.
fn shared_filter(filter: &str) -> Option<&str> {
    let rest = filter.strip_prefix("$share/")?;
    rest.split_once('/').map(|(_, filter)| filter)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn exact_and_wildcards() {
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        assert!(matches("a/+", "a/b"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(matches("a/+/c", "a/x/c"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("a/#", "a"), "MQTT: # also matches the parent level");
        assert!(matches("#", "anything/at/all"));
        assert!(matches("+", ""));
    }

    #[test]
    fn shared_and_dollar_topics() {
        assert!(matches("$share/workers/jobs/+", "jobs/1"));
        assert!(!matches("$share/workers/jobs/+", "other/1"));
        assert!(!matches("#", "$SYS/uptime"));
        assert!(matches("$SYS/#", "$SYS/uptime"));
    }
}
