//! The fixture returns (a CIN census for two years, an SSDA903 return and an early help
//! extract for LA 999) read from a folder, and the malformed cases beside them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "support/helpers.rs"]
mod helpers;

use chrono::NaiveDate;
use helpers::{fixtures, folder_connector, pull_all};
use kinship_connector_sdk::{Connector, ConnectorError, SourceFact, SourceRecord};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn kinds(r: &SourceRecord) -> Vec<&str> {
    r.facts.iter().map(|f| f.kind.as_str()).collect()
}

fn fact<'a>(r: &'a SourceRecord, key: &str) -> &'a SourceFact {
    r.facts
        .iter()
        .find(|f| f.key == key)
        .unwrap_or_else(|| panic!("`{}` has no fact `{key}`", r.source_key))
}

fn identifier<'a>(r: &'a SourceRecord, system: &str) -> Option<&'a str> {
    r.identity
        .identifiers
        .iter()
        .find(|i| i.system == system)
        .map(|i| i.value.as_str())
}

#[tokio::test]
async fn every_fixture_return_lands_with_no_rejections() {
    let pulled = pull_all(&folder_connector(&fixtures("returns")), None).await;
    assert!(pulled.rejected.is_empty(), "{:?}", pulled.rejected);
    let mut keys: Vec<&str> = pulled
        .records
        .iter()
        .map(|r| r.source_key.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "903:999:2026:1005",
            "903:999:2026:2001",
            "903:999:2026:2002",
            "cin:999:2025:1003",
            "cin:999:2026:1001",
            "cin:999:2026:1002",
            "cin:999:2026:1003",
            "cin:999:2026:1004",
            "cin:999:2026:1005",
            "eh:999:EHA-2025-00042:1101",
            "eh:999:EHA-2025-00042:1102",
            "eh:999:EHA-2025-00057:1003",
            "eh:999:EHA-2025-00061:1104",
        ]
    );
    assert_eq!(pulled.cursors.len(), 4, "one batch per return");
    for r in &pulled.records {
        assert_eq!(r.organisation, "local_authority:999");
        assert!(r.subject.is_none());
        let child = r.source_key.rsplit(':').next().unwrap();
        assert_eq!(
            identifier(r, "la_person_id"),
            Some(format!("la:999:{child}").as_str())
        );
        for f in &r.facts {
            assert!(!f.summary.is_empty());
        }
    }
}

#[tokio::test]
async fn a_child_on_a_protection_plan_gives_every_cin_fact_and_an_active_flag() {
    let pulled = pull_all(&folder_connector(&fixtures("returns")), None).await;
    let r = pulled.record("cin:999:2026:1001");
    assert_eq!(r.identity.date_of_birth, Some(date("2014-05-12")));
    assert_eq!(r.identity.sex.as_deref(), Some("female"));
    assert_eq!(identifier(r, "upn"), Some("M999200114101"));
    assert!(r.identity.names.is_empty(), "the census carries no names");
    assert_eq!(
        kinds(r),
        vec![
            "contact",
            "referral",
            "assessment",
            "s47_enquiry",
            "cp_plan",
            "cp_flag"
        ]
    );
    let referral = fact(r, "referral:2025-06-02");
    assert_eq!(referral.category, "social_care.contact_referral");
    assert_eq!(referral.payload["ReferralSource"], "6");
    assert_eq!(referral.payload["PrimaryNeedCode"], "N1");
    assert_eq!(referral.occurred_at.date_naive(), date("2025-06-02"));
    assert!(referral.summary.contains("abuse or neglect"));
    let assessment = fact(r, "assessment:2025-06-04");
    assert_eq!(assessment.category, "social_care.assessment");
    assert_eq!(
        assessment.payload["AssessmentFactors"],
        serde_json::json!(["3A", "3B", "4B"])
    );
    let s47 = fact(r, "s47:2025-06-03");
    assert_eq!(s47.category, "social_care.assessment");
    assert_eq!(s47.payload["DateOfInitialCPC"], "2025-06-17");
    let plan = fact(r, "cp_plan:2025-06-17");
    assert_eq!(plan.category, "social_care.child_protection");
    assert_eq!(plan.payload["LatestCategoryOfAbuse"], "EMO");
    assert_eq!(
        plan.payload["CPPreviewDates"],
        serde_json::json!(["2025-09-15", "2025-12-15"])
    );
    assert!(plan.payload["CPPendDate"].is_null());
    let flag = fact(r, "cp_flag:CPP:2025-06-17");
    assert_eq!(flag.category, "social_care.child_protection_flag");
    assert_eq!(flag.payload["code"], "CPP");
    assert_eq!(flag.payload["status"], "active");
    assert!(r.raw.starts_with("<Child>") && r.raw.ends_with("</Child>"));
    assert!(r.raw.contains("<LAchildID>1001</LAchildID>"));
}

#[tokio::test]
async fn cin_plans_nfa_contacts_unborn_children_and_years_are_read() {
    let pulled = pull_all(&folder_connector(&fixtures("returns")), None).await;

    let cin = pulled.record("cin:999:2026:1002");
    assert_eq!(cin.identity.sex.as_deref(), Some("male"));
    let plan = fact(cin, "cin_plan:2025-05-20");
    assert_eq!(plan.category, "social_care.child_in_need");
    assert_eq!(plan.payload["CINPlanEndDate"], "2025-11-28");
    assert_eq!(plan.payload["PrimaryNeedCode"], "N4");
    let referral = fact(cin, "referral:2025-04-14");
    assert_eq!(referral.payload["ReasonForClosure"], "RC7");
    assert_eq!(
        referral.payload["Disabilities"],
        serde_json::json!(["COMM", "LD"])
    );

    let nfa = pulled.record("cin:999:2026:1003");
    assert_eq!(
        kinds(nfa),
        vec!["contact"],
        "an NFA referral is a contact only"
    );
    assert_eq!(
        fact(nfa, "contact:2025-10-01").payload["ContactOutcome"],
        "NFA"
    );
    assert_eq!(identifier(nfa, "former_upn"), Some("B999200318404"));

    let earlier = pulled.record("cin:999:2025:1003");
    assert_eq!(
        fact(earlier, "assessment:2024-07-09").payload["AssessmentInternalReviewDate"],
        "2024-08-01"
    );
    assert_eq!(
        kinds(earlier),
        vec!["contact", "referral", "assessment", "cin_plan"],
        "last year's return is its own record"
    );

    let unborn = pulled.record("cin:999:2026:1004");
    assert_eq!(unborn.identity.date_of_birth, None);
    assert_eq!(unborn.identity.sex.as_deref(), Some("unknown"));
    assert_eq!(
        identifier(unborn, "upn"),
        None,
        "UPNunknown is not an identifier"
    );
    let assessment = fact(unborn, "assessment:2026-01-14");
    assert!(assessment.payload["AssessmentAuthorisationDate"].is_null());
    assert!(assessment.summary.contains("in progress"));

    let s47 = fact(pulled.record("cin:999:2026:1005"), "s47:2025-05-06");
    assert_eq!(s47.payload["ICPCnotRequired"], true);
    assert!(s47.summary.contains("not required"));
}

#[tokio::test]
async fn looked_after_episodes_chain_into_periods_with_flags_and_placements() {
    let pulled = pull_all(&folder_connector(&fixtures("returns")), None).await;

    let r = pulled.record("903:999:2026:1005");
    assert_eq!(r.identity.date_of_birth, Some(date("2012-03-12")));
    assert_eq!(r.identity.sex.as_deref(), Some("male"));
    assert_eq!(identifier(r, "upn"), Some("W999200119505"));
    assert_eq!(
        kinds(r),
        vec![
            "looked_after_episode",
            "looked_after_episode",
            "cp_flag",
            "missing_episode",
            "missing_episode"
        ]
    );
    let second = fact(r, "episode:2025-08-14");
    assert_eq!(second.category, "social_care.looked_after");
    assert_eq!(second.payload["LS"], "C2");
    assert!(second.payload["DEC"].is_null());
    let flag = fact(r, "cp_flag:LAC:2025-05-20");
    assert_eq!(flag.payload["status"], "active", "the period is still open");
    let away = fact(r, "missing:2025-11-15");
    assert_eq!(away.category, "police.missing_episode");
    assert_eq!(away.payload["MISSING"], "A");
    assert_eq!(
        r.identity.addresses.len(),
        1,
        "one placement across both episodes"
    );
    let placement = &r.identity.addresses[0];
    assert_eq!(
        (placement.usage.as_str(), placement.postcode.as_str()),
        ("placement", "AN4 7QD")
    );
    assert_eq!(placement.valid_from, Some(date("2025-05-20")));
    assert_eq!(placement.valid_to, None);
    assert!(r.raw.contains("# episodes.csv\nCHILD,DECOM"));
    assert!(r.raw.contains("1005,20/05/2025,S,V2"));

    let remand = pulled.record("903:999:2026:2001");
    let episode = fact(remand, "episode:2025-02-03");
    assert_eq!(episode.category, "police.youth_justice", "J1 is a remand");
    let flag = fact(remand, "cp_flag:LAC:2025-02-03");
    assert_eq!(flag.payload["status"], "inactive");
    assert_eq!(flag.payload["period"]["end"], "2025-04-28");

    let adopted = pulled.record("903:999:2026:2002");
    assert_eq!(identifier(adopted, "upn"), None, "UN1 is a reason code");
    let flag = fact(adopted, "cp_flag:LAC:2024-10-10");
    assert_eq!(flag.payload["period"]["end"], "2026-01-20");
    assert_eq!(
        fact(adopted, "episode:2025-06-06").payload["REASON_PLACE_CHANGE"],
        "CARPL"
    );
    let postcodes: Vec<&str> = adopted
        .identity
        .addresses
        .iter()
        .map(|a| a.postcode.as_str())
        .collect();
    assert_eq!(postcodes, vec!["AN3 8JP", "AN9 2LS"]);
}

#[tokio::test]
async fn early_help_rows_give_assessments_plans_and_family_outcomes() {
    let pulled = pull_all(&folder_connector(&fixtures("returns")), None).await;

    let open = pulled.record("eh:999:EHA-2025-00042:1101");
    assert_eq!(open.identity.identifiers.len(), 1, "the LA person id alone");
    assert!(open.identity.date_of_birth.is_none());
    assert_eq!(kinds(open), vec!["early_help_assessment", "taf_plan"]);
    for f in &open.facts {
        assert_eq!(f.agency.as_deref(), Some("early_help"));
    }
    let plan = fact(open, "plan:2025-09-22");
    assert_eq!(plan.category, "early_help.plan");
    assert_eq!(plan.payload["status"], "open");
    assert_eq!(plan.payload["reviewIntervalWeeks"], 6);
    assert_eq!(
        plan.payload["leadProfessionalRole"],
        "family_support_worker"
    );
    assert_eq!(plan.payload["familyId"], "F-0042");
    let assessment = fact(open, "assessment:2025-09-08");
    assert_eq!(assessment.category, "early_help.assessment");
    assert_eq!(
        assessment.payload["needs"],
        serde_json::json!(["school_attendance", "parental_mental_health"])
    );

    let closed = pulled.record("eh:999:EHA-2025-00057:1003");
    assert_eq!(
        kinds(closed),
        vec!["early_help_assessment", "taf_plan", "family_outcome"]
    );
    let outcome = fact(closed, "family_outcome:2026-01-12");
    assert_eq!(outcome.category, "early_help.family_outcomes");
    assert_eq!(
        outcome.payload["outcomes"],
        serde_json::json!(["school_attendance", "family_stability"])
    );
    assert_eq!(
        fact(closed, "plan:2025-03-17").payload["outcome"],
        "needs_met"
    );

    let declined = pulled.record("eh:999:EHA-2025-00061:1104");
    assert_eq!(kinds(declined), vec!["early_help_assessment"]);
    assert_eq!(declined.facts[0].payload["outcome"], "declined");
}

#[tokio::test]
async fn a_final_cursor_yields_nothing_until_a_resubmission_arrives() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures("returns"), dir.path());
    let c = folder_connector(dir.path());
    let first = pull_all(&c, None).await;
    let last = first.last_cursor().unwrap();
    let again = c.pull(Some(&last)).await.unwrap();
    assert!(again.records.is_empty() && again.next.is_none());

    // The LA resubmits its census with one child corrected. It sorts before `ssda903-2026`,
    // which was delivered already, and is still picked up.
    let resubmission = dir.path().join("cin-2026-r2");
    std::fs::create_dir(&resubmission).unwrap();
    let census = std::fs::read_to_string(fixtures("returns/cin-2026/cin.xml")).unwrap();
    std::fs::write(resubmission.join("cin.xml"), census).unwrap();
    let next = pull_all(&c, Some(last)).await;
    assert_eq!(next.records.len(), 5);
    assert_eq!(next.cursors.len(), 1);
    let unchanged: Vec<(String, String)> = first
        .records
        .iter()
        .filter(|r| r.source_key.starts_with("cin:999:2026:"))
        .map(|r| (r.source_key.clone(), r.content_hash()))
        .collect();
    let resubmitted: Vec<(String, String)> = next
        .records
        .iter()
        .map(|r| (r.source_key.clone(), r.content_hash()))
        .collect();
    assert_eq!(
        unchanged, resubmitted,
        "the same data gives the same hashes"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn malformed_parts_are_rejected_with_reasons_and_the_rest_lands() {
    let pulled = pull_all(&folder_connector(&fixtures("malformed")), None).await;
    let mut keys: Vec<&str> = pulled
        .records
        .iter()
        .map(|r| r.source_key.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "903:999:2026:4001",
            "903:999:2026:4002",
            "cin:999:2026:3001",
            "cin:999:2026:3005",
            "eh:999:EHA-2026-00101:5001",
        ]
    );
    let reasons: Vec<(Option<&str>, &str)> = pulled
        .rejected
        .iter()
        .map(|r| (r.source_key.as_deref(), r.reason.as_str()))
        .collect();
    let expect = |key: Option<&str>, fragment: &str| {
        assert!(
            reasons
                .iter()
                .any(|(k, r)| *k == key && r.contains(fragment)),
            "no rejection of {key:?} mentioning {fragment:?} in {reasons:#?}"
        );
    };
    expect(None, "`cin.xml` is not XML");
    expect(
        Some("cin:999:2026:3002"),
        "`ChildIdentifiers/UPN`: UPN fails its check",
    );
    expect(None, "`ChildIdentifiers/LAchildID` is missing");
    expect(
        Some("cin:999:2026:3004"),
        "`CINdetails/CINreferralDate` is not a date",
    );
    expect(
        Some("903:999:2026:4001"),
        "`episodes.csv` line 2: `DEC` is not a DD/MM/YYYY date",
    );
    expect(
        Some("903:999:2026:4999"),
        "`CHILD` has no row in `header.csv`",
    );
    expect(None, "`early_help.csv` line 3: `EPISODE_ID` is missing");
    expect(Some("eh:999:EHA-2026-00103:5003"), "`OUTCOME`");
    assert_eq!(pulled.rejected.len(), 8);

    for r in &pulled.rejected {
        assert!(!r.raw.is_empty());
        for value in [
            "N999200114101",
            "2025-13-01",
            "31/02/2025",
            "perhaps",
            "K999200116202",
        ] {
            assert!(
                !r.reason.contains(value),
                "reason `{}` leaks a value",
                r.reason
            );
        }
    }
    let not_xml = pulled
        .rejected
        .iter()
        .find(|r| r.reason.contains("not XML"))
        .unwrap();
    assert!(
        not_xml.raw.starts_with("LAchildID,UPN"),
        "the whole file is kept"
    );
    let bad_upn = pulled
        .rejected
        .iter()
        .find(|r| r.source_key.as_deref() == Some("cin:999:2026:3002"))
        .unwrap();
    assert!(bad_upn.raw.starts_with("<Child>") && bad_upn.raw.ends_with("</Child>"));
    let bad_row = pulled
        .rejected
        .iter()
        .find(|r| r.reason.contains("`DEC`"))
        .unwrap();
    assert_eq!(
        bad_row.raw,
        "4001,01/05/2025,S,V2,N4,U4,PR1,31/02/2025,X1,,AN1 4TT,AN5 6PL,XXXXXXX"
    );

    // The child whose one episode row was refused keeps its other rows.
    let kept = pulled.record("903:999:2026:4001");
    assert_eq!(
        kinds(kept),
        vec!["looked_after_episode", "cp_flag", "missing_episode"]
    );
    assert_eq!(kinds(pulled.record("cin:999:2026:3005")), vec!["contact"]);
}

#[tokio::test]
async fn a_missing_folder_is_a_fatal_error() {
    let c = folder_connector(&fixtures("no-such-folder"));
    assert!(matches!(c.check().await, Err(ConnectorError::Fatal(_))));
    assert!(matches!(c.pull(None).await, Err(ConnectorError::Fatal(_))));
    assert!(folder_connector(&fixtures("returns")).check().await.is_ok());
}
