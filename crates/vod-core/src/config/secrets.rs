//! Secret values, masked wherever a config, a change or an error is shown, logged or
//! published: every value under a secret key (a password, a key, a token, a webhook secret,
//! NATS credentials), and the user and password part of any URL (`nats://user:pw@host`). The
//! file itself and the config history keep the real values.

use serde_json::Value;

use super::path::{KeyPath, Segment};

/// What a secret value is shown as.
pub const MASK: &str = "********";

/// Keys whose values are secret wherever they appear.
const SECRET_KEYS: &[&str] = &[
    "password",
    "secret",
    "token",
    "secret_access_key",
    "access_key_id",
    "session_token",
    "credentials",
    "nkey_seed",
];

pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
        || ["_password", "_secret", "_token", "_credentials"]
            .iter()
            .any(|suffix| key.ends_with(suffix))
}

/// True when any key along `path` is secret.
pub fn is_secret_path(path: &KeyPath) -> bool {
    path.0
        .iter()
        .any(|segment| matches!(segment, Segment::Key(key) if is_secret_key(key)))
}

/// Masks the secrets in `value`, which sits at `path` (the empty path for the whole config).
pub fn mask_json(path: &KeyPath, value: &mut Value) {
    if is_secret_path(path) {
        *value = Value::String(MASK.to_owned());
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                mask_json(&path.child(Segment::Key(key.clone())), item);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                mask_json(&path.child(Segment::Index(index)), item);
            }
        }
        Value::String(text) => *text = mask_urls(text),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A config file's text with its secrets masked, comments and layout kept. Text that is not
/// valid TOML is masked line by line.
pub fn mask_toml(text: &str) -> String {
    let Ok(mut document) = text.parse::<toml_edit::DocumentMut>() else {
        return mask_text(text);
    };
    mask_table(document.as_table_mut(), false);
    document.to_string()
}

fn mask_table(table: &mut dyn toml_edit::TableLike, secret: bool) {
    for (key, item) in table.iter_mut() {
        mask_item(item, secret || is_secret_key(key.get()));
    }
}

fn mask_item(item: &mut toml_edit::Item, secret: bool) {
    match item {
        toml_edit::Item::Table(table) => mask_table(table, secret),
        toml_edit::Item::ArrayOfTables(tables) => {
            for table in tables.iter_mut() {
                mask_table(table, secret);
            }
        }
        toml_edit::Item::Value(value) => mask_toml_value(value, secret),
        toml_edit::Item::None => {}
    }
}

fn mask_toml_value(value: &mut toml_edit::Value, secret: bool) {
    match value {
        toml_edit::Value::InlineTable(table) => mask_table(table, secret),
        toml_edit::Value::Array(array) => {
            for item in array.iter_mut() {
                mask_toml_value(item, secret);
            }
        }
        other => {
            let masked = match other.as_str() {
                _ if secret => MASK.to_owned(),
                Some(text) if mask_urls(text) != text => mask_urls(text),
                _ => return,
            };
            let decor = other.decor().clone();
            *other = toml_edit::Value::from(masked);
            *other.decor_mut() = decor;
        }
    }
}

/// Masks, line by line, what looks like a secret: the value of a `key = value` line whose key
/// is secret, and the user and password of URLs. For messages that may quote a config's text,
/// such as a TOML syntax error.
pub fn mask_text(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| match secret_assignment(line) {
            Some(key_end) => {
                let newline = if line.ends_with('\n') { "\n" } else { "" };
                format!("{} \"{MASK}\"{newline}", &line[..key_end])
            }
            None => mask_urls(line),
        })
        .collect()
}

/// Where the `=` of a `key = value` line ends, when its key (the last of a dotted key) is
/// secret.
fn secret_assignment(line: &str) -> Option<usize> {
    let equals = line.find('=')?;
    let key = line[..equals]
        .rsplit(['.', '|', ' ', '\t'])
        .find(|part| !part.is_empty())?
        .trim_matches(['"', '\'']);
    is_secret_key(key).then_some(equals + 1)
}

/// `scheme://user:password@host/...` becomes `scheme://********@host/...`.
pub fn mask_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let authority_start = start + 3;
        out.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        let authority_end = rest
            .find(|c: char| matches!(c, '/' | '"' | '\'' | '?' | '#') || c.is_whitespace())
            .unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str(MASK);
                out.push_str(&rest[at..authority_end]);
            }
            None => out.push_str(&rest[..authority_end]),
        }
        rest = &rest[authority_end..];
    }
    out.push_str(rest);
    out
}

/// A problem's reason, safe to show: for a problem at a secret key only what was expected,
/// never the value given; elsewhere with URL credentials masked.
pub fn mask_reason(path: &KeyPath, reason: &str) -> String {
    if !is_secret_path(path) {
        return mask_text(reason);
    }
    match reason.find("expected") {
        Some(at) => format!("invalid value (not shown), {}", &reason[at..]),
        None if reason.starts_with("missing") || reason.starts_with("unknown key") => {
            reason.to_owned()
        }
        None => "invalid value (not shown)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            mask_urls("nats://vod:s3cret@10.0.0.1:4222"),
            format!("nats://{MASK}@10.0.0.1:4222")
        );
        assert_eq!(
            mask_urls("a https://u@h/p?x=1 and s3://bucket/prefix"),
            format!("a https://{MASK}@h/p?x=1 and s3://bucket/prefix")
        );
        assert_eq!(mask_urls("no url here"), "no url here");
    }

    #[test]
    fn json_values_under_secret_keys_are_masked() {
        let mut config = json!({
            "bus": {"nats_url": "nats://vod:pw@host:4222", "subject_prefix": "vod"},
            "uplink": {"cloud": {"secret_access_key": "AKIA-SECRET", "region": "eu"}},
            "push": [{"url": "https://example.org", "secret": "whsec_x"}],
        });
        mask_json(&KeyPath::default(), &mut config);
        assert_eq!(
            config,
            json!({
                "bus": {"nats_url": format!("nats://{MASK}@host:4222"), "subject_prefix": "vod"},
                "uplink": {"cloud": {"secret_access_key": MASK, "region": "eu"}},
                "push": [{"url": "https://example.org", "secret": MASK}],
            })
        );
        let mut one = json!("whsec_x");
        mask_json(&KeyPath::parse("push[0].secret").unwrap(), &mut one);
        assert_eq!(one, json!(MASK));
    }

    #[test]
    fn a_file_keeps_its_comments_and_loses_its_secrets() {
        let text = "# The bus.\n[bus]\nnats_url = \"nats://vod:pw@h:4222\"  # the broker\n\
                    [[push]]\nsecret = \"whsec_x\"\ntoken = { value = \"t\" }\n";
        let masked = mask_toml(text);
        assert_eq!(
            masked,
            format!(
                "# The bus.\n[bus]\nnats_url = \"nats://{MASK}@h:4222\"  # the broker\n\
                 [[push]]\nsecret = \"{MASK}\"\ntoken = {{ value = \"{MASK}\" }}\n"
            )
        );
        // Not TOML: masked line by line.
        let broken = "[bus\npassword = \"hunter2\"\nurl = \"nats://a:b@h\"\n";
        assert_eq!(
            mask_toml(broken),
            format!("[bus\npassword = \"{MASK}\"\nurl = \"nats://{MASK}@h\"\n")
        );
    }

    #[test]
    fn reasons_at_secret_keys_never_quote_the_value() {
        let secret = KeyPath::parse("push[0].secret").unwrap();
        assert_eq!(
            mask_reason(&secret, "invalid type: integer `1234`, expected a string"),
            "invalid value (not shown), expected a string"
        );
        assert_eq!(
            mask_reason(&secret, "missing required key"),
            "missing required key"
        );
        let url = KeyPath::parse("bus.nats_url").unwrap();
        assert_eq!(
            mask_reason(&url, "bad url nats://a:b@h"),
            format!("bad url nats://{MASK}@h")
        );
    }
}
