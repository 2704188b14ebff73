//! The Kinship connector SDK: the only crate a connector author depends on.
//!
//! A connector reads one agency's feed in its own format and hands the hub [`SourceRecord`]
//! envelopes: who a record is about (identity attributes the source holds) and what it says
//! (facts, each with a data category). The hub's sync engine owns everything else: cursors,
//! idempotent upsert, retries, quarantine and linkage.
//!
//! - [`Connector`]: a manifest, a connection `check`, and an incremental `pull` from a cursor.
//! - [`ConnectorError`]: transient (the engine retries) or fatal (the engine stops this
//!   connector and reports). A bad record is not an error: it goes in [`Batch::rejected`] with
//!   its raw payload and the reason, and the batch goes on.
//! - [`conformance`] (feature `conformance`): the checks every connector's own tests run.
//! - [`http`] (feature `http`): a client with timeouts and status classification.
//!
//! Limits: imports no hub code, knows no database, and performs no IO outside `http` and
//! `conformance`.

pub mod catalogue;
mod connector;
mod envelope;
pub mod identifiers;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "http")]
pub mod http;

pub use connector::{Batch, BoxFuture, Connector, ConnectorError, Cursor, DynConnector, Manifest};
pub use envelope::{
    Identity, Rejected, SourceAddress, SourceFact, SourceIdentifier, SourceName, SourceRecord,
    SourceRelationship,
};
