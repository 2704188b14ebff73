//! The hub's own practice records: referrals to the single front door, early help
//! assessments with their plan's actions and lead professional, and every transition of
//! either (`practice_events`: when, who, what, from which state to which).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Referrals {
    Table,
    Id,
    PersonId,
    Concerns,
    WhatWasSeen,
    ConsentStatus,
    Urgency,
    ReferrerSubject,
    ReferrerOrganisation,
    ReferrerRole,
    SubmittedAt,
    DueAt,
    Status,
    Decision,
    Rag,
    Reason,
    DecidedAt,
    DecidedBy,
    ReReferral,
}

#[derive(DeriveIden, Clone, Copy)]
enum Assessments {
    Table,
    Id,
    PersonId,
    FamilyId,
    ReferralId,
    Status,
    Needs,
    StartedAt,
    StartedBy,
    UpdatedAt,
    Outcome,
    ClosedAt,
    ClosedBy,
    LeadSubject,
    LeadOrganisation,
    LeadSince,
}

#[derive(DeriveIden, Clone, Copy)]
enum AssessmentActions {
    Table,
    Id,
    AssessmentId,
    Action,
    Owner,
    ReviewOn,
    DoneAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PracticeEvents {
    Table,
    Id,
    RecordKind,
    RecordId,
    PersonId,
    At,
    ActorSubject,
    ActorRole,
    Event,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Referrals::Table)
                .col(uuid(Referrals::Id).primary_key())
                .col(uuid(Referrals::PersonId))
                .col(json(Referrals::Concerns))
                .col(text(Referrals::WhatWasSeen))
                .col(string(Referrals::ConsentStatus))
                .col(string(Referrals::Urgency))
                .col(string(Referrals::ReferrerSubject))
                .col(string(Referrals::ReferrerOrganisation))
                .col(string(Referrals::ReferrerRole))
                .col(timestamp_with_time_zone(Referrals::SubmittedAt))
                .col(timestamp_with_time_zone(Referrals::DueAt))
                .col(string(Referrals::Status))
                .col(string_null(Referrals::Decision))
                .col(string_null(Referrals::Rag))
                .col(text_null(Referrals::Reason))
                .col(timestamp_with_time_zone_null(Referrals::DecidedAt))
                .col(string_null(Referrals::DecidedBy))
                .col(boolean(Referrals::ReReferral))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Assessments::Table)
                .col(uuid(Assessments::Id).primary_key())
                .col(uuid(Assessments::PersonId))
                .col(uuid_null(Assessments::FamilyId))
                .col(uuid_null(Assessments::ReferralId))
                .col(string(Assessments::Status))
                .col(text(Assessments::Needs))
                .col(timestamp_with_time_zone(Assessments::StartedAt))
                .col(string(Assessments::StartedBy))
                .col(timestamp_with_time_zone(Assessments::UpdatedAt))
                .col(string_null(Assessments::Outcome))
                .col(timestamp_with_time_zone_null(Assessments::ClosedAt))
                .col(string_null(Assessments::ClosedBy))
                .col(string_null(Assessments::LeadSubject))
                .col(string_null(Assessments::LeadOrganisation))
                .col(timestamp_with_time_zone_null(Assessments::LeadSince))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AssessmentActions::Table)
                .col(uuid(AssessmentActions::Id).primary_key())
                .col(uuid(AssessmentActions::AssessmentId))
                .col(text(AssessmentActions::Action))
                .col(string(AssessmentActions::Owner))
                .col(date_null(AssessmentActions::ReviewOn))
                .col(timestamp_with_time_zone_null(AssessmentActions::DoneAt))
                .col(timestamp_with_time_zone(AssessmentActions::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PracticeEvents::Table)
                .col(uuid(PracticeEvents::Id).primary_key())
                .col(string(PracticeEvents::RecordKind))
                .col(uuid(PracticeEvents::RecordId))
                .col(uuid(PracticeEvents::PersonId))
                .col(timestamp_with_time_zone(PracticeEvents::At))
                .col(string(PracticeEvents::ActorSubject))
                .col(string(PracticeEvents::ActorRole))
                .col(string(PracticeEvents::Event))
                .col(json(PracticeEvents::Detail))
                .to_owned(),
        )
        .await?;
        use Referrals as R;
        index(m, "ix_referrals_status", R::Table, [R::Status, R::Id]).await?;
        index(
            m,
            "ix_referrals_person",
            R::Table,
            [R::PersonId, R::SubmittedAt],
        )
        .await?;
        use Assessments as A;
        index(m, "ix_assessments_person", A::Table, [A::PersonId]).await?;
        index(m, "ix_assessments_started", A::Table, [A::StartedAt]).await?;
        use AssessmentActions as X;
        index(m, "ix_assessment_actions", X::Table, [X::AssessmentId]).await?;
        use PracticeEvents as E;
        index(
            m,
            "ix_practice_events_record",
            E::Table,
            [E::RecordId, E::At],
        )
        .await?;
        Ok(())
    }
}

async fn index<T: IntoIden + Copy, const N: usize>(
    m: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: [T; N],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for c in cols {
        index.col(c);
    }
    m.create_index(index.to_owned()).await
}
