//! Bearer tokens: verification into a [`Principal`], and (in demo configurations) signing.
//!
//! Tokens are JWTs checked for signature, `exp`, `nbf`, `iss` and `aud` against an allow-list
//! of algorithms; `alg: none` never verifies. Keys come from configuration: a shared secret
//! for demos and tests, PEM public keys or a JWKS file for an identity provider.

use std::collections::HashSet;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;
use crate::model::{OrganisationId, Principal, Role};

/// The claims Kinship reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// A pseudonymous staff id.
    pub sub: String,
    /// The organisation the principal acts for, `<kind>:<code>`.
    pub agency: String,
    /// Catalogue roles.
    pub roles: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
}

/// Why a token was refused. Sent to the client with 401; names no claim values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm is not accepted")]
    Algorithm,
    #[error("token signature is invalid")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audience is not accepted")]
    Audience,
    #[error("token issuer is not accepted")]
    Issuer,
    #[error("token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("token claim `agency` is not an organisation id of the form `<kind>:<code>`")]
    Agency,
    #[error("token claim `roles` names a role outside the catalogue")]
    Role,
    #[error("no key can verify this token (unknown `kid`)")]
    UnknownKey,
}

/// Why verification could not be set up from configuration.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("auth: cannot read key file `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("auth: key file `{path}` holds no usable public key")]
    Parse { path: String },
    #[error("auth: no verification key is configured")]
    None,
}

fn is_hmac(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Verifies bearer tokens.
pub struct TokenVerifier {
    algorithms: Vec<Algorithm>,
    shared: Option<DecodingKey>,
    public: Vec<DecodingKey>,
    jwks: Option<JwkSet>,
    validation: Validation,
}

impl TokenVerifier {
    /// Builds a verifier from `[auth]`. Reads key files, so call it at start, not per request.
    pub fn from_config(c: &AuthConfig) -> Result<Self, KeyError> {
        let algorithms = c.algorithms();
        let shared = c
            .shared_secret
            .as_ref()
            .map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes()));
        let mut public = Vec::new();
        for path in &c.public_key_files {
            let shown = path.display().to_string();
            let pem = std::fs::read(path).map_err(|source| KeyError::Read {
                path: shown.clone(),
                source,
            })?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .or_else(|_| DecodingKey::from_ec_pem(&pem))
                .or_else(|_| DecodingKey::from_ed_pem(&pem))
                .map_err(|_| KeyError::Parse { path: shown })?;
            public.push(key);
        }
        let jwks = match &c.jwks_file {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                    path: shown.clone(),
                    source,
                })?;
                Some(serde_json::from_str(&text).map_err(|_| KeyError::Parse { path: shown })?)
            }
            None => None,
        };
        if shared.is_none() && public.is_empty() && jwks.is_none() {
            return Err(KeyError::None);
        }
        let mut validation = Validation::new(algorithms.first().copied().unwrap_or_default());
        validation.algorithms = algorithms.clone();
        validation.leeway = c.leeway_seconds;
        validation.validate_nbf = true;
        validation.set_issuer(&[&c.issuer]);
        validation.set_audience(&[&c.audience]);
        validation.required_spec_claims = ["exp", "nbf", "iss", "aud", "sub"]
            .into_iter()
            .map(String::from)
            .collect::<HashSet<_>>();
        Ok(Self {
            algorithms,
            shared,
            public,
            jwks,
            validation,
        })
    }

    /// The keys that may have signed a token with this header.
    fn candidates(&self, header: &Header) -> Result<Vec<DecodingKey>, AuthError> {
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::Algorithm);
        }
        if is_hmac(header.alg) {
            return self
                .shared
                .clone()
                .map(|k| vec![k])
                .ok_or(AuthError::Algorithm);
        }
        let mut keys = self.public.clone();
        if let Some(set) = &self.jwks {
            let matching: Vec<_> = match &header.kid {
                Some(kid) => set.find(kid).into_iter().collect(),
                None => set.keys.iter().collect(),
            };
            if matching.is_empty() && keys.is_empty() {
                return Err(AuthError::UnknownKey);
            }
            keys.extend(
                matching
                    .into_iter()
                    .filter_map(|j| DecodingKey::from_jwk(j).ok()),
            );
        }
        Ok(keys)
    }

    /// Verifies a token and returns who it speaks for.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => AuthError::Algorithm,
            _ if names_unknown_algorithm(token) => AuthError::Algorithm,
            _ => AuthError::Malformed,
        })?;
        let mut last = AuthError::Signature;
        for key in self.candidates(&header)? {
            match jsonwebtoken::decode::<Claims>(token, &key, &self.validation) {
                Ok(data) => return principal(data.claims),
                Err(e) => {
                    last = map_error(&e);
                    if last != AuthError::Signature {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }
}

/// Whether a token's header is readable JSON naming an algorithm we do not know (`none`
/// among them): worth saying so, rather than "malformed".
fn names_unknown_algorithm(token: &str) -> bool {
    use base64::Engine;
    let Some(header) = token.split('.').next() else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|h| h.get("alg").and_then(|a| a.as_str()).map(str::to_owned))
        .is_some_and(|alg| alg.parse::<Algorithm>().is_err())
}

fn map_error(e: &jsonwebtoken::errors::Error) -> AuthError {
    match e.kind() {
        ErrorKind::InvalidSignature => AuthError::Signature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::Audience,
        ErrorKind::InvalidIssuer => AuthError::Issuer,
        ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => AuthError::Algorithm,
        _ => AuthError::Malformed,
    }
}

fn principal(c: Claims) -> Result<Principal, AuthError> {
    let organisation: OrganisationId = c.agency.parse().map_err(|_| AuthError::Agency)?;
    let roles = c
        .roles
        .iter()
        .map(|r| r.parse::<Role>().map_err(|_| AuthError::Role))
        .collect::<Result<Vec<_>, _>>()?;
    if c.sub.trim().is_empty() {
        return Err(AuthError::MissingClaim("sub".into()));
    }
    Ok(Principal {
        subject: c.sub,
        organisation,
        roles,
    })
}

/// Signs tokens with the shared secret: demo and test configurations only.
pub struct TokenSigner {
    key: EncodingKey,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
}

impl TokenSigner {
    /// A signer, or `None` when the configuration has no shared secret (a production setup,
    /// where tokens come from the identity provider).
    pub fn from_config(c: &AuthConfig) -> Option<Self> {
        c.shared_secret.as_ref().map(|s| Self {
            key: EncodingKey::from_secret(s.expose_secret().as_bytes()),
            issuer: c.issuer.clone(),
            audience: c.audience.clone(),
            ttl_seconds: c.demo_token_ttl_seconds,
        })
    }

    /// A token for a principal, valid from now for the configured time.
    pub fn sign(&self, p: &Principal) -> Result<String, jsonwebtoken::errors::Error> {
        let now = jsonwebtoken::get_current_timestamp();
        self.sign_claims(&Claims {
            sub: p.subject.clone(),
            agency: p.organisation.to_string(),
            roles: p.roles.iter().map(|r| r.to_string()).collect(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + self.ttl_seconds,
            nbf: now,
            iat: now,
        })
    }

    /// A token with exactly these claims (tests use it to forge bad ones).
    pub fn sign_claims(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.key)
    }
}
