//! `vod ctl ...`: a running box, from anywhere on its NATS system, through the box's micro
//! service (docs/bus.md): find the boxes, read each component's state and where the time
//! goes, change the configuration, follow the events, and make the box act. Readable tables
//! by default, `--json` for scripts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use vod_bus::{BusClient, ClientError, FoundBox};
use vod_core::config::BusConfig;

use crate::{EX_UNAVAILABLE, EX_USAGE};

/// Prints a line; a reader that went away (`| head`) ends the output quietly, not with a
/// panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _reader_gone_is_fine = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// How long discovery listens for boxes.
const DISCOVERY_WAIT: Duration = Duration::from_millis(750);

#[derive(Debug, Args)]
pub struct CtlArgs {
    #[command(flatten)]
    connection: Connection,
    /// The box's site id; may be left out when the NATS system holds one box.
    #[arg(long, global = true)]
    site: Option<String>,
    /// Prints the box's JSON replies as they are.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

/// Where the NATS system is and who we are on it: the `[bus]` settings as options.
#[derive(Debug, Args)]
struct Connection {
    /// The NATS server; default the NATS_URL environment variable, else nats://127.0.0.1:4222.
    #[arg(
        long,
        global = true,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    server: String,
    #[arg(long, global = true, env = "NATS_USER")]
    user: Option<String>,
    /// With --user; better given in the environment than on the command line.
    #[arg(long, global = true, env = "NATS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[arg(long, global = true, env = "NATS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[arg(long, global = true, value_name = "FILE")]
    nkey_seed_file: Option<PathBuf>,
    #[arg(long, global = true, value_name = "FILE")]
    creds_file: Option<PathBuf>,
    #[arg(long, global = true, value_name = "FILE")]
    tls_ca_file: Option<PathBuf>,
    #[arg(long, global = true, value_name = "FILE")]
    tls_cert_file: Option<PathBuf>,
    #[arg(long, global = true, value_name = "FILE")]
    tls_key_file: Option<PathBuf>,
    #[arg(long, global = true)]
    require_tls: bool,
}

impl Connection {
    fn bus_config(&self) -> BusConfig {
        BusConfig {
            nats_url: self.server.clone(),
            subject_prefix: String::new(),
            user: self.user.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            nkey_seed_file: self.nkey_seed_file.clone(),
            creds_file: self.creds_file.clone(),
            tls_ca_file: self.tls_ca_file.clone(),
            tls_cert_file: self.tls_cert_file.clone(),
            tls_key_file: self.tls_key_file.clone(),
            require_tls: self.require_tls,
        }
    }
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// The boxes on this NATS system (they answer the micro protocol's $SRV.PING).
    Ls,
    /// Each component's state, or one component's.
    State { component: Option<String> },
    /// Where the time goes, per component and per thread; refreshed until Ctrl-C.
    Top {
        /// Prints once and ends.
        #[arg(long)]
        once: bool,
        #[arg(long, default_value_t = 2)]
        interval_s: u64,
    },
    /// The running configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The box's events.
    Events {
        /// Goes on until Ctrl-C instead of ending after --wait-s.
        #[arg(long)]
        follow: bool,
        #[arg(long, default_value_t = 5)]
        wait_s: u64,
    },
    /// A test capture of every camera of a lane (stored and shown, never uploaded or pushed).
    Trigger {
        #[arg(long)]
        lane: String,
    },
    /// Learns the empty road again, on one scanner or on all.
    Relearn {
        #[arg(long)]
        scanner: Option<String>,
    },
    /// Stops a component's current run and starts it again (names as `state` lists them).
    Restart { component: String },
    /// Replaces the log filter until the box restarts, such as `info,vod_lidar=debug`.
    LogLevel { filter: String },
    /// The current scan of each scanner and the last anonymized frame of each camera.
    Snapshot {
        /// Writes the frames there as JPEG files.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// The box's job queues.
    #[command(subcommand)]
    Jobs(JobsCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// The whole config, or the value at a key path such as `detector.enter_scans`.
    Get { path: Option<String> },
    /// Sets key paths, such as `detector.enter_scans=4` (a JSON value, else a string).
    Set {
        #[arg(required = true, value_name = "PATH=VALUE")]
        changes: Vec<String>,
    },
    /// What a change would do, without doing it: key paths to set, or a whole file.
    Validate {
        #[arg(value_name = "PATH=VALUE")]
        changes: Vec<String>,
        #[arg(long, value_name = "FILE", conflicts_with = "changes")]
        file: Option<PathBuf>,
    },
    /// The newest changes and refusals.
    History {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Applies a history entry's config again.
    Rollback { id: i64 },
    /// Applies the config file as it is on the box's disk.
    Reload,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    List {
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    Retry {
        id: i64,
    },
    Cancel {
        id: i64,
    },
}

pub fn main(args: CtlArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("vod ctl: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("vod ctl: {message}");
            ExitCode::from(EX_USAGE)
        }
        Err(Failure::Client(error)) => {
            eprintln!("vod ctl: {error}");
            match error {
                ClientError::Refused { .. } => ExitCode::FAILURE,
                _ => ExitCode::from(EX_UNAVAILABLE),
            }
        }
    }
}

enum Failure {
    Usage(String),
    Client(ClientError),
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        Failure::Client(error)
    }
}

async fn run(args: CtlArgs) -> Result<(), Failure> {
    let CtlArgs {
        connection,
        site,
        json: as_json,
        command,
    } = args;
    let client = BusClient::connect(&connection.bus_config()).await?;
    if let CtlCommand::Ls = command {
        let found = client.discover(DISCOVERY_WAIT).await?;
        if as_json {
            print_json(&json!(found));
        } else {
            print_table(
                &["SITE", "VERSION", "SERVICE ID"],
                found
                    .iter()
                    .map(|found| vec![found.site.clone(), found.version.clone(), found.id.clone()]),
            );
        }
        return Ok(());
    }
    let target = client.pick(site.as_deref(), DISCOVERY_WAIT).await?;
    let ask = |command: &'static str, payload: Value| {
        let (client, target) = (&client, &target);
        async move { client.request(target, command, &payload).await }
    };
    match command {
        CtlCommand::Ls => {}
        CtlCommand::State { component } => {
            let reply = ask("state", json!({ "component": component })).await?;
            if as_json {
                print_json(&reply);
            } else {
                print_state(&reply["components"]);
            }
        }
        CtlCommand::Top { once, interval_s } => loop {
            let reply = ask("top", json!({})).await?;
            if as_json {
                print_json(&reply);
            } else {
                if !once {
                    say!("\x1b[2J\x1b[H");
                }
                print_top(&target, &reply);
            }
            if once {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(interval_s.max(1))) => {}
                _ = tokio::signal::ctrl_c() => break,
            }
        },
        CtlCommand::Config(command) => config(command, as_json, ask).await?,
        CtlCommand::Events { follow, wait_s } => {
            let mut events = Box::pin(client.events(&target).await?);
            let until = tokio::time::sleep(Duration::from_secs(wait_s));
            tokio::pin!(until);
            loop {
                let next = tokio::select! {
                    next = events.next() => next,
                    () = &mut until, if !follow => break,
                    _ = tokio::signal::ctrl_c() => break,
                };
                let Some((kind, event)) = next else { break };
                if as_json {
                    say!("{event}");
                } else {
                    say!("{kind:<24} {}", fields_text(&event, &["type"]));
                }
            }
        }
        CtlCommand::Trigger { lane } => {
            let reply = ask("trigger", json!({ "lane": lane })).await?;
            print_reply(as_json, &reply, |reply| {
                for (camera, vehicle_id) in object(&reply["captures"]) {
                    say!(
                        "test capture of camera {camera}: vehicle id {}",
                        vehicle_id.as_str().unwrap_or_default()
                    );
                }
            });
        }
        CtlCommand::Relearn { scanner } => {
            let reply = ask("relearn", json!({ "scanner": scanner })).await?;
            print_reply(as_json, &reply, |reply| {
                say!(
                    "learning the road again: {}",
                    fields_list(&reply["scanners"])
                );
            });
        }
        CtlCommand::Restart { component } => {
            let reply = ask("restart", json!({ "component": component })).await?;
            print_reply(as_json, &reply, |_| say!("{component} restarts"));
        }
        CtlCommand::LogLevel { filter } => {
            let reply = ask("log.filter", json!({ "filter": filter })).await?;
            print_reply(as_json, &reply, |_| {
                say!("log filter {filter} until the box restarts");
            });
        }
        CtlCommand::Snapshot { out } => {
            let reply = ask("snapshot", json!({})).await?;
            if let Some(dir) = &out {
                save_frames(dir, &reply).map_err(Failure::Usage)?;
            }
            print_reply(as_json, &reply, print_snapshot);
        }
        CtlCommand::Jobs(command) => {
            let (name, payload) = match command {
                JobsCommand::List {
                    queue,
                    state,
                    limit,
                } => (
                    "jobs.list",
                    json!({ "queue": queue, "state": state, "limit": limit }),
                ),
                JobsCommand::Retry { id } => ("jobs.retry", json!({ "id": id })),
                JobsCommand::Cancel { id } => ("jobs.cancel", json!({ "id": id })),
            };
            let reply = ask(name, without_nulls(payload)).await?;
            print_reply(as_json, &reply, |reply| {
                let jobs = match reply.get("jobs") {
                    Some(jobs) => jobs.as_array().cloned().unwrap_or_default(),
                    None => vec![reply["job"].clone()],
                };
                print_table(
                    &["ID", "QUEUE", "KIND", "STATE", "ATTEMPT", "LAST ERROR"],
                    jobs.iter().map(|job| {
                        ["id", "queue", "kind", "state", "attempt", "last_error"]
                            .iter()
                            .map(|key| plain(&job[*key]))
                            .collect()
                    }),
                );
            });
        }
    }
    Ok(())
}

async fn config<F, Fut>(command: ConfigCommand, as_json: bool, ask: F) -> Result<(), Failure>
where
    F: Fn(&'static str, Value) -> Fut,
    Fut: std::future::Future<Output = Result<Value, ClientError>>,
{
    let show_report = |reply: &Value| {
        for key in ["changed", "applied", "restart_needed"] {
            say!("{key:<15} {}", fields_list(&reply[key]));
        }
        if let Some(reason) = reply["held_back"].as_str() {
            say!("held back       {reason}");
        }
        if let Some(id) = reply["history_id"].as_i64() {
            say!("history entry   {id}");
        }
    };
    match command {
        ConfigCommand::Get { path } => {
            let reply = ask("config.get", json!({ "path": path.unwrap_or_default() })).await?;
            if as_json {
                print_json(&reply);
            } else {
                match &reply["value"] {
                    Value::String(text) => say!("{text}"),
                    value => print_json(value),
                }
            }
        }
        ConfigCommand::Set { changes } => {
            let set = key_values(&changes).map_err(Failure::Usage)?;
            let reply = ask("config.set", json!({ "set": set })).await?;
            print_reply(as_json, &reply, show_report);
        }
        ConfigCommand::Validate { changes, file } => {
            let payload = match file {
                Some(file) => json!({ "text": std::fs::read_to_string(&file).map_err(|error| {
                    Failure::Usage(format!("{}: {error}", file.display()))
                })? }),
                None => json!({ "set": key_values(&changes).map_err(Failure::Usage)? }),
            };
            let reply = ask("config.validate", payload).await?;
            print_reply(as_json, &reply, |reply| {
                say!("valid");
                show_report(reply);
            });
        }
        ConfigCommand::History { limit } => {
            let reply = ask("config.history", json!({ "limit": limit })).await?;
            print_reply(as_json, &reply, |reply| {
                print_table(
                    &["ID", "AT", "SOURCE", "ACTOR", "OUTCOME", "CHANGED"],
                    reply["entries"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|entry| {
                            let at = entry["at_ms"]
                                .as_i64()
                                .and_then(chrono::DateTime::from_timestamp_millis)
                                .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
                                .unwrap_or_default();
                            vec![
                                plain(&entry["id"]),
                                at,
                                plain(&entry["source"]),
                                plain(&entry["actor"]),
                                plain(&entry["outcome"]),
                                fields_list(&entry["changed"]),
                            ]
                        }),
                );
            });
        }
        ConfigCommand::Rollback { id } => {
            let reply = ask("config.rollback", json!({ "id": id })).await?;
            print_reply(as_json, &reply, show_report);
        }
        ConfigCommand::Reload => {
            let reply = ask("config.reload", json!({})).await?;
            print_reply(as_json, &reply, show_report);
        }
    }
    Ok(())
}

/// `PATH=VALUE` arguments as key paths and values: the value read as JSON where it is JSON
/// (`4`, `true`, `[1, 2]`, `null` to remove a key), else as a string.
fn key_values(changes: &[String]) -> Result<Map<String, Value>, String> {
    changes
        .iter()
        .map(|change| {
            let (path, value) = change
                .split_once('=')
                .ok_or_else(|| format!("{change:?}: write PATH=VALUE"))?;
            let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
            Ok((path.trim().to_owned(), value))
        })
        .collect()
}

fn without_nulls(mut payload: Value) -> Value {
    if let Value::Object(fields) = &mut payload {
        fields.retain(|_, value| !value.is_null());
    }
    payload
}

fn print_json(value: &Value) {
    say!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn print_reply(as_json: bool, reply: &Value, readable: impl FnOnce(&Value)) {
    if as_json {
        print_json(reply);
    } else {
        readable(reply);
    }
}

/// A value as a table cell: strings without quotes, nothing for null.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn object(value: &Value) -> impl Iterator<Item = (&String, &Value)> {
    value.as_object().into_iter().flatten()
}

fn fields_list(value: &Value) -> String {
    match value.as_array() {
        Some(items) if items.is_empty() => "-".to_owned(),
        Some(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        None => plain(value),
    }
}

fn fields_text(value: &Value, skip: &[&str]) -> String {
    object(value)
        .filter(|(key, value)| !skip.contains(&key.as_str()) && !value.is_null())
        .map(|(key, value)| format!("{key}={}", plain(value)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Columns as wide as their widest cell.
fn print_table(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(column, header)| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        say!("{}", text.join("  ").trim_end());
    };
    line(headers.iter().map(|header| (*header).to_owned()).collect());
    for row in rows {
        line(row);
    }
}

fn print_state(components: &Value) {
    for (name, state) in object(components) {
        let supervisor = &state["supervisor"];
        say!(
            "{name}: {} since {}, {} restarts{}",
            plain(&supervisor["state"]),
            plain(&supervisor["started_at"]),
            plain(&supervisor["restarts"]),
            supervisor["last_cause"]
                .as_str()
                .map(|cause| format!(" (last: {cause})"))
                .unwrap_or_default()
        );
        if let Some(input) = state.get("input") {
            say!(
                "  input        {} of {} queued",
                plain(&input["queued"]),
                plain(&input["bound"])
            );
        }
        if let Some(detector) = state.get("detector") {
            say!("  detector     {}", fields_text(detector, &[]));
        }
        if let Some(settings) = state.get("settings") {
            say!("  settings     {}", fields_text(settings, &[]));
        }
        for (key, value) in object(&state["counters"]) {
            let rate = state["rates_per_s"]
                .get(key)
                .map(|rate| format!("  ({}/s)", plain(rate)))
                .unwrap_or_default();
            say!("  {key} {}{rate}", plain(value));
        }
    }
}

fn print_top(target: &FoundBox, reply: &Value) {
    let process = &reply["process"];
    say!(
        "{}  rss {} MB  {} threads  {} open files  (last minute: over {} s)",
        target.site,
        plain(&process["rss_mb"]),
        plain(&process["threads"]),
        plain(&process["open_files"]),
        plain(&reply["window_s"]),
    );
    say!();
    let mut components: Vec<(&String, &Value)> = object(&reply["components"]).collect();
    components.sort_by_key(|(_, row)| std::cmp::Reverse(row["busy_ms_last_minute"].as_u64()));
    print_table(
        &[
            "COMPONENT",
            "BUSY MS/MIN",
            "WAKEUPS/MIN",
            "BUSY MS",
            "WAKEUPS",
            "INPUT",
        ],
        components.into_iter().map(|(name, row)| {
            let input = match (row.get("input_queued"), row.get("input_bound")) {
                (Some(queued), Some(bound)) => format!("{}/{}", plain(queued), plain(bound)),
                _ => String::new(),
            };
            vec![
                name.clone(),
                plain(&row["busy_ms_last_minute"]),
                plain(&row["wakeups_last_minute"]),
                plain(&row["busy_ms"]),
                plain(&row["wakeups"]),
                input,
            ]
        }),
    );
    say!();
    let mut threads: Vec<(&String, &Value)> = object(&reply["threads"]).collect();
    threads.sort_by_key(|(_, row)| std::cmp::Reverse(row["cpu_ms_last_minute"].as_u64()));
    print_table(
        &["THREAD", "CPU MS/MIN", "CPU MS"],
        threads.into_iter().map(|(name, row)| {
            vec![
                name.clone(),
                plain(&row["cpu_ms_last_minute"]),
                plain(&row["cpu_ms"]),
            ]
        }),
    );
}

fn print_snapshot(reply: &Value) {
    for (scanner, scan) in object(&reply["scans"]) {
        say!(
            "scanner {scanner}: {} points, {} objects, at {}",
            scan["points"].as_array().map_or(0, Vec::len),
            scan["objects"].as_array().map_or(0, Vec::len),
            plain(&scan["received_utc"]),
        );
    }
    for (camera, frame) in object(&reply["cameras"]) {
        match frame {
            Value::Null => say!("camera {camera}: no capture yet"),
            frame => say!(
                "camera {camera}: capture {} taken {}{}",
                plain(&frame["capture_id"]),
                plain(&frame["taken_utc"]),
                frame["jpeg_omitted"]
                    .as_str()
                    .map(|why| format!(" (image not sent: {why})"))
                    .unwrap_or_default(),
            ),
        }
    }
}

/// Writes each camera's frame as `<camera>.jpg` in `dir`.
fn save_frames(dir: &std::path::Path, reply: &Value) -> Result<(), String> {
    use base64::Engine;
    std::fs::create_dir_all(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    for (camera, frame) in object(&reply["cameras"]) {
        let Some(encoded) = frame["jpeg_base64"].as_str() else {
            continue;
        };
        let jpeg = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|error| format!("camera {camera}: bad image: {error}"))?;
        let path = dir.join(format!("{camera}.jpg"));
        std::fs::write(&path, jpeg).map_err(|error| format!("{}: {error}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_read_json_where_they_can() {
        let set = key_values(&[
            "detector.enter_scans=4".into(),
            "site.name=Lane 7 north".into(),
            "vision.review_below=null".into(),
            "lanes[0].name=\"7\"".into(),
        ])
        .unwrap();
        assert_eq!(
            Value::Object(set),
            json!({
                "detector.enter_scans": 4,
                "site.name": "Lane 7 north",
                "vision.review_below": null,
                "lanes[0].name": "7",
            })
        );
        assert!(key_values(&["detector.enter_scans".into()]).is_err());
    }
}
