//! Merging the four sources into [`Settings`]: flag > environment > file > default.
//!
//! The allowed file keys are clap's own argument list: a key is a flag's long name, so a flag
//! added to [`Settings`] is a key at once. Clap parses flags and environment first; file
//! values then fill every setting that neither set, as if given as `--key=value`, after each
//! was checked on its own so a bad one is reported with its file, line and key.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};

use super::Settings;
use super::effective::Effective;
use super::file::{self, Entry, FileError};
use super::values::parse_bool;

/// Long names of flags that are not settings: no file key, not printed.
const NOT_SETTINGS: &[&str] = &["config", "print-config", "help", "version"];

/// Why the settings could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// A bad flag or environment variable (or `--help`/`--version`, which clap reports this way).
    Usage(clap::Error),
    /// A bad config file.
    File(FileError),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage(e) => write!(f, "{}", e.to_string().trim_end()),
            Self::File(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// The process's settings; `--print-config` prints them and exits 0; bad input exits 2 with a
/// message (clap's usage, or the file, line and key).
pub fn from_env_and_args() -> Settings {
    let args: Vec<OsString> = std::env::args_os().collect();
    match load(&args) {
        Ok(settings) if settings.print_config => {
            let mut out = std::io::stdout().lock();
            let written = out.write_all(settings.effective.to_toml().as_bytes()).and_then(|()| out.flush());
            std::process::exit(if written.is_ok() { 0 } else { 1 })
        }
        Ok(settings) => settings,
        Err(LoadError::Usage(e)) => e.exit(),
        Err(LoadError::File(e)) => {
            let _ = writeln!(std::io::stderr(), "nexo: {e}");
            std::process::exit(2)
        }
    }
}

/// The settings from `args` (the program name first), the environment and the config file
/// named by `--config` / `NEXO_CONFIG`.
///
/// # Errors
/// A bad flag, environment variable, file, key or value.
pub fn load(args: &[OsString]) -> Result<Settings, LoadError> {
    let cmd = Settings::command();
    let first = cmd.clone().try_get_matches_from(args).map_err(LoadError::Usage)?;
    let mut argv = args.to_vec();
    let mut from_file = BTreeSet::new();
    let mut users = Vec::new();
    if let Some(path) = first.get_one::<PathBuf>("config") {
        let contents = file::read(path).map_err(LoadError::File)?;
        users = contents.users;
        for entry in contents.entries {
            let located = |message: String| {
                LoadError::File(FileError {
                    path: path.clone(),
                    line: Some(entry.line),
                    key: Some(entry.key.clone()),
                    message,
                })
            };
            let arg = setting_arg(&cmd, &entry.key).ok_or_else(|| located(unknown_key(&entry.key)))?;
            let texts = flag_texts(arg, &entry).map_err(located)?;
            check(&cmd, arg, &texts).map_err(located)?;
            if !matches!(
                first.value_source(arg.get_id().as_str()),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            ) {
                argv.extend(texts);
                from_file.insert(arg.get_id().to_string());
            }
        }
    }
    let matches = cmd.clone().try_get_matches_from(&argv).map_err(LoadError::Usage)?;
    let mut settings = Settings::from_arg_matches(&matches).map_err(LoadError::Usage)?;
    settings.effective = Effective::collect(&cmd, &matches, &from_file);
    settings.effective.users = users;
    Ok(settings)
}

/// Every argument that is a setting (has a long name and is not in [`NOT_SETTINGS`]).
pub fn setting_args(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(|arg| arg.get_long().is_some_and(|long| !NOT_SETTINGS.contains(&long)))
}

/// The setting whose key (long name) is `key`.
fn setting_arg<'c>(cmd: &'c Command, key: &str) -> Option<&'c Arg> {
    setting_args(cmd).find(|arg| arg.get_long() == Some(key))
}

fn unknown_key(key: &str) -> String {
    let hint =
        key.strip_prefix("--").map_or(String::new(), |bare| format!(" (write '{bare}', without '--')"));
    format!("unknown key{hint}; keys are the flag names of `nexo --help` without '--'")
}

/// The command-line words a file entry stands for.
fn flag_texts(arg: &Arg, entry: &Entry) -> Result<Vec<OsString>, String> {
    let long = arg.get_long().unwrap_or_default();
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        let [value] = entry.values.as_slice() else { return Err("expects one boolean, not a list".into()) };
        let on = parse_bool(value)?;
        let set = on == matches!(arg.get_action(), ArgAction::SetTrue);
        return Ok(if set { vec![format!("--{long}").into()] } else { Vec::new() });
    }
    if entry.values.len() != 1 && !matches!(arg.get_action(), ArgAction::Append) {
        return Err("expects one value, not a list".into());
    }
    Ok(entry.values.iter().map(|value| format!("--{long}={value}").into()).collect())
}

/// Parses `texts` alone, so a bad value is blamed on its own key.
fn check(cmd: &Command, arg: &Arg, texts: &[OsString]) -> Result<(), String> {
    let argv = std::iter::once(OsString::from("nexo")).chain(texts.iter().cloned());
    let Err(e) = cmd.clone().try_get_matches_from(argv) else { return Ok(()) };
    let value = texts.first().map(|t| t.to_string_lossy().split_once('=').map(|(_, v)| v.to_owned()));
    let mut message = format!("invalid value '{}'", value.flatten().unwrap_or_default());
    if let Some(why) = std::error::Error::source(&e) {
        message.push_str(&format!(": {why}"));
    }
    let possible: Vec<String> = arg.get_possible_values().iter().map(|p| p.get_name().to_owned()).collect();
    if !possible.is_empty() {
        message.push_str(&format!(" (expected one of: {})", possible.join(", ")));
    }
    Err(message)
}

/// The source of an argument's value, for [`Effective`].
pub(crate) fn source_of(matches: &ArgMatches, id: &str, from_file: &BTreeSet<String>) -> super::Source {
    match matches.value_source(id) {
        _ if from_file.contains(id) => super::Source::File,
        Some(ValueSource::CommandLine) => super::Source::Flag,
        Some(ValueSource::EnvVariable) => super::Source::Env,
        _ => super::Source::Default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Port, Source};

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn load_with(file: &tempfile::NamedTempFile, flags: &[&str]) -> Result<Settings, LoadError> {
        let mut args: Vec<OsString> = vec!["nexo".into(), "--config".into(), file.path().into()];
        args.extend(flags.iter().map(OsString::from));
        load(&args)
    }

    #[test]
    fn file_fills_defaults_and_flags_win() {
        let file = write("port = 7000\nmax-connections = 12\nno-ui = true\nstore-max-memory = \"1.5mb\"\n");
        let s = load_with(&file, &["--port", "0"]).unwrap();
        assert_eq!(s.port, Port::Number(0));
        assert_eq!(s.max_connections, 12);
        assert!(s.no_ui);
        assert_eq!(s.store_max_memory, Some(3 << 19));
        let source = |key: &str| s.effective.get(key).map(|e| e.source);
        assert_eq!(source("port"), Some(Source::Flag));
        assert_eq!(source("max-connections"), Some(Source::File));
        assert_eq!(source("fsync"), Some(Source::Default));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_line_and_key() {
        let file = write("port = 1\n\nmax-conections = 5\n");
        let e = load_with(&file, &[]).unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("key 'max-conections'") && e.contains("unknown key"),
            "{e}"
        );
        let file = write("max-connections = 0\n");
        let e = load_with(&file, &[]).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("at least 1"), "{e}");
        let file = write("log-level = \"loud\"\n");
        let e = load_with(&file, &[]).unwrap_err().to_string();
        assert!(e.contains("key 'log-level'") && e.contains("trace"), "{e}");
        let file = write("config = \"other.toml\"\n");
        assert!(load_with(&file, &[]).is_err(), "the file cannot name another file");
    }

    /// The shipped example and the operations guide name every key, so a new flag cannot go
    /// undocumented; the example loads as a config file.
    #[test]
    fn every_key_is_documented() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let example = std::fs::read_to_string(root.join("nexo.example.toml")).unwrap();
        let guide = std::fs::read_to_string(root.join("docs/OPERATIONS.md")).unwrap();
        let cmd = Settings::command();
        for key in setting_args(&cmd).filter(|a| !a.is_hide_set()).filter_map(Arg::get_long) {
            assert!(example.contains(&format!("# {key} = ")), "nexo.example.toml lacks {key}");
            assert!(guide.contains(&format!("`--{key}`")), "docs/OPERATIONS.md lacks --{key}");
        }
        let args: Vec<OsString> =
            vec!["nexo".into(), "--config".into(), root.join("nexo.example.toml").into()];
        assert!(load(&args).is_ok(), "nexo.example.toml does not load");
    }

    #[test]
    fn every_flag_is_a_key() {
        let cmd = Settings::command();
        let keys: Vec<&str> = setting_args(&cmd).filter_map(Arg::get_long).collect();
        assert!(keys.contains(&"port") && keys.contains(&"no-ui") && keys.contains(&"stream-max-topics"));
        assert!(!keys.contains(&"config") && !keys.contains(&"print-config"));
        for arg in setting_args(&cmd) {
            let long = arg.get_long().unwrap_or_default();
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            let has_env = env.is_some() || matches!(arg.get_action(), ArgAction::SetTrue);
            assert!(has_env, "--{long} has no environment variable");
        }
    }
}
