//! The checked-in SDL is the contract: it must equal what the hub serves.

#[test]
fn checked_in_schema_equals_what_the_code_serves() {
    let served = kinship::api::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/kinship.graphql");
    let checked_in = std::fs::read_to_string(path).expect("schema/kinship.graphql");
    assert!(
        served == checked_in,
        "schema/kinship.graphql differs from the served schema; review the change and run `cargo run -- schema > schema/kinship.graphql`"
    );
}
