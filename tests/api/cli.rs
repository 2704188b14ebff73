//! The binary's commands: configuration errors name the key, tokens only where a shared
//! secret is configured, the schema prints.

use std::process::Command;

fn kinship() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kinship"));
    c.env_remove("DATABASE_URL").env_remove("KINSHIP_CONFIG");
    c
}

fn run(c: &mut Command) -> (bool, String, String) {
    let out = c.output().expect("run kinship");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_key_or_value_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kinship.toml");
    std::fs::write(&file, "[server]\nprot = 8080\n").unwrap();
    let (ok, _, err) = run(kinship().args(["serve", "--config"]).arg(&file));
    assert!(!ok);
    assert!(err.contains("prot"), "names the unknown key: {err}");

    std::fs::write(
        &file,
        "[database]\nurl = \"mysql://root:hunter2@db/k\"\n[auth]\nshared_secret = \"short\"\n",
    )
    .unwrap();
    let (ok, _, err) = run(kinship()
        .args(["serve", "--config"])
        .arg(&file)
        .current_dir(env!("CARGO_MANIFEST_DIR")));
    assert!(!ok);
    assert!(
        err.contains("database.url: expected a sqlite path or postgres:// URL"),
        "{err}"
    );
    assert!(
        err.contains("auth.shared_secret: must be at least 32 bytes"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2") && !err.contains("short\""),
        "no secret echoed: {err}"
    );

    // The environment overrides the file, and its errors name the key too.
    std::fs::write(&file, "[server]\nport = 8080\n").unwrap();
    let (ok, _, err) = run(kinship()
        .args(["serve", "--config"])
        .arg(&file)
        .env("KINSHIP_SERVER__PORT", "eighty"));
    assert!(!ok);
    assert!(err.to_lowercase().contains("server.port"), "{err}");
}

#[test]
fn token_signing_is_refused_without_a_shared_secret_and_works_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kinship.toml");
    std::fs::write(&file, "[auth]\nalgorithms = [\"RS256\"]\n").unwrap();
    let (ok, _, err) = run(kinship()
        .args([
            "token", "--sub", "x", "--agency", "school:1", "--role", "dsl", "--config",
        ])
        .arg(&file));
    assert!(!ok);
    assert!(err.contains("shared_secret"), "{err}");

    std::fs::write(
        &file,
        "[auth]\nshared_secret = \"0123456789abcdef0123456789abcdef\"\n",
    )
    .unwrap();
    let (ok, out, err) = run(kinship()
        .args([
            "token",
            "--sub",
            "dsl-1",
            "--agency",
            "school:9991001",
            "--role",
            "dsl",
            "--config",
        ])
        .arg(&file));
    assert!(ok, "{err}");
    assert_eq!(out.trim().split('.').count(), 3, "a JWT: {out}");

    let (ok, _, err) = run(kinship()
        .args([
            "token", "--sub", "x", "--agency", "bank:1", "--role", "dsl", "--config",
        ])
        .arg(&file));
    assert!(!ok && err.contains("--agency"), "{err}");
}

#[test]
fn schema_prints_the_sdl_and_help_is_complete() {
    let (ok, out, _) = run(kinship().arg("schema"));
    assert!(ok);
    assert_eq!(out, kinship::api::sdl());
    let (ok, out, _) = run(kinship().arg("--help"));
    assert!(ok);
    for command in [
        "demo", "serve", "migrate", "schema", "token", "audit", "bench",
    ] {
        assert!(out.contains(command), "--help lists {command}");
    }
}

#[test]
fn a_scaffolded_connector_builds_and_passes_the_conformance_kit() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(kinship()
        .args([
            "connector",
            "new",
            "housing",
            "--agency",
            "early_help",
            "--dir",
        ])
        .arg(dir.path()));
    assert!(ok, "{err}");
    assert!(out.contains("created"), "{out}");
    let root = dir.path().join("housing");
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "src/feed.rs",
        "tests/conformance.rs",
    ] {
        assert!(root.join(file).is_file(), "{file} written");
    }
    // Pin the generated crate to the versions this workspace builds with, and build it in a
    // target folder of its own under ours, so reruns reuse it.
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(workspace.join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let test = std::process::Command::new(cargo)
        .args(["test", "--quiet", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", workspace.join("target/scaffolded"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success(),
        "the scaffold's own tests fail:\n{stdout}\n{}",
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the conformance test ran: {stdout}"
    );

    let (ok, _, err) = run(kinship()
        .args([
            "connector",
            "new",
            "housing",
            "--agency",
            "early_help",
            "--dir",
        ])
        .arg(dir.path()));
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(kinship().args(["connector", "new", "Bad_Name", "--agency", "health"]));
    assert!(!ok && err.contains("lowercase"), "{err}");
    let (ok, _, err) = run(kinship().args(["connector", "new", "x", "--agency", "housing"]));
    assert!(!ok && err.contains("--agency"), "{err}");
}

#[test]
fn operations_are_registered_listed_and_withdrawn_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
    let doc = dir.path().join("facts.graphql");
    std::fs::write(
        &doc,
        "query SchoolFacts($id: ID!) { person(id: $id) { id } }\n",
    )
    .unwrap();
    let manifest = dir.path().join("manifest.json");
    std::fs::write(
        &manifest,
        r#"{"format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{"id": "me-v1", "name": "Me", "type": "query", "body": "query Me { me { subject } }"}]}"#,
    )
    .unwrap();
    let ops = |args: &[&str]| {
        let mut c = kinship();
        c.env("KINSHIP_DATABASE__URL", &db)
            .arg("operations")
            .args(args);
        c
    };
    let register = [
        "register",
        "--application",
        "school-portal",
        "--approved-by",
        "ISP board",
    ];
    let (ok, out, err) = run(ops(&register).arg(&doc).arg(&manifest));
    assert!(ok, "{err}");
    assert!(out.contains("registered sha256:"), "{out}");
    assert!(out.contains("registered me-v1"), "{out}");
    assert!(out.contains("2 of 2 operations registered"), "{out}");
    let (ok, out, _) = run(ops(&register).arg(&doc));
    assert!(ok);
    assert!(out.contains("0 of 1 operations registered"), "{out}");

    let (ok, out, _) = run(&mut ops(&["list"]));
    assert!(ok);
    assert!(
        out.contains("SchoolFacts") && out.contains("me-v1"),
        "{out}"
    );

    let (ok, out, _) = run(&mut ops(&["withdraw", "me-v1"]));
    assert!(ok, "{out}");
    let (ok, _, err) = run(&mut ops(&["withdraw", "me-v1"]));
    assert!(!ok);
    assert!(
        err.contains("no registered operation in force has id `me-v1`"),
        "{err}"
    );
    let (_, out, _) = run(&mut ops(&["list"]));
    assert!(
        !out.contains("me-v1"),
        "withdrawn ones are listed only with --all: {out}"
    );
    let (_, out, _) = run(&mut ops(&["list", "--all"]));
    assert!(out.contains("me-v1"), "{out}");

    // An anonymous document is refused, naming why.
    let anonymous = dir.path().join("anonymous.graphql");
    std::fs::write(&anonymous, "{ me { subject } }").unwrap();
    let (ok, _, err) = run(ops(&register).arg(&anonymous));
    assert!(!ok);
    assert!(err.contains("name the operation"), "{err}");
}
