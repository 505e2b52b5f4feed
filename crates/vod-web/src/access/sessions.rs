//! Signed-in sessions, in memory: a random token in an HttpOnly, SameSite=Strict cookie, and
//! per session its user's name and its CSRF token. A session ends at logout, after the
//! configured idle time, or when its user is removed; a restart of the box signs everyone out.
//! The user's role is read from the store at each request, so a changed role applies at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie that carries the session token.
pub const SESSION_COOKIE: &str = "vod_session";

/// Sessions kept at most; past it the least recently used one ends.
const MAX_SESSIONS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    /// Must come back with every form and unsafe request of this session.
    pub csrf: String,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    last_seen: Instant,
}

#[derive(Debug, Default)]
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
}

/// A new random token, 256 bits in hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Sessions {
    /// Starts a session for `user`; returns its token.
    pub fn start(&self, user: &str) -> String {
        let token = random_token();
        let mut entries = self.lock();
        if entries.len() >= MAX_SESSIONS {
            let oldest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_seen)
                .map(|(token, _)| token.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            token.clone(),
            Entry {
                session: Session {
                    user: user.to_owned(),
                    csrf: random_token(),
                },
                last_seen: Instant::now(),
            },
        );
        token
    }

    /// The session of `token` if it was used within `idle`; using it keeps it alive.
    pub fn touch(&self, token: &str, idle: Duration) -> Option<Session> {
        self.touch_at(token, idle, Instant::now())
    }

    fn touch_at(&self, token: &str, idle: Duration, now: Instant) -> Option<Session> {
        let mut entries = self.lock();
        let entry = entries.get_mut(token)?;
        if now.duration_since(entry.last_seen) > idle {
            entries.remove(token);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    pub fn end(&self, token: &str) {
        self.lock().remove(token);
    }

    /// Ends every session of `user` (removed, or a new password).
    pub fn end_user(&self, user: &str) {
        self.lock().retain(|_, entry| entry.session.user != user);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the map cannot leave it inconsistent: every change is one
        // insert or remove.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_when_idle_too_long_at_logout_and_with_its_user() {
        let sessions = Sessions::default();
        let ana = sessions.start("ana");
        let bo = sessions.start("bo");
        assert_eq!(
            sessions
                .touch(&ana, Duration::from_secs(60))
                .map(|s| s.user),
            Some("ana".to_owned())
        );
        let later = Instant::now() + Duration::from_secs(61);
        assert_eq!(
            sessions.touch_at(&ana, Duration::from_secs(60), later),
            None,
            "idle for more than a minute"
        );
        assert_eq!(sessions.touch(&ana, Duration::from_secs(60)), None, "ended");
        sessions.end_user("bo");
        assert_eq!(sessions.touch(&bo, Duration::from_secs(60)), None);
        let cy = sessions.start("cy");
        sessions.end(&cy);
        assert_eq!(sessions.touch(&cy, Duration::from_secs(60)), None);
        assert_eq!(sessions.touch("not a token", Duration::from_secs(60)), None);
    }

    #[test]
    fn tokens_are_random_and_csrf_differs_from_the_session_token() {
        let sessions = Sessions::default();
        let one = sessions.start("ana");
        let two = sessions.start("ana");
        assert_ne!(one, two);
        assert_eq!(one.len(), 64);
        let session = sessions.touch(&one, Duration::from_secs(60)).unwrap();
        assert_ne!(session.csrf, one);
    }
}
