//! Records beside the captures: vehicles, the configuration history, users and push
//! endpoints.

pub(crate) mod config_history;
pub(crate) mod push;
pub(crate) mod users;
pub(crate) mod vehicles;
