//! What every door tells core about a login, and what core tells back about a refusal: the
//! one helper that makes a [`v1::Caller`] (so the address is written alike on every door) and
//! the one reader of a ban's `retry-after`.

use std::net::IpAddr;

use crate::v1;

/// Door names as core records them.
pub const HTTP: &str = "http";
pub const UPLOAD: &str = "upload";
pub const FTP: &str = "ftp";
pub const SFTP: &str = "sftp";

/// gRPC metadata key on a RESOURCE_EXHAUSTED answer: seconds until the ban ends.
pub const RETRY_AFTER: &str = "retry-after";

/// The caller of a credential check: `door` and the client's address as the door's socket saw
/// it. An IPv4 client of a dual-stack socket (`::ffff:a.b.c.d`) is written `a.b.c.d`, so an
/// IPv4 allow list matches it.
pub fn caller(door: &str, peer: IpAddr) -> v1::Caller {
    v1::Caller {
        door: door.to_string(),
        address: peer.to_canonical().to_string(),
    }
}

/// Seconds until a ban ends, from core's RESOURCE_EXHAUSTED answer (`None`: not a ban, or
/// core said no time).
pub fn retry_after(s: &tonic::Status) -> Option<u64> {
    if s.code() != tonic::Code::ResourceExhausted {
        return None;
    }
    s.metadata()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ipv4_is_written_as_ipv4() {
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(caller(FTP, mapped).address, "127.0.0.2");
        let v6: IpAddr = "::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(caller(HTTP, v6).address, "::1");
    }

    #[test]
    fn retry_after_is_read_from_a_ban_only() {
        let mut s = tonic::Status::resource_exhausted("banned");
        s.metadata_mut()
            .insert(RETRY_AFTER, tonic::metadata::MetadataValue::from(42u64));
        assert_eq!(retry_after(&s), Some(42));
        assert_eq!(retry_after(&tonic::Status::unauthenticated("x")), None);
        assert_eq!(retry_after(&tonic::Status::resource_exhausted("x")), None);
    }
}
