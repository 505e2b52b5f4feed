//! Key paths into the config, as problems name them and as a change addresses a value:
//! `site.id`, `lanes[0].lateral_to_mm`, `jobs.queues.retention.concurrency`.

use std::fmt;

/// One step of a key path: a key of a table, or an index into an array.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the top of the config to one value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPath(pub Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path:?} is not a key path such as lanes[0].lateral_to_mm: {reason}")]
pub struct KeyPathError {
    pub path: String,
    pub reason: &'static str,
}

impl KeyPath {
    pub fn parse(text: &str) -> Result<KeyPath, KeyPathError> {
        let error = |reason| KeyPathError {
            path: text.to_owned(),
            reason,
        };
        let mut segments = Vec::new();
        for part in text.split('.') {
            let (key, mut indices) = match part.find('[') {
                Some(open) => part.split_at(open),
                None => (part, ""),
            };
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(error("each key is letters, digits and _"));
            }
            segments.push(Segment::Key(key.to_owned()));
            while !indices.is_empty() {
                let close = indices.find(']').ok_or_else(|| error("an unclosed ["))?;
                let index = indices[1..close]
                    .parse()
                    .map_err(|_| error("an index is a whole number"))?;
                segments.push(Segment::Index(index));
                indices = &indices[close + 1..];
                if !indices.is_empty() && !indices.starts_with('[') {
                    return Err(error("text after ]"));
                }
            }
        }
        Ok(KeyPath(segments))
    }

    pub fn child(&self, segment: Segment) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(segment);
        KeyPath(segments)
    }

    /// The last key of the path, if it ends at a key.
    pub fn last_key(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|segment| match segment {
            Segment::Key(key) => Some(key.as_str()),
            Segment::Index(_) => None,
        })
    }

    /// The path with every index written `[]`: `cameras[].burst_frames`.
    pub fn pattern(&self) -> String {
        let mut text = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Key(key) => {
                    if !text.is_empty() {
                        text.push('.');
                    }
                    text.push_str(key);
                }
                Segment::Index(_) => text.push_str("[]"),
            }
        }
        text
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_print_back() {
        for text in [
            "site.id",
            "lanes[0].lateral_to_mm",
            "vision.seat_rows[1].front[0]",
            "jobs.queues.retention.concurrency",
        ] {
            assert_eq!(KeyPath::parse(text).unwrap().to_string(), text);
        }
        let path = KeyPath::parse("cameras[2].source.gige.gain_db").unwrap();
        assert_eq!(path.pattern(), "cameras[].source.gige.gain_db");
        assert_eq!(path.last_key(), Some("gain_db"));
    }

    #[test]
    fn bad_paths_say_why() {
        for (text, reason) in [
            ("", "each key is letters, digits and _"),
            ("site..id", "each key is letters, digits and _"),
            ("lanes[0", "an unclosed ["),
            ("lanes[x].name", "an index is a whole number"),
            ("lanes[0]x", "text after ]"),
            ("web.listen port", "each key is letters, digits and _"),
        ] {
            assert_eq!(KeyPath::parse(text).unwrap_err().reason, reason, "{text}");
        }
    }
}
