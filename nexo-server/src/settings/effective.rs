//! The effective configuration: every setting's text and where it came from.
//!
//! Built from clap's matches after all four sources are merged, so it lists every flag with no
//! per-setting code. It renders as TOML for `--print-config` (parseable back as a config file),
//! as `key=value` lines for the start-up log, and compares itself for the SIGHUP reload. A
//! setting whose flag sets `hide_env_values` is a secret: its value is never shown.

use std::collections::BTreeSet;

use clap::{ArgMatches, Command};

/// What a masked secret reads as.
pub const MASK: &str = "********";

/// Where a setting's value came from, highest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env,
    /// The config file.
    File,
    /// The built-in default (or unset).
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Flag => "flag",
            Self::Env => "env",
            Self::File => "file",
            Self::Default => "default",
        })
    }
}

/// One setting in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The key (the flag's long name).
    pub key: String,
    /// The value as text; empty when unset; several for a list.
    pub values: Vec<String>,
    /// Where it came from.
    pub source: Source,
    /// Whether the value is a secret, masked wherever it is shown.
    pub secret: bool,
    /// The flag's help text.
    pub help: String,
}

impl Setting {
    /// The value as shown to people: masked when secret, `(unset)` when unset.
    pub fn shown(&self) -> String {
        match self.values.as_slice() {
            [] => "(unset)".into(),
            _ if self.secret => MASK.into(),
            values => values.join(","),
        }
    }
}

/// Every setting in effect, in flag order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    /// The settings.
    pub settings: Vec<Setting>,
    /// The config file's `[[users]]` tables.
    pub users: Vec<super::users::UserSpec>,
}

impl Effective {
    /// Collects every setting of `cmd` from the final `matches`; `from_file` holds the ids the
    /// config file supplied.
    pub fn collect(cmd: &Command, matches: &ArgMatches, from_file: &BTreeSet<String>) -> Self {
        let settings = super::load::setting_args(cmd)
            .map(|arg| {
                let id = arg.get_id().as_str();
                let values = matches
                    .get_raw(id)
                    .map(|raw| raw.map(|v| v.to_string_lossy().into_owned()).collect())
                    .unwrap_or_default();
                Setting {
                    key: arg.get_long().unwrap_or(id).to_owned(),
                    values,
                    source: super::load::source_of(matches, id, from_file),
                    secret: arg.is_hide_env_values_set(),
                    help: arg.get_help().map(ToString::to_string).unwrap_or_default(),
                }
            })
            .collect();
        Self { settings, users: Vec::new() }
    }

    /// The setting with key `key`.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }

    /// The configuration as TOML: each key with its help as a comment and its source after it;
    /// unset keys commented out; secrets masked. It parses back as a config file.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Nexo configuration in effect (precedence: flag > environment > file > default).\n\
             # Keys are the flag names without '--'; after each value, where it came from.\n",
        );
        for s in &self.settings {
            out.push('\n');
            for line in s.help.lines() {
                out.push_str(&format!("# {line}\n"));
            }
            match s.values.as_slice() {
                [] => out.push_str(&format!("# {} =   # unset\n", s.key)),
                [one] => {
                    out.push_str(&format!("{} = {}  # {}\n", s.key, toml_value(one, s.secret), s.source))
                }
                many => {
                    let items: Vec<String> = many.iter().map(|v| toml_value(v, s.secret)).collect();
                    out.push_str(&format!("{} = [{}]  # {}\n", s.key, items.join(", "), s.source));
                }
            }
        }
        self.users.iter().for_each(|u| out.push_str(&u.to_toml()));
        out
    }

    /// Logs every setting as one `key=value (source)` line.
    pub fn log(&self) {
        for s in &self.settings {
            tracing::info!("setting {}={} ({})", s.key, s.shown(), s.source);
        }
    }

    /// The settings whose value differs in `newer`: `(key, old shown, new shown)`.
    pub fn changes<'a>(&'a self, newer: &'a Self) -> Vec<(&'a str, String, String)> {
        newer
            .settings
            .iter()
            .filter_map(|new| {
                let old = self.get(&new.key);
                let same = old.is_some_and(|old| old.values == new.values);
                (!same).then(|| (new.key.as_str(), old.map_or_else(String::new, Setting::shown), new.shown()))
            })
            .collect()
    }
}

/// One value as TOML: a bare integer or boolean when the text is one, else a quoted string.
fn toml_value(text: &str, secret: bool) -> String {
    if secret {
        return toml::Value::String(MASK.into()).to_string();
    }
    let is_int = text.parse::<i64>().is_ok_and(|n| n.to_string() == text);
    if is_int || text == "true" || text == "false" {
        return text.to_owned();
    }
    toml::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn demo() -> Command {
        Command::new("demo")
            .arg(Arg::new("port").long("port").default_value("7654"))
            .arg(Arg::new("requirepass").long("requirepass").env("DEMO_PASS").hide_env_values(true))
            .arg(Arg::new("host").long("host").action(ArgAction::Append))
            .arg(Arg::new("quiet").long("quiet").action(ArgAction::SetTrue))
            .arg(Arg::new("name").long("name").default_value("a \"b\""))
            .arg(Arg::new("unset").long("unset"))
    }

    #[test]
    fn renders_parseable_toml_with_secrets_masked() {
        let cmd = demo();
        let matches = cmd
            .clone()
            .try_get_matches_from(["demo", "--requirepass", "hunter2", "--host", "a", "--host", "b"])
            .unwrap();
        let effective = Effective::collect(&cmd, &matches, &BTreeSet::new());
        let text = effective.to_toml();
        assert!(!text.contains("hunter2"), "{text}");
        let parsed: toml::Table = text.parse().unwrap();
        assert_eq!(parsed["port"].as_integer(), Some(7654));
        assert_eq!(parsed["requirepass"].as_str(), Some(MASK));
        assert_eq!(parsed["host"].as_array().map(Vec::len), Some(2));
        assert_eq!(parsed["quiet"].as_bool(), Some(false));
        assert_eq!(parsed["name"].as_str(), Some("a \"b\""));
        assert!(!parsed.contains_key("unset"));
        assert_eq!(effective.get("requirepass").map(Setting::shown).as_deref(), Some(MASK));
        assert_eq!(effective.get("port").map(|s| s.source), Some(Source::Default));
    }

    #[test]
    fn changes_list_what_differs() {
        let cmd = demo();
        let a = Effective::collect(&cmd, &cmd.clone().get_matches_from(["demo"]), &BTreeSet::new());
        let b = Effective::collect(
            &cmd,
            &cmd.clone().get_matches_from(["demo", "--port", "1"]),
            &BTreeSet::new(),
        );
        assert_eq!(a.changes(&b), vec![("port", "7654".to_owned(), "1".to_owned())]);
        assert!(a.changes(&a).is_empty());
    }
}
