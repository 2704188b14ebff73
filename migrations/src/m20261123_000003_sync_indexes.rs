//! Indexes the sync engine's per-batch lookups need, so a batch costs the same however large
//! the graph has grown: derived rows by their source record (to replace them when it
//! changes), relationships from either end, and identifiers by value.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &[(&str, &str, &[&str])] = &[
    (
        "ix_person_names_source",
        "person_names",
        &["source_record_id"],
    ),
    (
        "ix_person_identifiers_source",
        "person_identifiers",
        &["source_record_id"],
    ),
    ("ix_addresses_source", "addresses", &["source_record_id"]),
    ("ix_facts_source", "facts", &["source_record_id"]),
    (
        "ix_relationships_source",
        "relationships",
        &["source_record_id"],
    ),
    (
        "ix_relationships_related",
        "relationships",
        &["related_person_id"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, cols) in INDEXES {
            let mut i = Index::create();
            i.name(*name).table(Alias::new(*table));
            for c in *cols {
                i.col(Alias::new(*c));
            }
            m.create_index(i.to_owned()).await?;
        }
        Ok(())
    }
}
