//! The board's pages in a real browser: the real hub on loopback, headless Chromium driven over
//! WebDriver (chromedriver). Signs in, reads the dashboard, filters the log, opens an entry,
//! exports CSV, reviews a break-glass read, and checks that every form control has a label and
//! that the skip link comes first. A screenshot of each page is saved under
//! `target/board-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (Debian's packages; `.ci/run` installs them and sets
//! `KINSHIP_REQUIRE_BROWSER=1`, which makes a missing driver a failure rather than a skip).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use kinship::model::Role;
use serde_json::json;

use crate::golden::{LA, S1, world};
use crate::helpers::{Db, principal, spawn_with};

/// A chromedriver process on a loopback port, stopped when dropped.
pub(crate) struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(name))
        .find(|p| p.is_file())
}

pub(crate) async fn start_driver() -> Option<Driver> {
    let path = std::env::var_os("KINSHIP_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| find_on_path("chromedriver"));
    let Some(path) = path else {
        assert!(
            std::env::var_os("KINSHIP_REQUIRE_BROWSER").is_none(),
            "chromedriver not found: install Debian's chromium and chromium-driver (as .ci/run does)"
        );
        eprintln!(
            "skipped: chromedriver not found (install chromium and chromium-driver to run the browser tests)"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = std::process::Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(Driver { child, url })
}

pub(crate) async fn browser(driver: &Driver, downloads: &std::path::Path) -> Client {
    let mut options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"],
        "prefs": {
            "download.default_directory": downloads.display().to_string(),
            "download.prompt_for_download": false,
        },
    });
    if let Some(binary) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .find(|p| std::path::Path::new(p).is_file())
    {
        options["binary"] = json!(binary);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("board-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

pub(crate) async fn shoot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("save screenshot");
}

/// Waits until the element at `css` holds `needle` in its text.
pub(crate) async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let started = Instant::now();
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
            && text.contains(needle)
        {
            return text;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let page = c.source().await.unwrap_or_default();
            panic!("`{css}` never showed `{needle}`; the page was:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks what a screen-reader user needs on the page in view: every form control has a
/// label, every table a caption and column headings, every chart a title.
pub(crate) async fn check_accessible(c: &Client, page: &str) {
    let problems = c
        .execute(
            r#"const out = [];
               for (const el of document.querySelectorAll("input, select, textarea"))
                 if (!el.labels || el.labels.length === 0) out.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id}`);
               for (const t of document.querySelectorAll("main table"))
                 if (!t.querySelector("caption") || !t.querySelector("th[scope=col]")) out.push("a table without caption or headings");
               for (const s of document.querySelectorAll("main svg"))
                 if (s.getAttribute("role") !== "img" || !s.querySelector("title")) out.push("a chart without role or title");
               if (document.querySelectorAll("main h1").length !== 1) out.push("not exactly one h1");
               return out;"#,
            vec![],
        )
        .await
        .expect("run the check");
    assert_eq!(problems, json!([]), "on the {page} page");
}

pub(crate) async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
}

#[tokio::test]
async fn the_board_signs_in_filters_the_log_opens_an_entry_exports_csv_and_reviews_break_glass() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let w = world();
    let app = spawn_with(Db::Sqlite, w.pop.clone()).await;
    let (sw, dsl) = (
        principal("sw-1", LA, Role::SocialWorker),
        principal("dsl-1", S1, Role::Dsl),
    );
    let facts = "query($id: ID!) { person(id: $id) { facts { items { id } withheld } } }";
    let (c5, c3) = (w.c["C5"].to_string(), w.c["C3"].to_string());
    app.query(&dsl, Some("safeguarding"), facts, json!({ "id": c3 }))
        .await;
    app.query(&sw, Some("safeguarding"), facts, json!({ "id": c5 }))
        .await;
    let justification = "Disclosure at school today; strategy meeting at 14:00";
    let reply = app
        .post(
            Some(&app.token(&sw)),
            Some("safeguarding"),
            &[("Kinship-Justification", justification)],
            json!({ "query": facts, "variables": { "id": c5 } }),
        )
        .await;
    assert_eq!(reply.status, 200);

    let downloads = tempfile::tempdir().unwrap();
    let c = browser(&driver, downloads.path()).await;
    let board = format!("{}/board", app.base);

    // A token that is not the board's is turned away.
    c.goto(&board).await.unwrap();
    wait_text(&c, "h1", "Sign in").await;
    check_accessible(&c, "sign-in").await;
    shoot(&c, "01-sign-in").await;
    c.find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(&app.token(&dsl))
        .await
        .unwrap();
    click(&c, "form button[type=submit]").await;
    wait_text(&c, "#alert", "not a board member's").await;

    // The board member signs in and lands on the dashboard.
    let token = app.token(&principal("board-1", LA, Role::BoardMember));
    let area = c.find(Locator::Css("#token")).await.unwrap();
    area.clear().await.unwrap();
    area.send_keys(&token).await.unwrap();
    click(&c, "form button[type=submit]").await;
    wait_text(&c, "main h1", "Dashboard").await;
    wait_text(&c, "#awaiting", "1").await;
    click(&c, "#verify").await;
    wait_text(&c, "#status", "The chain is intact").await;
    wait_text(&c, "#chain", "Intact").await;
    assert!(
        c.find(Locator::Css("main svg[role=img]")).await.is_ok(),
        "a chart of reads"
    );
    check_accessible(&c, "dashboard").await;
    shoot(&c, "02-dashboard").await;

    // Keyboard: the skip link is the first thing Tab reaches (first in document order, and
    // no positive tabindex reorders the rest), and it leads to the content.
    let order = c
        .execute(
            r#"const focusable = [...document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]")]
                 .filter((el) => !el.hidden && el.tabIndex >= 0);
               return { first: focusable[0].textContent, target: focusable[0].getAttribute("href"),
                        positive: focusable.filter((el) => el.tabIndex > 0).length };"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        order,
        json!({ "first": "Skip to content", "target": "#main", "positive": 0 })
    );

    // The log, filtered to break-glass reads.
    click(&c, "nav a[href='#/log']").await;
    wait_text(&c, "main h1", "Access log").await;
    click(&c, "#f-breakGlass").await;
    click(&c, "#log-filters button[type=submit]").await;
    wait_text(&c, "main table caption", "1 entry,").await;
    let row = wait_text(&c, "main tbody tr", "sw-1").await;
    assert!(row.contains("yes"), "flagged as break-glass: {row}");
    check_accessible(&c, "log").await;
    shoot(&c, "03-log-filtered").await;

    // CSV export of the filtered list.
    click(&c, "button[data-export='kinship-access-log.csv']").await;
    let file = downloads.path().join("kinship-access-log.csv");
    let started = Instant::now();
    while !file.is_file() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no CSV downloaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let csv = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("seq,at,principal,organisation"),
        "{csv}"
    );
    assert_eq!(lines.len(), 2, "the header and the one entry: {csv}");
    assert!(
        lines[1].contains("sw-1")
            && lines[1].contains("true")
            && lines[1].contains("strategy meeting"),
        "{csv}"
    );

    // Drill down to the entry.
    click(&c, "main tbody a").await;
    wait_text(&c, "main h1", "Entry #").await;
    let page = wait_text(&c, "dl.entry", justification).await;
    assert!(page.contains("awaiting review"), "{page}");
    check_accessible(&c, "entry").await;
    shoot(&c, "04-entry").await;

    // The break-glass queue: record a finding.
    click(&c, "nav a[href='#/break-glass']").await;
    wait_text(&c, "main h1", "Break-glass review").await;
    wait_text(&c, "main", "1 break-glass read awaits").await;
    check_accessible(&c, "break-glass").await;
    shoot(&c, "05-break-glass-queue").await;
    c.find(Locator::Css("select[name=outcome]"))
        .await
        .unwrap()
        .select_by_value("APPROPRIATE")
        .await
        .unwrap();
    c.find(Locator::Css("textarea[name=note]"))
        .await
        .unwrap()
        .send_keys("Justified: strategy meeting minutes seen")
        .await
        .unwrap();
    click(&c, "main form button[type=submit]").await;
    wait_text(&c, "#status", "Finding recorded for entry #").await;
    wait_text(&c, "main", "No break-glass reads await review").await;
    shoot(&c, "06-break-glass-reviewed").await;
    let log = app.log().await;
    assert!(
        log.iter().any(|e| e.reads["actions"]
            .to_string()
            .contains("review_break_glass")),
        "the finding is itself logged"
    );

    // The subject access report for the child read under break-glass: the refused read, the
    // break-glass read, and the board's finding on it.
    c.goto(&format!("{board}#/subject?id={c5}")).await.unwrap();
    wait_text(&c, "main h1", "Subject access report").await;
    wait_text(&c, "main table caption", "3 accesses to this person's data").await;
    check_accessible(&c, "subject access report").await;
    shoot(&c, "07-subject-access-report").await;

    // Protocol usage, with the clauses that released or refused these reads.
    click(&c, "nav a[href='#/protocols']").await;
    wait_text(&c, "main h1", "Protocol usage").await;
    let clauses = wait_text(&c, "#clauses table", "P-").await;
    assert!(
        clauses.contains("unused"),
        "clauses nobody used are marked: {clauses}"
    );
    check_accessible(&c, "protocol usage").await;
    shoot(&c, "08-protocol-usage").await;

    click(&c, "#sign-out").await;
    wait_text(&c, "main h1", "Sign in").await;
    c.close().await.unwrap();
}
