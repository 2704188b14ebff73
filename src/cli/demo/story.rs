//! The demo's walk-through: one child whose risk shows only when agencies are joined, from
//! the school's notification to early help, as commands to paste in order.
//!
//! The child is the eldest of the generator's showcase family (family 0): falling attendance
//! at school, a domestic abuse incident at home with the children present, emergency
//! attendances. Each step runs as the practitioner who would do it, under the purpose they
//! would declare; the protocols decide what each sees.

use std::collections::HashMap;

use crate::model::{FamilyKind, PersonId, Principal, Purpose, Role};
use crate::population::Population;
use crate::server::auth::TokenSigner;

use super::CliError;

/// Who plays each part, and the child and family.
struct Cast<'a> {
    dsl: &'a Principal,
    mash: &'a Principal,
    early_help: &'a Principal,
    colleague: &'a Principal,
    board: &'a Principal,
    child: PersonId,
    family: crate::model::FamilyId,
}

fn cast<'a>(pop: &'a Population, graph: &HashMap<PersonId, PersonId>) -> Option<Cast<'a>> {
    let first = |role: Role, org_kind: Option<&str>| {
        pop.practitioners.iter().map(|p| &p.principal).find(|p| {
            p.has_role(role) && org_kind.is_none_or(|k| p.organisation.as_str().starts_with(k))
        })
    };
    let family = pop.families.iter().find(|f| f.kind == FamilyKind::Family)?;
    let eldest = pop
        .members
        .iter()
        .filter(|m| m.family_id == family.id && m.role == "child")
        .filter_map(|m| pop.persons.iter().find(|p| p.id == m.person_id))
        .min_by_key(|p| p.date_of_birth)?;
    let helpers: Vec<&Principal> = pop
        .practitioners
        .iter()
        .map(|p| &p.principal)
        .filter(|p| p.has_role(Role::EarlyHelpPractitioner))
        .collect();
    // The DSL of the school the child is on roll at now.
    let school = pop
        .involvements
        .iter()
        .filter(|i| {
            i.kind == crate::model::InvolvementKind::DslCurrentSchool && i.ended_at.is_none()
        })
        .find(|i| i.person_id == Some(eldest.id) || i.family_id == Some(family.id))
        .map(|i| &i.organisation)?;
    let dsl = pop
        .practitioners
        .iter()
        .map(|p| &p.principal)
        .find(|p| p.has_role(Role::Dsl) && p.organisation == *school)?;
    Some(Cast {
        dsl,
        mash: first(Role::MashOfficer, Some("local_authority"))?,
        early_help: helpers.first()?,
        colleague: helpers.get(1).or(helpers.first())?,
        board: first(Role::BoardMember, None)?,
        child: *graph.get(&eldest.id)?,
        family: family.id,
    })
}

/// A shell line posting `query` (with `$VARIABLES` expanded by the shell) as `who`.
fn curl(token_var: &str, purpose: Purpose, query: &str) -> String {
    format!(
        "curl -s \"$HUB/graphql\" -H \"Authorization: Bearer ${token_var}\" -H 'Kinship-Purpose: {purpose}' -H 'Content-Type: application/json' -d \"{{\\\"query\\\":\\\"{}\\\"}}\"",
        query.replace('"', "\\\\\\\"")
    )
}

/// One step of the walk-through.
pub(super) struct Step {
    /// Comment lines printed before it.
    pub note: &'static [&'static str],
    /// The shell variable holding the token of who runs it.
    pub token: &'static str,
    pub purpose: Purpose,
    /// The GraphQL document; `$NAME` are shell variables.
    pub query: &'static str,
    /// A shell variable to set from the answer, and the jq path to it.
    pub capture: Option<(&'static str, &'static str)>,
}

pub(super) const STEPS: &[Step] = &[
    Step {
        note: &[
            "# 1. The school sees falling attendance; the police saw a domestic abuse incident at",
            "#    home with the children present. Operation Encompass told the school's DSL before",
            "#    the next school day (subscribe to `notifications` over WebSocket at $HUB/graphql,",
            "#    the DSL's token in connection_init, for the next one). What the DSL may see:",
        ],
        token: "DSL",
        purpose: Purpose::Safeguarding,
        query: "{ person(id: \"$CHILD\") { names { given family } facts(first: 10) { items { occurredAt category summary } withheld } } }",
        capture: None,
    },
    Step {
        note: &[
            "# 2. Joined up, the family meets several Supporting Families criteria. The early help",
            "#    team's list (which criteria, not the facts behind them):",
        ],
        token: "EH",
        purpose: Purpose::EarlyHelp,
        query: "{ familiesMeetingCriteria(minCriteria: 3, first: 5) { families { family { id } criteriaCount criteria { criterion { title } indicators } } } }",
        capture: None,
    },
    Step {
        note: &["# 3. The school's DSL refers the child to the front door:"],
        token: "DSL",
        purpose: Purpose::Safeguarding,
        query: "mutation { submitReferral(input: { child: \"$CHILD\", concerns: [DOMESTIC_ABUSE, NEGLECT], whatWasSeen: \"Attendance falling since September; arrived hungry; police told us of an incident at home\", consent: GIVEN, urgency: URGENT }) { id status dueAt reReferral } }",
        capture: Some(("REFERRAL", ".data.submitReferral.id")),
    },
    Step {
        note: &[
            "# 4. The MASH sees it in its queue (the referral opened a MASH enquiry) and decides:",
        ],
        token: "MASH",
        purpose: Purpose::Safeguarding,
        query: "{ referrals { referrals { id urgency concerns overdue reReferral child { names { given family } timeline(first: 10) { entries { occurredAt agency summary } withheld } } } } }",
        capture: None,
    },
    Step {
        note: &[],
        token: "MASH",
        purpose: Purpose::Safeguarding,
        query: "mutation { decideReferral(id: \"$REFERRAL\", decision: EARLY_HELP, rag: AMBER, reason: \"Below the threshold for social care; the family wants help\") { status decision rag decidedLate transitions { at event actor } } }",
        capture: None,
    },
    Step {
        note: &[
            "# 5. The decision brought the early help service into the team around the child.",
            "#    With the family's consent: an assessment, a plan, and a lead professional.",
        ],
        token: "EH",
        purpose: Purpose::EarlyHelp,
        query: "mutation { recordConsent(input: { personId: \"$CHILD\", givenBy: PARENT, purposes: [\"early_help\"] }) { id state } }",
        capture: None,
    },
    Step {
        note: &[],
        token: "EH",
        purpose: Purpose::EarlyHelp,
        query: "mutation { startAssessment(child: \"$CHILD\", referral: \"$REFERRAL\", needs: \"Routines, school attendance, support after domestic abuse\") { id leadProfessional { practitioner } } }",
        capture: Some(("ASSESSMENT", ".data.startAssessment.id")),
    },
    Step {
        note: &[],
        token: "EH",
        purpose: Purpose::EarlyHelp,
        query: "mutation { addPlanAction(assessment: \"$ASSESSMENT\", action: \"Morning routine support twice a week\", owner: \"family support worker\") { actions { action owner } } }",
        capture: None,
    },
    Step {
        note: &[],
        token: "EH",
        purpose: Purpose::EarlyHelp,
        query: "mutation { assignLeadProfessional(assessment: \"$ASSESSMENT\", practitioner: \"$COLLEAGUE\", organisation: \"$COLLEAGUE_ORG\") { leadProfessional { practitioner since } transitions { event actor detail } } }",
        capture: None,
    },
];

/// Prints the walk-through.
pub fn print(
    pop: &Population,
    graph: &HashMap<PersonId, PersonId>,
    signer: &TokenSigner,
    addr: std::net::SocketAddr,
) -> Result<(), CliError> {
    let Some(c) = cast(pop, graph) else {
        return Ok(());
    };
    let token = |p: &Principal| {
        signer
            .sign(p)
            .map_err(|e| CliError::Failed(format!("cannot sign a demo token: {e}")))
    };
    println!("## One child, joined up: paste these in order (they need curl and jq)");
    println!();
    println!("export HUB=http://{addr}");
    println!("export DSL={}   # {}", token(c.dsl)?, c.dsl.subject);
    println!("export MASH={}   # {}", token(c.mash)?, c.mash.subject);
    println!(
        "export EH={}   # {}",
        token(c.early_help)?,
        c.early_help.subject
    );
    println!("export BOARD={}   # {}", token(c.board)?, c.board.subject);
    println!(
        "export CHILD={} FAMILY={} COLLEAGUE={} COLLEAGUE_ORG={}",
        c.child, c.family, c.colleague.subject, c.colleague.organisation
    );
    for step in STEPS {
        if !step.note.is_empty() {
            println!();
        }
        for line in step.note {
            println!("{line}");
        }
        let line = curl(step.token, step.purpose, step.query);
        match step.capture {
            Some((var, path)) => println!("{var}=$({line} | jq -r {path}); echo ${var}"),
            None => println!("{line}"),
        }
    }
    println!();
    println!("# 6. The partnership's indicators move: open $HUB/insights and sign in with $BOARD.");
    println!("#    Every step above is in the access log the board reviews at $HUB/board.");
    println!();
    Ok(())
}
