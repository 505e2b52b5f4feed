//! The configuration page: a form per section of the running config, every problem shown
//! next to its field, a change applied through the live configuration handle (as the file and
//! the bus do) with the signed-in user as actor; the history of who changed what, with the
//! difference to the change before, and a rollback button.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::Value;
use similar::{ChangeTag, TextDiff};
use vod_core::config::live::{ApplyError, ChangeReport, ChangeSource, HistoryEntry, Origin};
use vod_core::config::secrets::MASK;

use crate::access::Identity;
use crate::layout::Layout;
use crate::{AppError, AppState};

/// History rows the page shows.
const HISTORY_ROWS: u32 = 20;

/// Technicians only: the page shows the whole config (secrets masked) and changes it.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/config", get(page))
        .route("/config/{section}", post(change))
        .route("/config/rollback/{id}", post(rollback))
}

#[derive(Template)]
#[template(path = "config.html")]
struct ConfigPage {
    layout: Layout,
    sections: Vec<SectionForm>,
    restart_needed: Vec<String>,
    history: Vec<HistoryRow>,
    /// What the last change did, or why it was refused.
    message: String,
    message_ok: bool,
}

struct SectionForm {
    name: String,
    fields: Vec<Field>,
}

/// One value of the config, at its key path.
struct Field {
    path: String,
    /// The value as the form shows it: plain for text and numbers, JSON for lists.
    text: String,
    kind: Kind,
    problem: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Bool,
    /// A list, an absent value or anything else: JSON.
    Json,
    Secret,
}

struct HistoryRow {
    entry: HistoryEntry,
    at: String,
    /// Lines of the difference to the entry before: (+, -, or space; text).
    diff: Vec<(char, String)>,
}

async fn page(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> Result<Response, AppError> {
    render(
        &state,
        &identity,
        &BTreeMap::new(),
        &BTreeMap::new(),
        String::new(),
        true,
        StatusCode::OK,
    )
    .await
}

async fn change(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(section): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let current = state.config.get("").unwrap_or(Value::Null);
    if current.get(&section).is_none() {
        return Err(AppError::NotFound);
    }
    let fields = fields_of(&current);
    let submitted: BTreeMap<String, String> = form
        .into_iter()
        .filter(|(path, _)| in_section(path, &section))
        .collect();
    let mut changes = Vec::new();
    let mut problems = BTreeMap::new();
    for field in fields
        .iter()
        .filter(|field| in_section(&field.path, &section))
    {
        let Some(text) = submitted.get(&field.path) else {
            continue;
        };
        let unchanged = match field.kind {
            Kind::Secret => text.is_empty(),
            Kind::Bool => text == &field.text,
            _ => text.trim() == field.text,
        };
        if unchanged {
            continue;
        }
        match parse_value(field.kind, text) {
            Ok(value) => changes.push((field.path.clone(), value)),
            Err(problem) => {
                problems.insert(field.path.clone(), problem);
            }
        }
    }
    let origin = Origin::new(ChangeSource::Web, identity.name.clone());
    let (message, ok, status) = if !problems.is_empty() {
        (
            "Nothing was changed: some values cannot be read.".to_owned(),
            false,
            StatusCode::BAD_REQUEST,
        )
    } else if changes.is_empty() {
        (
            "Nothing to change: the form holds the running values.".to_owned(),
            true,
            StatusCode::OK,
        )
    } else {
        match state.config.set(&changes, origin).await {
            Ok(report) => (report_text(&report), true, StatusCode::OK),
            Err(error) => {
                problems = problems_of(&error);
                (
                    format!("Nothing was changed: {}", first_line(&error)),
                    false,
                    StatusCode::BAD_REQUEST,
                )
            }
        }
    };
    // A refused form shows what was typed, so that nothing needs typing twice.
    let typed = if ok { BTreeMap::new() } else { submitted };
    render(&state, &identity, &typed, &problems, message, ok, status).await
}

async fn rollback(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let (message, ok, status) = match state.config.rollback(id, &identity.name).await {
        Ok(report) => (
            format!("Rolled back to entry {id}. {}", report_text(&report)),
            true,
            StatusCode::OK,
        ),
        Err(ApplyError::NoSuchEntry(_)) => return Err(AppError::NotFound),
        Err(error) => (
            format!("Nothing was changed: {}", first_line(&error)),
            false,
            StatusCode::CONFLICT,
        ),
    };
    render(
        &state,
        &identity,
        &BTreeMap::new(),
        &BTreeMap::new(),
        message,
        ok,
        status,
    )
    .await
}

async fn render(
    state: &AppState,
    identity: &Identity,
    typed: &BTreeMap<String, String>,
    problems: &BTreeMap<String, String>,
    message: String,
    message_ok: bool,
    status: StatusCode,
) -> Result<Response, AppError> {
    let current = state.config.get("").unwrap_or(Value::Null);
    let mut sections: Vec<SectionForm> = Vec::new();
    for mut field in fields_of(&current) {
        if let Some(text) = typed.get(&field.path) {
            field.text = text.clone();
        }
        if let Some(problem) = problems.get(&field.path) {
            field.problem = problem.clone();
        }
        let name = section_of(&field.path).to_owned();
        match sections.last_mut() {
            Some(section) if section.name == name => section.fields.push(field),
            _ => sections.push(SectionForm {
                name,
                fields: vec![field],
            }),
        }
    }
    let entries = state
        .config
        .history(HISTORY_ROWS + 1)
        .await
        .map_err(|error| AppError::Internal(error.to_string()))?;
    let history = entries
        .iter()
        .enumerate()
        .take(HISTORY_ROWS as usize)
        .map(|(index, entry)| HistoryRow {
            at: chrono::DateTime::from_timestamp_millis(entry.at_ms)
                .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            diff: entries
                .get(index + 1)
                .map(|before| diff_lines(&before.change.toml, &entry.change.toml))
                .unwrap_or_default(),
            entry: entry.clone(),
        })
        .collect();
    let page = ConfigPage {
        layout: Layout::new(state, identity, "Configuration"),
        sections,
        restart_needed: state.config.restart_needed().await,
        history,
        message,
        message_ok,
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// Every value of the config tree, section by section, as form fields.
fn fields_of(tree: &Value) -> Vec<Field> {
    let mut fields = Vec::new();
    if let Value::Object(sections) = tree {
        for (name, value) in sections {
            flatten(name.clone(), value, &mut fields);
        }
    }
    fields
}

fn flatten(path: String, value: &Value, fields: &mut Vec<Field>) {
    let scalar_list = |items: &[Value]| {
        items
            .iter()
            .all(|item| !item.is_object() && !item.is_array())
    };
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                flatten(format!("{path}.{key}"), child, fields);
            }
        }
        Value::Array(items) if !items.is_empty() && !scalar_list(items) => {
            for (index, child) in items.iter().enumerate() {
                flatten(format!("{path}[{index}]"), child, fields);
            }
        }
        leaf => {
            let (kind, text) = match leaf {
                Value::String(text) if text == MASK => (Kind::Secret, String::new()),
                Value::String(text) => (Kind::Text, text.clone()),
                Value::Number(number) => (Kind::Number, number.to_string()),
                Value::Bool(flag) => (Kind::Bool, flag.to_string()),
                Value::Null => (Kind::Json, String::new()),
                other => (Kind::Json, other.to_string()),
            };
            fields.push(Field {
                path,
                text,
                kind,
                problem: String::new(),
            });
        }
    }
}

/// The value a field's text stands for, or why it cannot be read.
fn parse_value(kind: Kind, text: &str) -> Result<Value, String> {
    let text = text.trim();
    match kind {
        Kind::Text | Kind::Secret => Ok(Value::String(text.to_owned())),
        Kind::Number => serde_json::from_str::<serde_json::Number>(text)
            .map(Value::Number)
            .map_err(|_| "must be a number".to_owned()),
        Kind::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("must be true or false".to_owned()),
        },
        // An empty field removes an optional value; anything that is not JSON is text.
        Kind::Json if text.is_empty() => Ok(Value::Null),
        Kind::Json => {
            Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
        }
    }
}

/// The problems of a refused change, by key path.
fn problems_of(error: &ApplyError) -> BTreeMap<String, String> {
    match error {
        ApplyError::Invalid(invalid) => invalid
            .problems()
            .iter()
            .map(|problem| (problem.path.clone(), problem.reason.clone()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn first_line(error: &ApplyError) -> String {
    match error {
        ApplyError::Invalid(invalid) if !invalid.problems().is_empty() => {
            format!(
                "{} problem(s), shown next to their fields.",
                invalid.problems().len()
            )
        }
        other => other.to_string(),
    }
}

fn report_text(report: &ChangeReport) -> String {
    let mut text = format!("Changed: {}.", list_or_none(&report.changed));
    if !report.applied.is_empty() {
        text.push_str(&format!(" In effect now: {}.", report.applied.join(", ")));
    }
    if !report.restart_needed.is_empty() {
        text.push_str(&format!(
            " Waiting for a restart: {}.",
            report.restart_needed.join(", ")
        ));
    }
    if let Some(why) = &report.held_back {
        text.push_str(&format!(" Held back: {why}."));
    }
    text
}

fn list_or_none(paths: &[String]) -> String {
    if paths.is_empty() {
        "nothing".to_owned()
    } else {
        paths.join(", ")
    }
}

fn section_of(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

fn in_section(path: &str, section: &str) -> bool {
    section_of(path) == section
}

/// The changed lines between two texts of the file (secrets already masked).
fn diff_lines(before: &str, after: &str) -> Vec<(char, String)> {
    TextDiff::from_lines(before, after)
        .iter_all_changes()
        .filter(|change| change.tag() != ChangeTag::Equal)
        .map(|change| {
            let sign = if change.tag() == ChangeTag::Insert {
                '+'
            } else {
                '-'
            };
            (sign, change.value().trim_end().to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_tables_and_lists_of_tables_but_not_lists_of_values() {
        let tree = serde_json::json!({
            "web": {"listen": "127.0.0.1:8080", "allowed_hosts": ["localhost"], "open": true},
            "lanes": [{"id": "1", "lateral_from_mm": 0}],
            "bus": {"nats_url": MASK, "timeout": null}
        });
        let fields: Vec<(String, String)> = fields_of(&tree)
            .into_iter()
            .map(|field| (field.path, field.text))
            .collect();
        let expected = [
            ("bus.nats_url", ""),
            ("bus.timeout", ""),
            ("lanes[0].id", "1"),
            ("lanes[0].lateral_from_mm", "0"),
            ("web.allowed_hosts", "[\"localhost\"]"),
            ("web.listen", "127.0.0.1:8080"),
            ("web.open", "true"),
        ];
        let mut sorted = fields.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            expected.map(|(path, text)| (path.to_owned(), text.to_owned()))
        );
    }

    #[test]
    fn reads_each_kind_of_field() {
        assert_eq!(
            parse_value(Kind::Number, " 250 "),
            Ok(serde_json::json!(250))
        );
        assert!(parse_value(Kind::Number, "fast").is_err());
        assert_eq!(parse_value(Kind::Bool, "false"), Ok(Value::Bool(false)));
        assert_eq!(
            parse_value(Kind::Json, "[1, 2]"),
            Ok(serde_json::json!([1, 2]))
        );
        assert_eq!(parse_value(Kind::Json, ""), Ok(Value::Null));
        assert_eq!(
            parse_value(Kind::Json, "plain"),
            Ok(serde_json::json!("plain"))
        );
    }

    #[test]
    fn diffs_only_the_changed_lines() {
        let diff = diff_lines("a = 1\nb = 2\n", "a = 1\nb = 3\n");
        assert_eq!(
            diff,
            vec![('-', "b = 2".to_owned()), ('+', "b = 3".to_owned())]
        );
    }
}
