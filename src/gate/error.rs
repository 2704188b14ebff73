//! Gate errors: a refusal of one field, or a failure of the whole request.

use super::decision::{ClauseRef, Reason};
use crate::audit::AuditError;
use crate::model::DataCategory;
use crate::store::StoreError;

/// A read the protocols refused: names the category, the reason and the clause, never whose
/// data it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{category}` withheld: {}", reason.explain())]
pub struct Denial {
    pub category: DataCategory,
    pub reason: Reason,
    pub by: Option<ClauseRef>,
    /// A written justification (`Kinship-Justification`) would release it under break-glass.
    pub break_glass_available: bool,
}

/// Why a gated read failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// Personal data was asked for without a purpose of use.
    #[error("no purpose of use declared: send the `Kinship-Purpose` header")]
    PurposeRequired,
    /// The caller's role may not use this operation at all.
    #[error("{0}")]
    Forbidden(String),
    /// An argument cannot be used (a document that does not parse, say).
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("store unavailable")]
    Store(#[from] StoreError),
    /// The access log could not be written: nothing may be released.
    #[error("access log unavailable")]
    Audit(#[from] AuditError),
}

/// A gated value: released, or refused with the reason.
pub type Gated<T> = Result<T, Denial>;
