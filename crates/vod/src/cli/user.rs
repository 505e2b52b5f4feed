//! `vod user ...`: the people who may sign in to the web page, in the box's store: add one
//! (the password read from stdin, never from the command line, where `ps` shows it), list,
//! set a password, set a role, remove. The running box sees a change at the next request.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use vod_store::{Role, Store};

use crate::{EX_IOERR, EX_USAGE};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Adds a user; reads the password from the first line of stdin.
    Add {
        name: String,
        /// viewer, technician or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Every user and role.
    List(ConfigArg),
    /// Sets a user's password; reads it from the first line of stdin.
    Passwd {
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Sets a user's role.
    Role {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Removes a user.
    Remove {
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The box's config file (its store is in [storage] data_dir).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| "one of viewer, technician, admin".to_owned())
}

pub fn main(command: UserCommand) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("vod user: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("vod user: {error:#}");
            ExitCode::from(EX_IOERR)
        }
    }
}

async fn run(command: UserCommand) -> anyhow::Result<ExitCode> {
    let config = match &command {
        UserCommand::Add { config, .. }
        | UserCommand::Passwd { config, .. }
        | UserCommand::Role { config, .. }
        | UserCommand::Remove { config, .. }
        | UserCommand::List(config) => &config.config,
    };
    let store = match super::config::open_store(config, "vod user").await {
        Ok(store) => store,
        Err(code) => return Ok(code),
    };
    let found = |name: &str, done: bool| {
        if done {
            ExitCode::SUCCESS
        } else {
            eprintln!("vod user: no user {name:?}");
            ExitCode::from(EX_USAGE)
        }
    };
    Ok(match command {
        UserCommand::Add { name, role, .. } => {
            let Some(password) = password_from_stdin(&name)? else {
                return Ok(ExitCode::from(EX_USAGE));
            };
            add(&store, &name, &password, role).await?
        }
        UserCommand::List(_) => {
            for user in store.users().await? {
                println!("{}\t{}", user.name, user.role);
            }
            ExitCode::SUCCESS
        }
        UserCommand::Passwd { name, .. } => {
            let Some(password) = password_from_stdin(&name)? else {
                return Ok(ExitCode::from(EX_USAGE));
            };
            found(&name, store.set_password(&name, &password).await?)
        }
        UserCommand::Role { name, role, .. } => found(&name, store.set_role(&name, role).await?),
        UserCommand::Remove { name, .. } => found(&name, store.delete_user(&name).await?),
    })
}

async fn add(store: &Store, name: &str, password: &str, role: Role) -> anyhow::Result<ExitCode> {
    Ok(match store.create_user(name, password, role).await? {
        Some(user) => {
            println!("{}\t{}", user.name, user.role);
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("vod user add: {name:?} exists already");
            ExitCode::from(EX_USAGE)
        }
    })
}

/// The first line of stdin, checked as the web page checks a new password; `None` (after
/// saying why) when it is not good enough.
fn password_from_stdin(name: &str) -> anyhow::Result<Option<String>> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    match vod_web::check_new_user(name, &password) {
        Ok(()) => Ok(Some(password)),
        Err(problem) => {
            eprintln!("vod user: {problem} (the password is read from the first line of stdin)");
            Ok(None)
        }
    }
}
