//! The database tables as sea-orm entities. Private to `store`: nothing outside it sees a row
//! type, so the schema can change without touching the gate or the API.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod organisations {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "organisations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub kind: String,
        pub name: String,
    }
    no_relations!();
}

pub mod persons {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "persons")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub date_of_birth: Option<Date>,
        pub sex: String,
        pub is_child: bool,
        pub shielded: bool,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }
    no_relations!();
}

pub mod source_records {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "source_records")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub connector: String,
        pub organisation_id: String,
        pub source_key: String,
        pub fetched_at: ChronoDateTimeUtc,
        pub content_hash: String,
        #[sea_orm(column_type = "Text")]
        pub payload: String,
        pub person_id: Option<Uuid>,
        pub link_method: Option<String>,
        pub subject_key: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub envelope: Option<String>,
        pub updated_at: Option<ChronoDateTimeUtc>,
        pub link_score: Option<f64>,
        #[sea_orm(column_type = "Text", nullable)]
        pub link_detail: Option<String>,
    }
    no_relations!();
}

pub mod person_names {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "person_names")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Uuid,
        pub given: String,
        pub family: String,
        pub given_norm: String,
        pub family_norm: String,
        pub usage: String,
        pub organisation_id: String,
        pub source_record_id: Option<Uuid>,
        pub date_of_birth: Option<Date>,
    }
    no_relations!();
}

pub mod person_identifiers {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "person_identifiers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Uuid,
        pub system: String,
        pub value: String,
        pub verified: bool,
        pub organisation_id: String,
        pub source_record_id: Option<Uuid>,
    }
    no_relations!();
}

pub mod addresses {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "addresses")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Uuid,
        pub line1: String,
        pub line2: Option<String>,
        pub town: String,
        pub postcode: String,
        pub postcode_norm: String,
        pub uprn: Option<String>,
        pub usage: String,
        pub valid_from: Option<Date>,
        pub valid_to: Option<Date>,
        pub organisation_id: String,
        pub source_record_id: Option<Uuid>,
    }
    no_relations!();
}

pub mod families {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "families")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub kind: String,
        pub created_at: ChronoDateTimeUtc,
        /// `relationships` or `address` for a group the hub derives; none for one its users made.
        pub basis: Option<String>,
    }
    no_relations!();
}

pub mod family_members {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "family_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub family_id: Uuid,
        pub person_id: Uuid,
        pub role: String,
        pub organisation_id: String,
        pub source_record_id: Option<Uuid>,
    }
    no_relations!();
}

pub mod relationships {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "relationships")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Uuid,
        pub related_person_id: Uuid,
        pub kind: String,
        pub parental_responsibility: Option<bool>,
        pub organisation_id: String,
        pub source_record_id: Option<Uuid>,
    }
    no_relations!();
}

pub mod facts {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "facts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Uuid,
        pub agency: String,
        pub organisation_id: String,
        pub category: String,
        pub kind: String,
        pub occurred_at: ChronoDateTimeUtc,
        pub recorded_at: ChronoDateTimeUtc,
        #[sea_orm(column_type = "Text")]
        pub summary: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub payload: Json,
        pub source_record_id: Option<Uuid>,
    }
    no_relations!();
}

pub mod involvements {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "involvements")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub kind: String,
        pub principal_subject: Option<String>,
        pub organisation_id: String,
        pub person_id: Option<Uuid>,
        pub family_id: Option<Uuid>,
        pub started_at: ChronoDateTimeUtc,
        pub ended_at: Option<ChronoDateTimeUtc>,
        pub service: Option<String>,
        pub source: String,
        pub category: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub contact: Option<String>,
    }
    no_relations!();
}

pub mod consents {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "consents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Uuid,
        pub state: String,
        pub given_by: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub purposes: Json,
        #[sea_orm(column_type = "JsonBinary")]
        pub categories: Json,
        #[sea_orm(column_type = "JsonBinary")]
        pub organisations: Json,
        pub recorded_by: String,
        pub recorded_at: ChronoDateTimeUtc,
        pub expires_at: Option<ChronoDateTimeUtc>,
    }
    no_relations!();
}

pub mod access_log {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "access_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub id: Uuid,
        pub at: ChronoDateTimeUtc,
        pub request_id: String,
        pub client_addr: Option<String>,
        pub principal_subject: String,
        pub principal_organisation: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub principal_roles: Json,
        pub purpose: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub justification: Option<String>,
        pub break_glass: bool,
        pub operation_name: Option<String>,
        pub query_hash: String,
        pub outcome: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub reads: Json,
        pub prev_hash: String,
        pub entry_hash: String,
        /// The subjects as a JSON array of ids; the database fills `access_log_subjects`
        /// from it (null on entries written before migration 5).
        #[sea_orm(column_type = "JsonBinary", nullable)]
        pub subjects: Option<Json>,
        /// The registered operation the request ran (migration 9).
        pub registered_operation: Option<String>,
    }
    no_relations!();
}

pub mod access_log_subjects {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "access_log_subjects")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub person_id: Uuid,
    }
    no_relations!();
}

pub mod audit_head {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_head")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub seq: i64,
        pub entry_hash: String,
    }
    no_relations!();
}

pub mod source_relationships {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "source_relationships")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub source_record_id: Uuid,
        pub connector: String,
        pub related_key: String,
        pub kind: String,
        pub parental_responsibility: Option<bool>,
        pub resolved: bool,
    }
    no_relations!();
}

pub mod sync_cursors {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sync_cursors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub connector: String,
        #[sea_orm(column_type = "Text")]
        pub cursor: String,
        pub updated_at: ChronoDateTimeUtc,
    }
    no_relations!();
}

pub mod sync_runs {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sync_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub connector: String,
        pub started_at: ChronoDateTimeUtc,
        pub finished_at: Option<ChronoDateTimeUtc>,
        pub status: String,
        pub batches: i64,
        pub records_new: i64,
        pub records_changed: i64,
        pub records_unchanged: i64,
        pub records_quarantined: i64,
        pub retries: i64,
        #[sea_orm(column_type = "Text", nullable)]
        pub error: Option<String>,
    }
    no_relations!();
}

pub mod quarantine {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "quarantine")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub connector: String,
        pub source_key: Option<String>,
        #[sea_orm(column_type = "Text")]
        pub reason: String,
        #[sea_orm(column_type = "Text")]
        pub raw: String,
        pub received_at: ChronoDateTimeUtc,
        pub run_id: Option<Uuid>,
        pub state: String,
        pub attempts: i32,
        pub resolved_at: Option<ChronoDateTimeUtc>,
    }
    no_relations!();
}

pub mod break_glass_reviews {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "break_glass_reviews")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub outcome: String,
        #[sea_orm(column_type = "Text")]
        pub note: String,
        pub reviewed_by: String,
        pub reviewed_at: ChronoDateTimeUtc,
    }
    no_relations!();
}

pub mod audit_checkpoints {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_checkpoints")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub entry_hash: String,
        pub at: ChronoDateTimeUtc,
        pub public_key: String,
        pub signature: String,
    }
    no_relations!();
}

pub mod registered_operations {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "registered_operations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub application: String,
        pub name: Option<String>,
        pub kind: String,
        #[sea_orm(column_type = "Text")]
        pub document: String,
        pub document_hash: String,
        pub approved_by: String,
        pub registered_at: ChronoDateTimeUtc,
        pub registered_by: String,
        pub withdrawn_at: Option<ChronoDateTimeUtc>,
    }
    no_relations!();
}

pub mod match_reviews {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "match_reviews")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub source_record_id: Uuid,
        pub record_person_id: Uuid,
        pub candidate_person_id: Uuid,
        pub score: f64,
        #[sea_orm(column_type = "Text")]
        pub detail: String,
        pub status: String,
        pub created_at: ChronoDateTimeUtc,
        pub decided_at: Option<ChronoDateTimeUtc>,
        pub decided_by: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub note: Option<String>,
    }
    no_relations!();
}

pub mod family_queue {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "family_queue")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub person_id: Uuid,
        pub queued_at: ChronoDateTimeUtc,
    }
    no_relations!();
}

pub mod indicator_hits {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "indicator_hits")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub person_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub set_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub indicator_id: String,
        pub criterion: String,
        pub since: ChronoDateTimeUtc,
        #[sea_orm(column_type = "JsonBinary")]
        pub evidence: Json,
        pub evaluated_at: ChronoDateTimeUtc,
    }
    no_relations!();
}

pub mod referrals {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "referrals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Uuid,
        #[sea_orm(column_type = "JsonBinary")]
        pub concerns: Json,
        #[sea_orm(column_type = "Text")]
        pub what_was_seen: String,
        pub consent_status: String,
        pub urgency: String,
        pub referrer_subject: String,
        pub referrer_organisation: String,
        pub referrer_role: String,
        pub submitted_at: ChronoDateTimeUtc,
        pub due_at: ChronoDateTimeUtc,
        pub status: String,
        pub decision: Option<String>,
        pub rag: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub reason: Option<String>,
        pub decided_at: Option<ChronoDateTimeUtc>,
        pub decided_by: Option<String>,
        pub re_referral: bool,
    }
    no_relations!();
}

pub mod assessments {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "assessments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub person_id: Uuid,
        pub family_id: Option<Uuid>,
        pub referral_id: Option<Uuid>,
        pub status: String,
        #[sea_orm(column_type = "Text")]
        pub needs: String,
        pub started_at: ChronoDateTimeUtc,
        pub started_by: String,
        pub updated_at: ChronoDateTimeUtc,
        pub outcome: Option<String>,
        pub closed_at: Option<ChronoDateTimeUtc>,
        pub closed_by: Option<String>,
        pub lead_subject: Option<String>,
        pub lead_organisation: Option<String>,
        pub lead_since: Option<ChronoDateTimeUtc>,
    }
    no_relations!();
}

pub mod assessment_actions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "assessment_actions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub assessment_id: Uuid,
        #[sea_orm(column_type = "Text")]
        pub action: String,
        pub owner: String,
        pub review_on: Option<Date>,
        pub done_at: Option<ChronoDateTimeUtc>,
        pub created_at: ChronoDateTimeUtc,
    }
    no_relations!();
}

pub mod practice_events {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "practice_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub record_kind: String,
        pub record_id: Uuid,
        pub person_id: Uuid,
        pub at: ChronoDateTimeUtc,
        pub actor_subject: String,
        pub actor_role: String,
        pub event: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub detail: Json,
    }
    no_relations!();
}

pub mod shields {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "shields")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub person_id: Uuid,
        pub reason: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub roles: Json,
        pub recorded_by: String,
        pub recorded_at: ChronoDateTimeUtc,
        pub was_shielded: bool,
    }
    no_relations!();
}
