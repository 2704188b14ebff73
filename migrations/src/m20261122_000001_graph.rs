//! The child-and-family graph, its provenance, involvements, consents and the access log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
    Kind,
    Name,
}

#[derive(DeriveIden)]
enum Persons {
    Table,
    Id,
    DateOfBirth,
    Sex,
    IsChild,
    Shielded,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SourceRecords {
    Table,
    Id,
    Connector,
    OrganisationId,
    SourceKey,
    FetchedAt,
    ContentHash,
    Payload,
    PersonId,
    LinkMethod,
}

#[derive(DeriveIden)]
enum PersonNames {
    Table,
    Id,
    PersonId,
    Given,
    Family,
    GivenNorm,
    FamilyNorm,
    Usage,
    OrganisationId,
    SourceRecordId,
}

#[derive(DeriveIden)]
enum PersonIdentifiers {
    Table,
    Id,
    PersonId,
    System,
    Value,
    Verified,
    OrganisationId,
    SourceRecordId,
}

#[derive(DeriveIden)]
enum Addresses {
    Table,
    Id,
    PersonId,
    Line1,
    Line2,
    Town,
    Postcode,
    PostcodeNorm,
    Uprn,
    Usage,
    ValidFrom,
    ValidTo,
    OrganisationId,
    SourceRecordId,
}

#[derive(DeriveIden)]
enum Families {
    Table,
    Id,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden)]
enum FamilyMembers {
    Table,
    Id,
    FamilyId,
    PersonId,
    Role,
    OrganisationId,
    SourceRecordId,
}

#[derive(DeriveIden)]
enum Relationships {
    Table,
    Id,
    PersonId,
    RelatedPersonId,
    Kind,
    ParentalResponsibility,
    OrganisationId,
    SourceRecordId,
}

#[derive(DeriveIden)]
enum Facts {
    Table,
    Id,
    PersonId,
    Agency,
    OrganisationId,
    Category,
    Kind,
    OccurredAt,
    RecordedAt,
    Summary,
    Payload,
    SourceRecordId,
}

#[derive(DeriveIden)]
enum Involvements {
    Table,
    Id,
    Kind,
    PrincipalSubject,
    OrganisationId,
    PersonId,
    FamilyId,
    StartedAt,
    EndedAt,
    Service,
    Source,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    Id,
    PersonId,
    State,
    GivenBy,
    Purposes,
    Categories,
    Organisations,
    RecordedBy,
    RecordedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AccessLog {
    Table,
    Seq,
    Id,
    At,
    RequestId,
    ClientAddr,
    PrincipalSubject,
    PrincipalOrganisation,
    PrincipalRoles,
    Purpose,
    Justification,
    BreakGlass,
    OperationName,
    QueryHash,
    Outcome,
    Reads,
    PrevHash,
    EntryHash,
}

#[derive(DeriveIden)]
enum AccessLogSubjects {
    Table,
    Seq,
    PersonId,
}

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    Seq,
    EntryHash,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table);
    for c in cols {
        i.col(Alias::new(*c));
    }
    i.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Organisations::Table)
                .col(string(Organisations::Id).primary_key())
                .col(string(Organisations::Kind))
                .col(string(Organisations::Name))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Persons::Table)
                .col(pk_uuid(Persons::Id))
                .col(date_null(Persons::DateOfBirth))
                .col(string(Persons::Sex))
                .col(boolean(Persons::IsChild))
                .col(boolean(Persons::Shielded).default(false))
                .col(timestamp_with_time_zone(Persons::CreatedAt))
                .col(timestamp_with_time_zone(Persons::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_persons_dob", Persons::Table, &["date_of_birth"]))
            .await?;

        // A source record's natural key is (connector, source key): the sync engine upserts on it.
        m.create_table(
            Table::create()
                .table(SourceRecords::Table)
                .col(pk_uuid(SourceRecords::Id))
                .col(string(SourceRecords::Connector))
                .col(string(SourceRecords::OrganisationId))
                .col(string(SourceRecords::SourceKey))
                .col(timestamp_with_time_zone(SourceRecords::FetchedAt))
                .col(string(SourceRecords::ContentHash))
                .col(text(SourceRecords::Payload))
                .col(uuid_null(SourceRecords::PersonId))
                .col(string_null(SourceRecords::LinkMethod))
                .foreign_key(&mut fk(
                    "fk_source_records_org",
                    (SourceRecords::Table, SourceRecords::OrganisationId),
                    (Organisations::Table, Organisations::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_source_records_person",
                    (SourceRecords::Table, SourceRecords::PersonId),
                    (Persons::Table, Persons::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            index(
                "ux_source_records_key",
                SourceRecords::Table,
                &["connector", "source_key"],
            )
            .unique()
            .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_source_records_person",
            SourceRecords::Table,
            &["person_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(PersonNames::Table)
                .col(pk_uuid(PersonNames::Id))
                .col(uuid(PersonNames::PersonId))
                .col(string(PersonNames::Given))
                .col(string(PersonNames::Family))
                .col(string(PersonNames::GivenNorm))
                .col(string(PersonNames::FamilyNorm))
                .col(string(PersonNames::Usage))
                .col(string(PersonNames::OrganisationId))
                .col(uuid_null(PersonNames::SourceRecordId))
                .foreign_key(&mut fk(
                    "fk_person_names_person",
                    (PersonNames::Table, PersonNames::PersonId),
                    (Persons::Table, Persons::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_person_names_person",
            PersonNames::Table,
            &["person_id"],
        ))
        .await?;
        m.create_index(index(
            "ix_person_names_family",
            PersonNames::Table,
            &["family_norm", "given_norm"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(PersonIdentifiers::Table)
                .col(pk_uuid(PersonIdentifiers::Id))
                .col(uuid(PersonIdentifiers::PersonId))
                .col(string(PersonIdentifiers::System))
                .col(string(PersonIdentifiers::Value))
                .col(boolean(PersonIdentifiers::Verified))
                .col(string(PersonIdentifiers::OrganisationId))
                .col(uuid_null(PersonIdentifiers::SourceRecordId))
                .foreign_key(&mut fk(
                    "fk_person_identifiers_person",
                    (PersonIdentifiers::Table, PersonIdentifiers::PersonId),
                    (Persons::Table, Persons::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_person_identifiers_person",
            PersonIdentifiers::Table,
            &["person_id"],
        ))
        .await?;
        m.create_index(index(
            "ix_person_identifiers_value",
            PersonIdentifiers::Table,
            &["system", "value"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Addresses::Table)
                .col(pk_uuid(Addresses::Id))
                .col(uuid(Addresses::PersonId))
                .col(string(Addresses::Line1))
                .col(string_null(Addresses::Line2))
                .col(string(Addresses::Town))
                .col(string(Addresses::Postcode))
                .col(string(Addresses::PostcodeNorm))
                .col(string_null(Addresses::Uprn))
                .col(string(Addresses::Usage))
                .col(date_null(Addresses::ValidFrom))
                .col(date_null(Addresses::ValidTo))
                .col(string(Addresses::OrganisationId))
                .col(uuid_null(Addresses::SourceRecordId))
                .foreign_key(&mut fk(
                    "fk_addresses_person",
                    (Addresses::Table, Addresses::PersonId),
                    (Persons::Table, Persons::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_addresses_person",
            Addresses::Table,
            &["person_id"],
        ))
        .await?;
        m.create_index(index(
            "ix_addresses_postcode",
            Addresses::Table,
            &["postcode_norm"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Families::Table)
                .col(pk_uuid(Families::Id))
                .col(string(Families::Kind))
                .col(timestamp_with_time_zone(Families::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(FamilyMembers::Table)
                .col(pk_uuid(FamilyMembers::Id))
                .col(uuid(FamilyMembers::FamilyId))
                .col(uuid(FamilyMembers::PersonId))
                .col(string(FamilyMembers::Role))
                .col(string(FamilyMembers::OrganisationId))
                .col(uuid_null(FamilyMembers::SourceRecordId))
                .foreign_key(&mut fk(
                    "fk_family_members_family",
                    (FamilyMembers::Table, FamilyMembers::FamilyId),
                    (Families::Table, Families::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_family_members_person",
                    (FamilyMembers::Table, FamilyMembers::PersonId),
                    (Persons::Table, Persons::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_family_members_family",
            FamilyMembers::Table,
            &["family_id"],
        ))
        .await?;
        m.create_index(index(
            "ix_family_members_person",
            FamilyMembers::Table,
            &["person_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Relationships::Table)
                .col(pk_uuid(Relationships::Id))
                .col(uuid(Relationships::PersonId))
                .col(uuid(Relationships::RelatedPersonId))
                .col(string(Relationships::Kind))
                .col(boolean_null(Relationships::ParentalResponsibility))
                .col(string(Relationships::OrganisationId))
                .col(uuid_null(Relationships::SourceRecordId))
                .foreign_key(&mut fk(
                    "fk_relationships_person",
                    (Relationships::Table, Relationships::PersonId),
                    (Persons::Table, Persons::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_relationships_related",
                    (Relationships::Table, Relationships::RelatedPersonId),
                    (Persons::Table, Persons::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_relationships_person",
            Relationships::Table,
            &["person_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Facts::Table)
                .col(pk_uuid(Facts::Id))
                .col(uuid(Facts::PersonId))
                .col(string(Facts::Agency))
                .col(string(Facts::OrganisationId))
                .col(string(Facts::Category))
                .col(string(Facts::Kind))
                .col(timestamp_with_time_zone(Facts::OccurredAt))
                .col(timestamp_with_time_zone(Facts::RecordedAt))
                .col(text(Facts::Summary))
                .col(json_binary(Facts::Payload))
                .col(uuid_null(Facts::SourceRecordId))
                .foreign_key(&mut fk(
                    "fk_facts_person",
                    (Facts::Table, Facts::PersonId),
                    (Persons::Table, Persons::Id),
                ))
                .to_owned(),
        )
        .await?;
        // The timeline reads a person's facts newest first.
        m.create_index(index(
            "ix_facts_person_time",
            Facts::Table,
            &["person_id", "occurred_at"],
        ))
        .await?;

        // An involvement is held by one principal, or by a whole organisation when
        // principal_subject is null, with a person or a family.
        m.create_table(
            Table::create()
                .table(Involvements::Table)
                .col(pk_uuid(Involvements::Id))
                .col(string(Involvements::Kind))
                .col(string_null(Involvements::PrincipalSubject))
                .col(string(Involvements::OrganisationId))
                .col(uuid_null(Involvements::PersonId))
                .col(uuid_null(Involvements::FamilyId))
                .col(timestamp_with_time_zone(Involvements::StartedAt))
                .col(timestamp_with_time_zone_null(Involvements::EndedAt))
                .col(string_null(Involvements::Service))
                .col(string(Involvements::Source))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_involvements_person",
            Involvements::Table,
            &["person_id"],
        ))
        .await?;
        m.create_index(index(
            "ix_involvements_family",
            Involvements::Table,
            &["family_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Consents::Table)
                .col(pk_uuid(Consents::Id))
                .col(uuid(Consents::PersonId))
                .col(string(Consents::State))
                .col(string(Consents::GivenBy))
                .col(json_binary(Consents::Purposes))
                .col(json_binary(Consents::Categories))
                .col(json_binary(Consents::Organisations))
                .col(string(Consents::RecordedBy))
                .col(timestamp_with_time_zone(Consents::RecordedAt))
                .col(timestamp_with_time_zone_null(Consents::ExpiresAt))
                .foreign_key(&mut fk(
                    "fk_consents_person",
                    (Consents::Table, Consents::PersonId),
                    (Persons::Table, Persons::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_consents_person", Consents::Table, &["person_id"]))
            .await?;

        // The access log: `seq` is the position in the hash chain, assigned under the chain
        // head's lock; `entry_hash` = SHA-256(canonical entry || prev_hash).
        m.create_table(
            Table::create()
                .table(AccessLog::Table)
                .col(big_integer(AccessLog::Seq).primary_key())
                .col(uuid_uniq(AccessLog::Id))
                .col(timestamp_with_time_zone(AccessLog::At))
                .col(string(AccessLog::RequestId))
                .col(string_null(AccessLog::ClientAddr))
                .col(string(AccessLog::PrincipalSubject))
                .col(string(AccessLog::PrincipalOrganisation))
                .col(json_binary(AccessLog::PrincipalRoles))
                .col(string_null(AccessLog::Purpose))
                .col(text_null(AccessLog::Justification))
                .col(boolean(AccessLog::BreakGlass))
                .col(string_null(AccessLog::OperationName))
                .col(string(AccessLog::QueryHash))
                .col(string(AccessLog::Outcome))
                .col(json_binary(AccessLog::Reads))
                .col(string(AccessLog::PrevHash))
                .col(string(AccessLog::EntryHash))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_access_log_at", AccessLog::Table, &["at"]))
            .await?;
        m.create_index(index(
            "ix_access_log_principal",
            AccessLog::Table,
            &["principal_subject"],
        ))
        .await?;

        // Which persons an entry read: a subject access report is one index lookup.
        m.create_table(
            Table::create()
                .table(AccessLogSubjects::Table)
                .col(big_integer(AccessLogSubjects::Seq))
                .col(uuid(AccessLogSubjects::PersonId))
                .primary_key(
                    Index::create()
                        .col(AccessLogSubjects::Seq)
                        .col(AccessLogSubjects::PersonId),
                )
                .foreign_key(&mut fk(
                    "fk_access_log_subjects_seq",
                    (AccessLogSubjects::Table, AccessLogSubjects::Seq),
                    (AccessLog::Table, AccessLog::Seq),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_access_log_subjects_person",
            AccessLogSubjects::Table,
            &["person_id"],
        ))
        .await?;

        // The chain head: one row, locked by every append so that appends from many hub
        // processes serialise into one chain.
        m.create_table(
            Table::create()
                .table(AuditHead::Table)
                .col(integer(AuditHead::Id).primary_key())
                .col(big_integer(AuditHead::Seq))
                .col(string(AuditHead::EntryHash))
                .to_owned(),
        )
        .await?;
        let genesis = Query::insert()
            .into_table(AuditHead::Table)
            .columns([AuditHead::Id, AuditHead::Seq, AuditHead::EntryHash])
            .values_panic([1.into(), 0i64.into(), GENESIS_HASH.into()])
            .to_owned();
        m.exec_stmt(genesis).await?;
        Ok(())
    }
}

/// The `prev_hash` of the first entry: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
