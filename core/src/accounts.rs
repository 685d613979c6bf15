//! The lifecycle of partners, users, tokens and upload-page sessions, as core operations
//! (the CLI and the admin API both call these): onboard, list, show, disable / enable,
//! rotate a client secret with a grace, reset a password, change a partner's interfaces,
//! revoke tokens, remove a user or a partner (with its data only when asked), and the
//! interface definitions as core loaded them.
//!
//! Every change is written to the audit trail BEFORE it is made ([`Core::audit`]): when the
//! trail cannot be written the change does not happen. Details say what changed (before →
//! after), never a secret, a password, a token or a hash.
//!
//! Who may log in at all is not decided here: `service::admit` is the one rule every door's
//! login, every token and every ingest passes (a disabled partner or user is refused there).

use serde::Serialize;
use serde_json::json;

use crate::audit::{Entry, Kind, Origin};
use crate::auth;
use crate::error::{CoreError, Result};
use crate::interfaces::{FieldRule, Interface};
use crate::service::{check_name, Core};
use crate::store::accounts::{DataCounts, PartnerDetail, TokenDetail, TokenScope, UserDetail};
use crate::store::{PartnerRow, UserRow};

/// Shortest client secret or password accepted.
pub const MIN_SECRET_CHARS: usize = 8;

/// How long a rotated-out client secret keeps working by default: a day.
pub const DEFAULT_ROTATION_GRACE_SECS: u64 = 24 * 3600;

/// The longest grace a rotated-out secret may get: 30 days. A leaked secret rotated out must
/// not keep working for years because of a typo in the grace.
pub const MAX_ROTATION_GRACE_SECS: u64 = 30 * 86_400;

/// A partner as the CLI and the admin API show it: never a secret or a hash.
#[derive(Debug, Clone, Serialize)]
pub struct PartnerInfo {
    pub name: String,
    pub disabled: bool,
    /// `None`: every interface.
    pub interfaces: Option<Vec<String>>,
    pub users: Vec<String>,
    pub created_unix: i64,
    pub secret_rotated_unix: Option<i64>,
    /// The previous client secret still works until then (`None`: it does not).
    pub previous_secret_valid_until: Option<i64>,
}

/// A user as shown: never the password or its hash.
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub username: String,
    pub partner: String,
    pub disabled: bool,
    pub created_unix: i64,
    pub password_changed_unix: Option<i64>,
    /// SSH public keys authorized for SFTP.
    pub keys: usize,
}

/// An API token or an upload-page session as shown: its public id, never the token or
/// its hash.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// 12 hex characters, random (not derived from the token).
    pub id: String,
    /// `api` or `session`.
    pub kind: String,
    pub partner: String,
    /// `None`: a client-credentials token.
    pub user: Option<String>,
    /// 0 for a token issued before wharf kept the time.
    pub issued_unix: i64,
    pub expires_unix: i64,
    /// To the minute: written at most once a minute.
    pub last_used_unix: Option<i64>,
}

/// Which tokens `revoke_tokens` ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelector {
    /// One token, by its public id.
    Id(String),
    /// Every token and session of a partner (its users' included).
    Partner(String),
    /// Every token and session of a user.
    User(String),
}

/// An interface as core loaded it: the definition file's fields, defaults filled in.
#[derive(Debug, Clone, Serialize)]
pub struct InterfaceDefinition {
    /// `data_category/biz_key`.
    pub id: String,
    pub data_category: String,
    pub biz_key: String,
    pub description: String,
    pub business_key: Vec<String>,
    pub uid_field: Option<String>,
    pub allow_extra_fields: bool,
    pub fields: Vec<FieldDefinition>,
}

/// One field of an interface.
#[derive(Debug, Clone, Serialize)]
pub struct FieldDefinition {
    pub name: String,
    /// As in definition files: `string`, `date`, `digits`, `decimal(P,S)`.
    #[serde(rename = "type")]
    pub ty: String,
    pub required: bool,
    pub max_length: Option<usize>,
    pub allowed: Vec<String>,
    pub exceptions: Vec<String>,
    pub default: Option<String>,
}

impl From<&FieldRule> for FieldDefinition {
    fn from(f: &FieldRule) -> Self {
        FieldDefinition {
            name: f.name.clone(),
            ty: f.ty.name(),
            required: f.required,
            max_length: f.max_length,
            allowed: f.allowed.clone(),
            exceptions: f.exceptions.clone(),
            default: f.default.clone(),
        }
    }
}

impl From<&Interface> for InterfaceDefinition {
    fn from(i: &Interface) -> Self {
        InterfaceDefinition {
            id: i.id(),
            data_category: i.data_category.clone(),
            biz_key: i.biz_key.clone(),
            description: i.description.clone(),
            business_key: i.business_key.clone(),
            uid_field: i.uid_field.clone(),
            allow_extra_fields: i.allow_extra_fields,
            fields: i.fields.iter().map(FieldDefinition::from).collect(),
        }
    }
}

fn user_info(u: UserDetail) -> UserInfo {
    UserInfo {
        username: u.username,
        partner: u.partner,
        disabled: u.disabled,
        created_unix: u.created_unix,
        password_changed_unix: u.password_changed_unix,
        keys: usize::try_from(u.keys).unwrap_or(usize::MAX),
    }
}

fn token_info(t: TokenDetail) -> TokenInfo {
    TokenInfo {
        id: t.id,
        kind: t.kind,
        partner: t.partner,
        user: t.username,
        issued_unix: t.issued_unix,
        expires_unix: t.expires_unix,
        last_used_unix: t.last_used_unix,
    }
}

/// "3 batches, 120 records": what a partner holds, in words.
fn data_words(data: &DataCounts) -> String {
    data.iter()
        .map(|(what, n)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn data_json(data: &DataCounts) -> serde_json::Value {
    serde_json::Value::Object(
        data.iter()
            .map(|(what, n)| (what.to_string(), json!(n)))
            .collect(),
    )
}

fn check_secret_length(what: &str, secret: &str) -> Result<()> {
    if secret.chars().count() < MIN_SECRET_CHARS {
        return Err(CoreError::Invalid(format!(
            "the {what} must be at least {MIN_SECRET_CHARS} characters"
        )));
    }
    Ok(())
}

fn admin(action: &str, partner: &str, user: &str, detail: serde_json::Value) -> Entry {
    Entry::new(Kind::Admin, action, partner, user).detail(detail)
}

impl Core {
    /// Every interface in `interfaces` exists (`None`: all of them, always fine).
    fn check_interfaces(&self, interfaces: &Option<Vec<String>>) -> Result<()> {
        for id in interfaces.iter().flatten() {
            if !self.registry().contains(id) {
                return Err(CoreError::Invalid(format!(
                    "unknown interface {id:?} (see `wharf interface list`)"
                )));
            }
        }
        Ok(())
    }

    pub(crate) async fn existing_partner(&self, name: &str) -> Result<PartnerRow> {
        self.partner_named(name)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("partner {name}")))
    }

    async fn existing_user_row(&self, username: &str) -> Result<UserRow> {
        self.user_named(username)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("user {username}")))
    }

    /// Create a partner (client_id = name) allowed `interfaces` (`None`: all of them).
    pub async fn add_partner(
        &self,
        o: &Origin,
        name: &str,
        secret: &str,
        interfaces: Option<Vec<String>>,
    ) -> Result<()> {
        check_name("partner", name)?;
        check_secret_length("client secret", secret)?;
        self.check_interfaces(&interfaces)?;
        if self.partner_named(name).await?.is_some() {
            return Err(CoreError::Conflict(format!("partner {name}")));
        }
        let row = PartnerRow {
            name: name.to_string(),
            secret_hash: auth::hash_secret(secret)?,
            interfaces,
            ..PartnerRow::default()
        };
        self.audit(
            o,
            admin(
                "partner.add",
                name,
                "",
                json!({ "after": { "interfaces": row.interfaces, "disabled": false } }),
            ),
        )
        .await?;
        self.store.insert_partner(&row, self.now()).await
    }

    /// Create a user of `partner`.
    pub async fn add_user(
        &self,
        o: &Origin,
        username: &str,
        partner: &str,
        password: &str,
    ) -> Result<()> {
        check_name("user", username)?;
        check_secret_length("password", password)?;
        self.existing_partner(partner).await?;
        if self.user_named(username).await?.is_some() {
            return Err(CoreError::Conflict(format!("user {username}")));
        }
        let row = UserRow {
            username: username.to_string(),
            partner: partner.to_string(),
            password_hash: auth::hash_secret(password)?,
            disabled: false,
        };
        self.audit(
            o,
            admin(
                "user.add",
                partner,
                username,
                json!({ "after": { "partner": partner, "disabled": false } }),
            ),
        )
        .await?;
        self.store.insert_user(&row, self.now()).await
    }

    fn partner_shown(&self, p: PartnerDetail) -> PartnerInfo {
        let now = self.now();
        PartnerInfo {
            name: p.name,
            disabled: p.disabled,
            interfaces: p.interfaces,
            users: p.users,
            created_unix: p.created_unix,
            secret_rotated_unix: p.secret_rotated_unix,
            previous_secret_valid_until: p.previous_secret_until.filter(|until| *until > now),
        }
    }

    /// Every partner, by name.
    pub async fn partners(&self) -> Result<Vec<PartnerInfo>> {
        let all = self.store.accounts().partners().await?;
        Ok(all.into_iter().map(|p| self.partner_shown(p)).collect())
    }

    /// One partner; NotFound when there is none.
    pub async fn partner_info(&self, name: &str) -> Result<PartnerInfo> {
        self.existing_partner(name).await?;
        let p = self
            .store
            .accounts()
            .partner_detail(name)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("partner {name}")))?;
        Ok(self.partner_shown(p))
    }

    /// Disable (or enable again) a partner: while disabled, its users, tokens and sessions
    /// are refused on every door at once (an FTP or SFTP session already open included: its
    /// next call is refused); its data stays.
    pub async fn set_partner_disabled(&self, o: &Origin, name: &str, disabled: bool) -> Result<()> {
        let p = self.existing_partner(name).await?;
        if p.disabled == disabled {
            return Ok(());
        }
        let action = if disabled {
            "partner.disable"
        } else {
            "partner.enable"
        };
        self.audit(
            o,
            admin(
                action,
                name,
                "",
                json!({ "before": { "disabled": p.disabled }, "after": { "disabled": disabled } }),
            ),
        )
        .await?;
        if !self
            .store
            .accounts()
            .set_partner_disabled(name, disabled)
            .await?
        {
            return Err(CoreError::NotFound(format!("partner {name}")));
        }
        tracing::info!(partner = %name, disabled, "partner {}", if disabled { "disabled" } else { "enabled" });
        Ok(())
    }

    /// Remove a partner with its users, their SSH keys, tokens and sessions. A partner that
    /// holds data (batches, records, files, endpoints, pushes) is refused unless `with_data`,
    /// which removes that data too. The audit trail keeps what it recorded of it.
    pub async fn remove_partner(&self, o: &Origin, name: &str, with_data: bool) -> Result<()> {
        self.existing_partner(name).await?;
        let data = self.store.accounts().partner_data(name).await?;
        let holds = |data: &DataCounts| {
            CoreError::Precondition(format!(
                "partner {name} holds data ({}): remove it with --with-data to delete that \
                 data too, or keep the partner and disable it",
                data_words(data)
            ))
        };
        if !with_data && !data.is_empty() {
            return Err(holds(&data));
        }
        let users = self.store.accounts().users(Some(name)).await?;
        self.audit(
            o,
            admin(
                "partner.remove",
                name,
                "",
                json!({
                    "with_data": with_data,
                    "data": data_json(&data),
                    "users": users.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(),
                }),
            ),
        )
        .await?;
        match self
            .store
            .accounts()
            .remove_partner(name, with_data)
            .await?
        {
            Ok(true) => {
                tracing::info!(partner = %name, with_data, "partner removed");
                Ok(())
            }
            Ok(false) => Err(CoreError::NotFound(format!("partner {name}"))),
            Err(data) => Err(holds(&data)),
        }
    }

    /// Which interfaces a partner may use (`None`: all), from now on, on every door.
    pub async fn set_partner_interfaces(
        &self,
        o: &Origin,
        name: &str,
        interfaces: Option<Vec<String>>,
    ) -> Result<()> {
        self.check_interfaces(&interfaces)?;
        let p = self.existing_partner(name).await?;
        let interfaces = interfaces.map(|mut list| {
            list.sort();
            list.dedup();
            list
        });
        self.audit(
            o,
            admin(
                "partner.set-interfaces",
                name,
                "",
                json!({ "before": { "interfaces": p.interfaces }, "after": { "interfaces": interfaces } }),
            ),
        )
        .await?;
        let text = interfaces
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| CoreError::Invalid(format!("interfaces: {e}")))?;
        if !self
            .store
            .accounts()
            .set_partner_interfaces(name, text.as_deref())
            .await?
        {
            return Err(CoreError::NotFound(format!("partner {name}")));
        }
        Ok(())
    }

    /// A new client secret for a partner. The one it replaces keeps working for
    /// `grace_secs` more (0: it stops at once), so the partner can switch without downtime;
    /// a secret rotated out before that stops now.
    pub async fn rotate_partner_secret(
        &self,
        o: &Origin,
        name: &str,
        new_secret: &str,
        grace_secs: u64,
    ) -> Result<()> {
        check_secret_length("client secret", new_secret)?;
        if grace_secs > MAX_ROTATION_GRACE_SECS {
            return Err(CoreError::Invalid(format!(
                "a grace of {grace_secs} s is longer than the most allowed, 30 days ({MAX_ROTATION_GRACE_SECS} s)"
            )));
        }
        let p = self.existing_partner(name).await?;
        if auth::check_secret(new_secret, Some(&p.secret_hash)).await {
            return Err(CoreError::Invalid(
                "the new client secret is the current one: choose another".into(),
            ));
        }
        let now = self.now();
        let until = now.saturating_add(i64::try_from(grace_secs).unwrap_or(i64::MAX));
        let hash = auth::hash_secret(new_secret)?;
        self.audit(
            o,
            admin(
                "partner.rotate-secret",
                name,
                "",
                json!({ "grace_secs": grace_secs, "previous_secret_valid_until": until }),
            ),
        )
        .await?;
        if !self
            .store
            .accounts()
            .rotate_secret(name, &hash, until, now)
            .await?
        {
            return Err(CoreError::NotFound(format!("partner {name}")));
        }
        tracing::info!(partner = %name, grace_secs, "client secret rotated");
        Ok(())
    }

    /// Users (of one partner: NotFound when it does not exist), by name.
    pub async fn users(&self, partner: Option<&str>) -> Result<Vec<UserInfo>> {
        if let Some(p) = partner {
            self.existing_partner(p).await?;
        }
        let all = self.store.accounts().users(partner).await?;
        Ok(all.into_iter().map(user_info).collect())
    }

    /// One user; NotFound when there is none.
    pub async fn user_info(&self, username: &str) -> Result<UserInfo> {
        self.existing_user_row(username).await?;
        self.store
            .accounts()
            .user_detail(username)
            .await?
            .map(user_info)
            .ok_or_else(|| CoreError::NotFound(format!("user {username}")))
    }

    /// Disable (or enable again) a user: while disabled, its logins, tokens and sessions are
    /// refused on every door, and its open file sessions can send nothing.
    pub async fn set_user_disabled(
        &self,
        o: &Origin,
        username: &str,
        disabled: bool,
    ) -> Result<()> {
        let u = self.existing_user_row(username).await?;
        if u.disabled == disabled {
            return Ok(());
        }
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        self.audit(
            o,
            admin(
                action,
                &u.partner,
                username,
                json!({ "before": { "disabled": u.disabled }, "after": { "disabled": disabled } }),
            ),
        )
        .await?;
        if !self
            .store
            .accounts()
            .set_user_disabled(username, disabled)
            .await?
        {
            return Err(CoreError::NotFound(format!("user {username}")));
        }
        Ok(())
    }

    /// A new password for a user. Every API token and upload-page session of the user ends
    /// with the old password (whoever knew it is logged out); SSH keys stay.
    pub async fn reset_password(&self, o: &Origin, username: &str, password: &str) -> Result<()> {
        check_secret_length("password", password)?;
        let u = self.existing_user_row(username).await?;
        let hash = auth::hash_secret(password)?;
        let tokens = self
            .store
            .accounts()
            .tokens(None, Some(username), self.now())
            .await?;
        self.audit(
            o,
            admin(
                "user.reset-password",
                &u.partner,
                username,
                json!({ "tokens_revoked": tokens.iter().map(|t| t.id.as_str()).collect::<Vec<_>>() }),
            ),
        )
        .await?;
        if !self
            .store
            .accounts()
            .set_password(username, &hash, self.now())
            .await?
        {
            return Err(CoreError::NotFound(format!("user {username}")));
        }
        tracing::info!(user = %username, "password reset; the user's tokens and sessions ended");
        Ok(())
    }

    /// Remove a user with its SSH keys, tokens and sessions. The batches it created stay
    /// (they are its partner's data).
    pub async fn remove_user(&self, o: &Origin, username: &str) -> Result<()> {
        let u = self.existing_user_row(username).await?;
        let detail = self.store.accounts().user_detail(username).await?;
        self.audit(
            o,
            admin(
                "user.remove",
                &u.partner,
                username,
                json!({ "before": { "partner": u.partner, "disabled": u.disabled,
                    "keys": detail.map(|d| d.keys).unwrap_or(0) } }),
            ),
        )
        .await?;
        if !self.store.accounts().remove_user(username).await? {
            return Err(CoreError::NotFound(format!("user {username}")));
        }
        Ok(())
    }

    /// API tokens and upload-page sessions not expired yet (of a partner, of a user), by
    /// owner and issue time. Never the token itself.
    pub async fn tokens(
        &self,
        partner: Option<&str>,
        user: Option<&str>,
    ) -> Result<Vec<TokenInfo>> {
        if let Some(p) = partner {
            self.existing_partner(p).await?;
        }
        if let Some(u) = user {
            self.existing_user_row(u).await?;
        }
        let all = self
            .store
            .accounts()
            .tokens(partner, user, self.now())
            .await?;
        Ok(all.into_iter().map(token_info).collect())
    }

    /// End tokens at once: one by its id (NotFound when no live token has it), or every
    /// token and session of a partner or of a user. How many ended.
    pub async fn revoke_tokens(&self, o: &Origin, which: &TokenSelector) -> Result<u64> {
        let now = self.now();
        let (scope, partner, user, live) = match which {
            TokenSelector::Id(id) => {
                let live: Vec<TokenDetail> = self
                    .store
                    .accounts()
                    .tokens(None, None, now)
                    .await?
                    .into_iter()
                    .filter(|t| t.id == *id)
                    .collect();
                let Some(first) = live.first() else {
                    return Err(CoreError::NotFound(format!(
                        "token {id} (see `wharf token list`)"
                    )));
                };
                let (partner, user) = (
                    first.partner.clone(),
                    first.username.clone().unwrap_or_default(),
                );
                (TokenScope::Id(id), partner, user, live)
            }
            TokenSelector::Partner(p) => {
                self.existing_partner(p).await?;
                let live = self.store.accounts().tokens(Some(p), None, now).await?;
                (TokenScope::Partner(p), p.clone(), String::new(), live)
            }
            TokenSelector::User(u) => {
                let row = self.existing_user_row(u).await?;
                let live = self.store.accounts().tokens(None, Some(u), now).await?;
                (TokenScope::User(u), row.partner, u.clone(), live)
            }
        };
        let by = match which {
            TokenSelector::Id(_) => "id",
            TokenSelector::Partner(_) => "partner",
            TokenSelector::User(_) => "user",
        };
        self.audit(
            o,
            admin(
                "token.revoke",
                &partner,
                &user,
                json!({ "by": by, "ids": live.iter().map(|t| t.id.as_str()).collect::<Vec<_>>() }),
            ),
        )
        .await?;
        let n = self.store.accounts().revoke_tokens(&scope).await?;
        tracing::info!(by, tokens = n, "tokens revoked");
        Ok(n)
    }

    /// Every interface core loaded, as loaded (built-ins and `WHARF_INTERFACES_DIR`'s).
    pub fn interface_definitions(&self) -> Vec<InterfaceDefinition> {
        self.registry()
            .all()
            .map(InterfaceDefinition::from)
            .collect()
    }

    /// One interface, `DATA_CATEGORY/BIZ_KEY`; NotFound when core has none of that name.
    pub fn interface_definition(&self, id: &str) -> Result<InterfaceDefinition> {
        let not_found = || {
            CoreError::NotFound(format!(
                "interface {id:?} (use DATA_CATEGORY/BIZ_KEY, see `wharf interface list`)"
            ))
        };
        let (category, biz_key) = id.split_once('/').ok_or_else(not_found)?;
        self.registry()
            .get(category, biz_key)
            .map(InterfaceDefinition::from)
            .ok_or_else(not_found)
    }
}
