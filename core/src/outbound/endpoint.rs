//! Partners' receiving addresses (SPEC §7.1, seed 000): one per partner, interface and
//! environment, with one of the seed's three auth methods. Secrets are sealed before they
//! reach the store and opened only to be sent.

use hyper::Uri;
use serde::{Deserialize, Serialize};

use crate::audit::{Entry, Kind, Origin};
use crate::error::{CoreError, Result};
use crate::model::Environment;
use crate::secret::SecretKey;
use crate::service::Core;
use crate::store::outbox::EndpointRow;

/// The seed's auth methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Basic` with username and password.
    Basic,
    /// OAuth 2.0 client credentials: clientId, clientSecret, authPath.
    Client,
    /// OAuth 2.0 password credentials: those plus username and password.
    Password,
}

impl Auth {
    pub fn parse(text: &str) -> Option<Auth> {
        match text {
            "basic" => Some(Auth::Basic),
            "oauth2-client" => Some(Auth::Client),
            "oauth2-password" => Some(Auth::Password),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Basic => "basic",
            Auth::Client => "oauth2-client",
            Auth::Password => "oauth2-password",
        }
    }
}

/// What is sealed: the secrets of an endpoint.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Secrets {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret: String,
}

/// `wharf endpoint set`'s request.
#[derive(Debug, Clone)]
pub struct EndpointInput {
    pub partner: String,
    pub env: Environment,
    /// `data_category/biz_key`.
    pub iface: String,
    pub url: String,
    pub auth: Auth,
    pub auth_path: String,
    pub client_id: String,
    pub username: String,
    pub secrets: Secrets,
    /// Accept http:// for prod (never needed for uat).
    pub allow_http: bool,
}

/// An endpoint ready to send to: the row with its secrets opened.
#[derive(Clone)]
pub struct Endpoint {
    pub row: EndpointRow,
    pub auth: Auth,
    pub secrets: Secrets,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.row.url)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// What binds a sealed value to its endpoint.
pub fn seal_context(partner: &str, env: Environment, iface: &str) -> String {
    format!("wharf-endpoint/{partner}/{}/{iface}", env.as_str())
}

/// Check an address: absolute http(s) with a host, no credentials in it, https for prod
/// unless `allow_http`.
pub fn check_url(what: &str, url: &str, env: Environment, allow_http: bool) -> Result<Uri> {
    let bad = |why: &str| CoreError::Invalid(format!("{what} {url:?}: {why}"));
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let authority = uri.authority().ok_or_else(|| bad("needs a host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("credentials do not belong in the URL; use --auth"));
    }
    if authority.host().is_empty() {
        return Err(bad("needs a host"));
    }
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if env == Environment::Uat || allow_http => {}
        Some("http") => {
            return Err(bad(
                "prod needs https:// (say --allow-http to accept plain HTTP knowingly)",
            ))
        }
        _ => return Err(bad("use http:// or https://")),
    }
    Ok(uri)
}

impl Core {
    pub(crate) fn secret_key(&self) -> Result<&SecretKey> {
        self.secret_key.as_deref().ok_or_else(|| {
            CoreError::Invalid(
                "outbound push needs WHARF_SECRET_KEY (32 random bytes, base64) to seal and open partners' credentials".into(),
            )
        })
    }

    /// Register or replace an endpoint (`wharf endpoint set`).
    pub async fn set_endpoint(&self, o: &Origin, input: EndpointInput) -> Result<EndpointRow> {
        let key = self.secret_key()?;
        let (category, biz_key) = input.iface.split_once('/').ok_or_else(|| {
            CoreError::Invalid(format!(
                "{:?}: use DATA_CATEGORY/BIZ_KEY, e.g. t1/bom",
                input.iface
            ))
        })?;
        let iface = self
            .interface_for(&input.partner, category, biz_key)
            .await?
            .id();
        check_url("--url", &input.url, input.env, input.allow_http)?;
        let s = &input.secrets;
        let need = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(CoreError::Invalid(format!(
                    "--auth {} needs {what}",
                    input.auth.as_str()
                )))
            }
        };
        match input.auth {
            Auth::Basic => {
                need(!input.username.is_empty(), "--username")?;
                need(!s.password.is_empty(), "a password on stdin")?;
            }
            Auth::Client | Auth::Password => {
                need(!input.auth_path.is_empty(), "--auth-path")?;
                need(!input.client_id.is_empty(), "--client-id")?;
                need(!s.client_secret.is_empty(), "a client secret on stdin")?;
                check_url("--auth-path", &input.auth_path, input.env, input.allow_http)?;
                if input.auth == Auth::Password {
                    need(!input.username.is_empty(), "--username")?;
                    need(!s.password.is_empty(), "a password on stdin (second line)")?;
                }
            }
        }
        let plain = serde_json::to_vec(s).map_err(|e| CoreError::Invalid(e.to_string()))?;
        let sealed = key.seal(&plain, &seal_context(&input.partner, input.env, &iface))?;
        let row = EndpointRow {
            partner: input.partner,
            env: input.env,
            iface,
            url: input.url,
            auth: input.auth.as_str().to_string(),
            auth_path: if input.auth == Auth::Basic {
                String::new()
            } else {
                input.auth_path
            },
            client_id: if input.auth == Auth::Basic {
                String::new()
            } else {
                input.client_id
            },
            username: if input.auth == Auth::Client {
                String::new()
            } else {
                input.username
            },
            sealed,
            updated_unix: self.now(),
        };
        let outbox = self.store.outbox();
        let before = outbox.endpoint(&row.partner, row.env, &row.iface).await?;
        let shown = |e: &EndpointRow| {
            serde_json::json!({"url": e.url, "auth": e.auth, "auth_path": e.auth_path,
                "client_id": e.client_id, "username": e.username})
        };
        let detail = serde_json::json!({"environment": row.env.as_str(), "interface": row.iface,
            "before": before.as_ref().map(shown), "after": shown(&row)});
        let e = Entry::new(Kind::Admin, "endpoint.set", &row.partner, "").detail(detail);
        self.audit(o, e).await?;
        outbox.put_endpoint(&row).await?;
        Ok(row)
    }

    /// Registered endpoints (`wharf endpoint list`); sealed secrets stay sealed.
    pub async fn endpoints(&self, partner: Option<&str>) -> Result<Vec<EndpointRow>> {
        self.store.outbox().endpoints(partner).await
    }

    /// An endpoint with its secrets opened, for sending.
    pub(crate) fn open_endpoint(&self, row: EndpointRow) -> Result<Endpoint> {
        let key = self.secret_key()?;
        let auth = Auth::parse(&row.auth)
            .ok_or_else(|| CoreError::Store(format!("unknown auth {:?} stored", row.auth)))?;
        let plain = key.open(
            &row.sealed,
            &seal_context(&row.partner, row.env, &row.iface),
        )?;
        let secrets: Secrets = serde_json::from_slice(&plain)
            .map_err(|_| CoreError::Store("a stored secret is not readable".into()))?;
        Ok(Endpoint { row, auth, secrets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        let prod = Environment::Prod;
        assert!(check_url(
            "u",
            "https://p.example/v1.0/scc/data/sync/t1/bom",
            prod,
            false
        )
        .is_ok());
        assert!(check_url("u", "http://p.example/x", prod, false).is_err());
        assert!(check_url("u", "http://p.example/x", prod, true).is_ok());
        assert!(check_url("u", "http://p.example/x", Environment::Uat, false).is_ok());
        assert!(check_url("u", "https://user:pw@p.example/x", prod, false).is_err());
        assert!(check_url("u", "ftp://p.example/x", prod, false).is_err());
        assert!(check_url("u", "/relative", prod, false).is_err());
        assert!(check_url("u", "not a url", prod, false).is_err());
    }
}
