//! Fresh ids: 128 random bits as 32 lowercase hex characters. Socket ids, request ids and
//! generated account ids all take this form, unique in a cluster without coordination.

pub fn fresh_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}
