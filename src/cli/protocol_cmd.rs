//! `kinship protocol lint|explain`.

use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use crate::gate::lint::{self, Severity};
use crate::gate::protocol::{self, ConsentRule, Protocol, ProtocolStatus, RelationshipRule};
use crate::model::catalogue::Catalogue;

#[derive(Debug, Subcommand)]
pub enum ProtocolCommand {
    /// Check protocols against the catalogue and the rules of sharing: unknown names, missing
    /// lawful conditions, overlapping clauses that disagree, expired or past review. Each
    /// finding names the file and line; exits non-zero on any error.
    Lint {
        /// The folder of protocols (default: `protocols`).
        #[arg(long, default_value = "protocols")]
        dir: PathBuf,
    },
    /// Print a protocol in plain English for the board.
    Explain {
        /// The protocol file.
        file: PathBuf,
    },
}

pub fn run(command: ProtocolCommand) -> Result<(), CliError> {
    match command {
        ProtocolCommand::Lint { dir } => {
            let today = chrono::Utc::now().date_naive();
            let protocols = protocol::load_dir(&dir)?;
            let mut loaded = Vec::with_capacity(protocols.len());
            for p in protocols {
                let text = std::fs::read_to_string(&p.source)?;
                loaded.push((p, text));
            }
            let findings = lint::lint(&loaded, today);
            for f in &findings {
                println!("{f}");
            }
            let errors = findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count();
            println!(
                "{} protocols, {errors} errors, {} warnings",
                loaded.len(),
                findings.len() - errors
            );
            if errors > 0 {
                return Err(CliError::Failed(format!("{errors} protocol errors")));
            }
            Ok(())
        }
        ProtocolCommand::Explain { file } => {
            let text = std::fs::read_to_string(&file)?;
            let p = protocol::parse(&file, &text)?;
            print!("{}", explain(&p));
            Ok(())
        }
    }
}

fn date(d: chrono::NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

fn joined(items: Vec<String>, word: &str) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {word} {last}", rest.join(", ")),
    }
}

fn list(items: Vec<String>) -> String {
    joined(items, "and")
}

/// What a kind of organisation is called in prose.
fn kind_name(k: crate::model::AgencyKind) -> String {
    use crate::model::AgencyKind as K;
    match k {
        K::LocalAuthority => "local authorities",
        K::Police => "police forces",
        K::AcuteTrust => "acute hospital trusts",
        K::CommunityTrust => "community health trusts",
        K::MentalHealthTrust => "mental health trusts",
        K::GpPractice => "GP practices",
        K::School => "schools",
    }
    .to_owned()
}

/// A protocol in plain English.
pub fn explain(p: &Protocol) -> String {
    let c = Catalogue::embedded();
    let meaning = |map: &std::collections::BTreeMap<String, crate::model::catalogue::Described>,
                   k: &str| {
        map.get(k)
            .map_or_else(|| k.replace('_', " "), |d| d.meaning.clone())
    };
    let mut out = format!("{} (version {}): {}\n\n", p.id, p.version, p.title);
    let status = match p.status {
        ProtocolStatus::Active => "in force",
        ProtocolStatus::Draft => "a draft, not in force",
        ProtocolStatus::Suspended => {
            "suspended: it shares nothing until the board lifts the suspension"
        }
        ProtocolStatus::Withdrawn => "withdrawn: it shares nothing",
    };
    out.push_str(&format!(
        "It is {status}, from {}{}.",
        date(p.effective_from),
        p.expires_on
            .map(|e| format!(" until {}", date(e)))
            .unwrap_or_default()
    ));
    if let Some(r) = p.review_by {
        out.push_str(&format!(" It is due for review by {}.", date(r)));
    }
    out.push_str(&format!(
        "\nApproved by {}. It follows {}.\nSigned by: {}.\nRecipients keep what they receive: {}.\n",
        p.approved_by,
        p.rule_set,
        list(p.parties.iter().map(|k| kind_name(*k)).collect()),
        p.retention
    ));
    for clause in &p.clauses {
        out.push_str(&format!("\nClause {}: {}\n", clause.id, clause.summary));
        out.push_str(&format!(
            "  Data held by {} may be shared with {}.\n",
            list(clause.from.iter().map(|k| kind_name(*k)).collect()),
            list(clause.to.iter().map(|k| kind_name(*k)).collect())
        ));
        out.push_str(&format!(
            "  Only for {}, and only to staff working as {}.\n",
            joined(
                clause
                    .purposes
                    .iter()
                    .map(|x| format!("{} ({})", x, meaning(&c.purposes, x.as_str())))
                    .collect(),
                "or"
            ),
            joined(
                clause
                    .roles
                    .iter()
                    .map(|r| r.as_str().replace('_', " "))
                    .collect(),
                "or"
            )
        ));
        let categories: Vec<String> = clause
            .categories
            .iter()
            .map(|cat| match cat {
                protocol::CategoryPattern::All => "every category of data".to_owned(),
                protocol::CategoryPattern::Family(f) => format!("all {} data", f.replace('_', " ")),
                protocol::CategoryPattern::One(one) => c
                    .categories
                    .get(one.as_str())
                    .map_or_else(|| one.to_string(), |e| format!("{} ({})", one, e.meaning)),
            })
            .collect();
        out.push_str(&format!("  What: {}.\n", list(categories)));
        if !clause.fields.is_empty() {
            out.push_str(&format!(
                "  Only these details are released: {}; summaries are withheld with them.\n",
                clause.fields.join(", ")
            ));
        }
        out.push_str(&match clause.relationship {
            RelationshipRule::AreaWide => "  The role's remit is area-wide: no involvement with the child is needed.\n".to_owned(),
            RelationshipRule::Required => format!(
                "  Need to know: the reader must be involved with the child or family through {}.\n",
                joined(
                    clause
                        .involvements
                        .iter()
                        .map(|k| meaning(&c.involvement_kinds, k.as_str()))
                        .collect(),
                    "or"
                )
            ),
        });
        out.push_str(match clause.consent {
            ConsentRule::Required => "  Consent is required, and a withdrawal stops sharing from the next request.\n",
            ConsentRule::NotRequiredIfRisk => "  Consent is not needed where a child may be at risk of significant harm; a refusal is recorded with each read.\n",
            ConsentRule::NotRequired => "  Consent is not needed for this purpose.\n",
        });
        if clause.explicit_consent_for_heightened {
            out.push_str("  Mental health, sexual health and substance misuse data need explicit consent naming them.\n");
        }
        if clause.break_glass {
            out.push_str("  Break-glass is allowed: with a written justification a reader may see past a missing involvement or consent, never past a shield; every such read is flagged for the board and the data protection officer.\n");
        }
        if clause.notify_owner {
            out.push_str("  The organisation that holds the data is told of each read.\n");
        }
        out.push_str(&format!(
            "  Lawful basis: {}.\n",
            crate::gate::rules::basis_words(clause)
        ));
    }
    out
}
