//! The config file on disk: changes written into its text with toml_edit (the technician's
//! comments and layout stay), and the text written back atomically (a temporary file beside
//! it, synced, renamed over it, the directory synced), so a crash leaves the old file or the
//! new one, never a mix.

use std::io::Write;
use std::path::Path;

use serde_json::Value;
use toml_edit::{DocumentMut, Item, Table, TableLike};

use super::path::{KeyPath, Segment};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the config file is not valid TOML: {0}")]
    Syntax(String),
    #[error("{path}: {reason}")]
    Path { path: String, reason: &'static str },
}

/// `text` with the value at each path set (or, for a JSON `null`, removed), everything else
/// as it was. A key that is not there yet is added to its table; a table that is not there
/// yet is created.
pub fn edit(text: &str, changes: &[(KeyPath, Value)]) -> Result<String, EditError> {
    let mut document: DocumentMut = text
        .parse()
        .map_err(|error: toml_edit::TomlError| EditError::Syntax(error.message().to_owned()))?;
    for (path, value) in changes {
        let error = |reason| EditError::Path {
            path: path.to_string(),
            reason,
        };
        let value = match value {
            Value::Null => None,
            value => Some(toml_value(value).ok_or_else(|| error("null inside a value"))?),
        };
        set(document.as_table_mut(), &path.0, value).map_err(error)?;
    }
    Ok(document.to_string())
}

fn set(
    table: &mut dyn TableLike,
    path: &[Segment],
    value: Option<toml_edit::Value>,
) -> Result<(), &'static str> {
    let Some((Segment::Key(key), rest)) = path.split_first() else {
        return Err("a path starts with a key");
    };
    if rest.is_empty() {
        match value {
            None => {
                table.remove(key);
            }
            Some(value) => match table.get_mut(key).and_then(Item::as_value_mut) {
                Some(old) => replace(old, value),
                None => {
                    table.insert(key, Item::Value(value));
                }
            },
        }
        return Ok(());
    }
    if table.get(key).is_none() {
        if value.is_none() {
            return Ok(());
        }
        table.insert(key, Item::Table(Table::new()));
    }
    let item = table.get_mut(key).ok_or("the key could not be added")?;
    descend(item, rest, value)
}

fn descend(
    item: &mut Item,
    path: &[Segment],
    value: Option<toml_edit::Value>,
) -> Result<(), &'static str> {
    match (item, path.first()) {
        (Item::Table(table), Some(Segment::Key(_))) => set(table, path, value),
        (Item::Value(toml_edit::Value::InlineTable(table)), Some(Segment::Key(_))) => {
            set(table, path, value)
        }
        (Item::ArrayOfTables(tables), Some(Segment::Index(index))) => {
            let table = tables.get_mut(*index).ok_or("no entry with that index")?;
            match &path[1..] {
                [] => Err("an entry of [[tables]] is replaced key by key"),
                rest => set(table, rest, value),
            }
        }
        (Item::Value(toml_edit::Value::Array(array)), Some(Segment::Index(index))) => {
            let slot = array.get_mut(*index).ok_or("no entry with that index")?;
            match (&path[1..], value) {
                ([], Some(value)) => {
                    replace(slot, value);
                    Ok(())
                }
                ([], None) => Err("an array entry cannot be removed by its index"),
                (rest, value) => match slot {
                    toml_edit::Value::InlineTable(table) => set(table, rest, value),
                    _ => Err("the path goes on below a plain value"),
                },
            }
        }
        _ => Err("the path does not fit the file's tables and arrays"),
    }
}

/// Puts `new` where `old` was, keeping the comment and spacing around it.
fn replace(old: &mut toml_edit::Value, mut new: toml_edit::Value) {
    *new.decor_mut() = old.decor().clone();
    *old = new;
}

fn toml_value(value: &Value) -> Option<toml_edit::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64()?.into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => items
            .iter()
            .map(toml_value)
            .collect::<Option<toml_edit::Array>>()?
            .into(),
        Value::Object(map) => {
            let mut table = toml_edit::InlineTable::new();
            for (key, item) in map {
                table.insert(key, toml_value(item)?);
            }
            table.into()
        }
    })
}

/// What [`write_atomically`]'s temporary files are called, beside the file.
const TEMPORARY_PREFIX: &str = ".vod-config-";
const TEMPORARY_SUFFIX: &str = ".tmp";

/// The directory `path` lies in.
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Removes the temporary files that writes cut short by a crash left beside `path`; returns
/// how many. Only one process writes a config file, so at its start none is in use.
pub fn remove_stale_temporaries(path: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(directory_of(path))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMPORARY_PREFIX) && name.ends_with(TEMPORARY_SUFFIX) {
            std::fs::remove_file(directory_of(path).join(&*name))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Replaces the file at `path` with `text`: written to a temporary file in the same
/// directory with the old file's permissions, synced, renamed over the old one, and the
/// directory synced, so that after a crash the path holds the old text or the new, whole.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let directory = directory_of(path);
    let mut temporary = tempfile::Builder::new()
        .prefix(TEMPORARY_PREFIX)
        .suffix(TEMPORARY_SUFFIX)
        .tempfile_in(directory)?;
    if let Ok(metadata) = std::fs::metadata(path) {
        temporary
            .as_file()
            .set_permissions(metadata.permissions())?;
    }
    temporary.write_all(text.as_bytes())?;
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|error| error.error)?;
    std::fs::File::open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TEXT: &str = "# The box.\n[detector]\nforeground_threshold_mm = 300  # mm closer than the road\n\
                        enter_scans = 2\n\n[[cameras]]\nname = \"cam-1\"\ntrigger_delay_ms = 20 # after entry\n\
                        seat = [0.5, 0.75]\n\n[[cameras]]\nname = \"cam-2\"\n";

    fn path(text: &str) -> KeyPath {
        KeyPath::parse(text).unwrap()
    }

    #[test]
    fn values_change_in_place_and_comments_stay() {
        let edited = edit(
            TEXT,
            &[
                (path("detector.foreground_threshold_mm"), json!(450)),
                (path("cameras[0].trigger_delay_ms"), json!(35)),
                (path("cameras[0].seat[1]"), json!(0.8)),
                (path("cameras[1].trigger_distance_mm"), json!(8000)),
                (path("bus.subject_prefix"), json!("vod")),
            ],
        )
        .unwrap();
        assert_eq!(
            edited,
            "# The box.\n[detector]\nforeground_threshold_mm = 450  # mm closer than the road\n\
             enter_scans = 2\n\n[[cameras]]\nname = \"cam-1\"\ntrigger_delay_ms = 35 # after entry\n\
             seat = [0.5, 0.8]\n\n[[cameras]]\nname = \"cam-2\"\ntrigger_distance_mm = 8000\n\
             \n[bus]\nsubject_prefix = \"vod\"\n"
        );
    }

    #[test]
    fn null_removes_a_key() {
        let edited = edit(TEXT, &[(path("cameras[0].trigger_delay_ms"), json!(null))]).unwrap();
        assert!(!edited.contains("trigger_delay_ms"), "{edited}");
        assert!(edited.contains("seat = [0.5, 0.75]"), "{edited}");
    }

    #[test]
    fn a_path_that_does_not_fit_says_so() {
        for (at, reason) in [
            ("cameras[5].name", "no entry with that index"),
            (
                "detector.enter_scans.deeper",
                "the path does not fit the file's tables and arrays",
            ),
            (
                "cameras[0]",
                "an entry of [[tables]] is replaced key by key",
            ),
        ] {
            assert_eq!(
                edit(TEXT, &[(path(at), json!(1))]).unwrap_err(),
                EditError::Path {
                    path: at.to_owned(),
                    reason
                }
            );
        }
    }

    #[test]
    fn the_file_is_replaced_whole_with_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vod.toml");
        std::fs::write(&file, "old = 1\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&file, "new = 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new = 2\n");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        // Nothing is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
