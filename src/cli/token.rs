//! `kinship token`: signs a token with the configured shared secret.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::config::Config;
use crate::model::{OrganisationId, Principal, Role};
use crate::server::auth::TokenSigner;

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The subject: a pseudonymous staff id.
    #[arg(long)]
    pub sub: String,
    /// The organisation, `<kind>:<code>`, e.g. `school:9992001`.
    #[arg(long)]
    pub agency: String,
    /// A role from the catalogue; repeat for several.
    #[arg(long = "role", required = true)]
    pub roles: Vec<String>,
    /// The configuration whose shared secret signs the token.
    #[arg(long, short = 'c', env = "KINSHIP_CONFIG")]
    pub config: Option<PathBuf>,
}

pub fn run(args: TokenArgs) -> Result<(), CliError> {
    let config = Config::load(args.config.as_deref())?;
    let signer = TokenSigner::from_config(&config.auth).ok_or_else(|| {
        CliError::Usage(
            "token signing needs `auth.shared_secret`: this configuration verifies tokens from an identity provider, so get tokens there"
                .into(),
        )
    })?;
    let organisation: OrganisationId = args
        .agency
        .parse()
        .map_err(|e| CliError::Usage(format!("--agency: {e}")))?;
    let roles = args
        .roles
        .iter()
        .map(|r| {
            r.parse::<Role>()
                .map_err(|e| CliError::Usage(format!("--role: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let token = signer
        .sign(&Principal {
            subject: args.sub,
            organisation,
            roles,
        })
        .map_err(|e| CliError::Failed(format!("cannot sign: {e}")))?;
    println!("{token}");
    Ok(())
}
