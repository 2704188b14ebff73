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

/// People for the `kinship link` tests: `n` distinct people, then a second record for some of
/// them typed the way another agency would (a typo, names swapped, a diminutive, day and month
/// swapped, a new postcode). Returns the CSV and the true duplicate pairs.
fn people(n: usize) -> (String, Vec<(String, String)>) {
    let given = [
        "Oliver", "George", "Harry", "Jack", "Amelia", "Olivia", "Isla", "Emily", "Mohammed",
        "Aisha", "Jacob", "Noah", "Charlie", "Sophia", "Grace", "Lily", "Thomas", "William",
        "James", "Ella", "Freya", "Ava", "Mia", "Leo", "Oscar", "Arthur", "Zara", "Ruby",
    ];
    let family = [
        "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Johnson",
        "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes",
        "Green", "Hall", "Lewis", "Patel", "Khan", "Nowak", "Okafor", "Mensah", "Kowalski",
    ];
    let mut seed: u64 = 42;
    let mut next = |m: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % m
    };
    let mut csv = String::from("pid,first,last,dob,sex,postcode\n");
    let mut truth = Vec::new();
    for i in 0..n {
        let (g, f) = (given[next(given.len())], family[next(family.len())]);
        let (y, m, d) = (2005 + next(19), 1 + next(12), 1 + next(28));
        let sex = if next(2) == 0 { "F" } else { "M" };
        let pc = format!(
            "LS{} {}{}{}",
            1 + next(28),
            1 + next(9),
            ["A", "B", "D"][next(3)],
            ["L", "N", "P"][next(3)]
        );
        csv.push_str(&format!("p{i},{g},{f},{y}-{m:02}-{d:02},{sex},{pc}\n"));
        if i % 4 == 0 {
            let (mut g2, mut f2, mut dob2, mut pc2) = (
                g.to_owned(),
                f.to_owned(),
                format!("{y}{m:02}{d:02}"),
                pc.clone(),
            );
            match (i / 4) % 5 {
                0 => g2 = format!("{}{}", &g[..1], &g[2..]),
                1 => std::mem::swap(&mut g2, &mut f2),
                2 if g == "William" || g == "Thomas" || g == "James" => g2 = g[..3].to_owned(),
                3 if d <= 12 => dob2 = format!("{y}{d:02}{m:02}"),
                _ => pc2 = format!("LS{} 9ZZ", 1 + next(28)),
            }
            csv.push_str(&format!("q{i},{g2},{f2},{dob2},{sex},{pc2}\n"));
            truth.push((format!("p{i}"), format!("q{i}")));
        }
    }
    (csv, truth)
}

#[test]
fn link_deduplicates_a_file_finding_typos_swaps_and_diminutives() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, truth) = people(2_000);
    let input = dir.path().join("people.csv");
    std::fs::write(&input, csv).unwrap();
    let output = dir.path().join("pairs.csv");
    let (ok, _, err) = run(kinship()
        .args([
            "link",
            "--id",
            "pid",
            "--map",
            "given_name=first,family_name=last,date_of_birth=dob,sex=sex,postcode=postcode",
            "--explain",
            "--input",
        ])
        .arg(&input)
        .arg("--output")
        .arg(&output));
    assert!(ok, "{err}");
    assert!(
        err.contains("2500 records") && err.contains("pairs compared"),
        "a summary: {err}"
    );
    let pairs = std::fs::read_to_string(&output).unwrap();
    let mut lines = pairs.lines();
    assert_eq!(lines.next(), Some("id_l,id_r,score,explain"));
    let linked: std::collections::HashSet<(String, String)> = lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let score: f64 = f[2].parse().unwrap();
            assert!((0.0..=1.0).contains(&score));
            assert!(f[3].contains("name="), "weights explained: {l}");
            (score >= 0.9).then(|| {
                let (a, b) = (f[0].to_owned(), f[1].to_owned());
                if a < b { (a, b) } else { (b, a) }
            })
        })
        .collect();
    let truth: std::collections::HashSet<(String, String)> = truth.into_iter().collect();
    let found = linked.intersection(&truth).count() as f64;
    let (precision, recall) = (found / linked.len() as f64, found / truth.len() as f64);
    assert!(
        precision >= 0.97 && recall >= 0.97,
        "precision {precision}, recall {recall}"
    );
}

#[test]
fn link_never_pairs_records_with_different_nhs_numbers_and_links_two_files_one_way() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, _) = people(400);
    let mut left = String::from("pid,first,last,dob,postcode,nhs\n");
    let mut right = left.clone();
    for (i, line) in csv
        .lines()
        .skip(1)
        .filter(|l| l.starts_with('p'))
        .enumerate()
    {
        let f: Vec<&str> = line.split(',').collect();
        left.push_str(&format!("{},{},{},{},{},\n", f[0], f[1], f[2], f[3], f[5]));
        if i < 100 {
            // The same person in the second file; the first 10 with a different NHS number on
            // each side, which rules the pair out whatever else agrees.
            let (nl, nr) = if i < 10 {
                ("4010232137", "9434765919")
            } else {
                ("", "")
            };
            if i < 10 {
                left = left.trim_end_matches(",\n").to_owned() + &format!(",{nl}\n");
            }
            right.push_str(&format!("r{i},{},{},{},{},{nr}\n", f[1], f[2], f[3], f[5]));
        }
    }
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    std::fs::write(&a, left).unwrap();
    std::fs::write(&b, right).unwrap();
    let output = dir.path().join("pairs.csv");
    let (ok, _, err) = run(kinship()
        .args([
            "link",
            "--id",
            "pid",
            "--map",
            "given_name=first,family_name=last,date_of_birth=dob,postcode=postcode,nhs_number=nhs",
            "--input",
        ])
        .arg(&a)
        .arg("--input")
        .arg(&b)
        .arg("--output")
        .arg(&output));
    assert!(ok, "{err}");
    let pairs = std::fs::read_to_string(&output).unwrap();
    for line in pairs.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert!(
            f[0].starts_with('p') && f[1].starts_with('r'),
            "first file to second only: {line}"
        );
        let i: usize = f[1][1..].parse().unwrap();
        assert!(
            i >= 10,
            "a pair with different NHS numbers was kept: {line}"
        );
    }
    let strong = pairs
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(2).unwrap().parse::<f64>().unwrap() >= 0.9)
        .count();
    assert!(strong >= 85, "{strong} of 90 pairs linked:\n{pairs}");
}

#[test]
fn link_names_the_file_line_and_column_of_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.csv");
    let out = dir.path().join("out.csv");
    let link = |content: &str, id: &str, map: &str| {
        std::fs::write(&file, content).unwrap();
        let (ok, _, err) = run(kinship()
            .args(["link", "--id", id, "--map", map, "--input"])
            .arg(&file)
            .arg("--output")
            .arg(&out));
        assert!(!ok, "refused");
        err
    };
    let good = "pid,first,last\n1,Ann,Lee\n2,Bob,Ray\n";
    let err = link(good, "pid", "given_name=first,shoe_size=last");
    assert!(
        err.contains("unknown field `shoe_size`") && err.contains("given_name"),
        "{err}"
    );
    let err = link(good, "person", "given_name=first");
    assert!(
        err.contains("in.csv: line 1: no id column `person`"),
        "{err}"
    );
    let err = link(good, "pid", "given_name=forename");
    assert!(
        err.contains("no column `forename` (mapped to given_name)"),
        "{err}"
    );
    let err = link(
        "pid,first\n1,Ann\n2,Bob\n1,Cat\n",
        "pid",
        "given_name=first",
    );
    assert!(
        err.contains("in.csv: line 4: column `pid`: duplicate id (first on line 2)"),
        "{err}"
    );
    let err = link("pid,first\n1,Ann\n2,Bob,extra\n", "pid", "given_name=first");
    assert!(
        err.contains("in.csv: line 3: 3 fields where the header has 2"),
        "{err}"
    );
    assert!(
        !err.contains("Bob") && !err.contains("extra"),
        "no values from the file: {err}"
    );
    let err = link("pid,first\n1,Ann\n,Bob\n", "pid", "given_name=first");
    assert!(
        err.contains("line 3: column `pid`: the id is empty"),
        "{err}"
    );
    let missing = dir.path().join("nowhere.csv");
    let (ok, _, err) = run(kinship()
        .args([
            "link",
            "--id",
            "pid",
            "--map",
            "given_name=first",
            "--input",
        ])
        .arg(&missing)
        .arg("--output")
        .arg(&out));
    assert!(!ok);
    assert!(err.contains("nowhere.csv: cannot read"), "{err}");
}

#[test]
fn bench_sync_runs_the_connectors_in_the_order_asked_and_states_what_linkage_made() {
    // A small load end to end through the debug binary: the order is stated, the linkage
    // figures and the summary are printed, and an unknown connector is a usage error.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    let (ok, out, err) = run(kinship().args([
        "bench",
        "sync",
        "--records",
        "1500",
        "--db",
        &db,
        "--in-order",
        "anyshire-council,anyshire-schools",
    ]));
    assert!(ok, "{err}");
    assert!(
        out.contains("order: anyshire-council, then anyshire-schools, then "),
        "{out}"
    );
    let linkage = out
        .lines()
        .find(|l| l.starts_with("initial load: linkage: "))
        .unwrap_or_else(|| panic!("a linkage line in {out}"));
    let persons: u64 = linkage["initial load: linkage: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{linkage}"));
    assert!(persons > 100, "{linkage}");
    // The store's floor copied every row the load wrote (a source record's row at least for
    // each record), and left no copy behind.
    let figure = |prefix: &str, after: &str| -> f64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("a line `{prefix}…` in {out}"));
        line[line.find(after).unwrap_or_else(|| panic!("{line}")) + after.len()..]
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line}"))
    };
    let records = figure("initial load: ", "initial load: ");
    let rows = figure("store floor: SQLite writing", "initial load's ");
    assert!(records > 1000.0 && rows > records, "{out}");
    let floor = figure("store floor: the feeds pulled", "nothing between them: ");
    assert!(floor > 0.0, "{out}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("floor"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("summary: bench sync"),
        "{out}"
    );

    let (ok, _, err) = run(kinship().args([
        "bench",
        "sync",
        "--records",
        "100",
        "--in-order",
        "anyshire-housing",
    ]));
    assert!(!ok);
    assert!(
        err.contains("anyshire-housing") && err.contains("anyshire-health"),
        "{err}"
    );
}
