//! A web application over a real SQLite store and a real live configuration handle (over a
//! copy of the bench config in a temporary directory), driven through its router as a
//! browser would: requests name the host, carry cookies, forms carry their CSRF token.
#![allow(dead_code, clippy::unwrap_used)] // each test file uses part of it; a failing test may panic

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use prometheus::Registry;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use vod_core::Hub;
use vod_core::config::live::{ConfigHandle, HandleSetup};
use vod_core::config::{Config, LoadedConfig};
use vod_store::{Role, Store};
use vod_web::{Access, AccessMetrics, AppState, app};

pub const BENCH_CONFIG: &str = include_str!("../../../../deploy/bench/vod.toml");
pub const HOST: &str = "127.0.0.1:8080";
pub const PASSWORD: &str = "correct horse battery";

/// One answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |value| value.to_str().unwrap())
    }

    /// The value of the `name` cookie this answer sets.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| value.split(';').next()?.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_owned())
    }

    /// The value of the hidden form field `name` in the page.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        Some(self.body[start..].split('"').next()?.to_owned())
    }
}

/// The application and what it stands on.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub hub: Hub,
    pub config: ConfigHandle,
    pub registry: Registry,
    pub access: Arc<Access>,
    pub state: AppState,
    pub router: axum::Router,
}

impl Site {
    pub async fn new() -> Site {
        Site::with_config(|text| text).await
    }

    /// A site over the bench config as `edit` changes it.
    pub async fn with_config(edit: impl FnOnce(String) -> String) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let store = vod_testkit::open_store(dir.path()).await;
        let text = edit(BENCH_CONFIG.to_owned());
        let path = dir.path().join("vod.toml");
        std::fs::write(&path, &text).unwrap();
        let hub = Hub::new(64);
        let registry = Registry::new();
        let config = ConfigHandle::new(
            HandleSetup {
                path,
                loaded: LoadedConfig {
                    config: Config::parse(&text).unwrap(),
                    text,
                },
                parts: Vec::new(),
                history: Arc::new(store.clone()),
                hub: hub.clone(),
            },
            &registry,
        )
        .unwrap();
        config.record_start().await;
        let access = Arc::new(Access::new(AccessMetrics::register(&registry).unwrap()));
        let state = AppState::new(
            store.clone(),
            hub.clone(),
            config.clone(),
            registry.clone(),
            access.clone(),
            CancellationToken::new(),
        );
        Site {
            router: app(state.clone()),
            dir,
            store,
            hub,
            config,
            registry,
            access,
            state,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        self.send_to(&self.router, request).await
    }

    pub async fn send_to(&self, router: &axum::Router, mut request: Request<Body>) -> Reply {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50_000))));
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// A user of `role`, signed in through the login form.
    pub async fn signed_in(&self, name: &str, role: Role) -> Browser {
        self.store
            .create_user(name, PASSWORD, role)
            .await
            .unwrap()
            .unwrap();
        let browser = Browser::default();
        let login = self.send(browser.get("/login")).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        let form_cookie = login.cookie("vod_form").unwrap();
        let csrf = login.field("csrf").unwrap();
        let reply = self
            .send(
                Browser {
                    cookies: format!("vod_form={form_cookie}"),
                    csrf: String::new(),
                }
                .post_form(
                    "/login",
                    &[
                        ("csrf", &csrf),
                        ("name", name),
                        ("password", PASSWORD),
                        ("next", "/"),
                    ],
                ),
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let session = reply.cookie("vod_session").unwrap();
        let cookies = format!("vod_session={session}");
        let page = self
            .send(
                Browser {
                    cookies: cookies.clone(),
                    csrf: String::new(),
                }
                .get("/"),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        Browser {
            cookies,
            csrf: page.field("csrf").unwrap(),
        }
    }
}

/// What a browser sends with each request: its cookies, and the CSRF token its pages hold.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    pub cookies: String,
    pub csrf: String,
}

impl Browser {
    pub fn get(&self, uri: &str) -> Request<Body> {
        let mut request = Request::get(uri).header(header::HOST, HOST);
        if !self.cookies.is_empty() {
            request = request.header(header::COOKIE, &self.cookies);
        }
        request.body(Body::empty()).unwrap()
    }

    /// A form post from the box's own page, with the session's CSRF token added.
    pub fn post(&self, uri: &str, fields: &[(&str, &str)]) -> Request<Body> {
        let mut fields = fields.to_vec();
        fields.push(("csrf", &self.csrf));
        self.post_form(uri, &fields)
    }

    /// A form post from the box's own page, the fields as given.
    pub fn post_form(&self, uri: &str, fields: &[(&str, &str)]) -> Request<Body> {
        let mut request = Request::post(uri)
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if !self.cookies.is_empty() {
            request = request.header(header::COOKIE, &self.cookies);
        }
        request
            .body(Body::from(serde_urlencoded::to_string(fields).unwrap()))
            .unwrap()
    }
}
