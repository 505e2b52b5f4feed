//! Turns serde's first-error-only deserialization into a report of every problem in a file.
//! Each failing key is recorded with its path and then taken out of the way: an unknown key is
//! removed, a missing or mistyped one gets a placeholder value (of each type in turn until one
//! fits), and deserialization runs again. Errors inside a placeholder are not reported.

use std::fmt;
use std::path::PathBuf;

use toml::{Table, Value};

use super::Config;
use super::path::{KeyPath, Segment};
use super::secrets;

/// One thing wrong with a config file, at a key path such as `lanes[0].scanner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config is not valid TOML: {0}")]
    Syntax(String),
    #[error("config has {} problem(s):\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Bounds the passes; every pass removes a key or tries a placeholder, so this is a guard.
const MAX_PASSES: usize = 1000;

/// Values tried, in turn, in place of a missing or mistyped key.
fn placeholder(attempt: usize) -> Option<Value> {
    Some(match attempt {
        0 => Value::String(String::new()),
        1 => Value::Integer(0),
        2 => Value::Float(0.0),
        3 => Value::Boolean(false),
        4 => Value::Array(Vec::new()),
        5 => Value::Table(Table::new()),
        _ => return None,
    })
}

pub(super) fn deserialize_reporting_all(text: &str) -> Result<Config, ConfigError> {
    // The error quotes the line: it may hold a secret.
    let table: Table = toml::from_str(text)
        .map_err(|e| ConfigError::Syntax(secrets::mask_text(&e.to_string())))?;
    let mut document = Value::Table(table);
    let mut problems: Vec<Problem> = Vec::new();
    // Keys that hold a placeholder, with the attempt that put it there.
    let mut filled: Vec<(Vec<Segment>, usize)> = Vec::new();
    for _ in 0..MAX_PASSES {
        let error = match serde_path_to_error::deserialize::<_, Config>(document.clone()) {
            Ok(config) if problems.is_empty() => return Ok(config),
            Ok(_) => return Err(ConfigError::Invalid(problems)),
            Err(error) => error,
        };
        let mut path: Vec<Segment> = error.path().iter().filter_map(segment_of).collect();
        let message = error.into_inner().message().trim().to_owned();
        // `choices.rs` words its own errors as "missing field `key`: why" and "field `key` not
        // allowed: why".
        let (reason, unknown) = if let Some(name) = quoted(&message, "missing field `") {
            let reason = match explained(&message) {
                Some(why) => format!("missing: {why}"),
                None => "missing required key".to_owned(),
            };
            path.push(Segment::Key(name));
            (reason, false)
        } else if let Some(name) = quoted(&message, "field `") {
            let reason = explained(&message).unwrap_or("not allowed here").to_owned();
            path.push(Segment::Key(name));
            (reason, true)
        } else if let Some(name) = quoted(&message, "unknown field `") {
            // The path already ends at the unknown key.
            if path.last() != Some(&Segment::Key(name.clone())) {
                path.push(Segment::Key(name));
            }
            (format!("unknown key ({message})"), true)
        } else {
            (message, false)
        };
        if let Some(slot) = filled.iter_mut().find(|(f, _)| *f == path) {
            slot.1 += 1;
            let Some(next) = placeholder(slot.1) else {
                break;
            };
            set(&mut document, &path, next);
            continue;
        }
        if !filled.iter().any(|(f, _)| path.starts_with(f)) {
            let key_path = KeyPath(path.clone());
            problems.push(Problem {
                path: key_path.to_string(),
                reason: secrets::mask_reason(&key_path, &reason),
            });
        }
        if unknown {
            if !remove(&mut document, &path) {
                break;
            }
        } else if path.is_empty() {
            break;
        } else {
            set(
                &mut document,
                &path,
                placeholder(0).unwrap_or(Value::Boolean(false)),
            );
            filled.push((path, 0));
        }
    }
    if problems.is_empty() {
        problems.push(Problem {
            path: String::new(),
            reason: "the file could not be checked completely".to_owned(),
        });
    }
    Err(ConfigError::Invalid(problems))
}

fn segment_of(segment: &serde_path_to_error::Segment) -> Option<Segment> {
    match segment {
        serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
        serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
        serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => None,
    }
}

/// What follows the first ": " of a message, if anything does.
fn explained(message: &str) -> Option<&str> {
    message.split_once(": ").map(|(_, why)| why)
}

fn quoted(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    Some(rest[..rest.find('`')?].to_owned())
}

fn value_at<'a>(document: &'a mut Value, path: &[Segment]) -> Option<&'a mut Value> {
    path.iter()
        .try_fold(document, |value, key| match (value, key) {
            (Value::Table(table), Segment::Key(name)) => table.get_mut(name),
            (Value::Array(array), Segment::Index(index)) => array.get_mut(*index),
            _ => None,
        })
}

fn set(document: &mut Value, path: &[Segment], new: Value) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    match (value_at(document, parent), last) {
        (Some(Value::Table(table)), Segment::Key(name)) => {
            table.insert(name.clone(), new);
        }
        (Some(Value::Array(array)), Segment::Index(index)) if *index < array.len() => {
            array[*index] = new;
        }
        _ => {}
    }
}

/// Removes the key at `path`; false when there was no such key.
fn remove(document: &mut Value, path: &[Segment]) -> bool {
    let Some((Segment::Key(name), parent)) = path.split_last() else {
        return false;
    };
    match value_at(document, parent) {
        Some(Value::Table(table)) => table.remove(name).is_some(),
        _ => false,
    }
}
