//! Practice on the graph: the work partners do with what the hub joins up — identifying need
//! from what agencies already know (indicators), and what follows from it. Pure domain logic;
//! the store keeps its state, the gate governs every read of it.

pub mod early_help;
pub mod indicators;
pub mod kpis;
pub mod referrals;
