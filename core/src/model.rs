//! The nouns every part of core speaks: environments, operations, doors, batch and action
//! states, outbound push states (each with its stored text and its proto value), a data
//! space ([`Scope`]) and a batch's schedule. The floor of core: it imports nothing of core.

use wharf_proto::v1 as pb;

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

text_enum!(
    /// Separate data spaces: `/uat/…` on the API, configuration on FTP, a choice on upload.
    Environment { Prod = "prod", Uat = "uat" }
);
text_enum!(
    /// What a batch does to the partner's records.
    Operation { Insert = "insert", Update = "update", Delete = "delete", All = "all" }
);
text_enum!(
    /// The door a batch came through.
    Transport { Api = "api", Ftp = "ftp", Upload = "upload", Grpc = "grpc" }
);
text_enum!(
    /// Where a batch is in its life. `held`: complete, waiting for its executeTs (nothing of
    /// it in the records); `applied`: its rows are in the records; `reverted`: they were taken
    /// back out (see `batch_actions`); `cancelled`: stopped by hand before it ran.
    BatchState {
        Open = "open",
        Held = "held",
        Applied = "applied",
        Failed = "failed",
        Expired = "expired",
        Reverted = "reverted",
        Cancelled = "cancelled",
    }
);
text_enum!(
    /// Seed 003's execute / revert status. `running` is never stored for long: each action
    /// runs in one transaction, so readers see it before or after.
    ActionStatus {
        Idle = "idle",
        Running = "running",
        Finished = "finished",
        Failed = "failed",
        Cancelled = "cancelled",
        Conflict = "conflict",
    }
);

text_enum!(
    /// What a token was issued for: `api`, an OAuth2 access token (IssueToken) for the HTTP
    /// API; `session`, an upload page login (StartSession). Each opens only its own door.
    TokenKind { Api = "api", Session = "session" }
);

impl TokenKind {
    pub fn from_proto(v: i32) -> Option<TokenKind> {
        match pb::TokenKind::try_from(v).ok()? {
            pb::TokenKind::Api => Some(TokenKind::Api),
            pb::TokenKind::Session => Some(TokenKind::Session),
        }
    }
}

impl Environment {
    pub fn from_proto(v: i32) -> Environment {
        match pb::Environment::try_from(v) {
            Ok(pb::Environment::Uat) => Environment::Uat,
            _ => Environment::Prod,
        }
    }

    pub fn to_proto(self) -> pb::Environment {
        match self {
            Environment::Prod => pb::Environment::Prod,
            Environment::Uat => pb::Environment::Uat,
        }
    }
}

impl Operation {
    pub fn from_proto(v: i32) -> Option<Operation> {
        match pb::Operation::try_from(v).ok()? {
            pb::Operation::Insert => Some(Operation::Insert),
            pb::Operation::Update => Some(Operation::Update),
            pb::Operation::Delete => Some(Operation::Delete),
            pb::Operation::All => Some(Operation::All),
            pb::Operation::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> pb::Operation {
        match self {
            Operation::Insert => pb::Operation::Insert,
            Operation::Update => pb::Operation::Update,
            Operation::Delete => pb::Operation::Delete,
            Operation::All => pb::Operation::All,
        }
    }
}

impl Transport {
    /// Seed 003's `batchSource`: `api` (the HTTP API and any gRPC caller), `ftp`, `excel`
    /// (the upload page's sheets).
    pub fn batch_source(self) -> &'static str {
        match self {
            Transport::Api | Transport::Grpc => "api",
            Transport::Ftp => "ftp",
            Transport::Upload => "excel",
        }
    }

    pub fn from_proto(v: i32) -> Transport {
        match pb::Transport::try_from(v) {
            Ok(pb::Transport::Api) => Transport::Api,
            Ok(pb::Transport::Ftp) => Transport::Ftp,
            Ok(pb::Transport::Upload) => Transport::Upload,
            _ => Transport::Grpc,
        }
    }
}

text_enum!(
    /// Where an outbound push is: `writing` while its rows come in, `pending` until every
    /// sequence is delivered, then `delivered`, or `failed` when one failed (SPEC §7.1).
    PushState {
        Writing = "writing",
        Pending = "pending",
        Delivered = "delivered",
        Failed = "failed",
    }
);
text_enum!(
    /// Where one sequence of an outbound push is.
    SeqState { Pending = "pending", Delivered = "delivered", Failed = "failed" }
);

/// Where a partner's records of one interface live: partners and environments never mix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub partner: String,
    pub env: Environment,
    /// `data_category/biz_key`.
    pub iface: String,
}

/// The schedule a batch keeps from its first accepted sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Applied as soon as it is complete.
    pub instant: bool,
    /// When a scheduled batch runs (`None` for an instant one until it ran).
    pub execute_unix: Option<i64>,
    pub revert_unix: Option<i64>,
}

impl Default for Schedule {
    /// A batch that says nothing about time: applied when complete, never reverted by itself.
    fn default() -> Self {
        Schedule {
            instant: true,
            execute_unix: None,
            revert_unix: None,
        }
    }
}

pub const HOUR: i64 = 3600;
pub const DAY: i64 = 24 * HOUR;

/// The windows, in seconds from now (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub execute_min: i64,
    pub execute_max: i64,
    pub revert_min: i64,
    pub revert_max: i64,
    /// The least time from execute to revert.
    pub revert_after_execute: i64,
}

impl Default for Bounds {
    /// Seed 003: execute within +2 h … +30 d, revert within +3 h … +60 d and ≥ execute + 15 min.
    fn default() -> Self {
        Bounds {
            execute_min: 2 * HOUR,
            execute_max: 30 * DAY,
            revert_min: 3 * HOUR,
            revert_max: 60 * DAY,
            revert_after_execute: 15 * 60,
        }
    }
}

impl Bounds {
    /// The seed's bounds with the three minima set to `secs` (end-to-end tests, which cannot
    /// wait two hours; `WHARF_SCHEDULE_MIN_LEAD`). The maxima stay.
    pub fn with_min_lead(secs: i64) -> Bounds {
        Bounds {
            execute_min: secs,
            revert_min: secs,
            revert_after_execute: secs,
            ..Bounds::default()
        }
    }
}

/// Batch rules that are configuration, not code.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// Rejections of one sequence before E00P00 fails the batch.
    pub max_attempts: u32,
    /// Seconds an incomplete batch stays open.
    pub expiry_secs: i64,
    /// The windows a schedule's times must fall in.
    pub schedule: Bounds,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_attempts: 10,
            expiry_secs: 24 * 3600,
            schedule: Bounds::default(),
        }
    }
}

/// The defender's settings (the `defender` module): failed logins scored per source address and
/// per name within an observation window; at `threshold` the key is banned for `ban_secs`,
/// longer by `ban_increment_percent` at each repeat offence (at most `MAX_BAN_SECS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefenderPolicy {
    /// Score at which a key is banned.
    pub threshold: i64,
    /// Seconds a window of scored failures lasts from its first failure.
    pub observation_secs: i64,
    /// The first ban's length.
    pub ban_secs: i64,
    /// How much longer each further ban is, in percent of the one before.
    pub ban_increment_percent: i64,
}

impl DefenderPolicy {
    /// No ban is longer than a week, whatever the offences.
    pub const MAX_BAN_SECS: i64 = 7 * 24 * 3600;
}

impl Default for DefenderPolicy {
    /// SFTPGo's defaults: 15 points within 30 minutes ban for 30 minutes, 50 % longer each time.
    fn default() -> Self {
        DefenderPolicy {
            threshold: 15,
            observation_secs: 1800,
            ban_secs: 1800,
            ban_increment_percent: 50,
        }
    }
}
