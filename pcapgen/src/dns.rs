//! Minimal DNS messages (one question, A/AAAA answers).

use std::net::IpAddr;

/// Query type A.
pub const QTYPE_A: u16 = 1;
/// Query type AAAA.
pub const QTYPE_AAAA: u16 = 28;

fn push_name(v: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        assert!(label.len() < 64);
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
}

fn message(id: u16, flags: u16, name: &str, qtype: u16, answers: &[IpAddr]) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&flags.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes()); // questions
    v.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]); // authority, additional
    push_name(&mut v, name);
    v.extend_from_slice(&qtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes()); // class IN
    for a in answers {
        v.extend_from_slice(&[0xc0, 12]); // pointer to the question name
        let (t, data): (u16, Vec<u8>) = match a {
            IpAddr::V4(x) => (QTYPE_A, x.octets().to_vec()),
            IpAddr::V6(x) => (QTYPE_AAAA, x.octets().to_vec()),
        };
        v.extend_from_slice(&t.to_be_bytes());
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&300u32.to_be_bytes()); // TTL
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(&data);
    }
    v
}

/// A recursive query for `name`.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    message(id, 0x0100, name, qtype, &[])
}

/// A response to [`query`] with the given answers.
pub fn response(id: u16, name: &str, qtype: u16, answers: &[IpAddr]) -> Vec<u8> {
    message(id, 0x8180, name, qtype, answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_layout() {
        let q = query(0x1234, "www.example.com", QTYPE_A);
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(q.len(), 12 + 17 + 4);
    }
}
