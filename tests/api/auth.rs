//! Bearer tokens: every way a token can be wrong gets 401 with a clear message.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kinship::config::AuthConfig;
use kinship::model::Role;
use kinship::server::auth::{Claims, TokenSigner};
use serde_json::json;

use crate::helpers::{Db, on_each_backend, principal, spawn_app};

const QUERY: &str = "{ me { subject } }";

fn claims(iss: &str, aud: &str, exp_offset: i64, nbf_offset: i64) -> Claims {
    let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap();
    Claims {
        sub: "sw-test".into(),
        agency: "local_authority:999".into(),
        roles: vec!["social_worker".into()],
        iss: iss.into(),
        aud: aud.into(),
        exp: u64::try_from(now + exp_offset).unwrap(),
        nbf: u64::try_from(now + nbf_offset).unwrap(),
        iat: u64::try_from(now).unwrap(),
    }
}

fn unsigned_token(claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{body}.")
}

#[tokio::test]
async fn every_bad_token_is_refused_with_401_and_says_why() {
    on_each_backend(|db: Db| async move {
        let app = spawn_app(db, 5).await;
        let auth = AuthConfig::default();
        let (iss, aud) = (auth.issuer.as_str(), auth.audience.as_str());
        let other_key = TokenSigner::from_config(&AuthConfig {
            shared_secret: Some("another-secret-of-at-least-32-bytes!!".into()),
            ..AuthConfig::default()
        })
        .unwrap();
        let mut unknown_role = claims(iss, aud, 600, 0);
        unknown_role.roles = vec!["wizard".into()];
        let mut bad_agency = claims(iss, aud, 600, 0);
        bad_agency.agency = "bank:1".into();
        let cases: Vec<(&str, Option<String>, &str)> = vec![
            ("no token", None, "missing bearer token"),
            ("garbage", Some("not-a-jwt".into()), "malformed"),
            (
                "expired",
                Some(app.token_with(&claims(iss, aud, -3_600, -7_200))),
                "expired",
            ),
            (
                "not yet valid",
                Some(app.token_with(&claims(iss, aud, 7_200, 3_600))),
                "not valid yet",
            ),
            (
                "wrong audience",
                Some(app.token_with(&claims(iss, "someone-else", 600, 0))),
                "audience",
            ),
            (
                "wrong issuer",
                Some(app.token_with(&claims("https://evil.invalid", aud, 600, 0))),
                "issuer",
            ),
            (
                "wrong signature",
                Some(other_key.sign_claims(&claims(iss, aud, 600, 0)).unwrap()),
                "signature",
            ),
            (
                "alg none",
                Some(unsigned_token(&claims(iss, aud, 600, 0))),
                "algorithm",
            ),
            ("unknown role", Some(app.token_with(&unknown_role)), "role"),
            ("bad agency", Some(app.token_with(&bad_agency)), "agency"),
        ];
        for (case, token, says) in cases {
            let reply = app
                .post(
                    token.as_deref(),
                    Some("safeguarding"),
                    &[],
                    json!({ "query": QUERY }),
                )
                .await;
            assert_eq!(reply.status, 401, "{case}: {:?}", reply.body);
            assert_eq!(reply.codes(), vec!["UNAUTHENTICATED"], "{case}");
            let message = reply.body["errors"][0]["message"].as_str().unwrap();
            assert!(
                message.contains(says),
                "{case}: message {message:?} should say {says:?}"
            );
            assert!(reply.body.get("data").is_none(), "{case}: no data on 401");
        }
        assert!(app.log().await.is_empty(), "refused requests read nothing");
    })
    .await;
}

#[tokio::test]
async fn a_valid_token_is_accepted_and_the_principal_is_what_it_says() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 5).await;
        let p = principal("sw-0001", "local_authority:999", Role::SocialWorker);
        let reply = app
            .query(&p, Some("safeguarding"), "{ me { subject organisation roles purpose } }", json!({}))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(
            reply.body["data"]["me"],
            json!({ "subject": "sw-0001", "organisation": "local_authority:999", "roles": ["social_worker"], "purpose": "safeguarding" })
        );
    })
    .await;
}

#[tokio::test]
async fn a_role_without_access_gets_graphql_errors_not_a_crash() {
    on_each_backend(|db| async move {
        let app = spawn_app(db, 10).await;
        let child = app.population.persons.iter().find(|p| p.is_child).unwrap().id;
        let admin = principal("admin-0001", "local_authority:999", Role::SystemAdmin);
        let reply = app
            .query(
                &admin,
                Some("safeguarding"),
                "query($id: ID!) { person(id: $id) { id names { given } addresses { town } timeline { withheld } } }",
                json!({ "id": child.to_string() }),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["data"]["person"]["id"], child.to_string());
        assert!(reply.body["data"]["person"]["names"].is_null());
        assert!(reply.body["data"]["person"]["addresses"].is_null());
        assert!(reply.body["data"]["person"]["timeline"]["withheld"].as_u64().unwrap() > 0);
        let names = reply.error_at("names").expect("an error for names");
        assert_eq!(names["extensions"]["code"], "ISP_DENIED");
        assert_eq!(names["extensions"]["reason"], "role_not_permitted");
    })
    .await;
}

mod identity_provider_keys {
    //! Production verification: an identity provider's public key as a PEM file or a JWKS.

    use std::path::PathBuf;

    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use kinship::config::AuthConfig;
    use kinship::server::auth::{AuthError, TokenVerifier};

    use super::claims;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn es256(kid: Option<&str>) -> String {
        let key =
            EncodingKey::from_ec_pem(&std::fs::read(fixture("idp-es256-private.pem")).unwrap())
                .unwrap();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        let c = claims("https://idp.example.org/", "kinship", 600, 0);
        jsonwebtoken::encode(&header, &c, &key).unwrap()
    }

    fn config() -> AuthConfig {
        AuthConfig {
            issuer: "https://idp.example.org/".into(),
            algorithms: vec!["ES256".into()],
            ..AuthConfig::default()
        }
    }

    #[test]
    fn a_pem_public_key_verifies_its_tokens() {
        let verifier = TokenVerifier::from_config(&AuthConfig {
            public_key_files: vec![fixture("idp-es256-public.pem")],
            ..config()
        })
        .unwrap();
        let p = verifier.verify(&es256(None)).expect("verified");
        assert_eq!(p.subject, "sw-test");
        assert_eq!(p.organisation.to_string(), "local_authority:999");
    }

    #[test]
    fn a_jwks_verifies_by_kid_and_refuses_unknown_keys_and_algorithms() {
        let verifier = TokenVerifier::from_config(&AuthConfig {
            jwks_file: Some(fixture("idp-jwks.json")),
            ..config()
        })
        .unwrap();
        assert!(verifier.verify(&es256(Some("idp-2026"))).is_ok());
        assert!(
            verifier.verify(&es256(None)).is_ok(),
            "no kid: every key is tried"
        );
        assert_eq!(
            verifier.verify(&es256(Some("retired-2019"))),
            Err(AuthError::UnknownKey)
        );
        // An HS256 token is refused when only ES256 is allowed, whatever secret signed it.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims("https://idp.example.org/", "kinship", 600, 0),
            &EncodingKey::from_secret(b"guessable"),
        )
        .unwrap();
        assert_eq!(verifier.verify(&hs), Err(AuthError::Algorithm));
    }
}
