//! Access control through the router, as an attacker and as each role would try it: no
//! session, the wrong role, a missing or wrong CSRF token, a foreign Origin or Host, malformed
//! ids, guessing passwords; the first run; secrets never shown back.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Browser, HOST, PASSWORD, Site};
use vod_store::Role;

/// Every page, and the role it needs.
const PAGES: &[(&str, Role)] = &[
    ("/", Role::Viewer),
    ("/captures", Role::Viewer),
    ("/review", Role::Viewer),
    ("/jobs", Role::Viewer),
    ("/uplink", Role::Viewer),
    ("/lidar", Role::Viewer),
    ("/cameras", Role::Viewer),
    ("/logs", Role::Technician),
    ("/review/export.tar", Role::Technician),
    ("/config", Role::Technician),
    ("/users", Role::Admin),
];

/// Every unsafe action, and the role it needs.
const ACTIONS: &[(&str, Role)] = &[
    ("/jobs/1/retry", Role::Technician),
    ("/jobs/1/cancel", Role::Technician),
    ("/captures/x/review", Role::Technician),
    ("/config/detector", Role::Technician),
    ("/config/rollback/1", Role::Technician),
    ("/users", Role::Admin),
    ("/users/x/role", Role::Admin),
    ("/users/x/delete", Role::Admin),
    ("/tokens", Role::Admin),
    ("/tokens/x/delete", Role::Admin),
    ("/lidar/x/relearn", Role::Technician),
    ("/cameras/x/test", Role::Technician),
    ("/uplink/push", Role::Admin),
    ("/uplink/push/x/pause", Role::Admin),
    ("/uplink/push/x/resume", Role::Admin),
    ("/uplink/push/x/delete", Role::Admin),
];

#[tokio::test]
async fn nobody_gets_a_page_an_image_an_action_or_the_api_without_signing_in() {
    let site = Site::new().await;
    let nobody = Browser::default();
    for (path, _) in PAGES {
        let reply = site.send(nobody.get(path)).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            reply.location().starts_with("/login?next="),
            "{path}: {}",
            reply.location()
        );
    }
    for path in ["/api/jobs", "/events", "/images/2026/12/01/a.jpg"] {
        assert_eq!(
            site.send(nobody.get(path)).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    for (path, _) in ACTIONS {
        let reply = site.send(nobody.post_form(path, &[])).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let forged = Browser {
        cookies: "vod_session=0123".into(),
        csrf: String::new(),
    };
    assert_eq!(
        site.send(forged.get("/")).await.status,
        StatusCode::SEE_OTHER
    );
    let bearer = Request::get("/api/jobs")
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, "Bearer vod_guess")
        .body(Body::empty())
        .unwrap();
    assert_eq!(site.send(bearer).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn each_role_gets_what_it_may_and_is_refused_the_rest() {
    let site = Site::new().await;
    for (index, role) in Role::ALL.into_iter().enumerate() {
        let browser = site.signed_in(&format!("user{index}"), role).await;
        for (path, needs) in PAGES {
            let status = site.send(browser.get(path)).await.status;
            let expected = if role >= *needs {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{role} GET {path}");
        }
        for (path, needs) in ACTIONS.iter().filter(|(_, needs)| role < *needs) {
            let status = site.send(browser.post(path, &[])).await.status;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{role} POST {path} (needs {needs})"
            );
        }
    }
}

#[tokio::test]
async fn forms_need_their_csrf_token_and_the_pages_own_origin_and_host() {
    let site = Site::new().await;
    let admin = site.signed_in("ada", Role::Admin).await;
    let add = [("name", "bo"), ("role", "viewer"), ("password", PASSWORD)];

    let without = site.send(admin.post_form("/users", &add)).await;
    assert_eq!(without.status, StatusCode::FORBIDDEN, "no CSRF token");
    let mut wrong = add.to_vec();
    wrong.push(("csrf", "0000"));
    assert_eq!(
        site.send(admin.post_form("/users", &wrong)).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(site.store.user("bo").await.unwrap().is_none());

    let mut foreign = admin.post("/users", &add);
    foreign
        .headers_mut()
        .insert(header::ORIGIN, "http://attacker.example".parse().unwrap());
    assert_eq!(
        site.send(foreign).await.status,
        StatusCode::FORBIDDEN,
        "foreign Origin"
    );
    let mut no_origin = admin.post("/users", &add);
    no_origin.headers_mut().remove(header::ORIGIN);
    assert_eq!(
        site.send(no_origin).await.status,
        StatusCode::FORBIDDEN,
        "no Origin"
    );
    assert!(site.store.user("bo").await.unwrap().is_none());

    let mut rebinding = admin.get("/");
    rebinding
        .headers_mut()
        .insert(header::HOST, "attacker.example".parse().unwrap());
    assert_eq!(
        site.send(rebinding).await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
    let mut by_name = admin.get("/");
    by_name
        .headers_mut()
        .insert(header::HOST, "localhost:8080".parse().unwrap());
    assert_eq!(
        site.send(by_name).await.status,
        StatusCode::OK,
        "an allowed name"
    );

    let done = site.send(admin.post("/users", &add)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        site.store.user("bo").await.unwrap().unwrap().role,
        Role::Viewer
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_the_cookie_is_strict() {
    let site = Site::new().await;
    site.store
        .create_user("ada", PASSWORD, Role::Admin)
        .await
        .unwrap();
    let login = site.send(Browser::default().get("/login")).await;
    for name in [
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
    ] {
        assert!(login.headers.contains_key(name), "{name}");
    }
    assert!(
        login.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(login.headers["x-content-type-options"], "nosniff");
    let admin = site.signed_in("ann", Role::Admin).await;
    let page = site.send(admin.get("/")).await;
    assert!(page.headers.contains_key("content-security-policy"));
    let cookie = site.send(Browser::default().get("/login")).await;
    let set = cookie.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
}

#[tokio::test]
async fn sign_in_attempts_are_limited_and_a_session_ends_at_logout() {
    let site = Site::new().await;
    let ada = site.signed_in("ada", Role::Admin).await;
    let login = site.send(Browser::default().get("/login")).await;
    let form_cookie = format!("vod_form={}", login.cookie("vod_form").unwrap());
    let csrf = login.field("csrf").unwrap();
    let guesser = Browser {
        cookies: form_cookie,
        csrf: String::new(),
    };
    let mut statuses = Vec::new();
    for guess in 0..8 {
        let password = format!("guess {guess}");
        let reply = site
            .send(guesser.post_form(
                "/login",
                &[("csrf", &csrf), ("name", "ada"), ("password", &password)],
            ))
            .await;
        statuses.push(reply.status);
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(statuses[7], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    let scrape = vod_testkit::metric_sum(
        &String::from_utf8(
            prometheus::TextEncoder::new()
                .encode_to_string(&site.registry.gather())
                .unwrap()
                .into_bytes(),
        )
        .unwrap(),
        "vod_web_logins_total",
    );
    assert!(scrape >= 8.0);

    assert_eq!(site.send(ada.get("/")).await.status, StatusCode::OK);
    let out = site.send(ada.post("/logout", &[])).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        site.send(ada.get("/")).await.status,
        StatusCode::SEE_OTHER,
        "signed out"
    );
}

#[tokio::test]
async fn the_first_run_creates_one_admin_with_the_one_time_token() {
    let site = Site::new().await;
    let nobody = Browser::default();
    assert_eq!(site.send(nobody.get("/login")).await.location(), "/setup");
    assert_eq!(
        site.send(nobody.get("/setup")).await.location(),
        "/login",
        "no token issued"
    );
    let token = site.access.issue_setup_token();
    let setup = site.send(nobody.get("/setup")).await;
    assert_eq!(setup.status, StatusCode::OK);
    let browser = Browser {
        cookies: format!("vod_form={}", setup.cookie("vod_form").unwrap()),
        csrf: String::new(),
    };
    let csrf = setup.field("csrf").unwrap();
    let form = |token: &str| {
        browser.post_form(
            "/setup",
            &[
                ("csrf", &csrf),
                ("token", token),
                ("name", "ada"),
                ("password", PASSWORD),
                ("repeat", PASSWORD),
            ],
        )
    };
    assert_eq!(site.send(form("wrong")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(site.store.user_count().await.unwrap(), 0);
    let created = site.send(form(&token)).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert!(created.cookie("vod_session").is_some(), "signed in at once");
    assert_eq!(
        site.store.user("ada").await.unwrap().unwrap().role,
        Role::Admin
    );
    let again = site.send(form(&token)).await;
    assert_eq!(again.location(), "/login", "once only");
    assert_eq!(site.store.user_count().await.unwrap(), 1);
}

#[tokio::test]
async fn the_configuration_page_applies_a_change_shows_problems_and_never_a_secret() {
    let site = Site::with_config(|text| {
        text.replace(
            "nats://127.0.0.1:4222",
            "nats://vod:hunter2-secret@127.0.0.1:4222",
        )
    })
    .await;
    let technician = site.signed_in("tec", Role::Technician).await;
    let page = site.send(technician.get("/config")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("hunter2"), "a secret was rendered");
    assert!(page.body.contains("detector.enter_scans"));

    let applied = site
        .send(technician.post("/config/detector", &[("detector.enter_scans", "3")]))
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert_eq!(
        site.config.current().detector.enter_scans,
        3,
        "applied live"
    );
    assert!(
        std::fs::read_to_string(site.dir.path().join("vod.toml"))
            .unwrap()
            .contains("enter_scans = 3")
    );
    let history = site.config.history(1).await.unwrap();
    assert_eq!(
        (
            history[0].change.actor.as_str(),
            history[0].change.source.as_str()
        ),
        ("tec", "web")
    );

    let refused = site
        .send(technician.post("/config/retention", &[("retention.job_history_days", "0")]))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("must be at least 1"),
        "the problem is shown"
    );
    let unreadable = site
        .send(technician.post("/config/detector", &[("detector.enter_scans", "many")]))
        .await;
    assert_eq!(unreadable.status, StatusCode::BAD_REQUEST);
    assert!(unreadable.body.contains("must be a number"));
    assert_eq!(site.config.current().detector.enter_scans, 3);
    assert_eq!(
        site.send(technician.post("/config/nosuch", &[]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let start = site
        .config
        .history(10)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|entry| entry.change.outcome.as_str() == "applied")
        .unwrap();
    let rolled = site
        .send(technician.post(&format!("/config/rollback/{}", start.id), &[]))
        .await;
    assert_eq!(rolled.status, StatusCode::OK, "{}", rolled.body);
    assert_eq!(site.config.current().detector.enter_scans, 2);
    assert_eq!(
        site.send(technician.post("/config/rollback/999999", &[]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        site.send(technician.post("/config/rollback/abc", &[]))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let page = site.send(technician.get("/config")).await;
    assert!(
        !page.body.contains("hunter2"),
        "nor in the history's differences"
    );
}

#[tokio::test]
async fn an_admin_makes_a_token_that_is_shown_once_works_and_can_be_revoked() {
    let site = Site::new().await;
    let admin = site.signed_in("ada", Role::Admin).await;
    let made = site
        .send(admin.post("/tokens", &[("name", "scraper"), ("role", "viewer")]))
        .await;
    assert_eq!(made.status, StatusCode::OK);
    let token = made
        .body
        .split("<code id=\"new-token\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    let api = |token: &str| {
        Request::get("/api/jobs")
            .header(header::HOST, HOST)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(site.send(api(&token)).await.status, StatusCode::OK);
    let listed = site.send(admin.get("/users")).await;
    assert!(
        listed.body.contains("scraper") && !listed.body.contains(&token),
        "shown once"
    );
    let retry = Request::post("/api/jobs/1/retry")
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        site.send(retry).await.status,
        StatusCode::FORBIDDEN,
        "a viewer token"
    );
    site.send(admin.post("/tokens/scraper/delete", &[])).await;
    assert_eq!(
        site.send(api(&token)).await.status,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );

    // The last admin can be neither removed nor demoted.
    assert_eq!(
        site.send(admin.post("/users/ada/delete", &[])).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        site.send(admin.post("/users/ada/role", &[("role", "viewer")]))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        site.send(admin.post("/users/nobody/delete", &[]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn malformed_paths_and_queries_get_a_4xx() {
    let site = Site::new().await;
    let technician = site.signed_in("tec", Role::Technician).await;
    for path in [
        "/jobs?limit=lots",
        "/jobs?before=x",
        "/captures?before=x",
        "/api/jobs?state=%ff",
    ] {
        let status = site.send(technician.get(path)).await.status;
        assert!(status.is_client_error(), "{path}: {status}");
    }
    for path in ["/jobs/abc/retry", "/jobs/99999999999999999999999/cancel"] {
        let status = site.send(technician.post(path, &[])).await.status;
        assert!(status.is_client_error(), "{path}: {status}");
    }
    assert_eq!(
        site.send(technician.get("/no/such/page")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn over_tls_the_cookies_are_marked_secure() {
    let mut site = Site::new().await;
    site.store
        .create_user("ada", PASSWORD, Role::Admin)
        .await
        .unwrap();
    let mut state = site.state.clone();
    state.secure_cookies = true;
    site.router = vod_web::app(state);
    let login = site.send(Browser::default().get("/login")).await;
    let set = login.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set.contains("; Secure"), "{set}");
    let plain = Site::new().await;
    plain
        .store
        .create_user("ada", PASSWORD, Role::Admin)
        .await
        .unwrap();
    let login = plain.send(Browser::default().get("/login")).await;
    assert!(
        !login.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
}
