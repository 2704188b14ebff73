//! Indexes on the person of practice events, queued notification events and notifications:
//! merging two persons moves these rows, and without an index each merge read every row of
//! each table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS ix_practice_events_person ON practice_events (person_id)",
    "CREATE INDEX IF NOT EXISTS ix_notification_events_person ON notification_events (person_id)",
    "CREATE INDEX IF NOT EXISTS ix_notifications_person ON notifications (person_id)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::run_raw(m, UP, UP).await
    }
}
