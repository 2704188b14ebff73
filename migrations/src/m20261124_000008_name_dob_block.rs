//! Linkage looks a person up by (family name, given name, date of birth). Looked up by name
//! alone, a common name matches more rows the larger the graph grows, so every batch of a sync
//! cost more than the one before. Each name row now carries the date of birth its source record
//! gave, and one index answers the whole key: a lookup costs the same at any size.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PersonNames {
    Table,
    FamilyNorm,
    GivenNorm,
    DateOfBirth,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(PersonNames::Table)
                .add_column(date_null(PersonNames::DateOfBirth))
                .to_owned(),
        )
        .await?;
        // Names written before this step take their person's date of birth.
        m.get_connection()
            .execute_unprepared(
                "UPDATE person_names SET date_of_birth = \
                 (SELECT date_of_birth FROM persons WHERE persons.id = person_names.person_id)",
            )
            .await?;
        m.create_index(
            Index::create()
                .name("ix_person_names_name_dob")
                .table(PersonNames::Table)
                .col(PersonNames::FamilyNorm)
                .col(PersonNames::GivenNorm)
                .col(PersonNames::DateOfBirth)
                .to_owned(),
        )
        .await
    }
}
