//! `vod push ...`: the endpoints clients registered for pushes, in the box's store (the running
//! box picks a change up within seconds): add, list, pause, resume, remove, the deliveries of
//! one, and a replay.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use vod_store::{NewPushEndpoint, Store};

use crate::{EX_IOERR, EX_USAGE};

#[derive(Debug, Subcommand)]
pub enum PushCommand {
    /// Registers an endpoint (or replaces the client's); prints its secret once when it makes one.
    Add(AddArgs),
    /// Every endpoint, its events, rate and state (never its secret).
    List(ConfigArg),
    /// Pauses a client's endpoint: its deliveries wait.
    Pause(ClientArgs),
    /// Resumes a paused or disabled endpoint.
    Resume(ClientArgs),
    /// Removes a client's endpoint, its history and the deliveries still waiting.
    Remove(ClientArgs),
    /// The newest delivery attempts to a client's endpoint.
    Deliveries(ClientArgs),
    /// Sends one delivery again, with its message id.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The box's config file (its store is in [storage] data_dir).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    config: ConfigArg,
    #[arg(long)]
    url: String,
    /// `whsec_` and base64; a new one is made (and printed once) when left out.
    #[arg(long)]
    secret: Option<String>,
    /// The client's name; the URL's host when left out.
    #[arg(long)]
    client: Option<String>,
    /// Comma-separated: capture.stored, capture.flagged.
    #[arg(long, value_delimiter = ',', default_value = "capture.stored")]
    events: Vec<String>,
    #[arg(long, default_value_t = 600)]
    rate_per_minute: u32,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    config: ConfigArg,
    client: String,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// A delivery's id, as `vod push deliveries` lists it.
    delivery: i64,
}

pub fn main(command: PushCommand) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("vod push: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("vod push: {error:#}");
            ExitCode::from(EX_IOERR)
        }
    }
}

async fn run(command: PushCommand) -> anyhow::Result<ExitCode> {
    let config = match &command {
        PushCommand::Add(args) => &args.config,
        PushCommand::List(config) => config,
        PushCommand::Pause(args)
        | PushCommand::Resume(args)
        | PushCommand::Remove(args)
        | PushCommand::Deliveries(args) => &args.config,
        PushCommand::Replay(args) => &args.config,
    };
    let store = match super::config::open_store(&config.config, "vod push").await {
        Ok(store) => store,
        Err(code) => return Ok(code),
    };
    let switch = |client: &str, done: bool| {
        if done {
            ExitCode::SUCCESS
        } else {
            eprintln!("vod push: no endpoint of client {client:?}");
            ExitCode::from(EX_USAGE)
        }
    };
    Ok(match command {
        PushCommand::Add(args) => add(&store, args).await?,
        PushCommand::List(_) => {
            for endpoint in store.push_endpoints().await? {
                let state = match (&endpoint.disabled_reason, endpoint.enabled) {
                    (_, true) => "enabled".to_owned(),
                    (Some(reason), false) => format!("disabled: {reason}"),
                    (None, false) => "paused".to_owned(),
                };
                println!(
                    "{}\t{}\tevents={}\trate_per_minute={}\tsecret={}\t{state}",
                    endpoint.client,
                    endpoint.url,
                    endpoint.events.join(","),
                    endpoint.rate_per_minute,
                    if endpoint.has_secret() { "set" } else { "none" },
                );
            }
            ExitCode::SUCCESS
        }
        PushCommand::Pause(args) => switch(
            &args.client,
            store.set_push_endpoint_enabled(&args.client, false).await?,
        ),
        PushCommand::Resume(args) => switch(
            &args.client,
            store.set_push_endpoint_enabled(&args.client, true).await?,
        ),
        PushCommand::Remove(args) => switch(
            &args.client,
            store.delete_push_endpoint(&args.client).await?,
        ),
        PushCommand::Deliveries(args) => {
            let endpoints = store.push_endpoints().await?;
            let Some(endpoint) = endpoints.iter().find(|e| e.client == args.client) else {
                return Ok(switch(&args.client, false));
            };
            for delivery in store.deliveries(endpoint.id, 50).await? {
                println!(
                    "{}\t{}\t{}\tattempt={}\tstatus={}\t{} ms\t{}",
                    delivery.id,
                    delivery.webhook_id,
                    delivery.event,
                    delivery.attempt,
                    delivery
                        .status
                        .map_or_else(|| "none".to_owned(), |s| s.to_string()),
                    delivery.latency_ms,
                    delivery.error.unwrap_or_default(),
                );
            }
            ExitCode::SUCCESS
        }
        PushCommand::Replay(args) => {
            let config = super::config::load(&args.config.config)
                .map_err(|_| anyhow::anyhow!("the config file could not be read again"))?;
            let attempts = config.config.uplink.push.retry_schedule_s.len() as u32 + 1;
            match store.replay_delivery(args.delivery, attempts).await? {
                Some(_) => ExitCode::SUCCESS,
                None => {
                    eprintln!(
                        "vod push: no delivery {} (or its capture is gone)",
                        args.delivery
                    );
                    ExitCode::from(EX_USAGE)
                }
            }
        }
    })
}

async fn add(store: &Store, args: AddArgs) -> anyhow::Result<ExitCode> {
    let made = args.secret.is_none();
    let secret = args.secret.unwrap_or_else(vod_uplink::push::new_secret);
    let client = args.client.unwrap_or_else(|| host_of(&args.url));
    let endpoint = NewPushEndpoint {
        client,
        url: args.url,
        secret: Some(secret.clone()),
        events: args.events,
        rate_per_minute: args.rate_per_minute,
        enabled: true,
    };
    let problems = endpoint.problems();
    if !problems.is_empty() {
        for problem in problems {
            eprintln!("vod push add: {problem}");
        }
        return Ok(ExitCode::from(EX_USAGE));
    }
    let saved = store.upsert_push_endpoint(&endpoint).await?;
    println!("{}\t{}", saved.client, saved.url);
    if made {
        // Shown this once: the box never shows it again.
        println!("secret\t{secret}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `host[:port]` of a URL, as a client name.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .rsplit('@')
        .next()
        .unwrap_or(rest)
        .to_owned()
}
