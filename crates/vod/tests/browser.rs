//! The web page in a real browser (Debian's headless Chromium, driven through ChromeDriver
//! over WebDriver) against the real binary and the scanner emulator: the first run creates the
//! admin, a detector value is changed and seen applied, the live vehicle count rises without a
//! reload, a flagged capture is corrected in the review queue, and the user signs out. A
//! screenshot of every page is kept in `target/test-artifacts/browser/`.
#![allow(clippy::unwrap_used)] // a failing test may panic

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Process, loopback, start_emulator};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use vod_testkit::{free_port, wait_for_port};

const VOD: &str = env!("CARGO_BIN_EXE_vod");
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "roadside admin 42";

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(artifacts().join(format!("{name}.png")), png).unwrap();
}

/// Polls `check` every 200 ms until it gives a value, or fails the test after `timeout`.
async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The first-run token from the appliance's log, read on a thread of its own; the log is
/// kept beside the screenshots.
fn first_run_token(log: std::process::ChildStderr) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    let mut kept = std::fs::File::create(artifacts().join("appliance.log")).unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(log).lines().map_while(Result::ok) {
            let _best_effort = writeln!(kept, "{line}");
            if let Some(rest) = line.split("first-run token ").nth(1) {
                let token: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
                let _receiver_gone = sender.send(token);
            }
        }
    });
    receiver
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_commissions_the_box_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (scanner, web, metrics, driver) = (free_port(), free_port(), free_port(), free_port());
    let _emulator = start_emulator(scanner, 11);
    // Every capture is flagged, so that the review queue has work.
    let text = common::bench_config(dir.path(), loopback(scanner), web, metrics, None)
        .replace("review_below = 0.2", "review_below = 1.0");
    let config = common::write_config(dir.path(), &text);
    let mut appliance = Command::new(VOD)
        .args(["run", "--config"])
        .arg(&config)
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let tokens = first_run_token(appliance.stderr.take().unwrap());
    let _appliance = Process(appliance);
    let token = tokens
        .recv_timeout(Duration::from_secs(60))
        .expect("the first-run token in the log");
    wait_for_port(loopback(web), Duration::from_secs(30));

    let _driver = Process(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("{CHROMEDRIVER} (scripts/setup.sh test installs it): {error}")
            }),
    );
    wait_for_port(loopback(driver), Duration::from_secs(20));
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                     format!("--user-data-dir={}", profile.path().display())],
        }),
    );
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://{}", loopback(driver)))
        .await
        .expect("a Chromium session");
    let base = format!("http://{}", loopback(web));

    // First run: the page sends the browser on to /setup, which makes the admin.
    browser.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), "/setup");
    screenshot(&browser, "setup").await;
    for (field, value) in [
        ("token", token.as_str()),
        ("name", "ada"),
        ("password", PASSWORD),
        ("repeat", PASSWORD),
    ] {
        browser
            .find(Locator::Css(&format!("input[name={field}]")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    browser
        .find(Locator::Css("form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the dashboard", || async {
        (browser.current_url().await.ok()?.path() == "/").then_some(())
    })
    .await;

    // The live vehicle count rises without a reload.
    let count = || async {
        let mut total = 0;
        for tile in browser.find_all(Locator::Css("#lanes .count")).await.ok()? {
            total += tile.text().await.ok()?.trim().parse::<u64>().ok()?;
        }
        Some(total)
    };
    let first = count().await.unwrap();
    eventually(Duration::from_secs(60), "the live count rising", || async {
        count().await.filter(|now| *now >= first + 2)
    })
    .await;
    screenshot(&browser, "dashboard").await;

    // A detector value, changed on the configuration page, is applied at once.
    browser.goto(&format!("{base}/config")).await.unwrap();
    browser
        .find(Locator::Css("#section-detector summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let field = browser
        .find(Locator::Id("detector.enter_scans"))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys("3").await.unwrap();
    browser
        .find(Locator::Css("#section-detector button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = eventually(Duration::from_secs(10), "the change's report", || async {
        let text = browser
            .find(Locator::Css("p.notice"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Some(text)
    })
    .await;
    assert!(
        notice.contains("In effect now: detector.enter_scans"),
        "{notice}"
    );
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("enter_scans = 3")
    );
    screenshot(&browser, "config").await;

    // A flagged capture is corrected in the review queue.
    let opened = eventually(
        Duration::from_secs(60),
        "a capture waiting for review",
        || async {
            browser.goto(&format!("{base}/review")).await.ok()?;
            let card = browser
                .find(Locator::Css("#captures li.card a"))
                .await
                .ok()?;
            screenshot(&browser, "review").await;
            card.click().await.ok()
        },
    )
    .await;
    let () = opened;
    screenshot(&browser, "capture").await;
    let front = browser
        .find(Locator::Css("#review input[name=front]"))
        .await
        .unwrap();
    front.clear().await.unwrap();
    front.send_keys("2").await.unwrap();
    browser
        .find(Locator::Css("#review button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let reviews = eventually(Duration::from_secs(10), "the saved review", || async {
        let source = browser.source().await.ok()?;
        source.contains("by ada").then_some(source)
    })
    .await;
    assert!(reviews.contains("2 people, by ada"), "{reviews}");

    // The LIDAR page draws the scanner's latest scan, with the road learned by now.
    browser.goto(&format!("{base}/lidar")).await.unwrap();
    let caption = browser
        .find(Locator::Css("figure.scan figcaption"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(caption.contains("road learned"), "{caption}");
    eventually(Duration::from_secs(10), "the scan drawing", || async {
        let width = browser
            .execute(
                "return document.querySelector('img.live-scan').naturalWidth",
                vec![],
            )
            .await
            .ok()?;
        (width.as_u64()? > 0).then_some(())
    })
    .await;
    screenshot(&browser, "lidar").await;

    // The logs page shows the box's own log, the first run included.
    browser.goto(&format!("{base}/logs")).await.unwrap();
    let lines = browser
        .find(Locator::Id("log-lines"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(lines.contains("The first admin was created."), "{lines}");
    screenshot(&browser, "logs").await;

    // A test capture of cam-1: stored, marked, and given nothing to send.
    browser.goto(&format!("{base}/cameras")).await.unwrap();
    browser
        .find(Locator::Css("form[action='/cameras/cam-1/test'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let href = eventually(Duration::from_secs(30), "the test capture", || async {
        browser.goto(&format!("{base}/captures")).await.ok()?;
        let found = browser
            .execute(
                "const card = [...document.querySelectorAll('li.card')]\
                   .find(c => c.textContent.includes('test capture'));\
                 return card ? card.querySelector('a').getAttribute('href') : null;",
                vec![],
            )
            .await
            .ok()?;
        found.as_str().map(str::to_owned)
    })
    .await;
    browser.goto(&format!("{base}{href}")).await.unwrap();
    let detail = browser.source().await.unwrap();
    assert!(
        detail.contains("A test capture") && detail.contains("Nothing to send"),
        "{detail}"
    );
    screenshot(&browser, "test-capture").await;

    for (path, name) in [
        ("/captures", "captures"),
        ("/cameras", "cameras"),
        ("/jobs", "jobs"),
        ("/uplink", "uplink"),
        ("/users", "users"),
    ] {
        browser.goto(&format!("{base}{path}")).await.unwrap();
        screenshot(&browser, name).await;
    }

    // A phone's width: the dashboard still reads, one column.
    browser.set_window_size(390, 844).await.unwrap();
    browser.goto(&format!("{base}/")).await.unwrap();
    let overflow = browser
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .unwrap();
    screenshot(&browser, "dashboard-phone").await;
    assert_eq!(
        overflow.as_i64(),
        Some(0),
        "the dashboard is wider than a phone"
    );
    browser.set_window_size(1280, 900).await.unwrap();

    // Signing out ends the session: the page asks for a sign-in again.
    browser
        .find(Locator::Css("form.who button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the login page", || async {
        (browser.current_url().await.ok()?.path() == "/login").then_some(())
    })
    .await;
    screenshot(&browser, "login").await;
    browser.goto(&format!("{base}/config")).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), "/login");
    browser.close().await.unwrap();
}
