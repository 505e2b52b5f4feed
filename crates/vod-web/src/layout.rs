//! What every signed-in page shows around its content: the site, the signed-in user with the
//! logout button, and the menu for the user's role.

use vod_store::Role;

use crate::AppState;
use crate::access::Identity;

#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub site_id: String,
    pub user: String,
    pub role: &'static str,
    /// The session's CSRF token for the page's forms (empty for an API token, which needs
    /// none).
    pub csrf: String,
    pub technician: bool,
    pub admin: bool,
    /// The menu entry of this page.
    pub current: &'static str,
}

impl Layout {
    pub fn new(state: &AppState, identity: &Identity, current: &'static str) -> Layout {
        Layout {
            site_id: state.site_id.to_string(),
            user: identity.name.clone(),
            role: identity.role.as_str(),
            csrf: identity.csrf.clone().unwrap_or_default(),
            technician: identity.may(Role::Technician),
            admin: identity.may(Role::Admin),
            current,
        }
    }

    /// The menu for the user's role: (path, label, whether it is this page).
    pub fn menu(&self) -> Vec<(&'static str, &'static str, bool)> {
        let mut menu = vec![
            ("/", "Dashboard"),
            ("/captures", "Captures"),
            ("/review", "Review"),
            ("/lidar", "LIDAR"),
            ("/cameras", "Cameras"),
            ("/jobs", "Jobs"),
            ("/uplink", "Uplink"),
        ];
        if self.technician {
            menu.push(("/config", "Configuration"));
            menu.push(("/logs", "Logs"));
        }
        if self.admin {
            menu.push(("/users", "Users"));
        }
        menu.into_iter()
            .map(|(path, label)| (path, label, label == self.current))
            .collect()
    }
}
