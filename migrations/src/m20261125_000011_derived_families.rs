//! Families and households the hub derives: a family from the relationships sources declare,
//! a household from a shared current address. `basis` says which (`relationships`,
//! `address`); a family the hub's users made themselves has none. Derived groups are rebuilt
//! as records arrive, so their memberships can be replaced without touching the others.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Families {
    Table,
    Basis,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Families::Table)
                .add_column(string_null(Families::Basis))
                .to_owned(),
        )
        .await
    }
}
