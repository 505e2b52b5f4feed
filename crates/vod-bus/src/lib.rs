//! The NATS side of the box. Every hub event goes out as JSON on
//! `<prefix>.<site>.events.<kind>` ([`Publisher`]; subjects in docs/bus.md). The box is a NATS
//! micro service named `vod` ([`Service`]): configuration, the state of every component,
//! where the time goes, and commands, on `<prefix>.<site>.cmd.<command>` ([`Commands`]).
//! [`BusClient`] is the other end, for `vod ctl`. Every connection is made by [`connect`]
//! with the `[bus]` credentials and TLS settings; the box works on without a bus: while NATS
//! is unreachable, events are counted as failed and not queued.

mod client;
mod commands;
mod connect;
mod service;

use std::sync::Arc;

use bytes::Bytes;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use vod_core::config::BusConfig;
use vod_core::{Component, Event, Hub, TaskError};

pub use client::{BusClient, ClientError, FoundBox};
pub use commands::{COMMANDS, CommandError, Commands, Kind};
pub use connect::{ConnectError, Patience, connect};
pub use service::{MAX_REQUEST_BYTES, PROTOCOL_VERSION, SERVICE_NAME, Service, command_prefix};

/// How long shutdown waits for events still buffered to reach NATS.
const FLUSH_AT_SHUTDOWN: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct BusMetrics {
    pub published_total: IntCounterVec,
    pub publish_errors_total: IntCounter,
    pub events_missed_total: IntCounter,
    pub commands_total: IntCounterVec,
    pub command_errors_total: IntCounter,
}

impl BusMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let published_total = IntCounterVec::new(
            Opts::new("vod_bus_published_total", "Events published on NATS."),
            &["kind"],
        )?;
        let publish_errors_total = IntCounter::with_opts(Opts::new(
            "vod_bus_publish_errors_total",
            "Events not published: NATS unreachable, or the client refused them.",
        ))?;
        let events_missed_total = IntCounter::with_opts(Opts::new(
            "vod_bus_events_missed_total",
            "Events the bus publisher fell too far behind to see.",
        ))?;
        registry.register(Box::new(published_total.clone()))?;
        registry.register(Box::new(publish_errors_total.clone()))?;
        registry.register(Box::new(events_missed_total.clone()))?;
        let commands_total = IntCounterVec::new(
            Opts::new(
                "vod_bus_commands_total",
                "Command requests answered, by command and outcome (ok or error).",
            ),
            &["command", "outcome"],
        )?;
        let command_errors_total = IntCounter::with_opts(Opts::new(
            "vod_bus_command_errors_total",
            "Command requests that could not be answered (no reply subject, reply not sent).",
        ))?;
        registry.register(Box::new(commands_total.clone()))?;
        registry.register(Box::new(command_errors_total.clone()))?;
        Ok(BusMetrics {
            published_total,
            publish_errors_total,
            events_missed_total,
            commands_total,
            command_errors_total,
        })
    }
}

/// The subject an event goes out on.
pub fn event_subject(config: &BusConfig, site: &str, event: &Event) -> String {
    format!("{}.{site}.events.{}", config.subject_prefix, event.kind())
}

/// Connects (retrying in the background while NATS is down) and publishes hub events
/// until shutdown.
#[derive(Debug)]
pub struct Publisher {
    pub config: BusConfig,
    pub site: Arc<str>,
    pub hub: Hub,
    pub metrics: BusMetrics,
}

impl Component for Publisher {
    async fn run(&self, shutdown: CancellationToken) -> Result<(), TaskError> {
        run_publisher(self, shutdown).await
    }
}

async fn run_publisher(
    publisher: &Publisher,
    shutdown: CancellationToken,
) -> Result<(), TaskError> {
    let Publisher {
        config,
        site,
        hub,
        metrics,
    } = publisher;
    let mut events = hub.subscribe();
    let client = connect(config, format!("vod {site}"), Patience::RetryForever).await?;
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            event = events.recv() => event,
        };
        let event = match event {
            Ok(event) => event,
            Err(RecvError::Lagged(missed)) => {
                metrics.events_missed_total.inc_by(missed);
                tracing::warn!(missed, "Bus publisher fell behind; events skipped.");
                continue;
            }
            Err(RecvError::Closed) => return Err("event hub closed".into()),
        };
        // The client would queue while disconnected and then block; a stale event is worth
        // less than a publisher that keeps up.
        if client.connection_state() != async_nats::connection::State::Connected {
            metrics.publish_errors_total.inc();
            continue;
        }
        let subject = event_subject(config, site, &event);
        let payload = Bytes::from(serde_json::to_vec(&*event)?);
        match client.publish(subject, payload).await {
            Ok(()) => metrics
                .published_total
                .with_label_values(&[event.kind()])
                .inc(),
            Err(error) => {
                metrics.publish_errors_total.inc();
                tracing::debug!(%error, "Event not published on NATS.");
            }
        }
    }
    // Best effort: with NATS gone a flush would wait for a reconnection that never comes.
    let _flush_best_effort = tokio::time::timeout(FLUSH_AT_SHUTDOWN, client.flush()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use futures::StreamExt;
    use vod_core::VehicleId;
    use vod_testkit::NatsServer;

    use super::*;

    /// A publisher of a fresh 16-place hub to `nats_url`, running until `shutdown`.
    fn start_publisher(
        nats_url: String,
    ) -> (
        Hub,
        BusMetrics,
        CancellationToken,
        tokio::task::JoinHandle<Result<(), TaskError>>,
    ) {
        let hub = Hub::new(16);
        let metrics = BusMetrics::register(&Registry::new()).unwrap();
        let shutdown = CancellationToken::new();
        let publisher = Publisher {
            config: BusConfig {
                nats_url,
                subject_prefix: "vod".into(),
                ..BusConfig::default()
            },
            site: Arc::from("bench"),
            hub: hub.clone(),
            metrics: metrics.clone(),
        };
        let stop = shutdown.clone();
        let task = tokio::spawn(async move { publisher.run(stop).await });
        (hub, metrics, shutdown, task)
    }

    fn entered(lane: &str) -> Event {
        Event::VehicleEntered {
            vehicle_id: VehicleId::new(Utc::now(), 3, 1),
            lane: Arc::from(lane),
            at: Utc::now(),
        }
    }

    /// Publishes `lane` events until the observer hears one, and returns every lane heard
    /// up to and including it.
    async fn publish_until_heard(
        hub: &Hub,
        seen: &mut async_nats::Subscriber,
        lane: &str,
    ) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut heard = Vec::new();
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {lane} event heard within 30 s"
            );
            hub.publish(entered(lane));
            while let Ok(Some(message)) =
                tokio::time::timeout(Duration::from_millis(200), seen.next()).await
            {
                let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
                heard.push(body["lane"].as_str().unwrap().to_owned());
                if heard.last().map(String::as_str) == Some(lane) {
                    return heard;
                }
            }
        }
    }

    #[tokio::test]
    async fn events_during_an_outage_are_counted_and_dropped_not_queued() {
        let server = NatsServer::start();
        let upstream = server.url().trim_start_matches("nats://").parse().unwrap();
        let mut gate = vod_testkit::TcpGate::new(upstream);
        let observer = async_nats::connect(server.url()).await.unwrap();
        let mut seen = observer.subscribe("vod.bench.events.>").await.unwrap();
        observer.flush().await.unwrap();
        let (hub, metrics, shutdown, publisher) =
            start_publisher(format!("nats://{}", gate.address()));
        publish_until_heard(&hub, &mut seen, "before").await;

        gate.close();
        let errors_before = metrics.publish_errors_total.get();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while metrics.publish_errors_total.get() == errors_before {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no publish error counted within 30 s of the outage"
            );
            hub.publish(entered("outage"));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Far more than the hub holds: the publisher keeps up, counting each one.
        let errors_seen = metrics.publish_errors_total.get();
        for _ in 0..200 {
            hub.publish(entered("lost"));
            tokio::task::yield_now().await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while metrics.publish_errors_total.get() < errors_seen + 200 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the publisher counted {} of 200 events published in the outage",
                metrics.publish_errors_total.get() - errors_seen
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(metrics.events_missed_total.get(), 0);

        gate.open();
        let heard = publish_until_heard(&hub, &mut seen, "after").await;
        assert!(
            !heard.iter().any(|lane| lane == "lost"),
            "events of the outage were queued and sent late: {heard:?}"
        );
        shutdown.cancel();
        publisher.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_publisher_that_falls_behind_counts_what_it_missed_and_goes_on() {
        let server = NatsServer::start();
        let observer = async_nats::connect(server.url()).await.unwrap();
        let mut seen = observer.subscribe("vod.bench.events.>").await.unwrap();
        observer.flush().await.unwrap();
        let (hub, metrics, shutdown, publisher) = start_publisher(server.url());
        publish_until_heard(&hub, &mut seen, "before").await;

        // This single-threaded runtime runs the publisher only when the test waits: 100
        // events at once overrun the hub's 16 places.
        for _ in 0..100 {
            hub.publish(entered("flood"));
        }
        let heard = publish_until_heard(&hub, &mut seen, "after").await;
        let flood = heard.iter().filter(|lane| *lane == "flood").count();
        let missed = metrics.events_missed_total.get();
        assert!(
            missed > 0 && flood > 0,
            "missed {missed}, published {flood}"
        );
        // Every event is either published or counted.
        assert_eq!(missed + flood as u64, 100);
        shutdown.cancel();
        publisher.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn hub_events_reach_a_real_nats_server() {
        let server = NatsServer::start();
        let observer = async_nats::connect(server.url()).await.unwrap();
        let mut seen = observer.subscribe("vod.bench.events.>").await.unwrap();
        observer.flush().await.unwrap();
        let (hub, metrics, shutdown, publisher) = start_publisher(server.url());
        let vehicle_id = VehicleId::new(Utc::now(), 3, 1);
        // Publish until the publisher has subscribed and connected.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let message = loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the publisher sent nothing within 30 s"
            );
            hub.publish(Event::VehicleEntered {
                vehicle_id,
                lane: Arc::from("lane-1"),
                at: Utc::now(),
            });
            if let Ok(Some(message)) =
                tokio::time::timeout(Duration::from_millis(200), seen.next()).await
            {
                break message;
            }
        };
        assert_eq!(message.subject.as_str(), "vod.bench.events.vehicle_entered");
        let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(body["type"], "vehicle_entered");
        assert_eq!(body["lane"], "lane-1");
        assert_eq!(body["vehicle_id"], vehicle_id.to_string());
        shutdown.cancel();
        publisher.await.unwrap().unwrap();
        assert!(
            metrics
                .published_total
                .with_label_values(&["vehicle_entered"])
                .get()
                >= 1
        );
    }
}
